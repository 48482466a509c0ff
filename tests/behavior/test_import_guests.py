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


STATUS_HISTORY = ("order_id,customer_id,placed_at,total,status\n"
                  "O7,C7,2024-03-01 10:00:00,20.00,placed\n"
                  "O8,,2024-03-01 11:00:00,5.00,placed\n"
                  "O7,,2024-03-01 10:00:00,,refunded\n")


def test_a_status_history_row_without_customer_is_its_orders_row_not_a_rejected_guest_checkout(shop, tmp_path,
                                                                                                import_dir, capsys):
    # The refund row of O7 leaves the customer out: it was made a guest checkout, then rejected as another
    # customer's order id ("join the customer and the number into one id"), and still counted as a guest.
    path = tmp_path / "history.csv"
    path.write_text(STATUS_HISTORY)
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"], document["guest_rows"]) == (2, 0, 1)
    assert "1 order row(s) name no customer" in capsys.readouterr().err
    o7 = Order.objects.get(shop=shop, external_id="O7")
    assert (o7.customer.external_id, o7.status, o7.total) == ("C7", "refunded", Decimal("20.00"))
    assert Order.objects.get(shop=shop, external_id="O8").customer.external_id == GUEST_CUSTOMER_ID


def test_a_later_files_row_without_customer_updates_the_order_stored_under_its_customer(shop, tmp_path,
                                                                                        import_dir, capsys):
    first, later = tmp_path / "placed.csv", tmp_path / "refunds.csv"
    first.write_text("order_id,customer_id,placed_at,total,status\nO7,C7,2024-03-01 10:00:00,20.00,placed\n")
    later.write_text("order_id,customer_id,placed_at,total,status\nO7,0,2024-03-01 10:00:00,,refunded\n")
    _import(shop, first)
    document = _import(shop, later)
    assert (document["updated"], document["rejected"], document["guest_rows"]) == (1, 0, 0)
    assert "guest checkouts" not in capsys.readouterr().err
    o7 = Order.objects.get(shop=shop, external_id="O7")
    assert (o7.customer.external_id, o7.status, o7.total) == ("C7", "refunded", Decimal("20.00"))
    assert not Customer.objects.filter(shop=shop, external_id=GUEST_CUSTOMER_ID).exists()


def test_the_guest_customer_is_not_counted_as_a_customer_nor_a_stand_in(shop, tmp_path, import_dir):
    # Pages said "3 customers, of whom 3 ordered", "It created 3 stand-in customers" and Data quality 3 stand-ins
    # for a file of guest checkouts and two customers.
    from datetime import timedelta

    from django.utils import timezone

    from behavior.models import ImportJob
    from behavior.selectors import quality_report
    from predictions.selectors.coverage import scored_coverage
    from predictions.selectors.dashboard import dashboard_get
    from tests.predictions.factories import ScoringRunFactory

    day = (timezone.now() - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    path = tmp_path / "orders.csv"
    path.write_text(f"order_id,customer_id,placed_at,total\n1,0,{day},20\n2,C1,{day},30\n3,,{day},15\n4,C2,{day},5\n")
    document = _import(shop, path)
    assert (document["inserted"], document["guest_rows"], document["stubs"]) == (4, 2, 2)
    assert ImportJob.objects.get(pk=document["import_job_id"]).stub_customers == 2
    assert quality_report(shop=shop, use_cache=False)["stubs"]["customers"] == 2
    dashboard = dashboard_get(shop=shop)
    assert (dashboard.customers, dashboard.active_customers) == (2, 2)
    assert scored_coverage(shop=shop, run=ScoringRunFactory(shop=shop)).customers == 2


def test_a_row_naming_a_customer_for_an_order_stored_as_a_guest_checkout_is_rejected_saying_so(shop, tmp_path,
                                                                                                 import_dir):
    # The reason said "order id stored for customer guest: ids counted per customer? join the customer and the
    # number into one id", which points the user the wrong way.
    first, later = tmp_path / "guest.csv", tmp_path / "named.csv"
    first.write_text("order_id,customer_id,placed_at,total,status\nO9,,2024-03-02 10:00:00,9.00,placed\n")
    later.write_text("order_id,customer_id,placed_at,total,status\nO9,C9,2024-03-02 10:00:00,,refunded\n"
                     "O10,C9,2024-03-03 10:00:00,4.00,placed\n")
    _import(shop, first)
    document = _import(shop, later, "--batch-size", "5")
    assert (document["inserted"], document["rejected"]) == (1, 1)
    report = open(document["report"], encoding="utf-8").read()
    assert "order id stored as a guest checkout (its rows named no customer)" in report
    assert "join the customer" not in report
    assert Order.objects.get(shop=shop, external_id="O9").customer.external_id == GUEST_CUSTOMER_ID
