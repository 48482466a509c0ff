"""When an order's status changed (Order.status_changed_at): read from the file's column (ours, or `updated_at`,
`refunded_at`, `cancelled_at`… as the import guesses them), from the API's items, or - when an import changes a
stored order's status and gives no moment - the import's time. The refund monitors count on its day; an outside
analyst's status history (a placed row, then a refunded row with its `updated_at`) was read without it."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from behavior.models import ImportJob, Order
from behavior.services import data_import

pytestmark = pytest.mark.django_db

HISTORY = ("order_id,customer_id,placed_at,total,status,updated_at\n"
           "R1,C1,2024-03-01T10:00:00,20.00,placed,2024-03-01T10:00:00\n"
           "R2,C2,2024-03-02T11:00:00,30.00,placed,2024-03-02T11:00:00\n"
           "R1,C1,2024-03-01T10:00:00,20.00,refunded,2024-03-20T09:30:00\n")


def _command(shop, path, *args):
    out = StringIO()
    call_command("import_data", "orders", str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _moments(shop):
    return {o: (s, None if t is None else t.isoformat()) for o, s, t in
            Order.objects.filter(shop=shop).values_list("external_id", "status", "status_changed_at")}


def test_a_status_history_with_updated_at_gives_the_refund_its_moment_and_reimporting_it_changes_nothing(
        shop, tmp_path, capsys):
    path = tmp_path / "history.csv"
    path.write_text(HISTORY)
    result = _command(shop, path)
    assert "reading status_changed_at from the column 'updated_at'" in capsys.readouterr().err  # progress: stderr
    assert (result["inserted"], result["duplicates"], result["ignored_columns"]) == (2, 1, [])
    assert _moments(shop) == {"R1": ("refunded", "2024-03-20T09:30:00+00:00"),
                              "R2": ("placed", "2024-03-02T11:00:00+00:00")}
    again = _command(shop, path)
    assert (again["inserted"], again["updated"]) == (0, 0)


@pytest.mark.parametrize("column", ["status_changed_at", "Refunded At", "cancelled_at", "date_modified"])
def test_the_moment_is_read_under_the_names_shops_give_it(shop, tmp_path, column):
    path = tmp_path / "orders.csv"
    path.write_text(f"order_id,customer_id,placed_at,status,{column}\nR1,C1,2024-03-01T10:00:00,refunded,"
                    "2024-03-20T09:30:00+01:00\n")
    _command(shop, path)
    assert _moments(shop) == {"R1": ("refunded", "2024-03-20T08:30:00+00:00")}


def _day(days_ago: int) -> str:
    return (timezone.now() - dt.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_status_changed_by_a_later_file_without_a_moment_takes_the_imports_time_and_only_then(shop, tmp_path):
    """A live shop's daily export without refund dates: the order placed weeks ago and refunded since is dated on
    the import (its refund is news today), not on the day it was placed; an order whose status did not change
    keeps none."""
    placed = tmp_path / "placed.csv"
    placed.write_text(f"order_id,customer_id,placed_at,total,status\nR1,C1,{_day(30)},20.00,placed\n"
                      f"R2,C2,{_day(1)},30.00,placed\n")
    assert data_import(shop=shop, kind="orders", path=placed).inserted == 2
    ImportJob.objects.filter(shop=shop).update(created_at=timezone.now() - dt.timedelta(days=2))  # the shop's start
    later = tmp_path / "later.csv"
    later.write_text(placed.read_text().replace("20.00,placed", "20.00,refunded"))
    before = timezone.now()
    assert data_import(shop=shop, kind="orders", path=later).updated == 1
    r1 = Order.objects.get(shop=shop, external_id="R1")
    assert before - dt.timedelta(seconds=5) <= r1.status_changed_at <= timezone.now()
    assert Order.objects.get(shop=shop, external_id="R2").status_changed_at is None
    again = data_import(shop=shop, kind="orders", path=later)
    assert (again.inserted, again.updated) == (0, 0)
    assert Order.objects.get(shop=shop, external_id="R1").status_changed_at == r1.status_changed_at


def test_a_history_loaded_as_orders_then_final_statuses_without_dates_is_not_dated_on_the_load(shop, tmp_path):
    """A backfill (orders of 2024 loaded, then their statuses) is not news of the day it is loaded: the analyst's
    2,960 refunds of 18 months would have fallen on that one day."""
    placed = tmp_path / "placed.csv"
    placed.write_text("order_id,customer_id,placed_at,status\nR1,C1,2024-03-01T10:00:00,placed\n")
    data_import(shop=shop, kind="orders", path=placed)
    refunds = tmp_path / "refunds.csv"
    refunds.write_text("order_id,customer_id,placed_at,status\nR1,C1,2024-03-01T10:00:00,refunded\n")
    assert data_import(shop=shop, kind="orders", path=refunds).updated == 1
    assert _moments(shop) == {"R1": ("refunded", None)}


def test_a_history_without_moments_split_across_batches_is_not_dated_on_its_own_import(shop, tmp_path):
    """The first import of a history: the refunded row that lands in a later batch than its placed row changes an
    order this import stored - not news of today (the whole history's refunds would fall on the import's day)."""
    path = tmp_path / "history.csv"
    path.write_text("order_id,customer_id,placed_at,status\nR1,C1,2024-03-01T10:00:00,placed\n"
                    "R2,C2,2024-03-02T11:00:00,placed\nR1,C1,2024-03-01T10:00:00,refunded\n")
    from behavior.ingest import services as ingest_services

    job = ingest_services.import_job_create(shop=shop, kind="orders", path=path)
    ingest_services.import_job_run(import_job_id=job.pk, batch_size=1)
    assert _moments(shop) == {"R1": ("refunded", None), "R2": ("placed", None)}


def test_two_identical_orders_without_ids_differing_in_updated_at_stay_two_orders(shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,placed_at,total,updated_at\nC1,2024-03-01,14.99,2024-03-01T10:00:00\n"
                    "C1,2024-03-01,14.99,2024-03-02T10:00:00\n")
    result = _command(shop, path)
    assert result["inserted"] == 2


def test_a_live_shops_history_loaded_as_orders_then_statuses_on_its_first_day_is_not_a_wave_of_today(shop, tmp_path):
    """A second reader: a live shop's onboarding - its recent orders, then their final statuses without dates, the
    same day - dated every historical refund on the import, one false refund wave on the shop's first day."""
    month_ago, yesterday = _day(30), _day(1)
    placed = tmp_path / "placed.csv"
    placed.write_text(f"order_id,customer_id,placed_at,status\nR1,C1,{month_ago},placed\nR2,C2,{yesterday},placed\n")
    data_import(shop=shop, kind="orders", path=placed)
    refunds = tmp_path / "refunds.csv"
    refunds.write_text(placed.read_text().replace(f"{month_ago},placed", f"{month_ago},refunded"))
    assert data_import(shop=shop, kind="orders", path=refunds).updated == 1
    assert _moments(shop)["R1"] == ("refunded", None)


def test_a_refund_row_without_its_moment_does_not_take_the_placed_rows(shop, tmp_path):
    """A second reader: merged field by field, a refunded row without `updated_at` took the placed row's moment -
    the refund dated on the day of the order. The moment goes with the status it dates."""
    path = tmp_path / "history.csv"
    path.write_text("order_id,customer_id,placed_at,status,updated_at\n"
                    "R1,C1,2024-03-01T10:00:00,placed,2024-03-01T10:00:00\n"
                    "R1,C1,2024-03-01T10:00:00,refunded,\n")
    _command(shop, path)
    assert _moments(shop) == {"R1": ("refunded", None)}
