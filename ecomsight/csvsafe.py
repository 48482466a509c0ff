"""Spreadsheet formula injection: the one rule every CSV we write follows.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is evaluated by Excel and
LibreOffice. Such text cells get a leading quote, which makes them inert and shows the text as it
was. Numeric columns written from floats keep their minus sign (they are numbers, not formulas)."""

FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """`value` unchanged unless it is text a spreadsheet would evaluate; then with a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_FIRST):
        return "'" + value
    return value
