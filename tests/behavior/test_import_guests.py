"""Guest checkouts (F3): WooCommerce writes a guest's order under customer `0`, other exports leave the customer empty
or write `guest`. Stored as written, `0` was one customer holding every guest's orders (its churn, value and lists
describe nobody); left empty, the orders were rejected and the shop's sales lost them."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from behavior.models import Customer, Order
from forecasts.selectors import shop_orders_frames
from predictions.selectors.frames import shop_frames

pytestmark = pytest.mark.django_db

GUEST_CUSTOMER_ID = "guest"  # the shop's guest customer (behavior.models)


def _import(shop, path, *args, kind="orders"):
    out = io.StringIO()
    call_command("import_data", kind, str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


WOOCOMMERCE = ("order_id,customer_user,date_created,total,status\n"
               "101,0,2024-03-01 10:00:00,20.00,wc-completed\n"
               "102,7,2024-03-01 11:00:00,30.00,wc-completed\n"
               "103,,2024-03-02 09:00:00,15.00,wc-processing\n"
               "104,Guest,2024-03-02 12:00:00,5.00,wc-completed\n"
               "105,8,2024-03-03 12:00:00,10.00,wc-refunded\n")


def test_guest_checkouts_are_kept_for_the_shops_sales_under_one_guest_customer_and_counted(shop, tmp_path,
                                                                                           import_dir, capsys):
    path = tmp_path / "woocommerce_orders.csv"
    path.write_text(WOOCOMMERCE)
    mapping = ("--map", "customer_id=customer_user", "--map", "placed_at=date_created", "--map", "total=total")
    document = _import(shop, path, *mapping)
    assert (document["inserted"], document["rejected"], document["guest_rows"]) == (5, 0, 3)
    assert "3 order row(s) name no customer (empty, 0 or guest): kept as guest checkouts" in capsys.readouterr().err
    # Every order counts in the shop's sales: nothing rejected, nothing lost.
    assert Order.objects.filter(shop=shop).aggregate(sales=Sum("total"))["sales"] == Decimal("80.00")
    guests = Order.objects.filter(shop=shop, customer__external_id=GUEST_CUSTOMER_ID)
    assert sorted(guests.values_list("external_id", flat=True)) == ["101", "103", "104"]
    assert sorted(Customer.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["7", "8", "guest"]
    # The same file again adds nothing.
    again = _import(shop, path, *mapping)
    assert (again["inserted"], again["updated"], again["guest_rows"]) == (0, 0, 3)


def test_the_guest_customer_is_no_customer_of_the_models_but_its_orders_are_in_the_forecasts(shop, tmp_path,
                                                                                              import_dir):
    path = tmp_path / "woocommerce_orders.csv"
    path.write_text(WOOCOMMERCE)
    _import(shop, path, "--map", "customer_id=customer_user", "--map", "placed_at=date_created")
    guest = Customer.objects.get(shop=shop, external_id=GUEST_CUSTOMER_ID).pk
    frames = shop_frames(shop_id=shop.pk)
    assert guest not in set(frames.customers["customer_id"]) | set(frames.orders["customer_id"])
    assert len(frames.orders) == 2
    chunk = shop_frames(shop_id=shop.pk, customer_range=(0, 2**62))
    assert guest not in set(chunk.customers["customer_id"]) and len(chunk.orders) == 2
    sales = shop_orders_frames(shop_id=shop.pk)
    assert len(sales.orders) == 5 and sales.orders["total"].sum() == pytest.approx(80.0)
