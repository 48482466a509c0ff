"""The entry point: `simulate()` runs the model's pieces in order and writes the files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .catalog import _make_catalog
from .config import (
    _S_DIRTY,
    _S_EVENTS,
    _S_FUTURE,
    _S_ORDERS,
    _S_REVIEWS,
    _S_SIGNUP,
    SimulationConfig,
    SimulationSummary,
    _rng,
)
from .dirty import _inject_faults
from .events import _make_events, _signup_times
from .frames import (
    _customers_frame,
    _events_frame,
    _lines_frame,
    _orders_frame,
    _products_frame,
    _truth_frame,
    _write,
    _write_events,
)
from .grid import _Grid
from .history import _run_days, _truth
from .orders import _make_orders
from .people import _make_customers
from .reviews import reviews_simulate


def simulate(
    config: SimulationConfig, out_dir: Path, progress: Callable[[str], None] | None = None
) -> SimulationSummary:
    """Run the generative model and write the CSV files into `out_dir` (created if missing).

    Deterministic: the same config gives byte-identical files; the window's files do not depend on
    `future_days`."""
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = _Grid(config)
    catalog = _make_catalog(config, grid)
    people = _make_customers(config, grid, catalog)
    extra = [f"{grid.burn} days of warm-up before it, not written"] if grid.burn else []
    if config.future_days:
        extra.append(f"{config.future_days} days after it, written apart")
    say(f"simulating {config.customers} customers over the {config.days}-day window"
        + (f" ({'; '.join(extra)})" if extra else ""))
    history = _run_days(config, grid, people)
    say(f"orders sampled: {history.o_cust.size}; building order lines")

    in_window = (history.o_day >= grid.burn) & (history.o_day <= grid.end)
    orders = _make_orders(history, in_window, grid, people, catalog, _rng(config.seed, _S_ORDERS), id_offset=0,
                          profile=config.profile)
    future = None
    if config.future_days:
        in_future = history.o_day > grid.end
        future = _make_orders(history, in_future, grid, people, catalog, _rng(config.seed, _S_FUTURE),
                              id_offset=orders.cust.size, profile=config.profile)
    say(f"building events ({history.s_cust.size} browsing sessions, {orders.cust.size} orders)")
    events = _make_events(history, orders, grid, people, catalog, _rng(config.seed, _S_EVENTS))
    signup = _signup_times(people, grid, orders, events, _rng(config.seed, _S_SIGNUP))
    truth = _truth(history.snapshot, people, grid)

    frames = {
        "customers": _customers_frame(people, signup),
        "products": _products_frame(catalog, grid.end),
        "orders": _orders_frame(orders, people),
        "order_lines": _lines_frame(orders, catalog),
    }
    files: dict[str, Path] = {}
    manifest: dict[str, dict[str, list[int]]] = {}
    dirty_rng = _rng(config.seed, _S_DIRTY)
    known = {"customers": set(people.ids.tolist()), "products": set(catalog.ids.tolist())} if config.dirty else {}
    # Reviews of the window's orders (their own random stream: the other files do not change).
    reviews = reviews_simulate(frames["orders"], frames["order_lines"],
                               window_end=pd.Timestamp(grid.window_end, unit="s", tz="UTC"),
                               rng=_rng(config.seed, _S_REVIEWS))
    files["reviews"] = _write(reviews, out_dir / "reviews.csv")
    for kind in ("customers", "products", "orders", "order_lines"):
        frame = frames.pop(kind)
        if config.dirty:
            frame, manifest[f"{kind}.csv"] = _inject_faults(kind, frame, dirty_rng, known)
        files[kind] = _write(frame, out_dir / f"{kind}.csv")
        say(f"wrote {kind}.csv")
    files["events"] = out_dir / "events.csv"
    if config.dirty:
        frame, manifest["events.csv"] = _inject_faults("events", _events_frame(events, people, catalog, None),
                                                       dirty_rng, known)
        _write(frame, files["events"])
    else:
        _write_events(events, people, catalog, files["events"])
    say("wrote events.csv")
    files["truth"] = _write(_truth_frame(truth, people), out_dir / "truth.csv")
    if future is not None:
        files["future_orders"] = _write(_orders_frame(future, people), out_dir / "future_orders.csv")
        files["future_order_lines"] = _write(_lines_frame(future, catalog), out_dir / "future_order_lines.csv")
    if config.dirty:
        files["dirty_manifest"] = out_dir / "dirty_manifest.json"
        files["dirty_manifest"].write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return SimulationSummary(
        out_dir=out_dir,
        customers=config.customers,
        products=config.products,
        orders=int(orders.cust.size),
        order_lines=int(orders.l_order.size),
        events=int(events.time.size),
        future_orders=int(future.cust.size) if future is not None else 0,
        future_order_lines=int(future.l_order.size) if future is not None else 0,
        dead_customers=int((truth.alive == 0).sum()),
        seconds=round(time.perf_counter() - started, 3),
        files=files,
    )
