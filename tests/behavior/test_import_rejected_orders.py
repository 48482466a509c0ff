"""An order's rows go together (an outside analyst, brief h9): a file with a row per line (UCI Online Retail,
Dunnhumby) whose orders were all refused counted one row of each as rejected and the others as duplicates, and
the import "succeeded" (exit 0), kept the new empty shop, and said "1 of 6 rows were rejected" of an order lost
whole."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Shop
from behavior.ingest.formats import ImportFileError, source_open
from behavior.ingest.values import RowError, datetime_canonical
from behavior.models import Customer, Order

pytestmark = pytest.mark.django_db


def _import(slug, path, *args, kind="orders"):
    out = io.StringIO()
    try:
        call_command("import_data", kind, str(path), "--shop", slug, *args, stdout=out)
    except CommandError as exc:
        return json.loads(out.getvalue().strip().splitlines()[-1]), exc
    return json.loads(out.getvalue().strip().splitlines()[-1]), None


def _report(document):
    with open(document["report"], newline="", encoding="utf-8") as handle:
        return {int(row["line"]): row for row in csv.DictReader(handle)}


def test_an_order_of_several_rows_rejected_whole_fails_and_leaves_no_new_shop(tmp_path, import_dir, capsys):
    path = tmp_path / "baskets.csv"
    path.write_text("order_id,customer_id,placed_at,product_id\n"
                    "A1,c1,437,p1\nA1,c1,437,p2\nA2,c2,438,p3\nA2,c2,438,p4\n")
    for dry in ((), ("--dry-run",)):
        document, error = _import("dunn", path, *dry)
        assert (document["status"], document["inserted"], document["duplicates"], document["rejected"]) == (
            "failed", 0, 0, 4)
        assert error is not None and "all 4 rows were rejected (every one: unparseable date" in str(error)
        # The day number gets its hint (Dunnhumby's DAY).
        assert "looks like a day number" in document["error"]
        assert "pd.to_timedelta" in document["error"]
        report = _report(document)
        assert sorted(report) == [2, 3, 4, 5]
        assert report[3]["reason"].startswith("another row of this order was rejected: unparseable date")
        assert (report[3]["column"], report[3]["value"]) == ("placed_at", "437")
        assert not Shop.objects.filter(slug="dunn").exists()
    assert "the shop 'dunn' was not kept: the import stored nothing" in capsys.readouterr().err


def test_a_rejected_orders_other_rows_count_as_rejected_in_the_json_the_message_and_the_report(
        shop, tmp_path, import_dir, capsys):
    path = tmp_path / "partial.csv"
    path.write_text("order_id,customer_id,placed_at,product_id\n"
                    "A1,c1,2024-03-01,p1\nA1,c1,2024-03-01,p2\nA1,c1,2024-03-01,p3\n"
                    "A2,c2,not-a-date,p3\nA2,c2,not-a-date,p4\nA2,c2,not-a-date,p5\n")
    # A batch of one row: the orders cut by batches; A1 is stored by then (its first row a duplicate too).
    for args, duplicates in ((("--dry-run",), 2), ((), 2), (("--batch-size", "1"), 3)):
        document, error = _import(shop.slug, path, *args)
        assert error is None and document["status"] == "succeeded"
        assert (document["rejected"], document["duplicates"]) == (3, duplicates)
        assert "3 of 6 rows were rejected" in capsys.readouterr().err
        assert sorted(_report(document)) == [5, 6, 7]
    assert list(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["A1"]


def test_the_rows_continuing_an_order_the_writer_rejects_are_rejected_with_it(shop, tmp_path, import_dir):
    """The writer's rejects (an unknown customer under --no-create, another customer's order id) take the order's
    other rows with them, in one batch and across two."""
    Customer.objects.create(shop=shop, external_id="c1")
    path = tmp_path / "lines.csv"
    path.write_text("order_id,customer_id,placed_at,product_id\n"
                    "A1,c1,2024-03-01,p1\nA1,c1,2024-03-01,p2\n"
                    "A2,c9,2024-03-02,p3\nA2,c9,2024-03-02,p4\nA2,c9,2024-03-02,p5\n")
    # A batch of one row: A2's first row in one batch, its other rows in the next; A1 stored by the second run.
    for args, duplicates in ((("--dry-run", "--batch-size", "1"), 1), (("--batch-size", "1"), 1), ((), 2)):
        document, error = _import(shop.slug, path, "--no-create", *args)
        assert error is None
        assert (document["rejected"], document["duplicates"]) == (3, duplicates), args
        report = _report(document)
        assert sorted(report) == [4, 5, 6]
        assert report[4]["reason"] == "unknown customer c9"
        assert report[6]["reason"] == "another row of this order was rejected: unknown customer c9"
    other = tmp_path / "other.csv"  # A1 is c1's: c2's rows of it are refused, all three
    other.write_text("order_id,customer_id,placed_at,product_id\n"
                     "A1,c2,2024-03-05,p1\nA1,c2,2024-03-05,p2\nA1,c2,2024-03-05,p3\nA3,c2,2024-03-05,p1\n")
    document, error = _import(shop.slug, other)
    assert (document["inserted"], document["rejected"], document["duplicates"]) == (1, 3, 0)
    assert document["rejected_stored_orders"] == 3  # each of the three rows of c1's stored order
    assert Order.objects.get(shop=shop, external_id="A1").customer.external_id == "c1"


def test_a_new_shop_whose_import_rejected_every_row_is_removed_an_existing_one_kept(tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at\nA1,c1,yesterday\n")
    document, error = _import("fresh", path)
    assert error is not None and document["status"] == "failed"
    assert not Shop.objects.filter(slug="fresh").exists()
    Shop.objects.create(slug="held", name="Held")  # not created by the import: kept, empty or not
    document, error = _import("held", path)
    assert error is not None and Shop.objects.filter(slug="held").exists()


def test_day_numbers_get_a_hint_and_a_gzip_file_says_to_unzip_it(tmp_path):
    latest = datetime(2030, 1, 1, tzinfo=UTC)
    for value in ("1", "437", "711", "29999"):
        with pytest.raises(RowError, match=r"looks like a day number .* pd\.Timestamp"):
            datetime_canonical(value, None, latest=latest)
    with pytest.raises(RowError, match="a year alone says no day"):
        datetime_canonical("2024", None, latest=latest)
    with pytest.raises(RowError, match="spreadsheet's day number"):
        datetime_canonical("45384", None, latest=latest)
    import gzip

    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("order_id,customer_id,placed_at\nA1,c1,2024-03-01\n")
    with pytest.raises(ImportFileError, match=r"is a gzip archive, not a CSV file\. Unzip it first \(gunzip"):
        source_open(path)
