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


def as_written(value: str) -> str:
    """A cell of a CSV we wrote, as it was before `neutralise`: for a page, where nothing evaluates it and the
    quote only hides the value the file holds (an import's rejected total `-25.00` showed as `'-25.00`). A value
    that began with a quote and a formula character itself reads the same (rare; the download keeps it as is)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_FIRST):
        return value[1:]
    return value
