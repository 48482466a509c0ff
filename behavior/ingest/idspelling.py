"""Ids spelled two ways: the one rule an import (the file's customer ids) and `quality_report` (the ids stored) use.

Ids are read and stored as written (README: never rewritten), so `0007` and `7` (a spreadsheet such as Excel dropped
the zeros of the later exports), `C1` and `c1`, or `Blue Shirt` and `blue  shirt` are two customers or products each,
their orders and sales split. `spelling_key` (Python) and `spelling_key_sql` (the database's) make such spellings
one: case, spaces and leading zeros left out. An import says which of them its file holds (`leading_zeros_key`,
`case_key`: each apart, with an example pair, as its fix differs), and the customer ids that are e-mail addresses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Func, Value
from django.db.models.functions import Lower, Replace


def leading_zeros_key(value: str) -> str:
    return value.lstrip("0")


def case_key(value: str) -> str:
    return value.lower()


def spelling_key(value: str) -> str:
    """Case, spaces and leading zeros left out (the SQL of `spelling_key_sql`)."""
    return value.lower().replace(" ", "").lstrip("0")


def spelling_key_sql(field: str):
    """`spelling_key` as a database expression of the column `field` (quality_report's products and customers)."""
    return Func(Lower(Replace(field, Value(" "), Value(""))), Value("0"), function="LTRIM")


# The SQL of leading_zeros_key and case_key on a column, for the ids stored (`stored_alike_sql`).
KEYS_SQL = {"leading_zeros": "ltrim({}, '0')", "case": "lower({})"}
KEYS = {"leading_zeros": leading_zeros_key, "case": case_key}

# An e-mail address: something@domain.tld, no spaces.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def looks_like_email(value: str) -> bool:
    return "@" in value and EMAIL.match(value) is not None


def alike(ids: Iterable[str], key) -> dict:
    """Groups of `ids` (distinct) that `key` makes one: {"groups", "extra_ids" (ids beyond one a group), "example"
    (a group's first two ids, sorted: the zero-padded or upper-case spelling first; None without a group)}."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for value in ids:
        by_key[key(value)].append(value)
    groups = [sorted(found) for found in by_key.values() if len(found) > 1]
    groups.sort()
    return {"groups": len(groups), "extra_ids": sum(len(group) - 1 for group in groups),
            "example": groups[0][:2] if groups else None}
