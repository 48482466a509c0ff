"""Events partitioned by month (behavior.partitions, migration 0015): partitions made before rows arrive, rows
never lost to a missing partition, idempotency per (key, time), pruning of time-range reads, retention by
partition drops."""

import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.tokens import api_token_create
from behavior import partitions
from behavior.models import Customer, Event
from behavior.partitions import DEFAULT_PARTITION, event_months_ensure, event_partitions, event_partitions_maintain
from behavior.retention import events_retention_run
from tests.accounts.factories import UserFactory

from .test_import import run, write

pytestmark = pytest.mark.django_db

HEADER = "event_id,customer_id,type,occurred_at\n"


def where_stored() -> dict[int, str]:
    """Event id → the partition (table) that holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, tableoid::regclass::text FROM behavior_event")
        return dict(cursor.fetchall())


def event(shop, customer, moment, **fields):
    return Event.objects.create(shop=shop, customer=customer, type="view", occurred_at=moment,
                                idempotency_key=uuid.uuid4(), **fields)


def test_import_makes_each_months_partition_first_so_no_row_lands_in_the_default_one(shop, tmp_path):
    rows = "".join(f"E{i},C{i % 3},view,2019-0{3 + i % 3}-1{i % 9}T10:00:00\n" for i in range(30))
    result = run(shop, "events", write(tmp_path, "e.csv", HEADER + rows))
    assert result.inserted == 30
    assert {date(2019, 3, 1), date(2019, 4, 1), date(2019, 5, 1)} <= event_partitions().keys()
    stored = {event.pk: event.occurred_at for event in Event.objects.all()}
    tables = where_stored()
    assert all(tables[pk] == f"behavior_event_p2019_{moment.month:02d}" for pk, moment in stored.items())


def test_rows_in_the_default_partition_move_to_their_month_when_it_is_created(shop, tmp_path):
    # An ORM insert for a month without a partition is kept (DEFAULT), never refused.
    customer = Customer.objects.create(shop=shop, external_id="C1")
    early = event(shop, customer, datetime(2018, 7, 3, tzinfo=UTC))
    assert where_stored()[early.pk] == DEFAULT_PARTITION
    result = run(shop, "events", write(tmp_path, "e.csv", HEADER + "E1,C1,view,2018-07-20\n"))
    assert result.inserted == 1
    tables = where_stored()
    assert set(tables.values()) == {"behavior_event_p2018_07"}
    assert early.pk in tables and Event.objects.get(pk=early.pk).idempotency_key == early.idempotency_key


def test_same_event_id_at_the_same_time_is_a_duplicate_at_another_time_another_event(shop, tmp_path):
    first = run(shop, "events", write(tmp_path, "a.csv", HEADER + "E1,C1,view,2019-03-01T10:00:00\n"))
    assert first.inserted == 1
    again = HEADER + "E1,C1,view,2019-03-01T10:00:00\nE1,C1,view,2019-04-02T10:00:00\n"
    result = run(shop, "events", write(tmp_path, "b.csv", again))
    assert (result.inserted, result.duplicates) == (1, 1)
    assert sorted(e.occurred_at.month for e in Event.objects.filter(shop=shop)) == [3, 4]
    # And once more: both are now stored, both duplicates (the probe looks in each one's month).
    assert run(shop, "events", write(tmp_path, "c.csv", again)).duplicates == 2


def test_api_batch_stores_events_of_a_month_without_partition_in_it(shop):
    user = UserFactory(role="analyst", shops=[shop])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, shop=shop, name='t').plain}")
    items = [{"event_id": f"a{i}", "customer_id": "C1", "type": "view", "occurred_at": "2017-11-05T08:00:00Z"}
             for i in range(3)]
    body = client.post("/api/v1/events/batch/", items, format="json").json()
    assert body["stored"] == 3
    assert set(where_stored().values()) == {"behavior_event_p2017_11"}


def test_a_locked_default_partition_delays_the_month_not_the_rows(shop, tmp_path, monkeypatch):
    # A long read holds the DEFAULT partition: the writer gives up creating the month after the lock timeout,
    # stores the rows in the DEFAULT partition, and the nightly maintenance moves them later.
    monkeypatch.setattr(partitions, "PARTITION_LOCK_TIMEOUT", "100ms")
    reader = psycopg.connect(**connection.get_connection_params())
    try:
        reader.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")  # a transaction: the lock is held until commit
        started = time.monotonic()
        result = run(shop, "events", write(tmp_path, "e.csv", HEADER + "E1,C1,view,2017-02-03\n"
                                                                        "E2,C1,view,2017-02-04\n"))
        assert time.monotonic() - started < 10
        assert result.inserted == 2
        assert set(where_stored().values()) == {DEFAULT_PARTITION}
        assert date(2017, 2, 1) not in event_partitions()
    finally:
        reader.close()
    done = event_partitions_maintain()
    assert "behavior_event_p2017_02" in done.created and done.moved == 2
    assert set(where_stored().values()) == {"behavior_event_p2017_02"}


def test_a_time_range_read_plans_only_the_partitions_of_its_range(shop):
    event_months_ensure(months=[date(2016, 1, 1), date(2016, 2, 1), date(2016, 3, 1)])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT customer_id, occurred_at FROM behavior_event WHERE shop_id = %s "
                       "AND occurred_at >= %s AND occurred_at < %s",
                       [shop.pk, datetime(2016, 2, 1, tzinfo=UTC), datetime(2016, 2, 15, tzinfo=UTC)])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "behavior_event_p2016_02" in plan
    assert "behavior_event_p2016_01" not in plan and "behavior_event_p2016_03" not in plan
    assert DEFAULT_PARTITION not in plan
    # Retention's batched DELETE is bounded by its cutoff: only the partitions before it.
    plan = Event.objects.filter(shop=shop, occurred_at__lt=datetime(2016, 2, 1, tzinfo=UTC)).explain()
    assert "behavior_event_p2016_01" in plan and "behavior_event_p2016_02" not in plan
    assert "behavior_event_p2016_03" not in plan


NOW = datetime(2030, 6, 15, tzinfo=UTC)


def test_retention_drops_months_whose_events_all_expired_and_deletes_the_rest_in_batches(shop, other_shop):
    keeper = other_shop.__class__.objects.create(slug="keeper", name="Keeps for ever")
    shop.event_retention_days, other_shop.event_retention_days = 30, 60
    shop.save()
    other_shop.save()
    event_months_ensure(months=[date(2029, 1, 1), date(2029, 2, 1), date(2030, 6, 1)])
    people = {s: Customer.objects.create(shop=s, external_id="C1") for s in (shop, other_shop, keeper)}
    # January 2029: only expired events of shops with a retention -> the partition is dropped.
    for s in (shop, shop, other_shop):
        event(s, people[s], datetime(2029, 1, 10, tzinfo=UTC))
    # February 2029: a shop that keeps events for ever has one there -> the partition stays, the rest is deleted.
    event(shop, people[shop], datetime(2029, 2, 10, tzinfo=UTC))
    kept = event(keeper, people[keeper], datetime(2029, 2, 11, tzinfo=UTC))
    recent = event(shop, people[shop], NOW - timedelta(days=3))

    deleted = events_retention_run(now=NOW)

    assert deleted == {"acme": 3, "globex": 1}
    assert date(2029, 1, 1) not in event_partitions()
    assert date(2029, 2, 1) in event_partitions()
    assert set(Event.objects.values_list("pk", flat=True)) == {kept.pk, recent.pk}
    dropped = AuditLog.objects.filter(action="events.retention", details__partition="behavior_event_p2029_01")
    assert {(entry.shop.slug, entry.details["deleted"]) for entry in dropped} == {("acme", 2), ("globex", 1)}


def test_retention_drops_nothing_while_no_shop_has_a_retention(shop):
    event_months_ensure(months=[date(2029, 1, 1), date(2029, 3, 1)])
    customer = Customer.objects.create(shop=shop, external_id="C1")
    event(shop, customer, datetime(2029, 1, 10, tzinfo=UTC))
    assert events_retention_run(now=NOW) == {}
    assert {date(2029, 1, 1), date(2029, 3, 1)} <= event_partitions().keys()  # the empty March too
    assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_imports_meeting_the_same_new_month_both_write_and_one_creates_it():
    # Without the advisory lock the second CREATE TABLE fails ("already exists") and its batch with it.
    month = date(2015, 5, 1)
    results, errors = [], []
    first_holds = threading.Event()

    def ensure(hold: float) -> None:
        try:
            with transaction.atomic():
                results.append(event_months_ensure(months=[month]))
                if hold:
                    first_holds.set()
                    time.sleep(hold)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    try:
        first = threading.Thread(target=ensure, args=(0.5,))
        first.start()
        assert first_holds.wait(10)
        second = threading.Thread(target=ensure, args=(0,))
        second.start()
        first.join()
        second.join()
        assert errors == []
        assert sorted(len(result.created) for result in results) == [0, 1]
        assert month in event_partitions()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS behavior_event_p2015_05")


def test_the_probe_for_stored_events_matches_times_with_and_without_microseconds(shop, tmp_path):
    # The probe compares PostgreSQL's rendering of occurred_at with the parser's canonical text: a mismatch
    # would send every re-import down the slow collision path.
    from behavior.ingest.postgres import events_stored
    from behavior.ingest.values import event_idempotency_key

    text = HEADER + "E1,C1,view,2019-03-01T10:00:00\nE2,C1,view,2019-03-01T10:00:00.25+01:00\n"
    run(shop, "events", write(tmp_path, "e.csv", text))
    keys = [event_idempotency_key(event_id=e, customer_id="", type="", product_id=None, occurred_at="",
                                  session_id=None, properties=None) for e in ("E1", "E2")]
    moments = ["2019-03-01T10:00:00+00:00", "2019-03-01T09:00:00.250000+00:00"]
    with connection.cursor() as cursor:
        assert events_stored(cursor, shop_id=shop.pk, keys=keys, moments=moments) == {
            keys[0] + moments[0], keys[1] + moments[1]}
        assert events_stored(cursor, shop_id=shop.pk, keys=keys, moments=[moments[1], moments[0]]) == set()


@pytest.mark.django_db(transaction=True)
def test_retention_never_drops_a_month_an_import_is_still_writing_a_kept_event_into():
    # Without behavior_event locked before the checks, the keeper's uncommitted event is invisible to them; the DROP
    # then waits for the import to commit and takes its event with the partition. January 2001 is the only month
    # past `now`: no other partition's DROP waits for the import first (which would hide the race).
    from accounts.models import Shop

    expiring = Shop.objects.create(slug="expiring", name="Keeps 30 days", event_retention_days=30)
    keeper = Shop.objects.create(slug="keeper", name="Keeps for ever")
    event_months_ensure(months=[date(2001, 1, 1)])
    old = event(expiring, Customer.objects.create(shop=expiring, external_id="C1"), datetime(2001, 1, 10, tzinfo=UTC))
    person = Customer.objects.create(shop=keeper, external_id="K1")
    inserted, errors = threading.Event(), []

    def backfill() -> None:
        try:
            with transaction.atomic():
                event(keeper, person, datetime(2001, 1, 20, tzinfo=UTC))
                inserted.set()
                time.sleep(0.7)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    try:
        writer = threading.Thread(target=backfill)
        writer.start()
        assert inserted.wait(10)
        deleted = events_retention_run(now=datetime(2001, 6, 1, tzinfo=UTC))
        writer.join()
        assert errors == []
        assert date(2001, 1, 1) in event_partitions()
        assert Event.objects.filter(shop=keeper).count() == 1  # the backfilled event is kept
        assert not Event.objects.filter(pk=old.pk).exists() and deleted == {"expiring": 1}  # deleted in batches
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS behavior_event_p2001_01")
