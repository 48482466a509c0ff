"""Numbers as shops write them: decimal commas in ;-separated files, thousands separators (issue 18 §5)."""

from decimal import Decimal

import pytest

from behavior.ingest.values import number_text_normalise
from behavior.models import Order
from behavior.services import data_import
from catalog.models import Product

pytestmark = pytest.mark.django_db


def report_reasons(result) -> dict[str, str]:
    import csv

    with open(result.report, encoding="utf-8") as handle:
        return {row["value"]: row["reason"] for row in csv.DictReader(handle)}


def test_a_semicolon_file_from_a_european_spreadsheet_keeps_its_cents(shop, tmp_path):
    # Found in use: "19,99" in a ;-separated export was rejected as "not a number".
    path = tmp_path / "orders.csv"
    path.write_text("order_id;customer_id;placed_at;total\n"
                    "O1;C1;2024-03-01;19,99\n"
                    "O2;C1;2024-03-02;1.234,56\n"
                    "O3;C1;2024-03-03;1 234,50\n"
                    "O4;C1;2024-03-04;7.5\n"
                    "O5;C1;2024-03-05;12\n")
    result = data_import(shop=shop, kind="orders", path=path)
    assert result.rejected == 0
    totals = dict(Order.objects.filter(shop=shop).values_list("external_id", "total"))
    assert totals == {"O1": Decimal("19.99"), "O2": Decimal("1234.56"), "O3": Decimal("1234.50"),
                      "O4": Decimal("7.50"), "O5": Decimal("12.00")}


def test_product_prices_with_decimal_commas_in_a_tab_separated_file(shop, tmp_path):
    path = tmp_path / "products.tsv"
    path.write_text("product_id\tprice\nP1\t4,20\nP2\t1.099,00\n")
    data_import(shop=shop, kind="products", path=path)
    assert dict(Product.objects.filter(shop=shop).values_list("external_id", "price")) == {
        "P1": Decimal("4.20"), "P2": Decimal("1099.00")}


def test_a_comma_separated_file_reads_quoted_thousands_and_refuses_an_ambiguous_comma(shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text('order_id,customer_id,placed_at,total\n'
                    'O1,C1,2024-03-01,"1,234.56"\n'
                    'O2,C1,2024-03-02,"1,234"\n'
                    'O3,C1,2024-03-03,"19,99"\n')
    result = data_import(shop=shop, kind="orders", path=path)
    totals = dict(Order.objects.filter(shop=shop).values_list("external_id", "total"))
    assert totals == {"O1": Decimal("1234.56"), "O2": Decimal("1234.00")}
    assert result.rejected == 1
    reason = report_reasons(result)["19,99"]
    assert "write 19.99: a comma is read as the decimal separator only in files separated by ;" in reason


@pytest.mark.parametrize(("written", "decimal_comma", "read"), [
    ("19,99", True, "19.99"),
    ("1,234", True, "1.234"),          # a decimal comma file: the comma is the decimal separator
    ("1,234", False, "1234"),          # a comma file: it can only group thousands
    ("1.234.567", True, "1234567"),
    ("19.99", True, "19.99"),          # one point stays a decimal point, also in ;-files
    ("1'234.50", False, "1234.50"),
    ("1,2.5", True, "1,2.5"),          # malformed grouping: left as written, then refused
    ("12,34,56", True, "12,34,56"),
    ("-23,243.75", False, "-23243.75"),  # a refund row with thousands: negative, refused as a refund (analyst)
    ("-1.234,56", True, "-1234.56"),
    ("-$1,286.01", False, "-1286.01"),
    ("--3", False, "--3"),
])
def test_number_rules(written, decimal_comma, read):
    assert number_text_normalise(written, decimal_comma=decimal_comma) == read


def test_a_refund_written_with_thousands_is_refused_as_a_refund_not_as_a_bad_number(shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text('order_id,customer_id,placed_at,total\nO1,C1,2024-03-01,"-23,243.75"\n')
    result = data_import(shop=shop, kind="orders", path=path)
    assert result.rejected == 1
    reason = next(iter(report_reasons(result).values()))
    assert reason.startswith("negative value (a return or refund is an order's status")
