"""The data quality report: sections, and that it finds what is wrong."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command

from behavior.selectors import quality_report
from tests.behavior.factories import CustomerFactory, EventFactory, OrderFactory
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC) + dt.timedelta(days=n)


def test_report_finds_future_dates_stubs_gaps_and_duplicate_orders(shop, other_shop):
    ann = CustomerFactory(shop=shop, email="a@x.io", signup_at=day(5))
    CustomerFactory(shop=shop, is_stub=True, signup_at=None)
    OrderFactory(customer=ann, placed_at=day(0), total="10.00")  # before signup
    OrderFactory(customer=ann, placed_at=day(10), total="5.00")
    OrderFactory(customer=ann, placed_at=day(10), total="5.00")  # same order exported twice
    OrderFactory(customer=ann, placed_at=day(11), total=None)  # two baskets of one day, no totals: no copies
    OrderFactory(customer=ann, placed_at=day(11), total=None)
    OrderFactory(customer=ann, placed_at=NOW + dt.timedelta(days=3))  # injected future date
    OrderFactory(customer=ann, placed_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    EventFactory(customer=ann, occurred_at=day(0))
    EventFactory(customer=ann, occurred_at=day(1))
    EventFactory(customer=ann, occurred_at=day(4))
    OrderFactory(customer=CustomerFactory(shop=other_shop), placed_at=NOW + dt.timedelta(days=9))  # not ours

    report = quality_report(shop=shop, now=NOW)

    assert report["dates"]["orders_in_future"] == 1
    assert report["dates"]["orders_before_1990"] == 1
    assert report["dates"]["orders_before_signup"] == 2
    assert report["stubs"] == {"customers": 1, "products": 0}
    assert report["duplicates"]["orders_same_customer_time_total"] == {"groups": 1, "extra_rows": 1}
    assert report["gaps"]["events"] == {"days": 5, "empty_days": 2, "longest_gap_days": 2,
                                        "longest_gap": {"from": "2024-01-03", "to": "2024-01-04"}}
    customers = report["tables"]["customers"]
    assert customers["rows"] == 2 and customers["completeness"]["email"] == 0.5
    assert report["tables"]["orders"]["rows"] == 7
    assert report["tables"]["events"]["date_range"]["first"].startswith("2024-01-01")


def test_empty_shop_report_has_every_section_without_dividing_by_zero(shop):
    report = quality_report(shop=shop)
    assert {"tables", "duplicates", "dates", "stubs", "gaps"} <= report.keys()
    assert report["tables"]["events"] == {"rows": 0, "completeness": {"product": None, "session_id": None,
                                                                      "properties": None},
                                          "date_range": {"first": None, "last": None}}
    assert report["gaps"]["orders"]["empty_days"] == 0


def test_command_prints_one_json_document_or_text(shop):
    OrderFactory(customer=CustomerFactory(shop=shop), placed_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    out = StringIO()
    call_command("quality_report", "--json", stdout=out)
    assert json.loads(out.getvalue())["dates"]["orders_in_future"] == 1
    text = StringIO()
    call_command("quality_report", "--shop", "acme", stdout=text)
    assert "orders in future" in text.getvalue() and "<- check" in text.getvalue()


def test_cached_report_is_refreshed_as_soon_as_an_import_finishes(shop):
    from behavior.models import ImportJob

    ann = CustomerFactory(shop=shop)
    OrderFactory(customer=ann, placed_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    assert quality_report(shop=shop)["dates"]["orders_in_future"] == 1
    OrderFactory(customer=ann, placed_at=dt.datetime(2998, 1, 1, tzinfo=dt.UTC))
    assert quality_report(shop=shop)["dates"]["orders_in_future"] == 1  # served from the cache
    assert quality_report(shop=shop, use_cache=False)["dates"]["orders_in_future"] == 2
    ImportJob.objects.create(shop=shop, kind="orders", source_name="orders.csv", status="succeeded",
                             rows_committed=1, finished_at=NOW)
    assert quality_report(shop=shop)["dates"]["orders_in_future"] == 2


def test_cached_report_of_one_shop_is_never_served_for_another(shop, other_shop):
    OrderFactory(customer=CustomerFactory(shop=shop), placed_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    assert quality_report(shop=shop)["dates"]["orders_in_future"] == 1
    assert quality_report(shop=other_shop)["dates"]["orders_in_future"] == 0


def test_report_names_customer_ids_differing_only_in_case_and_orders_in_other_currencies(shop, other_shop):
    """An outside analyst: C00002 and c00002 became two customers (300 stored as 418) and a EUR shop's USD orders
    were summed with its euros, and the report said nothing of either."""
    for external_id in ("C1", "c1", "C2", "x9", "X9", "X9 "):
        CustomerFactory(shop=shop, external_id=external_id)
    CustomerFactory(shop=other_shop, external_id="c2")  # another shop's: not ours
    buyer = CustomerFactory(shop=shop, external_id="B")
    for currency in ("EUR", "USD", "USD", "", "GBP"):
        OrderFactory(customer=buyer, placed_at=day(1), currency=currency)
    # An outside analyst: product names used as ids, typed by hand, made three products of one shirt.
    # Another: half the files wrote ids zero-padded (0032792), half not (32792): 15,165 products for 9,995.
    for external_id in ("Blue T-Shirt M", "blue t-shirt m", "Blue T-Shirt  M", "Blue T-Shirt L", "0032792", "32792",
                        "3279"):
        ProductFactory(shop=shop, external_id=external_id)
    ProductFactory(shop=other_shop, external_id="blue t-shirt l")
    report = quality_report(shop=shop, now=NOW)
    assert report["duplicates"]["customer_ids_differing_only_in_case"] == {"groups": 2, "extra_rows": 2}
    assert report["duplicates"]["product_ids_differing_only_in_spelling"] == {"groups": 2, "extra_rows": 3}
    assert report["currencies"] == {"shop": "EUR", "orders_in_other_currencies": {"GBP": 1, "USD": 2}}
    out = StringIO()
    call_command("quality_report", "--shop", shop.slug, stdout=out)
    text = out.getvalue()
    assert "2 customer ids written in more than one case" in text
    assert ("2 product ids written in more than one case, spacing or with leading zeros (Blue Shirt and blue shirt, "
            "0123 and 123: 3 extra products") in text
    assert "Orders in a currency other than the shop's (EUR): GBP 1, USD 2" in text


def test_report_names_a_catch_all_customer_holding_many_peoples_orders(shop):
    """An outside analyst: a GUEST customer with 5,000 of the shop's orders was not flagged; its churn, value and
    recommendations describe nobody."""
    guest = CustomerFactory(shop=shop, external_id="GUEST")
    for n in range(120):
        OrderFactory(customer=guest, placed_at=day(n % 30))
    for n in range(40):
        OrderFactory(customer=CustomerFactory(shop=shop), placed_at=day(n % 30))
    report = quality_report(shop=shop, now=NOW)
    assert report["catch_all_customers"] == [{"customer_id": "GUEST", "orders": 120, "share": 0.75}]  # alone
    out = StringIO()
    call_command("quality_report", "--shop", shop.slug, stdout=out)
    assert "Customer GUEST holds 120 orders (75.0 % of the shop's): guest checkouts under one id?" in out.getvalue()
