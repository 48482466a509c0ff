"""Drill 16, fast form (the full one is bench/drills/big_csv.py, a 200 MB file): an events file with 1 %
malformed rows imported in many batches stores every good row, reports every bad row at its line, and
holds no more memory after its last batches than after its third: nothing piles up per batch."""

import csv
import gc
import sys
import threading
import time
import tracemalloc

import pytest

from behavior.models import Event
from behavior.services import data_import

ROWS = 30_000
FAULTS = {0: ("customer_id", ""), 1: ("occurred_at", "not-a-date"), 2: ("properties", "{broken json")}
COLUMNS = ["event_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties"]


def _write(path) -> set[int]:
    """ROWS events of 300 customers (all known after the first batch, so the id cache stops growing);
    every 100th row has one fault. Returns the bad rows' line numbers (the header is line 1)."""
    bad = set()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(1, ROWS + 1):
            row = dict(zip(COLUMNS, [f"E{i:09d}", f"C{i % 300}", "view", f"P{i % 40}",
                                     f"2026-0{i % 5 + 1}-1{i % 9}T10:00:00Z", f"S{i // 7}", '{"src": "web"}'],
                           strict=True))
            if i % 100 == 0:
                column, value = FAULTS[(i // 100) % 3]
                row[column] = value
                bad.add(i + 1)
            writer.writerow(row.values())
    return bad


@pytest.mark.slow
@pytest.mark.django_db
def test_file_with_one_percent_bad_rows_stores_the_good_reports_the_bad_and_memory_stays_flat(shop, tmp_path):
    path = tmp_path / "events.csv"
    bad_lines = _write(path)
    traced: list[int] = []

    def after_batch(job) -> None:
        # Measure once the parser thread has parsed the next batch, handed it over and waits for the writer
        # to take it: the same state after every batch, however busy the machine is.
        parser = next((t for t in threading.enumerate() if t.name == "import-parser"), None)
        deadline = time.monotonic() + 30
        while parser is not None and parser.is_alive() and time.monotonic() < deadline:
            frame = sys._current_frames().get(parser.ident)
            names = set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            if "_wait_taken" in names:
                break
            time.sleep(0.02)
        gc.collect()
        traced.append(tracemalloc.get_traced_memory()[0])

    tracemalloc.start()
    try:
        result = data_import(shop=shop, kind="events", path=path, batch_size=2_500, progress=after_batch)
    finally:
        tracemalloc.stop()

    assert Event.objects.filter(shop=shop).count() == ROWS - len(bad_lines) == result.inserted
    assert result.rejected == len(bad_lines) == ROWS // 100
    with open(result.report, newline="", encoding="utf-8") as handle:
        assert {int(r["line"]) for r in csv.DictReader(handle)} == bad_lines
    assert len(traced) == 12
    grown = max(traced[3:]) - traced[2]
    assert grown < 256 * 1024, f"{grown / 2**20:.2f} MB more held after later batches than after the third"
