"""Files as other shops export them (an outside review, session 17): headers in words, currency beside amounts,
identical rows without an order id, returns written as negative totals."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from behavior.models import Customer, Order

pytestmark = pytest.mark.django_db


def _import(shop, path, *args, kind="orders"):
    out = io.StringIO()
    call_command("import_data", kind, str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_columns_named_in_words_and_amounts_with_their_currency_are_read(shop, tmp_path, import_dir, capsys):
    path = tmp_path / "export.csv"
    path.write_text("Customer ID;Order Date;Amount;Items\n"
                    "C1;2024-02-01;€ 12,50;1\n"
                    "C2;2024-02-02;1.234,00 €;3\n"
                    "C3;2024-02-03;EUR 7;1\n", encoding="utf-8")
    document = _import(shop, path, "--map", "total=Amount", "--map", "Item_Count=Items")
    progress = capsys.readouterr().err  # the command's progress lines go to stderr
    assert (document["inserted"], document["rejected"]) == (3, 0)
    # Required fields are read from the obvious column, and the command says so.
    assert "reading customer_id from the column 'Customer ID'" in progress
    assert "reading placed_at from the column 'Order Date'" in progress
    totals = dict(Order.objects.filter(shop=shop).values_list("customer__external_id", "total"))
    assert totals == {"C1": Decimal("12.50"), "C2": Decimal("1234.00"), "C3": Decimal("7.00")}
    counts = dict(Order.objects.filter(shop=shop).values_list("customer__external_id", "item_count"))
    assert counts == {"C1": 1, "C2": 3, "C3": 1}


def test_an_optional_field_is_only_hinted_and_a_map_in_capitals_is_kept(shop, tmp_path, import_dir, capsys):
    """A second reader's findings: optional fields guessed unasked would change the derived ids of orders a shop
    had imported before (every order again on a re-import); a --map typed as Customer_ID lost to the guess."""
    path = tmp_path / "export.csv"
    path.write_text("Customer ID,Client,placed_at,Amount\nC1,K1,2024-02-01,10\n")
    document = _import(shop, path, "--map", "Customer_ID=Client")
    progress = capsys.readouterr().err
    assert document["inserted"] == 1
    order = Order.objects.get(shop=shop)
    assert order.customer.external_id == "K1" and order.total is None
    assert "the column 'Amount' looks like total, which is not read: --map total=Amount reads it" in progress
    assert "reading customer_id" not in progress


def test_dollar_amounts_with_thousands_in_a_comma_file(shop, tmp_path, import_dir):
    path = tmp_path / "orders.csv"
    path.write_text('customer_id,placed_at,total\nC1,2024-02-01,$12.00\nC2,2024-02-02,"$1,286.01"\n'
                    "C3,2024-02-03,12.50 USD\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (3, 0)
    assert sorted(Order.objects.filter(shop=shop).values_list("total", flat=True)) == [
        Decimal("12.00"), Decimal("12.50"), Decimal("1286.01")]


def test_identical_rows_without_an_order_id_are_separate_orders_and_a_second_import_adds_nothing(
        shop, tmp_path, import_dir):
    """The CD shop's file: customer 22506 placed nine 14.99 orders on 1997-12-22; they were stored as one."""
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total\n" + "C1,1997-12-22,14.99\n" * 3 + "C2,1997-12-22,14.99\n")
    first = _import(shop, path)
    assert (first["inserted"], first["duplicates"]) == (4, 0)
    history = tmp_path / "history.csv"  # one order's status history: the later row still replaces the earlier
    history.write_text("customer_id,placed_at,total,status\nC9,1997-12-22,9.99,placed\nC9,1997-12-22,9.99,refunded\n")
    _import(shop, history)
    assert list(Order.objects.filter(shop=shop, customer__external_id="C9").values_list("status", flat=True)) == [
        "refunded"]
    assert Order.objects.filter(shop=shop, customer__external_id="C1").count() == 3
    again = _import(shop, path)
    assert (again["inserted"], again["duplicates"]) == (0, 4)
    assert Order.objects.filter(shop=shop).count() == 4 + 1  # and C9's one order


def test_a_negative_total_is_rejected_with_what_to_do_instead(shop, tmp_path, import_dir):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total\nC1,2024-02-01,10\nC1,2024-02-05,-10\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (1, 1)
    assert "refunded" in open(document["report"], encoding="utf-8").read()


def test_order_lines_imported_before_their_orders_leave_no_products_behind(shop, tmp_path, import_dir):
    from catalog.models import Product

    path = tmp_path / "lines.csv"
    path.write_text("order_id,product_id,quantity\nO1,P1,1\nO2,P2,3\n")
    out = io.StringIO()
    with pytest.raises(Exception, match=r"Nothing was imported: all 2 rows were rejected \(every one: unknown order\)"):
        call_command("import_data", "order_lines", str(path), "--shop", shop.slug, stdout=out)
    assert not Product.objects.filter(shop=shop).exists()


def test_a_whole_number_written_with_a_decimal_point_is_read(shop, tmp_path, import_dir):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,total,item_count\nO1,C1,2024-02-01,10,2.0\n"
                    "O2,C1,2024-02-02,10,2.5\nO3,C1,2024-02-03,10,1e9999999\n")
    document = _import(shop, path)  # the last one fails at once, without building ten million digits
    assert (document["inserted"], document["rejected"]) == (1, 2)
    assert Order.objects.get(shop=shop, external_id="O1").item_count == 2


def test_columns_it_cannot_place_are_named_as_written(shop, tmp_path, import_dir):
    from django.core.management.base import CommandError

    path = tmp_path / "bestellungen.csv"
    path.write_text("Wer;Wann;Was\nK1;2024-02-01;10\n")
    with pytest.raises(CommandError, match="lacks required column.*customer_id.*Found: Wer, Wann, Was"):
        _import(shop, path)


def test_baskets_with_order_numbers_in_words_import_whole_on_a_new_shop(shop, tmp_path, import_dir, capsys):
    """Orders read with their "Order Number" on the shop's first orders import, so that lines naming them match;
    and on later ones, since the orders stored carry ids from a file."""
    orders, lines = tmp_path / "orders.csv", tmp_path / "lines.csv"
    orders.write_text("Order Number,Customer,Date\n#1,C1,2017-06-16 11:00\n#2,C1,2017-06-26 10:00\n")
    lines.write_text("Order Number,SKU,Qty\n#1,0001,1\n#2,0001,2\n#2,0002,1\n")
    assert _import(shop, orders)["inserted"] == 2
    out = io.StringIO()
    call_command("import_data", "order_lines", str(lines), "--shop", shop.slug, stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["inserted"] == 3
    assert set(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == {"#1", "#2"}
    capsys.readouterr()
    orders.write_text("Order Number,Customer,Date\n#3,C2,2017-07-01 09:00\n")
    _import(shop, orders)
    assert "reading order_id from the column 'Order Number'" in capsys.readouterr().err
    assert set(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == {"#1", "#2", "#3"}


def test_a_header_without_rows_succeeds_and_says_nothing_was_imported(shop, tmp_path, import_dir, capsys):
    # a scheduled export of a day without new orders: not a failure, but not silent either
    path = tmp_path / "none.csv"
    path.write_text("order_id,customer_id,placed_at,total\n")
    document = _import(shop, path)
    assert document["status"] == "succeeded" and document["rows"] == 0
    assert "holds a header and no data rows: nothing was imported" in capsys.readouterr().err
    assert not Order.objects.filter(shop=shop).exists()


def test_a_value_that_cannot_be_read_is_left_empty_and_its_row_kept(shop, tmp_path, import_dir, capsys):
    from behavior.models import Customer

    path = tmp_path / "customers.csv"
    path.write_text("customer_id,email,name,country,signup_at,marketing_consent\n"
                    "27,ines@example.com,Ines Nowak,DE,someday,maybe\n"
                    "28,jo@example.com,Jo,FR,2024-01-02,yes\n")
    document = _import(shop, path, kind="customers")
    assert (document["inserted"], document["rejected"], document["blanked"]) == (2, 0, 2)
    assert "2 value(s) could not be read and were left empty" in capsys.readouterr().err
    ines = Customer.objects.get(shop=shop, external_id="27")
    assert (ines.name, ines.country, ines.signup_at, ines.marketing_consent) == ("Ines Nowak", "DE", None, None)
    import csv

    with open(document["report"], encoding="utf-8") as handle:
        report = {(row["column"], row["value"]): row["reason"] for row in csv.DictReader(handle)}
    assert report[("signup_at", "someday")].startswith("left empty: unparseable date")
    assert report[("marketing_consent", "maybe")].startswith("left empty: not a yes/no value")



def test_trackers_event_names_are_stored_as_the_models_names_and_unread_types_are_named(
        shop, tmp_path, import_dir, capsys):
    from behavior.models import Event

    path = tmp_path / "segment.csv"
    path.write_text("customer_id,event,product_id,timestamp\n"
                    "C1,Product Viewed,P1,2024-02-01T10:00:00Z\n"
                    "C1,Product Added,P1,2024-02-01T10:01:00Z\n"
                    "C1,view_item,P2,2024-02-01T10:02:00Z\n"
                    "C1,Newsletter Opened,,2024-02-01T10:03:00Z\n")
    document = _import(shop, path, "--map", "type=event", "--map", "occurred_at=timestamp", kind="events")
    assert document["inserted"] == 4 and document["unknown_types"] == {"Newsletter Opened": 1}
    assert sorted(Event.objects.filter(shop=shop).values_list("type", flat=True)) == [
        "Newsletter Opened", "add_to_cart", "view", "view"]
    assert "events of types no model reads (rows of the file): Newsletter Opened (1)" in capsys.readouterr().err


def test_a_file_of_another_kind_is_named_as_such(shop, tmp_path, import_dir, capsys):
    path = tmp_path / "products.csv"
    path.write_text("product_id,title,category,brand,price\nP1,Blue mug,Kitchen,Acme,4.00\n")
    call_command("import_data", "reviews", str(path), "--shop", shop.slug, stdout=io.StringIO())
    assert ("the file looks like products rather than reviews: products would read 5 of its columns, reviews 2"
            in capsys.readouterr().err)
    shopify = tmp_path / "products_export.csv"  # the platform's own names, read through the usual other names
    shopify.write_text("Handle,Title,Vendor,Variant Price,Image Src\nblue-mug,Blue mug,Acme,4.00,\n")
    call_command("import_data", "reviews", str(shopify), "--shop", shop.slug, stdout=io.StringIO())
    assert "the file looks like products rather than reviews" in capsys.readouterr().err
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,placed_at,total\nO1,C1,2024-01-01,5\n")
    _import(shop, orders)
    assert "looks like" not in capsys.readouterr().err


@pytest.mark.parametrize("method", ["rows", "auto"])
def test_unix_times_in_seconds_milliseconds_and_microseconds_are_read(shop, tmp_path, import_dir, method,
                                                                     monkeypatch):
    from behavior.ingest import parse
    from behavior.models import Event

    monkeypatch.setattr(parse, "PARSE_METHOD", method)
    path = tmp_path / "ga4.csv"
    path.write_text("customer_id,type,occurred_at\n"
                    "C1,view,1512062682\n"  # seconds
                    "C1,view,1512062683000\n"  # milliseconds
                    "C1,view,1512062684000500\n"  # microseconds (GA4's event_timestamp)
                    "C1,view,20171130\n")  # GA4's event_date: a day
    assert _import(shop, path, kind="events")["inserted"] == 4
    moments = sorted(m.isoformat() for m in Event.objects.filter(shop=shop).values_list("occurred_at", flat=True))
    assert moments == ["2017-11-30T00:00:00+00:00", "2017-11-30T17:24:42+00:00", "2017-11-30T17:24:43+00:00",
                       "2017-11-30T17:24:44.000500+00:00"]


def test_a_ga4_export_is_read_at_its_moments_not_its_days():
    from behavior.forms import column_guess

    header = ["event_date", "event_timestamp", "event_name", "user_id", "items_item_id"]
    assert column_guess("occurred_at", header) == "event_timestamp"
    assert column_guess("type", header) == "event_name"
    assert column_guess("event_id", ["messageId", "userId", "event"]) == "messageId"  # Segment
    assert column_guess("customer_id", header) == "user_id"
    assert column_guess("brand", ["Handle", "Title", "Vendor", "Variant Price"]) == "Vendor"


def test_a_shopify_products_export_keeps_the_first_rows_title_beside_its_variants_rows(shop, tmp_path, import_dir):
    from catalog.models import Product

    path = tmp_path / "products_export.csv"
    path.write_text("Handle,Title,Vendor,Variant Price,Image Src\n"
                    "blue-mug,Blue mug,Acme,4.00,https://img.example/mug.jpg\n"
                    ",,,,\n"
                    "blue-mug,,,4.50,\n"
                    "red-cup,Red cup,Acme,3.00,\n")
    _import(shop, path, "--map", "product_id=Handle", "--map", "title=Title", "--map", "brand=Vendor",
            "--map", "price=Variant Price", "--map", "image_url=Image Src", kind="products")
    mug = Product.objects.get(shop=shop, external_id="blue-mug")
    assert (mug.title, mug.brand, str(mug.price), mug.image_url) == (
        "Blue mug", "Acme", "4.50", "https://img.example/mug.jpg")
    assert Product.objects.filter(shop=shop).count() == 2


def test_one_country_written_several_ways_is_one_country(shop, tmp_path, import_dir):
    from behavior.models import Customer

    path = tmp_path / "customers.csv"
    path.write_text("customer_id,country\n1,DE\n2,Deutschland\n3,germany\n4,DEU\n5,UK\n6,GB\n7,United States\n"
                    "8,Atlantis\n")
    _import(shop, path, kind="customers")
    countries = dict(Customer.objects.filter(shop=shop).values_list("external_id", "country"))
    assert countries == {"1": "DE", "2": "DE", "3": "DE", "4": "DE", "5": "GB", "6": "GB", "7": "US",
                         "8": "Atlantis"}


def test_a_return_line_says_what_to_do_and_ignored_columns_are_named_as_written(shop, tmp_path, import_dir):
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,placed_at,Country\n536366,C1,2017-03-30T09:00:00,United Kingdom\n")
    assert _import(shop, orders)["ignored_columns"] == ["Country"]
    lines = tmp_path / "lines.csv"
    lines.write_text("order_id,product_id,quantity\n536366,P1,-2\n536366,P2,1\n")
    import csv

    with open(_import(shop, lines, kind="order_lines")["report"], encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["reason"].startswith("negative value (a returned item is not a purchase: give the order it came "
                                    "from the status refunded")


def test_a_value_left_empty_does_not_erase_what_is_stored(shop, tmp_path, import_dir):
    from behavior.models import Customer

    first = tmp_path / "first.csv"
    first.write_text("customer_id,name,marketing_consent,signup_at\n27,Ines,no,2024-01-02\n")
    _import(shop, first, kind="customers")
    again = tmp_path / "again.csv"
    again.write_text("customer_id,name,marketing_consent,signup_at\n27,Ines Nowak,maybe,someday\n")
    assert _import(shop, again, kind="customers")["blanked"] == 2
    ines = Customer.objects.get(shop=shop, external_id="27")
    # the new name is stored; the refusal of marketing and the signup date stay as they were
    assert (ines.name, ines.marketing_consent, ines.signup_at.date().isoformat()) == ("Ines Nowak", False,
                                                                                      "2024-01-02")


@pytest.mark.parametrize("method", ["rows", "auto"])
def test_a_renamed_event_type_keeps_the_key_of_the_row_as_written(shop, tmp_path, import_dir, method, monkeypatch):
    # so a file imported before trackers' names were read stores nothing new when imported again
    from behavior.ingest import parse
    from behavior.ingest.values import event_idempotency_key
    from behavior.models import Event

    monkeypatch.setattr(parse, "PARSE_METHOD", method)
    path = tmp_path / "events.csv"
    path.write_text("customer_id,type,occurred_at\nC1,Product Viewed,2024-02-01T10:00:00+00:00\n")
    _import(shop, path, kind="events")
    event = Event.objects.get(shop=shop)
    assert event.type == "view"
    assert event.idempotency_key.hex == event_idempotency_key(
        event_id=None, customer_id="C1", type="Product Viewed", product_id=None,
        occurred_at="2024-02-01T10:00:00+00:00", session_id=None, properties=None)


def test_category_paths_written_with_slashes_or_bars_are_trees(shop, tmp_path, import_dir):
    from catalog.models import Product

    path = tmp_path / "magento.csv"
    path.write_text("sku,name,categories\nP1,Yogurt,Grocery/Dairy/Yogurt\nP2,Milk,Grocery | Dairy\n"
                    "P3,Cable,Home > Cables/Adapters\n")
    _import(shop, path, "--map", "product_id=sku", "--map", "title=name", "--map", "category=categories",
            kind="products")
    paths = dict(Product.objects.filter(shop=shop).values_list("external_id", "category__path"))
    # a path already written with ">" keeps its "/" inside a name
    assert paths == {"P1": "Grocery > Dairy > Yogurt", "P2": "Grocery > Dairy", "P3": "Home > Cables/Adapters"}
    assert Product.objects.get(shop=shop, external_id="P1").category.parent.path == "Grocery > Dairy"


@pytest.mark.parametrize("method", ["rows", "auto"])
def test_dates_written_day_or_month_first_are_read_in_the_order_the_file_shows(shop, tmp_path, import_dir, method,
                                                                             monkeypatch, capsys):
    """Spreadsheet and older platforms' exports: UCI Online Retail writes 12/1/2010 8:26 (month first), European
    shops 03/04/2024 (day first). One row with a number above 12 tells the whole file's order."""
    from behavior.ingest import parse
    from behavior.models import Event

    monkeypatch.setattr(parse, "PARSE_METHOD", method)
    us = tmp_path / "us.csv"
    us.write_text("customer_id,placed_at,total\nC1,12/1/2010 8:26,10\nC2,12/13/2010 9:05 PM,12\n")
    assert _import(shop, us)["inserted"] == 2
    assert "dates such as 03/04/2024 are read as month/day/year, as the file's 12/13/2010 9:05 PM shows" in (
        capsys.readouterr().err)
    placed = dict(Order.objects.filter(shop=shop).values_list("customer__external_id", "placed_at"))
    assert (placed["C1"].isoformat(), placed["C2"].isoformat()) == ("2010-12-01T08:26:00+00:00",
                                                                    "2010-12-13T21:05:00+00:00")
    # Events go through the column-wise parser (method "auto"): the same order, the same moments.
    events = tmp_path / "events.csv"
    events.write_text("customer_id,type,occurred_at\nC1,view,03/04/2024 10:00\nC1,view,25/04/2024\n"
                      "C1,view,2024-05-01 14:05:00 UTC\n")
    assert _import(shop, events, kind="events")["inserted"] == 3
    moments = sorted(m.isoformat() for m in Event.objects.filter(shop=shop).values_list("occurred_at", flat=True))
    assert moments == ["2024-04-03T10:00:00+00:00", "2024-04-25T00:00:00+00:00", "2024-05-01T14:05:00+00:00"]


def test_a_file_whose_dates_never_tell_their_order_is_refused_row_by_row_with_the_reason(shop, tmp_path,
                                                                                        import_dir):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total\nC1,03/04/2024,10\nC2,2024/04/05,12\nC3,05.04.2024,3\n")
    document = _import(shop, path)
    # 2024/04/05 (year first) and 05.04.2024 (dots: day first, as everywhere dots are used) cannot be misread.
    assert (document["inserted"], document["rejected"]) == (2, 1)
    import csv

    with open(document["report"], encoding="utf-8") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["value"], row["reason"]) == ("03/04/2024", "a date that can be day/month or month/day, and no row "
                                             "of the file tells which (a number above 12): write dates as ISO 8601 "
                                             "(2024-03-01)")
    placed = sorted(d.date().isoformat() for d in Order.objects.filter(shop=shop).values_list("placed_at", flat=True))
    assert placed == ["2024-04-05", "2024-04-05"]


def test_a_name_written_as_first_and_last_name_is_one_name(shop, tmp_path, import_dir):
    """Shopify's, WooCommerce's and Mailchimp's customers exports have no name column, only its parts."""
    from behavior.models import Customer

    path = tmp_path / "customers.csv"
    path.write_text("Customer ID,First Name,Last Name,Email\n1001,Ines,Nowak,ines@example.com\n"
                    "1002,Jo,,jo@example.com\n1003,,,x@example.com\n1004,Al,Bo,a@example.com,extra\n")
    document = _import(shop, path, kind="customers")
    assert (document["inserted"], document["rejected"], document["ignored_columns"]) == (3, 1, [])
    names = dict(Customer.objects.filter(shop=shop).values_list("external_id", "name"))
    assert names == {"1001": "Ines Nowak", "1002": "Jo", "1003": ""}
    # A name column mapped by hand is read as it is.
    _import(shop, path, "--map", "name=Last Name", kind="customers")
    assert Customer.objects.get(shop=shop, external_id="1001").name == "Nowak"


def test_a_file_sorted_by_date_is_read_in_the_order_a_later_row_shows(shop, tmp_path, import_dir, capsys):
    """Ta-Feng's file sorted by date holds only days 1 to 12 for its first 50,000 rows (an outside review: every
    month lost its first 12 days, and the import said it succeeded)."""
    path = tmp_path / "orders.csv"
    early = "".join(f"C{i},11/{1 + i % 12}/2000,10\n" for i in range(3000))
    path.write_text("customer_id,placed_at,total\n" + early + "C9,11/13/2000,10\nC9,12/1/2000,10\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (3002, 0)
    assert "read as month/day/year, as the file's 11/13/2000 shows" in capsys.readouterr().err
    days = {d.date().isoformat() for d in Order.objects.filter(shop=shop).values_list("placed_at", flat=True)}
    assert min(days) == "2000-11-01" and "2000-12-01" in days and "2000-01-12" not in days


def test_rejected_rows_are_said_on_stderr_with_their_commonest_reason(shop, tmp_path, import_dir, capsys):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total\nC1,03/04/2024,10\nC2,05/06/2024,10\nC3,2024-01-01,10\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (1, 2)
    err = capsys.readouterr().err
    assert "2 of 3 rows were rejected and not imported (most often: a date that can be day/month" in err
    assert document["report"] in err


def test_an_id_read_from_a_column_in_words_is_read_again_on_the_next_import(shop, tmp_path, import_dir):
    """UCI Online Retail's `Invoice`: read as the order id on the shop's first import and not on the second, which
    stored every order again (an outside review)."""
    path = tmp_path / "retail.csv"
    path.write_text("Invoice,customer_id,placed_at,total\n489434,C1,2010-12-01 07:45,10\n"
                    "489435,C2,2010-12-01 07:46,12\n")
    assert _import(shop, path)["inserted"] == 2
    again = _import(shop, path)
    assert (again["inserted"], again["duplicates"]) == (0, 2)
    assert sorted(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["489434", "489435"]


def test_orders_stored_with_derived_ids_keep_them_when_a_file_has_an_id_column(shop, tmp_path, import_dir):
    first = tmp_path / "plain.csv"
    first.write_text("customer_id,placed_at,total\nC1,2010-12-01 07:45,10\n")
    assert _import(shop, first)["inserted"] == 1
    with_ids = tmp_path / "with_ids.csv"
    with_ids.write_text("Invoice,customer_id,placed_at,total\n489434,C1,2010-12-01 07:45,10\n")
    assert _import(shop, with_ids)["duplicates"] == 1  # the same order, matched by its content
    assert Order.objects.filter(shop=shop).count() == 1


def test_an_events_id_column_is_read_again_when_its_ids_are_stored(shop, tmp_path, import_dir):
    from behavior.models import Event

    path = tmp_path / "segment.csv"
    path.write_text("messageId,customer_id,type,occurred_at\nm-1,C1,view,2024-01-01T10:00:00\n"
                    "m-2,C1,view,2024-01-01T10:00:00\n")
    assert _import(shop, path, kind="events")["inserted"] == 2
    assert _import(shop, path, kind="events")["inserted"] == 0
    assert Event.objects.filter(shop=shop).count() == 2


def test_rows_of_one_product_in_one_order_add_up(shop, tmp_path, import_dir):
    """Olist's items file has a row per unit, UCI's the same StockCode twice on an invoice: each was stored as one
    unit of the last row (an outside review: a third of Olist's units lost)."""
    from behavior.models import OrderLine

    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,placed_at\nO1,C1,2018-01-01\nO2,C2,2018-01-02\n")
    _import(shop, orders)
    lines = tmp_path / "items.csv"
    lines.write_text("order_id,order_item_id,product_id,price\nO1,1,P1,10.00\nO1,2,P1,10.00\nO1,3,P2,5.00\n"
                     "O2,1,P1,9.50\n")
    document = _import(shop, lines, "--map", "unit_price=price", kind="order_lines")
    assert (document["inserted"], document["duplicates"]) == (3, 1)
    stored = {(o, p): (q, str(u)) for o, p, q, u in OrderLine.objects.filter(shop=shop).values_list(
        "order__external_id", "product__external_id", "quantity", "unit_price")}
    assert stored == {("O1", "P1"): (2, "10.00"), ("O1", "P2"): (1, "5.00"), ("O2", "P1"): (1, "9.50")}
    again = _import(shop, lines, "--map", "unit_price=price", kind="order_lines")
    assert (again["inserted"], again["updated"]) == (0, 0)
    assert OrderLine.objects.get(order__external_id="O1", product__external_id="P1").quantity == 2
    uci = tmp_path / "uci.csv"  # UCI repeats a product on an invoice at different prices: the mean by quantity
    uci.write_text("order_id,product_id,quantity,unit_price\nO2,P3,2,7.12\nO2,P3,1,14.24\nO2,P3,12,1.19\n"
                   "O2,P4,0,10.00\n")
    _import(shop, uci, kind="order_lines")
    line = OrderLine.objects.get(order__external_id="O2", product__external_id="P3")
    assert (line.quantity, str(line.unit_price)) == (15, "2.85")  # 42.76 / 15, to the cent
    zero = OrderLine.objects.get(order__external_id="O2", product__external_id="P4")
    assert (zero.quantity, str(zero.unit_price)) == (0, "10.00")  # no units to weigh by: the row's price
    with_quantities = tmp_path / "retail.csv"
    with_quantities.write_text("order_id,product_id,quantity\nO2,P1,4\nO2,P1,2\nO2,P1,-1\n")
    document = _import(shop, with_quantities, kind="order_lines")
    assert (document["updated"], document["rejected"]) == (1, 1)  # a negative quantity is a return: rejected
    assert OrderLine.objects.get(order__external_id="O2", product__external_id="P1").quantity == 6


def test_olist_shaped_files_are_read_by_their_own_column_names(shop, tmp_path, import_dir, capsys):
    """An outside review with Olist's files: every review rejected as empty (review_score, review_comment_message
    not read), products without their category, order_status not offered as the status."""
    from behavior.models import Review
    from catalog.models import Product

    products = tmp_path / "olist_products_dataset.csv"
    products.write_text("product_id,product_category_name,product_weight_g\np1,cama_mesa_banho,500\n")
    document = _import(shop, products, "--map", "category=product_category_name", kind="products")
    assert document["inserted"] == 1 and Product.objects.get(shop=shop).category.name == "cama_mesa_banho"
    orders = tmp_path / "olist_orders_dataset.csv"
    orders.write_text("order_id,customer_id,order_status,order_purchase_timestamp\n"
                      "o1,c1,delivered,2017-10-02 10:56:33\no2,c2,invoiced,2017-10-03 11:00:00\n")
    document = _import(shop, orders)
    err = capsys.readouterr().err
    assert "reading placed_at from the column 'order_purchase_timestamp'" in err
    assert "the column 'order_status' looks like status" in err and document["inserted"] == 2
    reviews = tmp_path / "olist_order_reviews_dataset.csv"
    reviews.write_text("review_id,order_id,review_score,review_comment_title,review_comment_message,"
                       "review_creation_date\nr1,o1,4,,Recebi bem antes do prazo,2017-10-10 00:00:00\n"
                       "r2,o2,1,Ruim,,2017-10-11 00:00:00\n")
    items = tmp_path / "olist_order_items_dataset.csv"
    items.write_text("order_id,order_item_id,product_id,price\no1,1,p1,10.00\no1,2,p1,10.00\n")
    _import(shop, items, "--map", "unit_price=price", kind="order_lines")
    document = _import(shop, reviews, kind="reviews")
    assert (document["inserted"], document["rejected"]) == (2, 0)
    assert dict(Review.objects.filter(shop=shop).values_list("external_id", "rating")) == {"r1": 4, "r2": 1}
    assert Review.objects.get(shop=shop, external_id="r1").text == "Recebi bem antes do prazo"
    # Reviews name the order: its customer, and its product where the order holds one (o2 has no lines).
    linked = {r.external_id: (r.customer.external_id, r.product.external_id if r.product else None)
              for r in Review.objects.filter(shop=shop).select_related("customer", "product")}
    assert linked == {"r1": ("c1", "p1"), "r2": ("c2", None)}


def test_a_dry_run_on_a_new_shop_leaves_no_shop_behind(tmp_path, import_dir, capsys):
    from accounts.models import Shop

    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total\nC1,2024-01-01,10\n")
    out = io.StringIO()
    call_command("import_data", "orders", str(path), "--shop", "tryout", "--dry-run", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["inserted"] == 1
    assert not Shop.objects.filter(slug="tryout").exists()
    assert "dry run: the shop 'tryout' was not kept" in capsys.readouterr().err


def test_orders_without_a_total_get_their_priced_lines_worth(shop, tmp_path, import_dir, capsys):
    """UCI Online Retail gives a unit price per line and no order total: the customers' spend and the shop's
    revenue were nothing (an outside review). The recipe: the file as orders, then as order lines."""
    retail = tmp_path / "online_retail.csv"
    retail.write_text("Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID\n"
                      "489434,85048,12,2009-12-01 07:45,6.95,13085.0\n489434,79323P,12,2009-12-01 07:45,6.75,13085.0\n"
                      "489435,22350,2,2009-12-01 07:46,2.55,13086.0\n489436,22351,1,2009-12-01 07:47,,13087.0\n")
    assert _import(shop, retail)["inserted"] == 3
    assert "the file has a product column ('StockCode'): if it holds a row per product bought, import it as orders " \
           "and then as order_lines" in capsys.readouterr().err
    document = _import(shop, retail, "--map", "unit_price=Price", kind="order_lines")
    assert document["inserted"] == 4
    totals = dict(Order.objects.filter(shop=shop).values_list("external_id", "total"))
    # 489436's line has no price: its worth is unknown, its total stays empty
    assert totals == {"489434": Decimal("164.40"), "489435": Decimal("5.10"), "489436": None}
    Order.objects.filter(external_id="489435").update(total=Decimal("9.99"))  # a total given is kept
    _import(shop, retail, "--map", "unit_price=Price", kind="order_lines")
    assert Order.objects.get(external_id="489435").total == Decimal("9.99")
    # An order whose lines span two batches gets the worth of all of them (a second reader: the first batch's).
    Order.objects.filter(external_id="489434").update(total=None)
    _import(shop, retail, "--map", "unit_price=Price", "--batch-size", "1", kind="order_lines")
    assert Order.objects.get(external_id="489434").total == Decimal("164.40")


def test_reviews_of_two_orders_alike_otherwise_are_two_reviews(shop, tmp_path, import_dir):
    from behavior.models import Review

    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,placed_at\nO1,C1,2018-01-01\nO2,C2,2018-01-02\n")
    _import(shop, orders)
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("order_id,rating,created_at\nO1,5,2018-01-10\nO2,5,2018-01-10\n")
    assert _import(shop, reviews, kind="reviews")["inserted"] == 2
    assert sorted(Review.objects.filter(shop=shop).values_list("customer__external_id", flat=True)) == ["C1", "C2"]
    assert _import(shop, reviews, kind="reviews")["inserted"] == 0  # the same file again: the same ids


def test_dates_that_cannot_be_days_and_months_are_unparseable():
    from datetime import UTC, datetime

    from behavior.ingest.values import RowError, datetime_canonical

    latest = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(RowError, match="unparseable date"):
        datetime_canonical("13/14/2024", None, latest=latest)  # neither number can be a month
    with pytest.raises(RowError, match="out of range"):
        datetime_canonical("1/1/0024", None, latest=latest, day_first=False)  # four digits: the year 24
    assert datetime_canonical("1/1/24", None, latest=latest, day_first=False).startswith("2024-01-01")


def test_an_order_whose_rows_straddle_a_batch_boundary_keeps_every_unit(shop, tmp_path, import_dir):
    """A second reader (session 19): rows of one product in one order split across two `--batch-size` batches
    replaced each other (the later batch's sum was stored). An order's rows written together now go in one
    batch, whatever the batch size; a re-import still changes nothing."""
    from behavior.models import OrderLine

    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,placed_at\nO1,C1,2018-01-01\nO2,C2,2018-01-02\nO3,C3,2018-01-03\n")
    _import(shop, orders)
    lines = tmp_path / "items.csv"
    # O2 holds P1 on rows 2, 3 and 5 (its rows 2–5 straddle every boundary of a batch of 2 or 3 rows), and a
    # rejected row sits inside it.
    lines.write_text("order_id,product_id,quantity\nO1,P1,1\nO2,P1,2\nO2,P1,3\nO2,P2,x\nO2,P1,4\nO3,P1,1\n")
    for size in ("1", "2", "3"):
        OrderLine.objects.filter(shop=shop).delete()
        document = _import(shop, lines, "--batch-size", size, kind="order_lines")
        assert (document["inserted"], document["rejected"]) == (3, 1), size
        stored = dict(OrderLine.objects.filter(shop=shop).values_list("order__external_id", "quantity"))
        assert stored == {"O1": 1, "O2": 9, "O3": 1}, size
        again = _import(shop, lines, "--batch-size", size, kind="order_lines")
        assert (again["inserted"], again["updated"]) == (0, 0), size


def test_an_order_longer_than_ten_batches_is_written_in_bounded_batches():
    """A second reader: a column of one value mapped as the order id carried the whole file into one batch (one
    transaction, all in memory). An order is carried until it fills ten batches; every row is still written once."""
    from behavior.ingest.formats import Batch
    from behavior.ingest.parse import orders_kept_together

    rows = [[line, "O1", f"P{line}"] for line in range(1, 46)] + [[46, "O2", "P1"]]
    batches = (Batch(rows=rows[i:i + 2], first_line=rows[i][0], last_line=rows[min(i + 1, 45)][0])
               for i in range(0, len(rows), 2))
    written = [batch.rows for batch in orders_kept_together(batches, position=1, batch_size=2)]
    assert max(len(b) for b in written) <= 22
    assert [row for b in written for row in b] == rows


def test_columns_named_in_german_or_with_their_currency_are_found(shop, tmp_path, import_dir, capsys):
    # An outside analyst's files: "Kunde;Datum;Betrag;Anzahl" got no hint at all, nor did "amount_eur, n_items".
    path = tmp_path / "bestellungen.csv"
    path.write_text("Kunde;Datum;Betrag;Anzahl\nK1;26.07.1997;57,86;2\n", encoding="utf-8")
    assert _import(shop, path)["inserted"] == 1
    progress = capsys.readouterr().err
    assert "reading customer_id from the column 'Kunde'" in progress
    assert "the column 'Betrag' looks like total" in progress
    assert "the column 'Anzahl' looks like item_count" in progress
    other = tmp_path / "export.csv"
    other.write_text("client_ref,purchase_ts,amount_eur,n_items\nC1,1997-07-26,57.86,2\n")
    assert _import(shop, other)["inserted"] == 1
    progress = capsys.readouterr().err
    assert "the column 'amount_eur' looks like total" in progress
    assert "the column 'n_items' looks like item_count" in progress


def test_an_import_refused_before_storing_anything_leaves_no_new_shop_behind(tmp_path, import_dir, capsys):
    """An outside analyst: a file without the required columns left the shop its --shop named (new) behind, empty."""
    from django.core.management.base import CommandError

    from accounts.models import Shop

    path = tmp_path / "orders.csv"
    path.write_text("Wer;Wann;Was\nK1;2024-02-01;10\n")
    with pytest.raises(CommandError, match="lacks required column"):
        call_command("import_data", "orders", str(path), "--shop", "typo-shop")
    assert not Shop.objects.filter(slug="typo-shop").exists()
    assert "the shop 'typo-shop' was not kept: the import stored nothing" in capsys.readouterr().err


def test_time_zone_names_and_the_closed_status_are_refused_with_what_to_write_instead(shop, tmp_path, import_dir):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,status\nO1,C1,1997-01-03 22:30:00 CET,placed\n"
                    "O2,C1,1997-01-04 10:00:00+01:00,closed\nO3,C1,1997-01-05 10:00:00+01:00,placed\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (1, 2)
    report = open(document["report"], encoding="utf-8").read()
    assert "time zone names like CET are not read" in report and "+01:00" in report
    assert "ambiguous status closed" in report


def test_the_same_orders_imported_again_with_more_columns_are_updated_not_stored_twice(shop, tmp_path, import_dir):
    # An outside analyst imported a file without mapping its totals, then again with `--map total=…`: the derived
    # ids changed with the total and all 8,642 orders were stored a second time; mapping the order ids later did it
    # again. Identical rows (C1's two 9.99 orders of one day) stay two orders throughout.
    path = tmp_path / "orders.csv"
    path.write_text("client_ref,purchase_ts,amount_eur,order_ref\n"
                    "C1,1997-12-22,9.99,O1\nC1,1997-12-22,9.99,O2\nC1,1997-12-23,5.00,O3\nC2,1997-12-22,20.00,O4\n"
                    "C2,1997-12-22,7.00,O5\n")
    who = ("--map", "customer_id=client_ref", "--map", "placed_at=purchase_ts")
    first = _import(shop, path, *who)
    assert first["inserted"] == 5 and Order.objects.filter(shop=shop, total__isnull=True).count() == 5
    with_totals = _import(shop, path, *who, "--map", "total=amount_eur")
    assert (with_totals["inserted"], with_totals["updated"]) == (0, 5)
    assert sorted(Order.objects.filter(shop=shop).values_list("total", flat=True)) == [
        Decimal("5.00"), Decimal("7.00"), Decimal("9.99"), Decimal("9.99"), Decimal("20.00")]
    assert _import(shop, path, *who, "--map", "total=amount_eur")["duplicates"] == 5
    with_ids = _import(shop, path, *who, "--map", "total=amount_eur", "--map", "order_id=order_ref")
    assert (with_ids["inserted"], with_ids["updated"]) == (0, 5)
    assert sorted(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == [
        "O1", "O2", "O3", "O4", "O5"]
    assert dict(Order.objects.filter(shop=shop).values_list("external_id", "total")) == {
        "O1": Decimal("9.99"), "O2": Decimal("9.99"), "O3": Decimal("5.00"), "O4": Decimal("20.00"),
        "O5": Decimal("7.00")}
    again = _import(shop, path, *who, "--map", "total=amount_eur", "--map", "order_id=order_ref")
    assert (again["inserted"], again["updated"], again["duplicates"]) == (0, 0, 5)


def test_an_order_given_its_own_id_takes_a_stored_order_only_of_its_total(shop, tmp_path, import_dir):
    # Orders imported without ids, then a file with ids: an order of the same customer and time whose total differs
    # is another order (a second reader's case: a re-keying that never compared totals merged the two).
    first = tmp_path / "first.csv"
    first.write_text("customer_id,placed_at,total\nC3,1997-12-24,1.00\nC3,1997-12-24,2.00\n")
    assert _import(shop, first)["inserted"] == 2
    later = tmp_path / "later.csv"
    later.write_text("order_id,customer_id,placed_at,total\nA1,C3,1997-12-24,2.00\nA2,C3,1997-12-24,3.00\n")
    document = _import(shop, later)
    assert (document["inserted"], document["updated"]) == (1, 1)
    ids = dict(Order.objects.filter(shop=shop, customer__external_id="C3").values_list("total", "external_id"))
    assert ids.pop(Decimal("1.00")).startswith("auto-") and ids == {Decimal("2.00"): "A1", Decimal("3.00"): "A2"}
    # A new file of new orders, without ids, at a time the shop has orders: new orders.
    more = tmp_path / "more.csv"
    more.write_text("customer_id,placed_at,total\nC3,1997-12-24,4.00\n")
    assert _import(shop, more)["inserted"] == 1
    assert Order.objects.filter(shop=shop, customer__external_id="C3").count() == 4


def test_orders_of_a_customer_at_one_time_in_different_batches_are_matched_once(shop, tmp_path, import_dir):
    # The file's order is not the customer's: C1's three orders of a day lie in three batches of two rows.
    path = tmp_path / "orders.csv"
    path.write_text("client,day,amount\nC1,1997-12-22,9.99\nC2,1997-12-22,1.00\nC1,1997-12-22,9.99\n"
                    "C3,1997-12-22,2.00\nC1,1997-12-22,4.00\nC4,1997-12-22,3.00\n")
    who = ("--map", "customer_id=client", "--map", "placed_at=day", "--batch-size", "2")
    assert _import(shop, path, *who)["inserted"] == 6  # identical rows are orders of their own in every batch
    with_totals = _import(shop, path, *who, "--map", "total=amount")
    assert (with_totals["inserted"], with_totals["updated"]) == (0, 6)
    again = _import(shop, path, *who, "--map", "total=amount")
    assert (again["inserted"], again["updated"], again["duplicates"]) == (0, 0, 6)
    assert sorted(Order.objects.filter(shop=shop, customer__external_id="C1").values_list("total", flat=True)) == [
        Decimal("4.00"), Decimal("9.99"), Decimal("9.99")]
    # The file without its totals again (fewer columns than the orders were last read with): still six orders.
    assert _import(shop, path, *who)["inserted"] == 0
    assert Order.objects.filter(shop=shop).count() == 6


def test_order_ids_that_repeat_across_customers_are_rejected_not_merged_into_one_customer(shop, tmp_path, import_dir):
    """An outside analyst (session 22): order ids counted per customer (1, 2, 3 for each) made 1,887 orders 82, all
    of 5 customers, counted as "duplicates" without a word (the last row of an id won whole). A row whose id an
    earlier row of the file gave another customer is rejected, with what to do, and the first one kept."""
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,total\n"
                    "1,A,2024-02-01,10\n2,A,2024-02-05,11\n1,B,2024-02-02,20\n1,A,2024-02-01,12\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (2, 1)
    stored = dict(Order.objects.filter(shop=shop).values_list("external_id", "customer__external_id"))
    assert stored == {"1": "A", "2": "A"}
    # and the refused row leaves no customer behind (B was a stand-in with nothing: on the lists, in the counts)
    assert list(Customer.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["A"]
    # the same customer's later row of an id still wins whole
    assert Order.objects.get(shop=shop, external_id="1").total == Decimal("12")
    report = open(document["report"]).read()
    assert "line 2" in report and "unique" in report
    # A later file (or a later batch) giving a stored order's id to another customer: rejected too.
    later = tmp_path / "later.csv"
    later.write_text("order_id,customer_id,placed_at,total\n2,C,2024-03-01,5\n3,C,2024-03-01,6\n")
    document = _import(shop, later, "--batch-size", "1")
    assert (document["inserted"], document["rejected"]) == (1, 1)
    assert Order.objects.get(shop=shop, external_id="2").customer.external_id == "A"
    assert "order id stored for customer A" in open(document["report"]).read()


def test_a_stored_orders_own_customer_keeps_its_row_when_an_earlier_row_gave_the_id_to_another(shop, tmp_path,
                                                                                              import_dir):
    """Second reader: with order 1 stored for B, a file whose line 2 gives id 1 to A and line 3 is B's refund of it
    rejected both (line 3 as "also given to customer A on line 2", a row itself rejected), losing B's refund. The
    stored owner is checked first, then the batch's own rows."""
    first = tmp_path / "first.csv"
    first.write_text("order_id,customer_id,placed_at,total,status\n1,B,2024-03-01,5,placed\n")
    _import(shop, first)
    later = tmp_path / "later.csv"
    later.write_text("order_id,customer_id,placed_at,total,status\n"
                     "1,A,2024-03-01,5,placed\n1,B,2024-03-01,5,refunded\n")
    document = _import(shop, later)
    assert (document["updated"], document["rejected"]) == (1, 1)
    order = Order.objects.get(shop=shop, external_id="1")
    assert (order.customer.external_id, order.status) == ("B", "refunded")
    report = open(document["report"]).read()
    assert "order id stored for customer B" in report and "also given" not in report


def test_import_data_accepts_json_as_its_output_is_one_json_line_already(shop, tmp_path, import_dir):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at\nC1,2024-02-01\n")
    assert _import(shop, path, "--json")["inserted"] == 1


def test_shopify_line_item_columns_are_read_and_lines_before_their_orders_say_which_file_comes_first(
        shop, tmp_path, import_dir, capsys):
    lines = tmp_path / "shopify.csv"
    lines.write_text("Name,Email,Lineitem sku,Lineitem quantity,Lineitem price\n#1001,a@example.com,SKU-1,2,9.50\n")
    out = io.StringIO()
    with pytest.raises(CommandError):  # the orders are not stored yet
        call_command("import_data", "order_lines", str(lines), "--shop", shop.slug, "--map", "order_id=Name",
                     stdout=out)
    from behavior.models import ImportJob
    assert "Import the orders file first" in ImportJob.objects.filter(shop=shop).latest("pk").error
    orders = tmp_path / "orders.csv"
    orders.write_text("Name,Email,Created at\n#1001,a@example.com,2024-02-01 10:00:00 -0500\n")
    assert _import(shop, orders, "--map", "order_id=Name", "--map", "customer_id=Email")["inserted"] == 1
    capsys.readouterr()
    document = _import(shop, lines, "--map", "order_id=Name", kind="order_lines")
    hints = capsys.readouterr().err  # the product is read (required); quantity and price are named, not guessed
    assert document["inserted"] == 1 and "reading product_id from the column 'Lineitem sku'" in hints
    assert "--map quantity=Lineitem quantity" in hints and "--map unit_price=Lineitem price" in hints
    document = _import(shop, lines, "--map", "order_id=Name", "--map", "quantity=Lineitem quantity",
                       "--map", "unit_price=Lineitem price", kind="order_lines")
    line = Order.objects.get(shop=shop, external_id="#1001").lines.get()
    assert (line.product.external_id, line.quantity, line.unit_price) == ("SKU-1", 2, Decimal("9.50"))


def test_chinese_review_columns_are_read(shop, tmp_path, import_dir, capsys):
    # An outside analyst's Chinese reviews: 200 rows rejected as empty, the 评论 column silently ignored (every
    # Chinese header normalised to "", so the first of them matched every field).
    from behavior.models import Review

    path = tmp_path / "reviews.csv"
    path.write_text("customer_id,product_id,评论,评分\nC1,P1,很好,5\n", encoding="utf-8")
    document = _import(shop, path, kind="reviews")
    progress = capsys.readouterr().err
    assert "reading text from the column '评论'" in progress and "reading rating from the column '评分'" in progress
    assert document["inserted"] == 1
    review = Review.objects.get(shop=shop)
    assert (review.text, review.rating) == ("很好", 5)


def test_an_order_whose_own_id_begins_with_auto_is_not_taken_for_a_derived_one(shop, tmp_path, import_dir):
    # A shop's own ids may begin with "auto-" (subscription renewals): such an order keeps its id, and another order
    # of the same customer, time and total given its own id is another order (it took the stored one's place).
    first = tmp_path / "first.csv"
    first.write_text("order_id,customer_id,placed_at,total\nauto-renew-1,C5,1997-12-24,9.99\n")
    assert _import(shop, first)["inserted"] == 1
    later = tmp_path / "later.csv"
    later.write_text("order_id,customer_id,placed_at,total\nWEB-77,C5,1997-12-24,9.99\n")
    assert _import(shop, later)["inserted"] == 1
    assert sorted(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["WEB-77", "auto-renew-1"]


def test_a_shopify_orders_export_reads_its_line_item_rows_as_part_of_their_orders_not_as_rejects(
        shop, tmp_path, import_dir):
    # An outside analyst: Shopify writes an order's fields on its first row and a row per further line item with
    # only the order's name: 16,194 of 18,081 rows were "rejected (missing required value)".
    path = tmp_path / "orders_export.csv"
    path.write_text("Name,Email,Created at,Total,Lineitem sku\n"
                    "#1001,a@example.com,2024-02-01 10:00:00 -0500,30.00,SKU-1\n"
                    "#1001,,,,SKU-2\n#1001,,,,SKU-3\n"
                    "#1002,b@example.com,2024-02-02 11:00:00 -0500,12.00,SKU-1\n"
                    "#1003,,,,SKU-9\n")  # not the row before's order: a row without its fields, rejected
    document = _import(shop, path, "--map", "order_id=Name", "--map", "customer_id=Email", "--map", "total=Total")
    assert (document["rows"], document["inserted"], document["duplicates"], document["rejected"]) == (5, 2, 2, 1)
    assert dict(Order.objects.filter(shop=shop).values_list("external_id", "total")) == {
        "#1001": Decimal("30.00"), "#1002": Decimal("12.00")}
    again = _import(shop, path, "--map", "order_id=Name", "--map", "customer_id=Email", "--map", "total=Total",
                    "--batch-size", "1")
    assert (again["inserted"], again["duplicates"], again["rejected"]) == (0, 4, 1)


def test_orders_in_another_currency_than_the_shops_are_counted_and_said(shop, tmp_path, import_dir, capsys):
    """An outside analyst: a file whose currency column alternates EUR and USD was imported without a word, and the
    shop's revenue (forecasts, backtests) added dollars to euros. Nothing converts them (no rates here): the
    import says how many, and what to do."""
    assert shop.currency == "EUR"
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total,currency\n"
                    "C1,2024-02-01,10,EUR\nC2,2024-02-02,20,usd\nC3,2024-02-03,30,USD\nC4,2024-02-04,5,\n")
    document = _import(shop, path)
    assert (document["inserted"], document["other_currencies"]) == (4, {"USD": 2})
    assert "orders in a currency other than the shop's (EUR): USD (2)" in capsys.readouterr().err
    # One currency throughout: nothing to say.
    same = tmp_path / "same.csv"
    same.write_text("customer_id,placed_at,total,currency\nC5,2024-02-05,10,EUR\n")
    assert _import(shop, same)["other_currencies"] == {}
    assert "currency other" not in capsys.readouterr().err


def test_a_total_in_cents_is_hinted_and_read_as_cents(shop, tmp_path, import_dir, capsys):
    """An outside analyst: a `total_cents` column was ignored without a hint, and `--map total=total_cents` stored
    every total 100 times the amount."""
    path = tmp_path / "payments.csv"
    path.write_text("customer_id,placed_at,total_cents\nC1,2024-02-01,1999\nC2,2024-02-02,250000\n")
    assert _import(shop, path)["inserted"] == 2
    assert "the column 'total_cents' looks like total, which is not read: --map total=total_cents reads it" in (
        capsys.readouterr().err)
    document = _import(shop, path, "--map", "total=total_cents")
    assert (document["inserted"], document["updated"]) == (0, 2)
    assert sorted(Order.objects.filter(shop=shop).values_list("total", flat=True)) == [
        Decimal("19.99"), Decimal("2500.00")]
    # Only a name whose last word is "cents", and only a money field (a second reader: discount_percents was read
    # as cents, and an offer's value is a percentage for some offers).
    from behavior.ingest.values import in_cents

    assert [in_cents(n) for n in ("Amount (in cents)", "TOTAL CENTS", "discount_percents", "accents")] == [
        True, True, False, False]


def test_a_json_lines_file_is_told_to_be_json_not_missing_columns(shop, tmp_path, import_dir):
    """An outside analyst: a JSON-lines export failed as "lacks required column(s)… Found: {"customer_id": …"."""
    from django.core.management.base import CommandError

    path = tmp_path / "orders.jsonl"
    path.write_text('{"customer_id": "C1", "placed_at": "2024-02-01", "total": 10}\n'
                    '{"customer_id": "C2", "placed_at": "2024-02-02", "total": 12}\n')
    with pytest.raises(CommandError, match=r"looks like JSON, not CSV: it begins with '\{', as JSON lines"):
        _import(shop, path)


@pytest.mark.parametrize("method", ["rows", "auto"])
def test_dates_written_as_local_midnight_with_an_offset_keep_their_day(shop, tmp_path, import_dir, method,
                                                                       monkeypatch):
    """A European shop's export writes its dates as local midnight with the offset (2024-03-01T00:00:00+01:00):
    read as moments, every order fell on the day before (23:00 UTC), and the forecast and the alerts counted each
    day's orders on the wrong day. A written midnight is the written day; any other time is its moment."""
    from behavior.ingest import parse
    from behavior.models import Event

    monkeypatch.setattr(parse, "PARSE_METHOD", method)
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,placed_at,total\n"
                      "C1,2024-03-01T00:00:00+01:00,5\n"
                      "C2,2024-03-02 00:00:00+0200,6\n"
                      "C3,2024-03-03T00:00:00-05:00,7\n"
                      "C4,2024-03-03T14:05:00+01:00,8\n")  # a time of day: the moment, in UTC
    assert _import(shop, orders)["inserted"] == 4
    placed = sorted(m.isoformat() for m in Order.objects.filter(shop=shop).values_list("placed_at", flat=True))
    assert placed == ["2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00", "2024-03-03T00:00:00+00:00",
                      "2024-03-03T13:05:00+00:00"]
    events = tmp_path / "events.csv"
    events.write_text("customer_id,type,occurred_at\nC1,view,2024-03-01T00:00:00+01:00\n"
                      "C1,view,2024-03-01T09:30:00+01:00\n")
    assert _import(shop, events, kind="events")["inserted"] == 2
    moments = sorted(m.isoformat() for m in Event.objects.filter(shop=shop).values_list("occurred_at", flat=True))
    assert moments == ["2024-03-01T00:00:00+00:00", "2024-03-01T08:30:00+00:00"]


def test_a_shopify_export_repeating_email_and_date_on_line_item_rows_keeps_each_orders_total_and_status(
        shop, tmp_path, import_dir):
    """An outside analyst: Shopify repeats an order's name, email and date on each further line item's row, its
    total and financial status only on the first: every order of several items was stored with no total and as
    placed (revenue -59 %, refunds read as sales)."""
    path = tmp_path / "orders_export.csv"
    path.write_text("Name,Email,Financial Status,Total,Created at,Lineitem sku\n"
                    "#1001,a@example.com,paid,30.00,2024-02-01 10:00:00 -0500,SKU-1\n"
                    "#1001,a@example.com,,,2024-02-01 10:00:00 -0500,SKU-2\n"
                    "#1002,b@example.com,refunded,12.00,2024-02-02 11:00:00 -0500,SKU-1\n"
                    "#1002,b@example.com,,,2024-02-02 11:00:00 -0500,SKU-3\n"
                    "#1002,b@example.com,,,2024-02-02 11:00:00 -0500,SKU-4\n")
    mapping = ("--map", "order_id=Name", "--map", "customer_id=Email", "--map", "status=Financial Status")
    document = _import(shop, path, *mapping)
    assert (document["inserted"], document["duplicates"], document["rejected"]) == (2, 3, 0)
    stored = {o.external_id: (o.total, o.status) for o in Order.objects.filter(shop=shop)}
    assert stored == {"#1001": (Decimal("30.00"), "placed"), "#1002": (Decimal("12.00"), "refunded")}
    # A status history says something new on its next row: read, and its empty total erases nothing.
    history = tmp_path / "history.csv"
    history.write_text("order_id,customer_id,placed_at,total,status\n"
                       "O7,C7,2024-02-03,40.00,placed\nO8,C8,2024-02-03,5.00,placed\nO7,C7,2024-02-03,,refunded\n")
    assert _import(shop, history)["inserted"] == 2
    assert (Order.objects.get(shop=shop, external_id="O7").total,
            Order.objects.get(shop=shop, external_id="O7").status) == (Decimal("40.00"), "refunded")


def test_a_date_that_names_no_day_says_so():
    """A browser review: 31/02/2024 in a day-first file was "unparseable date (expected …, day/month/year, …)" —
    which it was written in; the trouble is that February has no 31st."""
    from datetime import UTC, datetime

    from behavior.ingest.values import RowError, datetime_canonical

    latest = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(RowError, match="^no such day: 31 February 2024$"):
        datetime_canonical("31/02/2024", None, latest=latest, day_first=True)
    with pytest.raises(RowError, match="^no such day: 30 February 2024$"):
        datetime_canonical("2024-02-30", None, latest=latest)
    with pytest.raises(RowError, match="^no month 13 "):
        datetime_canonical("2024-13-01T10:00:00", None, latest=latest)
    assert datetime_canonical("29/02/2024", None, latest=latest, day_first=True).startswith("2024-02-29")
    # An outside analyst: Excel's day numbers (45384.34) were refused with a hint at Unix time instead.
    with pytest.raises(RowError, match=r"spreadsheet's day number .* 45384 is 2024-04-02"):
        datetime_canonical("45384.34", None, latest=latest)
    from behavior.api.ingest import _reason_code  # the API's clients keep their code

    assert _reason_code("no such day: 31 February 2024") == _reason_code("no month 13") == "invalid_datetime"


def test_a_number_written_as_a_dash_or_null_is_an_empty_cell_not_a_rejected_order(shop, tmp_path, import_dir):
    """An outside analyst: 69 of 1,378 orders whose total was written "-" were rejected whole."""
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,total,item_count\n"
                    "O1,C1,2024-02-01,-,2\nO2,C2,2024-02-02,12.50,NULL\nO3,C3,2024-02-03,n/a,-\n"
                    "O4,C4,2024-02-04,twelve,1\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (3, 1)  # "twelve" is still no number
    assert {o.external_id: (o.total, o.item_count) for o in Order.objects.filter(shop=shop)} == {
        "O1": (None, 2), "O2": (Decimal("12.50"), None), "O3": (None, None)}


def test_a_magento_export_with_month_names_in_its_dates_is_read(shop, tmp_path, import_dir, capsys):
    # Magento 2's order grid writes "Oct 26, 2025 3:46:15 AM": the whole file was rejected as "unparseable date".
    path = tmp_path / "magento.csv"
    path.write_text('ID,Purchase Date,Customer Email,Grand Total,Status\n'
                    '000000101,"Oct 26, 2025 3:46:15 AM",a@x.io,12.50,complete\n'
                    '000000102,"Oct 26, 2025 3:46:15 PM",b@x.io,20.00,complete\n'
                    '000000103,"Nov 1, 2025 12:05:00 AM",a@x.io,7.00,complete\n')
    document = _import(shop, path, "--map", "order_id=ID", "--map", "customer_id=Customer Email")
    assert (document["inserted"], document["rejected"]) == (3, 0)
    placed = {o.external_id: o.placed_at.isoformat() for o in Order.objects.filter(shop=shop)}
    assert placed == {"000000101": "2025-10-26T03:46:15+00:00", "000000102": "2025-10-26T15:46:15+00:00",
                      "000000103": "2025-11-01T00:05:00+00:00"}


@pytest.mark.parametrize(("written", "moment"), [
    ("26 Oct 2025", "2025-10-26T00:00:00+00:00"),
    ("October 26, 2025", "2025-10-26T00:00:00+00:00"),
    ("26-Oct-2025", "2025-10-26T00:00:00+00:00"),            # Excel's d-mmm-yyyy
    ("Sept 3, 2025 11:59 PM", "2025-09-03T23:59:00+00:00"),
    ("Sun, 26 Oct 2025 14:05:00 GMT", "2025-10-26T14:05:00+00:00"),  # RFC 2822, as emails and APIs write it
])
def test_dates_with_english_month_names(written, moment):
    from datetime import UTC, datetime

    from behavior.ingest.values import datetime_canonical

    assert datetime_canonical(written, None, latest=datetime(2030, 1, 1, tzinfo=UTC)) == moment


@pytest.mark.parametrize(("written", "reason"), [
    ("Feb 30, 2025", "no such day: 30 February 2025"),
    ("26 out 2025", "unparseable date"),  # Portuguese: no month in the languages read, not guessed
    ("Okt 2025", "unparseable date"),  # no day
    ("31. Juni 2025", "no such day: 31 June 2025"),
    ("Oct 26, 2025 13:00 PM", "unparseable date"),
])
def test_month_name_dates_that_are_no_days_are_rejected_with_the_reason(written, reason):
    from datetime import UTC, datetime

    from behavior.ingest.values import RowError, datetime_canonical

    with pytest.raises(RowError, match=reason):
        datetime_canonical(written, None, latest=datetime(2030, 1, 1, tzinfo=UTC))


def test_a_bigcommerce_export_has_its_order_totals_and_item_counts_read(shop, tmp_path, import_dir, capsys):
    # An outside analyst's 3,000 BigCommerce orders were stored without totals: "Order Total (inc tax)" was not
    # guessed at all, "Total Quantity" neither.
    path = tmp_path / "bigcommerce.csv"
    path.write_text("Order ID,Customer ID,Order Date,Order Status,Subtotal (inc tax),Order Total (ex tax),"
                    "Order Total (inc tax),Total Quantity,Total Shipped\n"
                    "101,7,2025-10-01,Shipped,10.00,10.00,11.90,2,2\n"
                    "102,8,2025-10-02,Awaiting Fulfillment,20.00,20.00,23.80,3,0\n")
    document = _import(shop, path)
    progress = capsys.readouterr().err
    assert (document["inserted"], document["rejected"]) == (2, 0)
    stored = {o.external_id: (o.total, o.item_count) for o in Order.objects.filter(shop=shop)}
    assert stored == {"101": (Decimal("11.90"), 2), "102": (Decimal("23.80"), 3)}
    assert "reading total from the column 'Order Total (inc tax)'" in progress
    assert "reading item_count from the column 'Total Quantity'" in progress



def test_an_order_total_read_unasked_on_a_reimport_fills_in_the_stored_orders(shop, tmp_path, import_dir):
    # Read unasked, the total must not store the orders of an earlier import without it a second time.
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("Customer ID,Order Date\n7,2025-10-01\n8,2025-10-02\n")
    second.write_text("Customer ID,Order Date,Order Total (inc tax)\n7,2025-10-01,11.90\n8,2025-10-02,5.00\n")
    _import(shop, first)
    document = _import(shop, second)
    assert (document["inserted"], document["updated"]) == (0, 2)
    assert sorted(Order.objects.filter(shop=shop).values_list("total", flat=True)) == [Decimal("5.00"),
                                                                                       Decimal("11.90")]


def test_a_reimport_says_its_rejected_rows_left_stored_orders_as_they_were(shop, tmp_path, import_dir, capsys):
    # An analyst's corrected re-import: rows rejected for a bad total, and the stored orders, still at their old
    # totals, were read as the file's.
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("order_id,customer_id,placed_at,total\nO1,C1,2025-10-01,10.00\nO2,C1,2025-10-02,20.00\n")
    second.write_text("order_id,customer_id,placed_at,total\nO1,C1,2025-10-01,11.oo\nO2,C1,2025-10-02,21.00\n"
                      "O3,C1,2025-10-03,1O.00\n")
    _import(shop, first)
    capsys.readouterr()
    document = _import(shop, second)
    progress = capsys.readouterr().err
    assert (document["updated"], document["rejected"], document["rejected_stored_orders"]) == (1, 2, 1)
    assert "1 of the rejected rows are of orders the shop already holds: those orders stay as they were" in progress
    assert Order.objects.get(shop=shop, external_id="O1").total == Decimal("10.00")


def test_a_german_export_says_its_amounts_are_read_with_the_decimal_comma(shop, tmp_path, import_dir, capsys):
    # The analyst's file: 1.234 and 2.500 were stored as 1.23 and 2.50.
    path = tmp_path / "bestellungen.csv"
    path.write_text("Kunde;Datum;Betrag;Anzahl\nK1;01.03.2024;12,50;1\nK2;02.03.2024;1.234;2\nK3;03.03.2024;1.234,56;1\n"
                    "K4;04.03.2024;2.500;3\nK5;05.03.2024;99;1\n", encoding="utf-8")
    document = _import(shop, path, "--map", "total=Betrag", "--map", "item_count=Anzahl")
    progress = capsys.readouterr().err
    assert (document["inserted"], document["rejected"]) == (5, 0)
    totals = dict(Order.objects.filter(shop=shop).values_list("customer__external_id", "total"))
    assert totals == {"K1": Decimal("12.50"), "K2": Decimal("1234.00"), "K3": Decimal("1234.56"),
                      "K4": Decimal("2500.00"), "K5": Decimal("99.00")}
    assert "amounts in the column 'Betrag' are read with the decimal comma" in progress


def test_a_row_of_an_erased_customer_counts_among_the_rows_read(shop, tmp_path, import_dir):
    # The writer takes an erased customer's rows out of the batch: counted after it, a file of two rows, one of
    # them an erased customer's, read as one row, rejected: "Nothing was imported", exit status 1 - the other row
    # stored all the same.
    from privacy.services import customer_erase

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("order_id,customer_id,placed_at,total\nO7,C3,2025-10-07,70.00\n")
    second.write_text("order_id,customer_id,placed_at,total\nO8,C3,2025-10-08,80.00\nO9,C1,2025-10-09,9.00\n")
    _import(shop, first)
    customer_erase(shop=shop, external_ids=["C3"])
    document = _import(shop, second)
    assert (document["status"], document["rows"], document["inserted"], document["rejected"]) == ("succeeded", 2, 1, 1)
    assert list(Order.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["O9"]


def test_rows_the_writer_rejects_count_among_the_rejected_rows_of_stored_orders(shop, tmp_path, import_dir, capsys):
    # Only the parser's rejects were counted: a row naming a stored order under another customer, an unknown
    # customer under --no-create or an erased customer was rejected by the writer, its stored order unmentioned.
    from privacy.services import customer_erase

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("order_id,customer_id,placed_at,total\nO1,C1,2025-10-01,10.00\nO2,C2,2025-10-02,20.00\n"
                     "O6,C1,2025-10-06,60.00\nO7,C3,2025-10-07,70.00\n")
    second.write_text("order_id,customer_id,placed_at,total\n"
                      "O1,C2,2025-10-01,11.00\n"   # O1 is C1's: another customer's order id (writer)
                      "O2,C9,2025-10-02,21.00\n"   # unknown customer under --no-create (writer)
                      "O6,C3,2025-10-06,61.00\n"   # an erased customer (writer)
                      "O3,C1,2025-10-03,1O.00\n"   # not a number (parser), O3 not stored: not counted
                      "O4,C1,2025-10-04,5.00\n")
    _import(shop, first)
    customer_erase(shop=shop, external_ids=["C3"])
    capsys.readouterr()
    document = _import(shop, second, "--no-create")
    assert (document["inserted"], document["rejected"], document["rejected_stored_orders"]) == (1, 4, 3)
    assert "3 of the rejected rows are of orders the shop already holds" in capsys.readouterr().err
    assert dict(Order.objects.filter(shop=shop).values_list("external_id", "total")) == {
        "O1": Decimal("10.00"), "O2": Decimal("20.00"), "O4": Decimal("5.00"), "O6": Decimal("60.00")}


@pytest.mark.parametrize(("written", "moment"), [
    ("26 Okt. 2025", "2025-10-26T00:00:00+00:00"),
    ("26. Oktober 2025", "2025-10-26T00:00:00+00:00"),
    ("26.OKT.2025 14:05", "2025-10-26T14:05:00+00:00"),
    ("26. Oktober 2025 um 14:05 Uhr", "2025-10-26T14:05:00+00:00"),
    ("3. März 2025", "2025-03-03T00:00:00+00:00"),
    ("3 Maerz 2025", "2025-03-03T00:00:00+00:00"),
    ("3. Jänner 2025", "2025-01-03T00:00:00+00:00"),         # Austria
    ("26 octobre 2025", "2025-10-26T00:00:00+00:00"),
    ("1er févr. 2025", "2025-02-01T00:00:00+00:00"),
    ("15 aout 2025", "2025-08-15T00:00:00+00:00"),           # without its accent
    ("dimanche 26 octobre 2025", "2025-10-26T00:00:00+00:00"),
    ("26 de octubre de 2025", "2025-10-26T00:00:00+00:00"),
    ("domingo, 26 de Oct. de 2025, 14:05", "2025-10-26T14:05:00+00:00"),
    ("26-dic-2025", "2025-12-26T00:00:00+00:00"),
    ("26 ottobre 2025", "2025-10-26T00:00:00+00:00"),
    ("3 mag 2025 alle 9:30", "2025-05-03T09:30:00+00:00"),
])
def test_dates_with_german_french_spanish_and_italian_month_names(written, moment):
    # They were refused as "unparseable date": a German shop's file was rejected whole.
    from datetime import UTC, datetime

    from behavior.ingest.values import datetime_canonical

    assert datetime_canonical(written, None, latest=datetime(2030, 1, 1, tzinfo=UTC)) == moment


def test_a_month_word_two_languages_give_different_months_is_refused_when_the_table_is_built(shop, tmp_path,
                                                                                             import_dir):
    # A word naming two months would read some dates silently wrong: the table refuses it (at import).
    from behavior.ingest.values import _MONTHS, _months

    with pytest.raises(ValueError, match="'mar' names months 3 and 2"):
        _months((("jan", "feb", "mar"), ("gen", "mar")))
    assert [_MONTHS[word] for word in ("mar", "mai", "mag", "juin", "juil", "set", "ago", "gen", "ene", "dez")] == [
        3, 5, 5, 6, 7, 9, 8, 1, 1, 12]
    path = tmp_path / "bestellungen.csv"
    path.write_text("Bestellnummer;Kunde;Datum;Betrag\n1;K1;26. Okt. 2025;12,50\n2;K2;3. März 2025 14:05;7\n"
                    "3;K3;26 out 2025;9\n", encoding="utf-8")
    document = _import(shop, path, "--map", "order_id=Bestellnummer", "--map", "customer_id=Kunde",
                       "--map", "placed_at=Datum", "--map", "total=Betrag")
    assert (document["inserted"], document["rejected"]) == (2, 1)
    assert {o.external_id: o.placed_at.isoformat() for o in Order.objects.filter(shop=shop)} == {
        "1": "2025-10-26T00:00:00+00:00", "2": "2025-03-03T14:05:00+00:00"}
