"""The column-wise event parser (behavior/ingest/columns.py) gives exactly what the row-wise parser gives:
the same stored events, keys, counts and rejected-rows reports, whatever the file throws at it."""

import csv
import datetime as dt
from datetime import UTC, datetime

import pytest

from behavior.ingest import columns as ingest_columns
from behavior.ingest import parse
from behavior.ingest import services as ingest_services
from behavior.ingest.formats import plan_build, source_open
from behavior.ingest.parse import batches_parse
from behavior.ingest.values import event_idempotency_key
from behavior.models import Customer, Event
from behavior.services import data_import
from behavior.simulator import SimulationConfig, simulate

NOW = datetime(2026, 7, 1, tzinfo=UTC)
HEADER = "event_id,customer_id,type,product_id,occurred_at,session_id,properties\n"
TRICKY = HEADER + "".join([
    "E1,C1,view,P1,2024-03-01T14:05:00,s1,\n",
    "E2,C1,view,P1,2024-03-01,s1,\"{\"\"q\"\": \"\"a,b\"\"}\"\n",         # quoted JSON with a delimiter
    ",C2,search,,2024-03-01T14:05:00Z,,\"{\"\"q\"\": 1}\"\n",              # no event id: content key
    ",C2,search,,2024-03-01T15:05:00+01:00,,\"{\"\"q\"\": 1}\"\n",         # the same moment: a duplicate
    "E3,C3,view,,2024-03-01 14:05:00.25,s2,\n",                           # space, fraction
    "E4,C3,view,,2024-03-01T14:05:00.1234567-02:30,s2,\n",                # 7 digits: the row-wise converter
    "E5,C3,view,,20240301T140500,s2,\n",                                  # basic format: row-wise converter
    "\n",                                                                  # blank line
    "   \n",                                                               # whitespace only
    "E6,C4,view,,2024-13-45,s3,\n",                                        # bad date
    "E7,C4,view,,2099-01-01,s3,\n",                                        # future
    "E8,,view,,2024-03-01,s3,\n",                                          # missing customer
    "E9,C4,,,2024-03-01,s3,\n",                                            # missing type
    "E10,C4,view,,2024-03-01,s3,{bad\n",                                   # bad JSON
    "E11,C4,view,,2024-03-01,s3,\"{\"\"a\"\": \"\"x\\u0000y\"\"}\"\n",     # \u0000: jsonb refuses it
    "E12,C4,view,,2024-03-01,s3\n",                                        # too few fields
    "E13,C4,view,,2024-03-01,s3,,extra\n",                                 # too many fields
    "E14,C4,\"view, quoted\",,2024-03-01,s3,\n",                           # quoted delimiter in a text field
    "E15," + "C" * 101 + ",view,,2024-03-01,s3,\n",                       # too long
    "  E16 , C5 ,view, P2 , 2024-03-02T01:02:03 , s4 ,\n",                # padded values are stripped
    "E17,C5,view,,2024-03-02,s4,\"{\"\"note\"\": 2,\n\"\"b\"\": 3}\"\n",  # a line break inside a quoted field
    "E18,C5,view,,2024-03-02,s4,\"{\"\"a\"\": \"\"b\\\\c\\tTab\"\"}\"\n",     # backslash escapes survive COPY
    "E17,C5,view,,2024-03-02,s4,\n",                                       # repeated event id
])


def _parsed(path, method, batch_size):
    with source_open(path) as source:
        plan = plan_build(kind="events", header=source.header)
        batches = list(batches_parse(source, plan, batch_size=batch_size, now=NOW, method=method))
    rows = [row for batch in batches for row in batch.rows]
    rejects = sorted((r.line, r.column, r.value, r.reason) for batch in batches for r in batch.rejects)
    return rows, rejects


@pytest.mark.parametrize("batch_size", [1, 4, 7, 1000])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_column_parser_gives_the_row_parsers_rows_keys_and_rejects(tmp_path, batch_size, line_end):
    # Catches: shifted line numbers (blank lines, a quoted line break across a batch boundary), a reason
    # text or a canonical date that differs, keys that would make re-imports store events twice.
    path = tmp_path / "e.csv"
    path.write_bytes(TRICKY.replace("\n", line_end).encode())
    rows, rejects = _parsed(path, "rows", batch_size)
    assert _parsed(path, "auto", batch_size) == (rows, rejects)
    assert {r[0] for r in rejects} == {11, 12, 13, 14, 15, 16, 17, 18, 20}
    assert (16, "properties", '{"a": "x\\u0000y"}',
            "JSON contains \\u0000 or an unpaired surrogate escape (PostgreSQL cannot store it)") in rejects
    by_line = {row[0]: row for row in rows}
    assert by_line[6][5] == "2024-03-01T14:05:00.250000+00:00"
    assert by_line[21][1:3] == ["E16", "C5"]
    for row in rows:
        assert row[8] == event_idempotency_key(event_id=row[1], customer_id=row[2], type=row[3], product_id=row[4],
                                               occurred_at=row[5], session_id=row[6], properties=row[7])


@pytest.mark.parametrize("parse_lines", [2, 3, 5])
@pytest.mark.parametrize("batch_size", [4, 7, 1000])
def test_batches_parsed_in_parts_give_the_row_parsers_rows_and_rejects(tmp_path, monkeypatch, parse_lines,
                                                                      batch_size):
    # A batch is parsed PARSE_LINES lines at a time and the parts joined; parts that need the row-wise
    # parser (the quoted line break) fall back in the middle of a batch.
    monkeypatch.setattr(ingest_columns, "PARSE_LINES", parse_lines)
    path = tmp_path / "e.csv"
    path.write_bytes(TRICKY.encode())
    assert _parsed(path, "auto", batch_size) == _parsed(path, "rows", batch_size)


def test_the_parser_thread_runs_at_most_one_batch_ahead_of_the_writer():
    # Memory: the batch being written and the one being parsed, never a third waiting in between.
    import time

    produced: list[int] = []

    def batches():
        for i in range(6):
            produced.append(i)
            yield i

    seen = []
    with ingest_services._Prefetched(batches()) as prefetched:
        for item in prefetched:
            time.sleep(0.05)  # time for the parser to run ahead, were it allowed to
            seen.append((item, len(produced)))
    assert [item for item, _ in seen] == list(range(6))
    assert all(count <= item + 2 for item, count in seen), seen


@pytest.mark.parametrize("value", [
    "2024-03-01", "2024-03-01T14:05", "2024-03-01T14:05:00", "2024-03-01 14:05:00", "2024-03-01T14:05:00Z",
    "2024-03-01T14:05:00+02:00", "2024-03-01T00:30:00-05:30", "2024-03-01T14:05:00.5", "2024-03-01T14:05:00.000001Z",
    "2024-02-29", "2023-02-29", "2024-03-01T24:00:00", "2024-03-01T14:05:60", "2024-03-01T14:05:00+24:00",
    "2024-03", "2024", "1500-01-01", "0999-12-31", "2026-07-01T23:59:59", "2026-07-02T00:00:01", "2026-07-03",
    "2024-03-01T14", "2024-03-01T14:05:00+0200", "2024-W09-5", "1.5", "", "2024-03-01t14:05:00",
    "2024-03-01T14:05:00 ", "9999-12-31T23:59:59.999999",
])
def test_column_parser_accepts_exactly_the_dates_the_row_parser_accepts(tmp_path, value):
    # Catches: pandas accepting a date fromisoformat refuses (or the reverse), or a canonical text that differs
    # (the content key hashes it: a different text stores the same event twice).
    path = tmp_path / "e.csv"
    path.write_text("customer_id,type,occurred_at\n" + "".join(f"C{i},view,{value}\n" for i in range(3)))
    assert _parsed(path, "auto", 1000) == _parsed(path, "rows", 1000)


@pytest.fixture(scope="module")
def dirty_events(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty-columns")
    simulate(SimulationConfig(customers=300, products=40, days=120, seed=11, end_date=dt.date(2026, 6, 30),
                              dirty=True), out)
    return out / "events.csv"


def _import(shop, path, *, method, monkeypatch, batch_size, create_missing=True):
    monkeypatch.setattr(parse, "PARSE_METHOD", method)
    job = ingest_services.import_job_create(shop=shop, kind="events", path=path, create_missing=create_missing)
    result = ingest_services.import_job_run(import_job_id=job.pk, batch_size=batch_size)
    report = []
    if result.report:
        with open(result.report, newline="", encoding="utf-8") as handle:
            report = list(csv.reader(handle))
    stored = sorted(Event.objects.filter(shop=shop).values_list(
        "customer__external_id", "type", "product__external_id", "occurred_at", "session_id", "properties",
        "idempotency_key"), key=repr)
    counts = (result.rows, result.inserted, result.duplicates, result.rejected, result.stubs)
    return counts, report, stored


@pytest.mark.django_db
@pytest.mark.parametrize("create_missing", [True, False])
def test_both_parse_paths_store_the_same_events_and_reports(shop, other_shop, tmp_path, dirty_events, monkeypatch,
                                                            create_missing):
    # Catches any difference the writer would see: each shop imports the same files through one path.
    tricky = tmp_path / "tricky.csv"
    tricky.write_text(TRICKY)
    for target in (shop, other_shop):  # known customers (C2 unknown); every product unknown
        Customer.objects.bulk_create(Customer(shop=target, external_id=f"C{i}") for i in (1, 3, 4, 5))
        if not create_missing:  # the simulated customers and products, so that most events are stored
            for kind in ("customers", "products"):
                data_import(shop=target, kind=kind, path=dirty_events.parent / f"{kind}.csv")
    for path, batch_size in ((tricky, 5), (dirty_events, 700)):
        outcomes = [_import(target, path, method=method, monkeypatch=monkeypatch, batch_size=batch_size,
                            create_missing=create_missing)
                    for target, method in ((shop, "rows"), (other_shop, "auto"))]
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0][1] > 0  # something was stored (the comparison is not of two empty imports)
        # A second import through the other path stores nothing new: the keys agree.
        again = _import(shop, path, method="auto", monkeypatch=monkeypatch, batch_size=batch_size,
                        create_missing=create_missing)
        assert again[0][1] == 0 and again[2] == outcomes[0][2]


@pytest.mark.django_db
def test_bigquerys_utc_word_takes_the_fast_path_and_stores_what_the_row_parser_does(shop, other_shop, tmp_path,
                                                                                      monkeypatch):
    path = tmp_path / "bigquery.csv"
    path.write_text(HEADER + "E1,C1,view,P1,2024-03-01 14:05:00 UTC,s1,\n"
                             "E2,C1,view,P1,2024-03-01 14:05:00.25 UTC,s1,\n"
                             "E3,C1,view,P1,2024-03-01T14:05:00Z,s1,\n"
                             "E4,C1,view,P1,2099-01-01 00:00:00 UTC,s1,\n"     # future
                             "E5,C1,view,P1,2024-13-01 00:00:00 UTC,s1,\n"     # no 13th month
                             "E6,C1,view,P1,25/01/2024 14:05 UTC,s1,\n")       # written date, the slow path
    outcomes = [_import(target, path, method=method, monkeypatch=monkeypatch, batch_size=100)
                for target, method in ((shop, "rows"), (other_shop, "auto"))]
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][1:4] == (4, 0, 2)  # stored, duplicates, rejected
    assert {row[3].isoformat() for row in outcomes[0][2]} == {
        "2024-03-01T14:05:00+00:00", "2024-03-01T14:05:00.250000+00:00", "2024-01-25T14:05:00+00:00"}
