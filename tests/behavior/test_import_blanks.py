"""A file's empty cell says nothing: it never erases what is stored (a second reader's F1 and F8). An order's rows
merged within one batch only, so an order whose rows fell in two batches (Shopify's line items at a 100,000-row
boundary, a status history's refund row far below its order), or a re-import writing `-` or `n/a`, erased its total
and turned a stored "refunded" back into "placed"."""

import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from behavior.models import Customer, Order
from catalog.models import Product
from ecomsight.crypto import email_index

pytestmark = pytest.mark.django_db


def _import(shop, path, *args, kind="orders"):
    out = io.StringIO()
    call_command("import_data", kind, str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _stored(shop):
    return {o.external_id: (o.total, o.status) for o in Order.objects.filter(shop=shop)}


def test_an_orders_rows_apart_and_in_two_batches_keep_its_total_and_status(shop, tmp_path, import_dir):
    # A line-item export sorted by product (or any file whose order rows are not adjacent: the parser's
    # continuation of the row before does not apply), at a batch boundary.
    path = tmp_path / "orders_export.csv"
    path.write_text("Name,Email,Financial Status,Total,Created at,Lineitem sku\n"
                    "#1001,a@example.com,paid,30.00,2024-02-01 10:00:00 -0500,SKU-1\n"
                    "#1002,b@example.com,refunded,12.00,2024-02-02 11:00:00 -0500,SKU-1\n"  # batch 1 ends here
                    "#1001,a@example.com,,,2024-02-01 10:00:00 -0500,SKU-2\n"
                    "#1002,b@example.com,,,2024-02-02 11:00:00 -0500,SKU-3\n")
    mapping = ("--map", "order_id=Name", "--map", "customer_id=Email", "--map", "status=Financial Status")
    document = _import(shop, path, *mapping, "--batch-size", "2")
    assert (document["inserted"], document["updated"], document["duplicates"]) == (2, 0, 2)
    assert _stored(shop) == {"#1001": (Decimal("30.00"), "placed"), "#1002": (Decimal("12.00"), "refunded")}


def test_a_status_historys_refund_row_in_a_later_batch_keeps_the_orders_total(shop, tmp_path, import_dir):
    path = tmp_path / "history.csv"
    path.write_text("order_id,customer_id,placed_at,total,status,updated_at\n"
                    "O7,C7,2024-02-03,40.00,placed,2024-02-03\n"
                    "O8,C8,2024-02-03,5.00,placed,2024-02-03\n"
                    "O9,C9,2024-02-04,7.00,placed,2024-02-04\n"
                    "O7,C7,2024-02-03,,refunded,2024-02-20\n")
    document = _import(shop, path, "--batch-size", "2")
    assert (document["inserted"], document["updated"], document["rejected"]) == (3, 1, 0)
    o7 = Order.objects.get(shop=shop, external_id="O7")
    assert (o7.total, o7.status, o7.status_changed_at) == (Decimal("40.00"), "refunded",
                                                           datetime(2024, 2, 20, tzinfo=UTC))


@pytest.mark.parametrize("blank", ["", "-", "n/a"])
def test_a_reimport_with_empty_cells_keeps_the_stored_orders_values_and_a_written_value_replaces_them(
        shop, tmp_path, import_dir, blank):
    header = "order_id,customer_id,placed_at,total,currency,status,item_count,offer_id,status_changed_at\n"
    first = tmp_path / "first.csv"
    first.write_text(header + "O1,C1,2024-02-03,40.00,EUR,refunded,3,SPRING,2024-02-10\n")
    assert _import(shop, first)["inserted"] == 1
    again = tmp_path / "again.csv"
    again.write_text(header + f"O1,C1,2024-02-03,{blank},,,{blank},,\n")
    document = _import(shop, again)
    assert (document["updated"], document["duplicates"], document["rejected"]) == (0, 1, 0)
    order = Order.objects.get(shop=shop, external_id="O1")
    assert (order.total, order.currency, order.status, order.item_count, order.offer_code,
            order.status_changed_at) == (Decimal("40.00"), "EUR", "refunded", 3, "SPRING",
                                         datetime(2024, 2, 10, tzinfo=UTC))
    # A written value is said: it replaces the stored one (an explicit "placed" too), the empty cells keep theirs.
    written = tmp_path / "written.csv"
    written.write_text(header + "O1,C1,2024-02-03,45.00,,placed,,,\n")
    assert _import(shop, written)["updated"] == 1
    order.refresh_from_db()
    assert (order.total, order.currency, order.status, order.item_count, order.offer_code) == (
        Decimal("45.00"), "EUR", "placed", 3, "SPRING")


def test_a_customers_reimport_with_empty_cells_keeps_the_stored_customer_and_a_written_value_replaces_it(
        shop, tmp_path, import_dir):
    header = "customer_id,email,name,country,signup_at,marketing_consent\n"
    first = tmp_path / "customers.csv"
    first.write_text(header + "C1,ann@example.com,Ann Lee,DE,2024-01-05,true\n")
    assert _import(shop, first, kind="customers")["inserted"] == 1
    again = tmp_path / "crm_export.csv"  # an export without the personal columns filled in
    again.write_text(header + "C1,n/a,,,,\n")  # an email column's n/a or - is no address
    document = _import(shop, again, kind="customers")
    assert (document["updated"], document["duplicates"], document["rejected"]) == (0, 1, 0)
    customer = Customer.objects.get(shop=shop, external_id="C1")
    assert (customer.email, customer.name, customer.country, customer.signup_at, customer.marketing_consent) == (
        "ann@example.com", "Ann Lee", "DE", datetime(2024, 1, 5, tzinfo=UTC), True)
    assert Customer.objects.filter(shop=shop, email_index=email_index("ann@example.com")).count() == 1
    written = tmp_path / "written.csv"
    written.write_text(header + "C1,ann.lee@example.com,,FR,,false\n")
    assert _import(shop, written, kind="customers")["updated"] == 1
    customer.refresh_from_db()
    assert (customer.email, customer.name, customer.country, customer.marketing_consent) == (
        "ann.lee@example.com", "Ann Lee", "FR", False)


def test_a_products_reimport_with_empty_cells_keeps_the_stored_product_and_a_written_value_replaces_it(
        shop, tmp_path, import_dir):
    header = "product_id,title,category,brand,price,active,url\n"
    first = tmp_path / "products.csv"
    first.write_text(header + "P1,Blue mug,Kitchen > Mugs,Acme,12.50,false,https://shop.example/p1\n")
    assert _import(shop, first, kind="products")["inserted"] == 1
    again = tmp_path / "feed.csv"
    again.write_text(header + "P1,,,,n/a,,\n")
    document = _import(shop, again, kind="products")
    assert (document["updated"], document["duplicates"], document["rejected"]) == (0, 1, 0)
    product = Product.objects.select_related("category").get(shop=shop, external_id="P1")
    assert (product.title, product.category.path, product.brand, product.price, product.active, product.url) == (
        "Blue mug", "Kitchen > Mugs", "Acme", Decimal("12.50"), False, "https://shop.example/p1")
    written = tmp_path / "written.csv"
    written.write_text(header + "P1,Blue mug XL,Kitchen > Cups,,14.00,,\n")
    assert _import(shop, written, kind="products")["updated"] == 1
    product = Product.objects.select_related("category").get(shop=shop, external_id="P1")
    assert (product.title, product.category.path, product.brand, product.price, product.active) == (
        "Blue mug XL", "Kitchen > Cups", "Acme", Decimal("14.00"), False)
