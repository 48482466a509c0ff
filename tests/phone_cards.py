"""A check the page tests share: a table that turns into one card per row on a phone (the CSS of
`.rows-as-cards` in static/css/app.css), and labels every cell the card shows."""

import re


def assert_rows_as_cards(page: str, table_class: str) -> None:
    """The table with `table_class` uses the phone-card layout (in a `.table-wrap-cards`, not a sideways scroll),
    and each of its body cells carries a data-label (the card's caption) or is a cell of actions."""
    found = re.search(r'<div class="table-wrap table-wrap-cards"[^>]*>\s*<table class="table rows-as-cards[^"]*'
                      + re.escape(table_class) + r'[^"]*".*?</table>', page, re.S)
    assert found, f"no rows-as-cards table .{table_class}"
    body = found.group(0).split("<tbody>", 1)[1]
    cells = re.findall(r"<td[^>]*>", body)
    assert cells, "the table has no rows"
    unlabelled = [c for c in cells if "data-label" not in c and "cell-actions" not in c]
    assert not unlabelled, unlabelled
