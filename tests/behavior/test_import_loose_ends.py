"""Import loose ends (session 27): what the JSON line's counts and the rejected-rows report say about a file."""

import csv
import io
import json

import pytest
from django.core.management import call_command

from behavior.models import Order

pytestmark = pytest.mark.django_db


def _import(shop, path, *args, kind="orders"):
    out = io.StringIO()
    call_command("import_data", kind, str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _report(document) -> list[list[str]]:
    with open(document["report"], encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_a_refused_dates_reason_says_that_month_names_are_read(shop, tmp_path, import_dir):
    # Read since session 26 (26 Oct 2025, 26. Oktober 2025 …), yet the reason named ISO 8601 and Unix time only.
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at\nO1,C1,26 Okt. 2025\nO2,C1,26 out 2025\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (1, 1)
    [(line, column, value, reason)] = _report(document)[1:]
    assert (line, column, value) == ("3", "placed_at", "26 out 2025")
    assert reason.startswith("unparseable date (expected ISO 8601, e.g. 2024-03-01")
    assert "the month's name in English, German, French, Spanish or Italian, e.g. 26 Oct 2025" in reason


def test_the_rejected_rows_report_names_the_files_own_columns(shop, tmp_path, import_dir):
    # A user fixes the rows in their own file: the report named the fields the columns were read as (placed_at,
    # total, customer_id), none of which the German file has.
    first = tmp_path / "first.csv"
    first.write_text("order_id,customer_id,placed_at\nB0,K1,2025-09-30\n")
    _import(shop, first)
    path = tmp_path / "bestellungen.csv"
    path.write_text("Bestellnummer;Kundennummer;Bestelldatum;Betrag\n"
                    "B1;K1;01.10.2025;10,00\n"
                    "B2;K1;bald;20,00\n"       # the parser's reject (a mapped column)
                    "B3;K1;03.10.2025;1O,00\n"  # the parser's reject
                    "B4;K9;04.10.2025;5,00\n", encoding="utf-8")  # the writer's (unknown customer, --no-create)
    document = _import(shop, path, "--map", "order_id=Bestellnummer", "--map", "customer_id=Kundennummer",
                       "--map", "placed_at=Bestelldatum", "--map", "total=Betrag", "--no-create")
    assert (document["inserted"], document["rejected"]) == (1, 3)
    rows = _report(document)
    assert rows[0] == ["line", "column", "value", "reason"]
    assert [(line, column, value) for line, column, value, _ in rows[1:]] == [
        ("3", "Bestelldatum", "bald"), ("4", "Betrag", "1O,00"), ("5", "Kundennummer", "K9")]


def test_rounded_amounts_count_only_the_rows_stored(shop, tmp_path, import_dir, capsys):
    # 0,125 on a row the writer rejects (an unknown customer under --no-create, another customer's order id) is
    # not stored: counted, the import said "2 amount(s) … were rounded" for one amount stored.
    first = tmp_path / "first.csv"
    first.write_text("order_id;customer_id;placed_at;Betrag\nB1;K1;2025-10-01;1,00\n")
    _import(shop, first)
    path = tmp_path / "bestellungen.csv"
    path.write_text("order_id;customer_id;placed_at;Betrag\n"
                    "B2;K1;2025-10-02;0,125\n"    # stored
                    "B3;K9;2025-10-03;0,135\n"    # unknown customer under --no-create (writer)
                    "B1;K2;2025-10-01;0,145\n"    # B1 is K1's order (writer)
                    "B4;K1;2025-10-04;2,50\n", encoding="utf-8")
    dry = _import(shop, path, "--map", "total=Betrag", "--no-create", "--dry-run")
    capsys.readouterr()
    real = _import(shop, path, "--map", "total=Betrag", "--no-create")
    progress = capsys.readouterr().err
    assert (real["inserted"], real["rejected"]) == (2, 2)
    assert dry["rounded_amounts"] == real["rounded_amounts"] == {"Betrag": 1}
    assert "1 amount(s) in column Betrag had more than two decimals and were rounded to the cent (0,125 stored " \
           "as 0.13)" in progress


def test_rounded_amounts_of_order_lines_carried_to_the_next_batch_go_with_them(shop, tmp_path, import_dir):
    # An order's lines cut by a batch boundary move to the next batch (parse.orders_kept_together), where the
    # writer may reject them (an unknown order): their rounded amounts moved with them, or they counted.
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,placed_at\nX,C1,2025-10-01\n")
    _import(shop, orders)
    lines = tmp_path / "lines.csv"
    lines.write_text("order_id;product_id;quantity;unit_price\n"
                     "X;P1;1;0,125\n"     # stored
                     "Y;P2;1;0,135\n"     # carried to the second batch with Y's next line, rejected: unknown order
                     "Y;P3;1;0,145\n", encoding="utf-8")
    document = _import(shop, lines, "--batch-size", "2", kind="order_lines")
    assert (document["inserted"], document["rejected"]) == (1, 2)
    assert document["rounded_amounts"] == {"unit_price": 1}



def test_an_order_id_given_twice_in_one_file_is_no_order_the_shop_held(shop, tmp_path, import_dir, capsys):
    # Two rows of one order id under two customers, in a file for a shop that held neither: the real run counted
    # the second row's order as one the shop "already holds" (its own first row had just stored it), the dry run
    # did not (rolled back). Neither is: the shop held no order before this import.
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,total\nA1,C1,2025-10-01,10.00\nA1,C2,2025-10-01,10.00\n")
    dry = _import(shop, path, "--dry-run")
    real = _import(shop, path)
    assert (dry["rejected"], dry["rejected_stored_orders"]) == (1, 0)
    assert (real["rejected"], real["rejected_stored_orders"]) == (1, 0)
    assert "already holds" not in capsys.readouterr().err
    # The same conflict against an order the shop held before the import counts, dry run and real run alike.
    again = tmp_path / "again.csv"
    again.write_text("order_id,customer_id,placed_at,total\nA1,C2,2025-10-01,11.00\nA2,C2,2025-10-02,5.00\n")
    assert _import(shop, again, "--dry-run")["rejected_stored_orders"] == 1
    assert _import(shop, again)["rejected_stored_orders"] == 1
    assert Order.objects.get(shop=shop, external_id="A1").customer.external_id == "C1"


@pytest.mark.parametrize("batch_size", ["100", "1"])
def test_rejected_stored_orders_counts_an_orders_rows_alike_wherever_a_batch_ends(shop, tmp_path, import_dir,
                                                                                  batch_size):
    # A reviewer: the rows continuing an order whose first row the writer rejected at a batch's end were rejected
    # in the next batch but left out of rejected_stored_orders when that batch held no other reject (3 vs 1).
    first = tmp_path / "o1.csv"
    first.write_text("order_id,customer_id,placed_at,total\nA1,K1,2025-01-01,10.00\n")
    _import(shop, first, "--currency", "EUR")
    again = tmp_path / "o2.csv"  # A1 under another customer: its 3 rows are rejected, all of an order held before
    again.write_text("order_id,customer_id,placed_at,total\nA1,K2,2025-01-01,10.00\nA1,,,\nA1,,,\n"
                     "B1,K1,2025-01-02,5.00\n")
    for args in (("--dry-run",), ()):
        document = _import(shop, again, "--batch-size", batch_size, *args)
        assert (document["rejected"], document["rejected_stored_orders"]) == (3, 3), args
