"""Argument parsers shared by the prediction commands."""

import argparse
import datetime as dt


def iso_date(text: str) -> dt.date:
    """2024-03-01, or 01.03.2024 (day.month.year, as the imports read dotted dates): a date in another form, whose
    day and month could be either way round (03/01/2024), is refused."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(text.strip(), "%d.%m.%Y").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2024-03-01 (or 01.03.2024)") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
