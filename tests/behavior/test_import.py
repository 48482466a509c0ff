"""CSV imports through the service and the command (the COPY writer)."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from behavior.ingest import services as ingest_services
from behavior.ingest.values import event_idempotency_key
from behavior.models import Customer, Event, ImportJob, Order, OrderLine
from behavior.services import data_import
from catalog.models import Category, Product

pytestmark = pytest.mark.django_db



def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def run(shop, kind, path, *, batch_size=1000, **options):
    job = ingest_services.import_job_create(shop=shop, kind=kind, path=path, **options)
    return ingest_services.import_job_run(import_job_id=job.pk, batch_size=batch_size)


def report_rows(result):
    with open(result.report, encoding="utf-8") as handle:
        return list(csv_reader(handle))


def csv_reader(handle):
    import csv

    return csv.DictReader(handle)


CUSTOMERS = ("customer_id,email,name,country,signup_at\n"
             "C1,a@x.io,Ann,DE,2024-01-05\n"
             "C2,b@x.io,Bob,FR,2024-01-06T10:00:00+02:00\n"
             "C3,,,,\n")


def test_customers_import_stores_values_and_converts_zones_to_utc(shop, tmp_path):
    result = run(shop, "customers", write(tmp_path, "c.csv", CUSTOMERS))
    assert (result.rows, result.inserted, result.updated, result.duplicates, result.rejected) == (3, 3, 0, 0, 0)
    bob = Customer.objects.get(shop=shop, external_id="C2")
    assert (bob.email, bob.name, bob.country, bob.is_stub) == ("b@x.io", "Bob", "FR", False)
    assert bob.signup_at.isoformat() == "2024-01-06T08:00:00+00:00"
    assert Customer.objects.get(external_id="C3").signup_at is None
    assert result.report is None


def test_second_import_of_same_file_changes_nothing(shop, tmp_path):
    files = {
        "customers": CUSTOMERS,
        "products": "product_id,title,category,price,active\nP1,Pan,Home > Kitchen,12.5,yes\nP2,Mug,Home,3,0\n",
        "orders": "customer_id,placed_at,total,status\nC1,2024-02-01,10.00,placed\nC2,2024-02-02T10:00,5,refunded\n",
        "events": ("customer_id,type,product_id,occurred_at,properties\n"
                   "C1,view,P1,2024-02-01T10:00:00,\"{\"\"q\"\": 1}\"\n"
                   "C1,view,P1,2024-02-01T10:00:00Z,\"{\"\"q\"\": 1}\"\n"
                   "C2,add_to_cart,,2024-02-02,\n"),
    }
    for kind, text in files.items():
        path = write(tmp_path, f"{kind}.csv", text)
        run(shop, kind, path)
        counts = (Customer.objects.count(), Product.objects.count(), Order.objects.count(), Event.objects.count())
        again = run(shop, kind, path)
        assert (again.inserted, again.updated, again.duplicates) == (0, 0, again.rows), kind
        assert (Customer.objects.count(), Product.objects.count(), Order.objects.count(),
                Event.objects.count()) == counts
    # The same moment written with and without "Z" is the same event (content hash of canonical UTC time).
    assert Event.objects.filter(type="view").count() == 1
    assert Order.objects.get(status="refunded").external_id.startswith("auto-")


def test_changed_values_are_counted_as_updates_and_stored(shop, tmp_path):
    run(shop, "customers", write(tmp_path, "a.csv", CUSTOMERS))
    changed = CUSTOMERS.replace("Ann", "Anna")
    result = run(shop, "customers", write(tmp_path, "b.csv", changed))
    assert (result.inserted, result.updated, result.duplicates) == (0, 1, 2)
    assert Customer.objects.get(external_id="C1").name == "Anna"


def test_absent_columns_do_not_blank_existing_values(shop, tmp_path):
    run(shop, "customers", write(tmp_path, "a.csv", CUSTOMERS))
    result = run(shop, "customers", write(tmp_path, "b.csv", "customer_id,country\nC1,AT\n"))
    assert result.updated == 1
    ann = Customer.objects.get(external_id="C1")
    assert (ann.email, ann.country) == ("a@x.io", "AT")


def test_products_build_category_tree_with_parents(shop, tmp_path):
    text = "product_id,title,description,category,brand,price,active\nP1,Pan,Steel,Home>Kitchen ,Acme,12.499,true\n"
    run(shop, "products", write(tmp_path, "p.csv", text))
    pan = Product.objects.get(external_id="P1")
    assert pan.category.path == "Home > Kitchen"
    assert pan.category.parent.path == "Home"
    assert pan.price == Decimal("12.50")
    assert Category.objects.filter(shop=shop).count() == 2


def test_unknown_customers_and_products_become_stubs(shop, tmp_path):
    text = "event_id,customer_id,type,product_id,occurred_at,session_id\nE1,C9,view,P9,2024-03-01,s1\n"
    result = run(shop, "events", write(tmp_path, "e.csv", text))
    assert result.inserted == 1 and result.stubs == 2
    assert Customer.objects.get(external_id="C9").is_stub
    assert Product.objects.get(external_id="P9").is_stub
    event = Event.objects.get()
    assert (event.session_id, event.product.external_id) == ("s1", "P9")
    assert event.idempotency_key.hex == event_idempotency_key(
        event_id="E1", customer_id="", type="", product_id=None, occurred_at="", session_id=None, properties=None)


def test_full_customer_row_turns_stub_into_real_customer(shop, tmp_path):
    run(shop, "orders", write(tmp_path, "o.csv", "order_id,customer_id,placed_at\nO1,C1,2024-02-01\n"))
    assert Customer.objects.get(external_id="C1").is_stub
    result = run(shop, "customers", write(tmp_path, "c.csv", CUSTOMERS))
    assert (result.inserted, result.updated) == (2, 1)
    assert not Customer.objects.get(external_id="C1").is_stub


def test_no_create_rejects_rows_naming_unknown_ids_and_keeps_the_rest(shop, tmp_path):
    Customer.objects.create(shop=shop, external_id="C1")
    text = "order_id,customer_id,placed_at,total\nO1,C1,2024-02-01,3\nO2,C404,2024-02-01,4\n"
    result = run(shop, "orders", write(tmp_path, "o.csv", text), create_missing=False)
    assert (result.inserted, result.rejected) == (1, 1)
    assert report_rows(result) == [{"line": "3", "column": "customer_id", "value": "C404",
                                    "reason": "unknown customer C404"}]
    assert not Customer.objects.filter(external_id="C404").exists()


def test_no_create_keeps_guest_checkouts_in_a_shop_without_a_guest_customer_yet(shop, tmp_path):
    """`--no-create` refused every guest checkout as "unknown customer guest" until the shop had a guest customer,
    an id the file never wrote: the guest customer is the shop's own, made when needed; unknown customers are
    still refused and no stand-in is made."""
    Customer.objects.create(shop=shop, external_id="C1")
    text = ("order_id,customer_id,placed_at,total\nO1,C1,2024-02-01,3\nG1,,2024-02-01,4\nG2,0,2024-02-02,5\n"
            "G3,Guest,2024-02-02,6\nO2,C404,2024-02-01,7\n")
    out = StringIO()
    call_command("import_data", "orders", str(write(tmp_path, "o.csv", text)), "--shop", "acme", "--no-create",
                 stdout=out)
    document = json.loads(out.getvalue())
    assert (document["inserted"], document["rejected"], document["guest_rows"]) == (4, 1, 3)
    owners = dict(Order.objects.filter(shop=shop).values_list("external_id", "customer__external_id"))
    assert owners == {"O1": "C1", "G1": "guest", "G2": "guest", "G3": "guest"}
    with open(document["report"], encoding="utf-8") as handle:
        assert [r["reason"] for r in csv_reader(handle)] == ["unknown customer C404"]
    assert sorted(Customer.objects.filter(shop=shop).values_list("external_id", flat=True)) == ["C1", "guest"]
    assert ImportJob.objects.get(shop=shop).stub_customers == 0
    # the next file finds the guest customer there: nothing made twice
    again = write(tmp_path, "o2.csv", "order_id,customer_id,placed_at,total\nG4,,2024-02-03,8\n")
    call_command("import_data", "orders", str(again), "--shop", "acme", "--no-create", stdout=StringIO())
    assert Order.objects.get(shop=shop, external_id="G4").customer.external_id == "guest"
    assert Customer.objects.filter(shop=shop).count() == 2


def test_order_lines_reject_unknown_orders_and_rows_of_one_product_add_up(shop, tmp_path):
    run(shop, "orders", write(tmp_path, "o.csv", "order_id,customer_id,placed_at\nO1,C1,2024-02-01\n"))
    text = ("order_id,product_id,quantity,unit_price\nO1,P1,2,9.99\nO1,P2,,1\nO404,P1,1,1\nO1,P1,3,9.99\n")
    result = run(shop, "order_lines", write(tmp_path, "l.csv", text))
    assert (result.inserted, result.duplicates, result.rejected) == (2, 1, 1)
    assert report_rows(result)[0]["reason"] == "unknown order O404"
    lines = {line.product.external_id: line for line in OrderLine.objects.filter(order__external_id="O1")}
    assert (lines["P1"].quantity, lines["P2"].quantity) == (5, 1)
    assert lines["P1"].unit_price == Decimal("9.99")


def test_bad_rows_are_rejected_with_line_and_reason_and_good_rows_kept(shop, tmp_path):
    text = ("order_id,customer_id,placed_at,total,currency,status,item_count\n"
            "O1,C1,2024-02-01,10,EUR,placed,1\n"           # 2 good
            "O2,,2024-02-01,10,EUR,placed,1\n"             # 3 good: no customer, a guest checkout
            "O3,C1,01/02/2024,10,EUR,placed,1\n"           # 4 bad date
            "O4,C1,2024-02-01,ten,EUR,placed,1\n"          # 5 not a number
            "O5,C1,2024-02-01,-3,EUR,placed,1\n"           # 6 negative
            "O6,C1,2024-02-01,3,EUR,lost,1\n"              # 7 bad status
            "O7,C1,2099-01-01,3,EUR,placed,1\n"            # 8 future
            "O8,C1,2024-02-01,3\n"                         # 9 wrong field count
            "O0,C2,2023-12-01,1,usd,cancelled,2\n")        # 10 good (out of order is fine)
    result = run(shop, "orders", write(tmp_path, "o.csv", text))
    assert (result.rows, result.inserted, result.rejected, result.guest_rows) == (9, 3, 6, 1)
    rejects = {(int(r["line"]), r["column"]): r["reason"] for r in report_rows(result)}
    assert rejects == {
        (4, "placed_at"): "a date that can be day/month or month/day, and no row of the file tells which (a "
                          "number above 12): write dates as ISO 8601 (2024-03-01)",
        (5, "total"): "not a number",
        (6, "total"): "negative value (a return or refund is an order's status: refunded)",
        (7, "status"): "unknown status (expected placed, cancelled or refunded, or a shop's word for one: "
                       "completed, shipped, paid, canceled, returned…)",
        (8, "placed_at"): "date in the future",
        (9, ""): "wrong number of fields: expected 7, found 4",
    }
    assert set(Order.objects.values_list("external_id", flat=True)) == {"O1", "O2", "O0"}
    assert Order.objects.get(external_id="O2").customer.external_id == "guest"
    assert Order.objects.get(external_id="O0").currency == "USD"
    job = ImportJob.objects.get(pk=result.import_job_id)
    assert (job.status, job.rejected, job.report_path) == ("succeeded", 6, result.report)


def test_bad_json_in_event_properties_is_rejected(shop, tmp_path):
    text = 'customer_id,type,occurred_at,properties\nC1,view,2024-01-01,"{bad"\nC1,view,2024-01-02,"{""a"": [1]}"\n'
    result = run(shop, "events", write(tmp_path, "e.csv", text))
    assert (result.inserted, result.rejected) == (1, 1)
    assert report_rows(result)[0] == {"line": "2", "column": "properties", "value": "{bad", "reason": "invalid JSON"}
    assert Event.objects.get().properties == {"a": [1]}


def test_map_reads_fields_from_other_column_names(shop, tmp_path):
    text = "Kunde,Art,Zeit,extra\nC1,view,2024-01-01,x\n"
    job = ingest_services.import_job_create(shop=shop, kind="events", path=write(tmp_path, "e.csv", text),
                                            column_map={"customer_id": "Kunde", "type": "Art", "occurred_at": "Zeit"})
    result = ingest_services.import_job_run(import_job_id=job.pk)
    assert result.inserted == 1 and result.ignored_columns == ("extra",)
    assert Event.objects.get().customer.external_id == "C1"


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"\xef\xbb\xbf\r\n\r\n", "is empty"),
    ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image, not a CSV"),
    ("latin1.csv", "customer_id,name\nC1,Müller\n".encode("latin-1"), "not UTF-8"),
    ("header.csv", b"id,mail\nC1,a@x.io\n", "lacks required column(s): customer_id. Found: id, mail"),
])
def test_unusable_files_fail_with_clear_message_and_failed_job(shop, tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(ingest_services.UserError) as caught:
        run(shop, "customers", path)
    assert message in caught.value.message
    job = ImportJob.objects.get()
    assert job.status == "failed" and message in job.error


def test_missing_file_is_a_clear_error(shop, tmp_path):
    with pytest.raises(CommandError, match="File not found"):
        call_command("import_data", "customers", str(tmp_path / "nope.csv"), "--shop", "acme", stdout=StringIO())


@pytest.mark.parametrize("encoding,text", [
    ("utf-8-sig", "customer_id,name\r\nC1,Müller\r\nC2,Zoë\r\n"),  # BOM and CRLF (Excel's "CSV UTF-8")
    ("utf-16", "customer_id,name\r\nC1,Müller\r\nC2,Zoë\r\n"),     # UTF-16 with BOM
    ("utf-8", "customer_id;name\nC1;Müller\nC2;Zoë\n"),            # semicolon-separated
    ("utf-8", "customer_id\tname\nC1\tMüller\nC2\tZoë\n"),         # tab-separated
])
def test_bom_crlf_utf16_and_other_delimiters_are_accepted(shop, tmp_path, encoding, text):
    result = run(shop, "customers", write(tmp_path, "c.csv", text, encoding=encoding))
    assert (result.inserted, result.rejected) == (2, 0)
    assert Customer.objects.get(external_id="C1").name == "Müller"


def test_dry_run_counts_but_writes_nothing(shop, tmp_path):
    text = "event_id,customer_id,type,occurred_at\nE1,C1,view,2024-01-01\nE2,C1,view,bad\n"
    result = run(shop, "events", write(tmp_path, "e.csv", text), dry_run=True)
    assert (result.inserted, result.rejected, result.dry_run) == (1, 1, True)
    assert not Event.objects.exists() and not Customer.objects.exists()


def test_failed_batch_rolls_back_alone_and_rerun_completes(shop, tmp_path, monkeypatch):
    rows = "".join(f"E{i},C{i % 2},view,2024-01-0{1 + i % 5}\n" for i in range(7))
    path = write(tmp_path, "e.csv", "event_id,customer_id,type,occurred_at\n" + rows)
    real = ingest_services.postgres.batch_write
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        result = real(**kwargs)  # the write happens, then the batch fails: its rows must roll back
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return result

    monkeypatch.setattr(ingest_services.postgres, "batch_write", flaky)
    with pytest.raises(ingest_services.ImportFailed, match="lines 5–7 could not be written"):
        run(shop, "events", path, batch_size=3)
    job = ImportJob.objects.get()
    assert (job.status, job.rows_committed, job.inserted) == ("failed", 3, 3)
    assert "disk full" in job.error
    assert Event.objects.count() == 3

    monkeypatch.setattr(ingest_services.postgres, "batch_write", real)
    again = run(shop, "events", path, batch_size=3)
    assert (again.inserted, again.duplicates) == (4, 3)
    assert Event.objects.count() == 7


def test_command_prints_one_json_line_and_creates_the_shop(db, tmp_path):
    path = write(tmp_path, "c.csv", CUSTOMERS + "C4,x,y,z,never\n")
    out, err = StringIO(), StringIO()
    call_command("import_data", "customers", str(path), "--shop", "new-shop", stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    assert {"kind", "rows", "inserted", "updated", "duplicates", "rejected", "seconds", "report"} <= document.keys()
    # "never" is no signup date: the customer is kept without one, and the report says so
    assert (document["kind"], document["rows"], document["inserted"], document["rejected"], document["blanked"]) == (
        "customers", 4, 4, 0, 1)
    assert document["report"].endswith(".csv")
    assert Customer.objects.filter(shop__slug="new-shop").count() == 4


def test_command_without_any_shop_creates_default(db, tmp_path):
    out = StringIO()
    call_command("import_data", "customers", str(write(tmp_path, "c.csv", CUSTOMERS)), stdout=out)
    assert json.loads(out.getvalue())["report"] is None
    assert Customer.objects.filter(shop__slug="default").count() == 3


def test_celery_task_runs_a_recorded_import(shop, tmp_path):
    from behavior.tasks import data_import_task

    job = ingest_services.import_job_create(shop=shop, kind="customers", path=write(tmp_path, "c.csv", CUSTOMERS))
    data_import_task.delay(job.pk)
    job.refresh_from_db()
    assert (job.status, job.inserted) == ("succeeded", 3)


def test_data_import_service_streams_many_batches(shop, tmp_path):
    rows = "".join(f"C{i},c{i}@x.io\n" for i in range(2500))
    result = data_import(shop=shop, kind="customers", path=write(tmp_path, "c.csv", "customer_id,email\n" + rows),
                         batch_size=1000)
    assert (result.rows, result.inserted) == (2500, 2500)
    job = ImportJob.objects.get()
    assert (job.rows_committed, job.bytes_read) == (2500, job.bytes_total)


# --- the fast paths keep the guarantees ---------------------------------------------------------------


def test_event_never_links_to_another_shops_customer_or_product(shop, other_shop, tmp_path):
    # behavior_event has no FK constraints: the importer alone keeps events inside their shop.
    Customer.objects.create(shop=shop, external_id="C1")
    Product.objects.create(shop=shop, external_id="P1")
    path = write(tmp_path, "e.csv", "event_id,customer_id,type,product_id,occurred_at\nE1,C1,view,P1,2024-03-01\n")
    result = run(other_shop, "events", path)
    assert (result.inserted, result.stubs) == (1, 2)
    event = Event.objects.get()
    assert (event.shop_id, event.customer.shop_id, event.product.shop_id) == (other_shop.id,) * 3
    assert Customer.objects.filter(external_id="C1").count() == 2


def test_no_create_rejects_events_naming_unknown_customer_or_product(shop, other_shop, tmp_path):
    Customer.objects.create(shop=shop, external_id="C1")
    Customer.objects.create(shop=other_shop, external_id="C2")
    Product.objects.create(shop=shop, external_id="P1")
    text = ("customer_id,type,product_id,occurred_at\n"
            "C1,view,P1,2024-03-01\n"     # 2 good
            "C2,view,,2024-03-01\n"       # 3 C2 belongs to the other shop
            "C1,view,P404,2024-03-02\n")  # 4 unknown product
    result = run(shop, "events", write(tmp_path, "e.csv", text), create_missing=False)
    assert (result.inserted, result.rejected, result.stubs) == (1, 2, 0)
    assert {(r["line"], r["reason"]) for r in report_rows(result)} == {
        ("3", "unknown customer C2"), ("4", "unknown product P404")}
    assert Event.objects.get().customer.external_id == "C1"


def test_events_stored_by_a_concurrent_import_after_the_check_are_skipped_not_failed(shop, tmp_path, monkeypatch):
    from behavior.ingest import postgres

    text = "event_id,customer_id,type,occurred_at\nE1,C1,view,2024-01-01\nE2,C1,view,2024-01-02\n"
    run(shop, "events", write(tmp_path, "a.csv", text))
    # Another import stores the same keys between our check and our COPY: the COPY collides.
    monkeypatch.setattr(postgres, "events_stored", lambda cursor, **kwargs: set())
    more = text + "E3,C1,view,2024-01-03\n"
    result = run(shop, "events", write(tmp_path, "b.csv", more))
    assert (result.inserted, result.duplicates) == (1, 2)
    assert Event.objects.count() == 3


def test_event_stored_before_but_missed_by_the_sampled_probe_is_a_duplicate_not_a_failure(shop, tmp_path):
    # 3,000 events probe every third key first; the one stored before sits between two probed ones. It is the
    # same event (same id, same time: events are unique per key and time since they are partitioned by month).
    header = "event_id,customer_id,type,occurred_at\n"
    run(shop, "events", write(tmp_path, "a.csv", header + "E1,C1,view,2024-01-02\n"))
    rows = "".join(f"E{i},C{i % 7},view,2024-01-0{1 + i % 5}\n" for i in range(3000))
    result = run(shop, "events", write(tmp_path, "b.csv", header + rows), batch_size=5000)
    assert (result.inserted, result.duplicates, result.rejected) == (2999, 1, 0)
    assert Event.objects.count() == 3000


def test_repeated_event_in_one_batch_is_stored_once_and_counted_as_duplicate(shop, tmp_path):
    text = "event_id,customer_id,type,occurred_at\nE1,C1,view,2024-01-01\nE1,C1,view,2024-01-01\n"
    result = run(shop, "events", write(tmp_path, "e.csv", text))
    assert (result.inserted, result.duplicates) == (1, 1)
    assert Event.objects.count() == 1


def test_id_cache_forgets_ids_learned_in_a_rolled_back_batch():
    # A stand-in created in a rolled-back batch no longer exists: reusing its id would orphan events.
    from behavior.ingest.common import IdCache

    ids = IdCache()
    ids.learn("behavior_customer", {"C1": 1})
    ids.commit()
    ids.learn("behavior_customer", {"C2": 2})
    assert ids.lookup("behavior_customer", "C2") == 2
    ids.rollback()
    assert ids.get("behavior_customer").get("C2") is None
    ids.learn("behavior_customer", {"C3": 3})
    ids.commit()
    assert ids.get("behavior_customer") == {"C3": 3}


def test_encoding_error_found_by_parser_thread_fails_cleanly_after_committed_batches(shop, tmp_path):
    # The parser runs a batch ahead in a thread: its errors must still reach the job, not vanish.
    good = "".join(f"C{i},c{i}@example.org\n" for i in range(8000))
    path = write(tmp_path, "c.csv", b"customer_id,email\n" + good.encode() + "C9,Müller\n".encode("latin-1"))
    with pytest.raises(ingest_services.UserError, match="not UTF-8"):
        run(shop, "customers", path, batch_size=1000)
    job = ImportJob.objects.get()
    assert job.status == "failed" and "not UTF-8" in job.error
    assert job.rows_committed > 0 and job.rows_committed % 1000 == 0
    assert Customer.objects.count() == job.rows_committed


def test_a_new_shop_named_by_shop_is_said_so_a_typo_is_seen(db, tmp_path, capsys):
    from accounts.models import Shop

    Shop.objects.create(slug="grocer2", name="Grocer")
    call_command("import_data", "customers", str(write(tmp_path, "c.csv", CUSTOMERS)), "--shop", "grocer-2",
                 stdout=StringIO())
    assert "created the shop 'grocer-2' (no shop had that name; the others: grocer2)" in capsys.readouterr().err
