"""Numbers as shops write them: decimal commas in ;-separated files, thousands separators (issue 18 §5)."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

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


@pytest.mark.parametrize(("written", "points_group", "read"), [
    ("1.234", True, "1234"),           # a column that writes 12,50: the point groups thousands
    ("€ 2.500", True, "2500"),
    ("-1.234", True, "-1234"),
    ("7.5", True, "7.5"),              # not groups of three: left a decimal point
    ("1.234", False, "1.234"),
])
def test_points_in_a_column_of_decimal_commas(written, points_group, read):
    assert number_text_normalise(written, decimal_comma=True, points_group=points_group) == read


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


def test_a_german_file_reads_a_thousands_point_where_its_column_writes_decimal_commas(shop, tmp_path):
    # An outside analyst's German export: 1.234 and 2.500 were stored as 1.23 and 2.50, 1000 times too small.
    path = tmp_path / "bestellungen.csv"
    path.write_text("order_id;customer_id;placed_at;total\n"
                    "O1;C1;2024-03-01;12,50\n"
                    "O2;C1;2024-03-02;1.234\n"
                    "O3;C1;2024-03-03;1.234,56\n"
                    "O4;C1;2024-03-04;2.500\n"
                    "O5;C1;2024-03-05;99\n")
    result = data_import(shop=shop, kind="orders", path=path)
    assert result.rejected == 0
    totals = dict(Order.objects.filter(shop=shop).values_list("external_id", "total"))
    assert totals == {"O1": Decimal("12.50"), "O2": Decimal("1234.00"), "O3": Decimal("1234.56"),
                      "O4": Decimal("2500.00"), "O5": Decimal("99.00")}


def test_the_decimal_comma_seen_far_down_the_file_still_decides_its_column(shop, tmp_path):
    rows = "".join(f"O{n};C1;2024-03-01;{n}\n" for n in range(3000))
    path = tmp_path / "orders.csv"
    path.write_text("order_id;customer_id;placed_at;total\n" + "O-a;C1;2024-03-02;1.234\n" + rows
                    + "O-b;C1;2024-03-03;7,50\n")
    data_import(shop=shop, kind="orders", path=path)
    totals = dict(Order.objects.filter(shop=shop, external_id__in=["O-a", "O-b"]).values_list("external_id", "total"))
    assert totals == {"O-a": Decimal("1234.00"), "O-b": Decimal("7.50")}


@pytest.mark.parametrize(("header", "written", "reason"), [
    # a ;-file whose column never says which separator it writes: 1.234 is 1.234 or 1234
    ("order_id;customer_id;placed_at;total\n", ["O1;C1;2024-03-01;1.234", "O2;C1;2024-03-02;2.500"],
     "1.234 can be 1234 (a thousands point) or 1.234 (a decimal point): no value of its column writes a decimal"),
    # a ;-file whose column writes the decimal point: 1.234 may still be a thousands point
    ("order_id;customer_id;placed_at;total\n", ["O1;C1;2024-03-01;1.234", "O2;C1;2024-03-02;12.50"],
     "can be 1234 (a thousands point)"),
    # a decimal comma with three decimals: 1.234 rounded, or 1234 with a comma grouping thousands
    ("order_id;customer_id;placed_at;total\n", ["O1;C1;2024-03-01;1,234", "O2;C1;2024-03-02;12,50"],
     "1,234 has three decimals (amounts are kept to the cent): if its comma groups thousands write it without "
     "(1234)"),
])
def test_an_amount_with_three_decimals_in_a_semicolon_file_is_rejected_not_rounded_quietly(shop, tmp_path, header,
                                                                                          written, reason):
    path = tmp_path / "orders.csv"
    path.write_text(header + "\n".join(written) + "\n")
    result = data_import(shop=shop, kind="orders", path=path)
    reasons = report_reasons(result)
    first = written[0].split(";")[-1]
    assert reason in reasons[first]
    assert not Order.objects.filter(shop=shop, external_id="O1").exists()


def test_an_amount_rounded_to_the_cent_is_said_with_its_column_and_count(shop, tmp_path, import_dir, capsys):
    # 0,125 and 1234,567 in a column of decimal commas were stored as 0.13 and 1234.57 without a word (12,345 is
    # rejected: it may be 12345 with a comma grouping thousands); in a comma file 12.499 was 12.50 the same way.
    path = tmp_path / "bestellungen.csv"
    path.write_text("Nr;Kunde;Datum;Betrag\n"
                    "O1;C1;2024-03-01;12,50\n"
                    "O2;C1;2024-03-02;0,125\n"
                    "O3;C1;2024-03-03;1234,567\n"
                    "O4;C1;2024-03-04;12,345\n"       # rejected as before
                    "O5;C1;2024-03-05;7,500\n"        # 7.50: a third decimal that changes nothing
                    "O6;C1;2024-03-06;2,999;x\n")     # rejected (a field too many): its amount not counted
    out = io.StringIO()
    call_command("import_data", "orders", str(path), "--shop", shop.slug, "--map", "order_id=Nr",
                 "--map", "customer_id=Kunde", "--map", "placed_at=Datum", "--map", "total=Betrag", stdout=out)
    document = json.loads(out.getvalue())
    assert (document["inserted"], document["rejected"], document["rounded_amounts"]) == (4, 2, {"Betrag": 2})
    assert ("2 amount(s) in column Betrag had more than two decimals and were rounded to the cent (0,125 stored as "
            "0.13)") in capsys.readouterr().err
    assert dict(Order.objects.filter(shop=shop).values_list("external_id", "total")) == {
        "O1": Decimal("12.50"), "O2": Decimal("0.13"), "O3": Decimal("1234.57"), "O5": Decimal("7.50")}
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,total\nP1,C1,2024-03-01,12.499\nP2,C1,2024-03-02,5.10\n")
    out = io.StringIO()
    call_command("import_data", "orders", str(path), "--shop", shop.slug, stdout=out)
    assert json.loads(out.getvalue())["rounded_amounts"] == {"total": 1}
    assert "1 amount(s) in column total had more than two decimals" in capsys.readouterr().err


def test_an_uploaded_files_page_says_how_its_dates_and_amounts_were_read(shop, tmp_path, import_dir, client):
    # The upload page's job said only "Done: 10 new orders" where import_data said it read the dates day first,
    # the amounts with the decimal comma and rounded 0,125 to 0.13 (a new user's review).
    from behavior.services import import_job_create
    from behavior.tasks import data_import_task
    from tests.accounts.factories import UserFactory

    path = tmp_path / "bestellungen.csv"
    path.write_text("order_id;customer_id;placed_at;total\n"
                    "O1;C1;13.03.2024;2.500,00\nO2;C1;14.03.2024;0,125\nO3;C2;15.03.2024;12,50\n")
    job = import_job_create(shop=shop, kind="orders", path=path)
    assert data_import_task(job.pk)["inserted"] == 3
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Dates such as 03/04/2024 are read as day/month/year, as the file&#x27;s 13.03.2024 shows" in page
    assert "Amounts in the column &#x27;total&#x27; are read with the decimal comma" in page
    assert "1 amount(s) in column total had more than two decimals and were rounded to the cent (0,125 stored as " \
           "0.13)" in page
