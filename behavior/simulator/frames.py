"""The output files: frames in the CSV import formats and their writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .catalog import _SUBS, _Catalog
from .config import COLUMNS, CURRENCY, EVENT_TYPES, STATUSES
from .events import _Events
from .history import _Truth
from .orders import _Orders
from .people import _People


def _iso(seconds: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return np.strings.add(text, "Z")


def _money(cents: np.ndarray) -> np.ndarray:
    cents = np.asarray(cents, dtype=np.int64)
    return np.strings.add(np.strings.add((cents // 100).astype(str), "."),
                          np.strings.zfill((cents % 100).astype(str), 2))


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.strings.add(prefix, np.strings.zfill(np.asarray(numbers, dtype=np.int64).astype(str), width))


def _customers_frame(people: _People, signup: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": people.ids, "email": people.emails, "name": people.names,
                         "country": people.country, "signup_at": _iso(signup)})


def _products_frame(catalog: _Catalog, end: int) -> pd.DataFrame:
    """Active: on sale on the window's last day `end` and after it (launched, not retired by end + 1)."""
    paths = np.array([f"{top} > {sub}" for top, sub, *_ in _SUBS])
    return pd.DataFrame({
        "product_id": catalog.ids, "title": catalog.titles, "description": catalog.descriptions,
        "category": paths[catalog.cat], "brand": catalog.brands, "price": _money(catalog.price_cents),
        "active": np.where((catalog.gone > end + 1) & (catalog.launch <= end), "true", "false"),
    })


def _orders_frame(orders: _Orders, people: _People) -> pd.DataFrame:
    n = orders.cust.size
    return pd.DataFrame({
        "order_id": _numbered("O", orders.id_offset + np.arange(1, n + 1), 8), "customer_id": people.ids[orders.cust],
        "placed_at": _iso(orders.time), "total": _money(orders.total_cents), "currency": np.full(n, CURRENCY),
        "status": STATUSES[orders.status], "item_count": orders.item_count.astype(str),
    })


def _lines_frame(orders: _Orders, catalog: _Catalog) -> pd.DataFrame:
    return pd.DataFrame({
        "order_id": _numbered("O", orders.id_offset + orders.l_order + 1, 8),
        "product_id": catalog.ids[orders.l_product],
        "quantity": orders.l_qty.astype(str), "unit_price": _money(orders.l_cents),
    })


def _events_frame(events: _Events, people: _People, catalog: _Catalog, rows: slice | None) -> pd.DataFrame:
    rows = rows or slice(0, events.time.size)
    product = events.product[rows]
    product_ids = np.append(catalog.ids, "")  # index -1: no product
    return pd.DataFrame({
        "event_id": _numbered("E", np.arange(rows.start + 1, rows.start + product.size + 1), 9),
        "customer_id": people.ids[events.cust[rows]], "type": np.array(EVENT_TYPES)[events.type[rows]],
        "product_id": product_ids[product], "occurred_at": _iso(events.time[rows]),
        "session_id": _numbered("S", events.session[rows] + 1, 8),
        "properties": np.array(events.props)[events.prop[rows]],
    })


def _truth_frame(truth: _Truth, people: _People) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": people.ids, "p_purchase_30": np.char.mod("%.6f", truth.p30),
                         "p_purchase_90": np.char.mod("%.6f", truth.p90), "alive": truth.alive.astype(str)})


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def _write_events(events: _Events, people: _People, catalog: _Catalog, path: Path, chunk: int = 500_000) -> None:
    """Events are the bulk of the data: formatted and written a chunk at a time."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(COLUMNS["events"]) + "\n")
        for lo in range(0, events.time.size, chunk):
            frame = _events_frame(events, people, catalog, slice(lo, min(lo + chunk, events.time.size)))
            frame.to_csv(handle, index=False, header=False, lineterminator="\n")
