"""Dirty data: faults injected into the files on request, and the manifest of where they are."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Per file: (fault kind, column, bad values). Each faulty row carries one fault, so the manifest
# names exactly one reason per line.
_BAD_DATES = ["2024-13-45", "yesterday", "31/02/2024 25:61", "not a date"]
_BAD_NUMBERS = ["twelve", "1.2.3", "12,5 EUR", "12 - 15"]  # not "N/A": an empty cell (rows.NUMBER_BLANKS)
_FAULTS = {
    "customers": [("missing_customer_id", "customer_id", [""]), ("unparseable_date", "signup_at", _BAD_DATES)],
    "products": [("missing_product_id", "product_id", [""]), ("non_numeric_price", "price", _BAD_NUMBERS)],
    "orders": [("missing_customer_id", "customer_id", [""]), ("missing_placed_at", "placed_at", [""]),
               ("unknown_customer", "customer_id", None), ("unparseable_date", "placed_at", _BAD_DATES),
               ("non_numeric_total", "total", _BAD_NUMBERS)],
    "order_lines": [("unknown_product", "product_id", None), ("non_numeric_price", "unit_price", _BAD_NUMBERS),
                    ("missing_product_id", "product_id", [""])],
    "events": [("missing_customer_id", "customer_id", [""]), ("unknown_customer", "customer_id", None),
               ("unknown_product", "product_id", None), ("unparseable_date", "occurred_at", _BAD_DATES)],
}
_TIME_COLUMN = {"orders": "placed_at", "events": "occurred_at"}


def _inject_faults(kind: str, frame: pd.DataFrame, rng: np.random.Generator,
                   known: dict[str, set[str]]) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Spoil a few rows of `frame` and say where: {fault kind: [1-based line numbers, header = 1]}."""
    n = len(frame)
    columns = {c: frame[c].to_numpy(dtype=object).copy() for c in frame.columns}
    per_fault = max(1, min(200, round(n * 0.002)))
    taken = np.zeros(n, dtype=bool)
    rows: dict[str, np.ndarray] = {}

    time_column = _TIME_COLUMN.get(kind)
    if time_column and n >= 10:
        # Out of order: reverse a block whose first and last times differ, so it really is unsorted.
        size = min(20, n // 5)
        for _ in range(20):
            lo = int(rng.integers(0, n - size + 1))
            if columns[time_column][lo] != columns[time_column][lo + size - 1]:
                for column in columns.values():
                    column[lo:lo + size] = column[lo:lo + size][::-1].copy()
                taken[lo:lo + size] = True
                rows["out_of_order"] = np.arange(lo, lo + size)
                break

    def free_rows(count: int, allowed: np.ndarray | None = None) -> np.ndarray:
        ok = ~taken if allowed is None else ~taken & allowed
        pool = np.flatnonzero(ok)
        chosen = np.sort(rng.choice(pool, size=min(count, pool.size), replace=False)) if pool.size else pool
        taken[chosen] = True
        return chosen

    for fault, column, values in _FAULTS[kind]:
        allowed = None
        if fault == "unknown_product":
            allowed = columns[column] != ""  # a row without product names no unknown one
        chosen = free_rows(per_fault, allowed)
        if not chosen.size:
            continue
        if values is None:
            prefix = "C9" if fault == "unknown_customer" else "P9"
            bad = [f"{prefix}{i:07d}" for i in rng.integers(0, 10_000_000, chosen.size)]
            family = known["customers" if fault == "unknown_customer" else "products"]
            bad = [b if b not in family else b + "X" for b in bad]
        else:
            bad = [values[i] for i in rng.integers(0, len(values), chosen.size)]
        columns[column][chosen] = bad
        rows[fault] = chosen

    duplicated = free_rows(per_fault)
    repeat = np.ones(n, dtype=np.int64)
    repeat[duplicated] = 2
    order = np.repeat(np.arange(n), repeat)
    first_at = np.cumsum(repeat) - repeat  # new position of each original row
    manifest = {fault: (first_at[r] + 2).tolist() for fault, r in rows.items()}
    if duplicated.size:
        manifest["duplicate_row"] = (first_at[duplicated] + 3).tolist()
    dirty = pd.DataFrame({c: v[order] for c, v in columns.items()})
    return dirty, manifest
