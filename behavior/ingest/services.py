"""Import services: an ImportJob is created, then run batch by batch (one transaction per batch).

The command, the upload page and the Celery task all go through `import_job_create` + `import_job_run`.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.jobs import job_create
from accounts.models import Job, Shop
from behavior.models import GUEST_CUSTOMER_ID, Customer, Event, ImportJob, Order, PendingUpload
from behavior.signals import data_arrived
from ecomsight.csvsafe import neutralise
from ecomsight.errors import UserError
from ecomsight.files import Removed, old_files_remove
from ecomsight.memory import large_allocations_returned

from . import postgres
from .common import IdCache, stub_ids_merged
from .currency import ShopCurrency, import_shop_currency
from .formats import KINDS, Batch, Plan, Reject, plan_build, source_open
from .idspelling import KEYS, KEYS_SQL, alike, looks_like_email
from .parse import DateOrder, batches_parse, decimal_comma_columns, slash_date_order
from .rows import BLANKED, ORDER_ROW_REJECTED

# Rows per batch (and transaction). Memory holds about two batches (the one written, the one parsed):
# drill 16 (200 MB file) peaked at 244 MB with 100,000 and 290-341 MB with 150,000 (the higher figure with
# the machine busy); 50 MB and 200 MB files peak alike. bench/ingest.py (2M events) ran at 49-50k rows/s
# with 100,000 and 44-60k with 150,000: no measurable cost.
DEFAULT_BATCH_SIZE = 100_000
WRITERS_BUILT_IN = ("customers", "products", "orders", "order_lines", "events", "reviews")
# Writers of kinds that apps above behavior own (offers, offer_assignments): kind -> batch_write-like callable.
KIND_WRITERS: dict[str, Callable] = {}


def kind_writer_register(*, kind: str, writer: Callable) -> None:
    """Let an app above behavior write the rows of one import kind (called from its AppConfig.ready)."""
    KIND_WRITERS[kind] = writer


_NO_ALIKE_IDS = {"groups": 0, "extra_ids": 0, "stored_ids": 0, "example": None}
# An import keeps the file's distinct customer ids (for `customer_ids_alike`) up to this many; a file naming more
# is checked on its first ones (memory: about 100 bytes an id).
CUSTOMER_IDS_CHECKED = 1_000_000


@dataclass(frozen=True)
class ImportResult:
    """What an import did. `report` is the path of the rejected-rows CSV, None when nothing was rejected."""

    import_job_id: int
    kind: str
    status: str
    rows: int
    inserted: int
    updated: int
    duplicates: int
    rejected: int
    stubs: int
    seconds: float
    report: str | None
    ignored_columns: tuple[str, ...]
    dry_run: bool
    error: str = ""  # why a failed import failed (status "failed": every row it read was rejected)
    # Values of stored rows that could not be read and were left empty (listed in the report with their reason).
    blanked: int = 0
    blanked_reason: str = ""  # the commonest of them ("signup_at: unparseable date"), for people; not in the JSON
    rejected_reason: str = ""  # the commonest reason rows were rejected, for people; not in the JSON
    date_order: DateOrder = field(default_factory=DateOrder)  # how the file wrote 03/04/2024; not in the JSON
    # Events: the file's events of a type no model reads ({type: count}), as the API's batches say too.
    unknown_types: dict = field(default_factory=dict)
    # Orders: the file's order rows in a currency other than the shop's ({code: count}; rows the writer then
    # refuses included): nothing converts them.
    other_currencies: dict = field(default_factory=dict)
    # Orders: the file's order rows of guest checkouts (customer id empty, 0 or guest), kept under the shop's guest
    # customer (behavior.models.GUEST_CUSTOMER_ID): in the sales figures, not a customer of the models. Rows
    # written only: not rejected ones, nor rows of an order the shop holds under a customer (a status history's
    # row without the customer: that order's row).
    guest_rows: int = 0
    # Orders: rejected rows whose order the shop held before this import (not one an earlier row of this file
    # stored): those orders stay as they were, not updated from the rejected rows. A dry run counts the same.
    rejected_stored_orders: int = 0
    # The shop's currency the file's orders were compared with (other_currencies): after the import, or in a dry
    # run the one the shop would take (behavior.ingest.currency).
    shop_currency: str = ""
    # The file's amount columns (as written) that write the decimal comma, where 1.234 is 1234; not in the JSON.
    decimal_comma_columns: tuple[str, ...] = ()
    # Amounts of stored rows with more than two decimals that rounding to the cent changed, by the file's column
    # ({"Betrag": 2}: 0,125 stored as 0.13), and each column's first as written and stored (not in the JSON). Rows
    # rejected are left out, by the parser or by the writer (an unknown customer under --no-create, another
    # customer's order id); a dry run counts the rows it would store.
    rounded_amounts: dict = field(default_factory=dict)
    rounded_examples: dict = field(default_factory=dict)
    # The file's customer ids (customers, orders, events, reviews, offer assignments: rows kept by the parser) that
    # are another id of the file, or of a customer the shop holds, but for leading zeros (0007 and 7: a spreadsheet
    # dropped the zeros) or for case (C1 and c1): each spelling is stored as a customer of its own, their orders
    # split. {"groups", "extra_ids" (ids beyond one a group: customers split off), "stored_ids" (of them, customers
    # the shop held that the file does not name), "example" (two ids of one group, or None)}. Ids are never
    # rewritten: the notes say how to fix the file. `zero_guest_rows`: order rows whose customer id was written 0
    # (guest checkouts) where the file or shop holds an id of zeros (`zero_id`: 0000), which stays a customer.
    customer_ids_leading_zeros: dict = field(default_factory=lambda: _NO_ALIKE_IDS | {"zero_guest_rows": 0,
                                                                                         "zero_id": None})
    customer_ids_differing_only_in_case: dict = field(default_factory=lambda: dict(_NO_ALIKE_IDS))
    # The file's distinct customer ids that are e-mail addresses: stored and exported (pseudonymised exports carry
    # the id) as written, in plain text, where the email field is encrypted at rest.
    customer_ids_look_like_emails: int = 0

    def customer_id_notes(self) -> list[str]:
        """What the file's customer ids will do that the user did not mean, and how to fix the file: ids equal
        but for leading zeros or case, e-mail addresses used as ids. `import_data` says them on stderr, the
        import's page under its counts (ImportJob.notes)."""
        notes = []
        zeros = self.customer_ids_leading_zeros
        if zeros.get("groups"):
            first, second = zeros["example"]
            stored = (f"; {zeros['stored_ids']:,} of the spellings are customers the shop already held, not in the "
                      "file" if zeros.get("stored_ids") else "")
            notes.append(
                f"{zeros['groups']:,} customer id(s) are written with and without leading zeros ({first} and "
                f"{second}): each spelling is a customer of its own, {zeros['extra_ids']:,} extra customers{stored}, "
                "their orders split. Ids are stored as written: a spreadsheet such as Excel drops the zeros of ids "
                "it reads as numbers - write every id as the shop's system does (format the column as text, or pad "
                "the numbers again: 7 as 0007) and import the file again (--dry-run says whether any are left)")
        if zeros.get("zero_guest_rows"):
            notes.append(
                f"{zeros['zero_guest_rows']:,} order row(s) name the customer 0, a guest checkout, while the customer "
                f"id {zeros['zero_id']} is a customer: if 0 is {zeros['zero_id']} without its zeros, write it "
                f"{zeros['zero_id']} in the file (0 stays a guest checkout, as an empty id or guest)")
        cased = self.customer_ids_differing_only_in_case
        if cased.get("groups"):
            first, second = cased["example"]
            example = ("" if self.customer_ids_look_like_emails and "@" in first else f" ({first} and {second})")
            stored = (f"; {cased['stored_ids']:,} of the spellings are customers the shop already held, not in the "
                      "file" if cased.get("stored_ids") else "")
            notes.append(
                f"{cased['groups']:,} customer id(s) are written in more than one case{example}: ids are read as "
                f"written, so each spelling is a customer of its own, {cased['extra_ids']:,} extra "
                f"customers{stored}. Write each id one way (e-mail addresses in lower case) and import the file "
                "again")
        if self.customer_ids_look_like_emails:
            notes.append(
                f"{self.customer_ids_look_like_emails:,} customer id(s) are e-mail addresses: ids are stored as "
                "written, in plain text (the email field is encrypted at rest, the id is not), and exported as "
                "written, pseudonymised exports included (they carry the customer id). Better: give each customer "
                "an id of its own (the shop's or CRM's customer number, or a hash of the address) in customer_id, "
                "and the address in a customers file's email column (--map email=COLUMN)")
        return notes

    def reading_notes(self) -> list[str]:
        """How the file's values were read where it could have been otherwise, in words: the day and month order
        the dates showed, the columns read with the decimal comma, amounts rounded to the cent. `import_data` says
        them on stderr, the import's page under its counts (ImportJob.notes): a web upload read "Done: 10 new
        orders" while it had rounded 0,125 to 0.13 and read 2.500 as 2500 (a new user's review)."""
        notes = []
        if self.date_order.day_first is not None:
            notes.append(f"dates such as 03/04/2024 are read as {self.date_order.words}, as the file's "
                         f"{self.date_order.example} shows")
        notes += [f"amounts in the column '{column}' are read with the decimal comma its values write: a point there "
                  "groups thousands (1.234 is 1234)" for column in self.decimal_comma_columns]
        for column, count in self.rounded_amounts.items():
            written, stored = self.rounded_examples[column]
            notes.append(f"{count:,} amount(s) in column {column} had more than two decimals and were rounded to the "
                         f"cent ({written} stored as {stored}): amounts are kept to the cent")
        return notes

    def as_json(self) -> dict:
        """The document the command prints (one JSON line)."""
        document = asdict(self)
        document["ignored_columns"] = list(self.ignored_columns)
        del document["blanked_reason"], document["rejected_reason"], document["date_order"]
        del document["decimal_comma_columns"], document["rounded_examples"]
        return document


class ImportFailed(UserError):
    """A batch could not be written: the batches before it are committed, the job says how far it got."""

    code = "import_failed"


def import_job_create(*, shop: Shop, kind: str, path: str | os.PathLike, column_map: dict[str, str] | None = None,
                      create_missing: bool = True, dry_run: bool = False, user=None,
                      source_name: str | None = None) -> ImportJob:
    """Record an import of the CSV file at `path` into `shop` (run it with `import_job_run`).

    Every import gets a Job row beside its ImportJob (the web's, the command's and the demo's alike), so that
    the Jobs page lists it; `import_job_run` keeps that row in step."""
    if kind not in KINDS:
        raise UserError(f"Unknown kind '{kind}': choose one of {', '.join(KINDS)}.", field="kind")
    path = os.fspath(path)
    name = source_name or os.path.basename(path)
    user = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        job = job_create(shop=shop, kind=Job.Kind.IMPORT, user=user, message=f"importing {name}",
                         params={"kind": kind, "file": name, "dry_run": dry_run})
        return ImportJob.objects.create(
            shop=shop, job=job, kind=kind, source_name=name, file_path=path,
            column_map=dict(column_map or {}), create_missing=create_missing, dry_run=dry_run, created_by=user,
            bytes_total=os.path.getsize(path) if os.path.isfile(path) else 0,
        )


class _RejectReport:
    """The rejected-rows CSV (line, column, value, reason), opened on the first reject only. `column` is the file's
    column as its header writes it (`columns`: field → the file's column, set once the file's header is read):
    a German file's `Bestelldatum`, not the field `placed_at` it was read as, so that the row is found and fixed in
    the file (a user's review); a field the file has no column for keeps its name."""

    def __init__(self, job: ImportJob):
        self.path = Path(settings.IMPORT_DIR) / f"import-{job.pk}-rejected.csv"
        self._file = None
        self._writer = None
        self.columns: dict[str, str] = {}
        self.reasons: collections.Counter[str] = collections.Counter()
        self.blanked: collections.Counter[str] = collections.Counter()  # "column: reason" of values left empty

    def add(self, rejects: list[Reject], blanked: list[Reject] = ()) -> None:
        """Rejected rows, and values left empty in kept rows (listed in the same report, by line)."""
        if not rejects and not blanked:
            return
        # Counted as kinds of reason: "unknown order 2476073" names its value, and 52 unknown orders are one reason.
        self.reasons.update(_reason_kind(r.reason) for r in rejects)
        named = self.columns
        self.blanked.update(f"{named.get(r.column, r.column)}: {_reason_kind(r.reason.removeprefix(BLANKED))}"
                            for r in blanked)
        rejects = [*rejects, *blanked]
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self._writer = csv.writer(self._file)
            self._writer.writerow(["line", "column", "value", "reason"])
        # Raw values from the uploaded file: written inert, the file is opened in spreadsheets.
        self._writer.writerows(sorted((r.line, neutralise(named.get(r.column, r.column)), neutralise(r.value),
                                       neutralise(r.reason)) for r in rejects))

    @property
    def written(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def import_job_run(*, import_job_id: int, batch_size: int = DEFAULT_BATCH_SIZE,
                   progress: Callable[[ImportJob], None] | None = None, currency: str | None = None) -> ImportResult:
    """Run an import batch by batch; each batch is its own transaction.

    Orders into a shop without orders first settle its currency (behavior.ingest.currency: `currency`, the
    command's --currency, else the one its file names), for the command, the upload page and the task alike; a
    dry run changes nothing and compares the file's currencies with the one the shop would take.

    A failure leaves earlier batches committed and the job failed with `rows_committed` and `error`;
    running the same file again finishes it (rows already stored count as duplicates).
    Raises `UserError` (ImportFileError / ImportFailed) with a message for people."""
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1.", field="batch_size")
    job = ImportJob.objects.select_related("shop").get(pk=import_job_id)
    large_allocations_returned()  # batches' big arrays go back to the system, not the heap (peak memory)
    write = KIND_WRITERS.get(job.kind) or postgres.batch_write
    if job.kind not in KIND_WRITERS and job.kind not in WRITERS_BUILT_IN:
        raise UserError(f"Imports of {job.kind} need their app installed.", field="kind")
    started = time.monotonic()
    job.status = ImportJob.Status.RUNNING
    job.error = ""
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "error", "heartbeat_at"])
    _job_sync(job)
    report = _RejectReport(job)
    ignored: tuple[str, ...] = ()
    types: collections.Counter[str] = collections.Counter()
    currencies: collections.Counter[str] = collections.Counter()
    stubs = 0
    guests = 0
    rejected_stored = 0
    held_before = 0  # orders: the shop held orders when the import began, none above this pk (_orders_held_before)
    rounded: collections.Counter[str] = collections.Counter()  # by field
    rounded_examples: dict[str, tuple[str, str]] = {}  # by field: the first as written and stored
    comma_columns: frozenset[str] = frozenset()
    customer_ids: set[str] = set()  # the file's (CUSTOMER_IDS_CHECKED at most), guest checkouts left out
    zero_guests = 0  # orders: guest rows whose customer id was written 0
    ids = IdCache()
    settled = ShopCurrency(job.shop.currency)
    heads_before: dict[int, Reject] = {}  # the writer's rejects of the batch before, by line (_continuing_rejected)
    try:
        if job.kind == "orders":
            held_before = _orders_held_before(shop_id=job.shop_id)
            settled = import_shop_currency(shop=job.shop, kind=job.kind, path=job.file_path,
                                           column_map=job.column_map, currency=currency, save=not job.dry_run)
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(source_open(job.file_path))
            job.bytes_total = source.bytes_total
            plan = plan_build(kind=job.kind, header=source.header_written, column_map=job.column_map)
            ignored = plan.ignored
            report.columns = _columns_written(plan, source.header_written)
            date_order = slash_date_order(source.path, plan)
            if source.delimiter != ",":
                comma_columns = decimal_comma_columns(source.path, plan)
            batches = stack.enter_context(_Prefetched(batches_parse(source, plan, batch_size=batch_size,
                                                                    lenient=True, date_order=date_order,
                                                                    comma_columns=comma_columns)))
            for batch in batches:
                # counted before the write, which takes the rows of erased customers out of the batch (as rejects):
                # counted after, a file of 2 rows, one an erased customer's, read as 1 row, "all rejected", failed
                size = batch.size
                try:
                    with transaction.atomic():
                        result = write(shop_id=job.shop_id, plan=plan, batch=batch,
                                       create_missing=job.create_missing, ids=ids)
                        # the rows continuing an order whose first row the writer rejected (this batch's or, for
                        # an order cut by the batch's start, the batch before's): rejected with it
                        heads = {**heads_before, **{reject.line: reject for reject in result.rejects}}
                        followers = _continuing_rejected(batch, heads)
                        if held_before and (batch.rejects or result.rejects or followers):
                            # the parser's rejects and the writer's (another customer's order id, an unknown or
                            # erased customer), in one query; before a dry run's batch is rolled back, so that it
                            # counts as the real run does
                            rejected_stored += _orders_stored_among(shop_id=job.shop_id, before=held_before,
                                                                    rejects=batch.rejects + result.rejects + followers)
                        if job.dry_run:
                            transaction.set_rollback(True)
                    if job.dry_run:
                        ids.rollback()
                    else:
                        ids.commit()
                except Exception as exc:
                    ids.rollback()
                    raise ImportFailed(
                        f"The batch of lines {batch.first_line}–{batch.last_line} could not be written "
                        f"({type(exc).__name__}: {exc}). {job.rows_committed} rows before it are stored; "
                        "import the same file again to finish (stored rows count as duplicates).") from exc
                heads_before = {reject.line: reject for reject in result.rejects}
                report.add(batch.rejects + result.rejects + followers, batch.blanked)
                if job.kind == "events" and batch.good:
                    types.update(_types_counted(batch))
                if job.kind == "orders" and batch.good and "currency" in plan.present:
                    at = 1 + plan.spec.names.index("currency")  # a row is its line, then the kind's fields
                    currencies.update(row[at] for row in batch.rows if row[at] and row[at] != settled.currency)
                stubs += result.stubs
                guests += result.guests
                zero_guests += batch.guest_zeros
                if batch.good and "customer_id" in plan.present and len(customer_ids) < CUSTOMER_IDS_CHECKED:
                    customer_ids.update(_customer_ids_of(batch, plan))
                if batch.rounded:
                    # the rows the writer kept (or a dry run's would keep): not those it rejected afterwards
                    refused = {reject.line for reject in result.rejects}
                    for line, name, written, stored in batch.rounded:
                        if line not in refused:
                            rounded[name] += 1
                            rounded_examples.setdefault(name, (written, stored))
                job.rows_read += size
                job.rows_committed += size
                job.inserted += result.inserted
                job.updated += result.updated
                job.duplicates += result.duplicates + batch.continued - len(followers)
                job.rejected += len(batch.rejects) + len(result.rejects) + len(followers)
                job.blanked += len(batch.blanked)
                job.stub_customers += result.stub_customers
                job.stub_products += result.stub_products
                for what, created in result.stub_ids.items():
                    job.stub_ids[what] = stub_ids_merged(job.stub_ids.get(what, []), created)
                job.bytes_read = batch.bytes_read if batch.bytes_read is not None else source.bytes_read
                job.seconds = time.monotonic() - started
                job.heartbeat_at = timezone.now()
                job.save(update_fields=["rows_read", "rows_committed", "inserted", "updated", "duplicates",
                                        "rejected", "blanked", "stub_customers", "stub_products", "stub_ids",
                                        "bytes_read", "bytes_total", "seconds", "heartbeat_at"])
                _job_sync(job)
                if progress is not None:
                    progress(job)
    except UserError as exc:
        _job_finish(job, report, started, error=exc.message)
        raise
    except Exception as exc:
        _job_finish(job, report, started, error=f"{type(exc).__name__}: {exc}")
        raise
    if job.kind == "order_lines" and not job.dry_run and "unit_price" in plan.present:
        postgres.order_totals_from_lines(shop_id=job.shop_id)
    _job_finish(job, report, started, error=_all_rejected(job, report))
    alike_ids = customer_ids_alike(shop_id=job.shop_id, ids=customer_ids, zero_guests=zero_guests)
    result = ImportResult(
        import_job_id=job.pk, kind=job.kind, status=job.status, rows=job.rows_read, inserted=job.inserted,
        updated=job.updated, duplicates=job.duplicates, rejected=job.rejected, stubs=stubs,
        seconds=round(job.seconds or 0.0, 3), report=job.report_path or None, ignored_columns=ignored,
        dry_run=job.dry_run, error=job.error, blanked=job.blanked,
        blanked_reason=report.blanked.most_common(1)[0][0] if report.blanked else "",
        rejected_reason=report.reasons.most_common(1)[0][0] if report.reasons else "", date_order=date_order,
        unknown_types={name: count for name, count in sorted(types.items()) if name not in Event.Type.values},
        other_currencies=dict(sorted(currencies.items())), guest_rows=guests, rejected_stored_orders=rejected_stored,
        shop_currency=settled.currency,
        decimal_comma_columns=tuple(source.header_written[index] for column, index in
                                    zip(plan.spec.columns, plan.indexes, strict=True) if column.name in comma_columns),
        rounded_amounts={source.header_written[index]: rounded[column.name] for column, index in
                         zip(plan.spec.columns, plan.indexes, strict=True) if rounded[column.name]},
        rounded_examples={source.header_written[index]: rounded_examples[column.name] for column, index in
                          zip(plan.spec.columns, plan.indexes, strict=True) if column.name in rounded_examples},
        **alike_ids)
    job.notes = result.reading_notes() + result.customer_id_notes()
    if job.notes:
        job.save(update_fields=["notes"])
    return result


def _customer_ids_of(batch: Batch, plan: Plan) -> set[str]:
    """The distinct customer ids of a parsed batch's rows (not the guest customer of guest checkouts)."""
    if batch.columns is not None:
        found = set(batch.columns["customer_id"].tolist())
    else:
        at = 1 + plan.spec.names.index("customer_id")  # a row is its line, then the kind's fields
        found = {row[at] for row in batch.rows}
    found.discard(None)
    found.discard(GUEST_CUSTOMER_ID)
    return found


def customer_ids_alike(*, shop_id: int, ids: set[str], zero_guests: int = 0) -> dict:
    """ImportResult's customer_ids_leading_zeros, customer_ids_differing_only_in_case and
    customer_ids_look_like_emails of a file's distinct customer ids `ids`: the groups of them equal but for leading
    zeros or case, with the customers the shop holds that the file does not name but that are equal to one of its
    ids so (one statement: the shop's customers once, the file's ids as an array). `zero_guests`: orders whose
    customer id was written 0, guest checkouts: counted with an id of zeros of the file (0000) if there is one."""
    stored: dict[str, set[str]] = {name: set() for name in KEYS}
    if ids:
        # Joins on each key (hash joins: one pass over the shop's customers and the file's ids, whatever their
        # number). Written as `key(c) IN (SELECT key(id) FROM f)` tests ORed, it ran as a SubPlan per customer once
        # the file's ids outgrew work_mem: 100,000 ids 1.6 s, 200,000 not done after five minutes (a reviewer).
        joins = " UNION ALL ".join(
            f"SELECT '{name}', o.external_id FROM others o JOIN (SELECT DISTINCT {key.format('id')} AS k FROM f) z "
            f"ON {key.format('o.external_id')} = z.k" for name, key in KEYS_SQL.items())
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH f AS MATERIALIZED (SELECT DISTINCT unnest(%(ids)s::text[]) AS id), "
                f"others AS MATERIALIZED (SELECT c.external_id FROM {Customer._meta.db_table} c "
                f"LEFT JOIN f ON f.id = c.external_id WHERE c.shop_id = %(shop)s AND c.external_id <> %(guest)s "
                f"AND f.id IS NULL) {joins}",
                {"ids": sorted(ids), "shop": shop_id, "guest": GUEST_CUSTOMER_ID})
            for name, external_id in cursor.fetchall():
                stored[name].add(external_id)
    figures = {}
    for name, key in KEYS.items():
        # each stored id is equal to one of the file's so: in a group
        figures[name] = alike(ids | stored[name], key) | {"stored_ids": len(stored[name])}
    # An id of zeros (0000) beside orders written 0, which are guest checkouts (README "Guest checkouts"): said
    # apart, as no customer is split (the guest customer is none), with the id of zeros.
    zeros = sorted(value for value in ids | stored["leading_zeros"] if len(value) > 1 and not value.strip("0"))
    figures["leading_zeros"] |= {"zero_guest_rows": zero_guests if zeros else 0,
                                 "zero_id": zeros[0] if zeros and zero_guests else None}
    return {"customer_ids_leading_zeros": figures["leading_zeros"],
            "customer_ids_differing_only_in_case": figures["case"],
            "customer_ids_look_like_emails": sum(looks_like_email(value) for value in ids)}


def _columns_written(plan: Plan, header_written: tuple[str, ...]) -> dict[str, str]:
    """Each field the file has a column for → that column as the file's header writes it (a name in parts:
    "First Name + Last Name")."""
    columns = {}
    for column, index in zip(plan.spec.columns, plan.indexes, strict=True):
        if index is None:
            continue
        if index < len(header_written):
            columns[column.name] = header_written[index]
        elif plan.name_parts:
            columns[column.name] = " + ".join(header_written[i] for i in plan.name_parts)
    return columns


def _orders_held_before(*, shop_id: int) -> int:
    """0 when the shop holds no order, else the greatest order pk of any shop (the primary key's end: a shop's own
    max walks back past every other shop's newer orders): every order the shop held before an import is at or
    below it, none the import stores is."""
    if not Order.objects.filter(shop_id=shop_id).exists():
        return 0
    return Order.objects.aggregate(last=Max("pk"))["last"] or 0


def _orders_stored_among(*, shop_id: int, before: int, rejects: list[Reject]) -> int:
    """How many of a batch's rejected order rows name an order the shop held before this import (pk at most
    `before`, `_orders_held_before`; one query): a re-import whose rows are rejected leaves those orders as they
    were, and says so (an analyst read the stored copies as the file's). Not an order this import stored itself:
    two rows of one order id under two customers in a file for a shop that held neither counted 1 in the real run
    and 0 in the dry run. Counted after the batch is written and, in a dry run, before it is rolled back: an order
    held before whose id the batch gives it (a derived id replaced by the file's, `postgres._orders_matched`)
    counts in both."""
    written = [reject.order_id for reject in rejects if reject.order_id]
    if not written or not before:
        return 0
    stored = set(Order.objects.filter(shop_id=shop_id, external_id__in=set(written), pk__lte=before)
                 .values_list("external_id", flat=True))
    return sum(order_id in stored for order_id in written)


def _continuing_rejected(batch: Batch, heads: dict[int, Reject]) -> list[Reject]:
    """The rows of `batch` that continue an order (`Batch.continued_lines`: counted as duplicates by the parser)
    whose first row the writer rejected (`heads`, by line: another customer's order id, an unknown customer under
    --no-create): rejected with it, for the same reason, as the parser rejects those of a row it refused (an order
    of three rows whose first was rejected counted 1 rejected, 2 duplicates: the import said "1 of 6 rows were
    rejected" of an order lost whole)."""
    if not heads or not batch.continued_lines:
        return []
    return [Reject(line, heads[head].column, "", ORDER_ROW_REJECTED + heads[head].reason, heads[head].order_id)
            for head, line in batch.continued_lines if head in heads]


def _types_counted(batch: Batch) -> dict[str, int]:
    """Events of each type in a parsed batch (the rejected ones left out)."""
    kinds = batch.columns["type"] if batch.columns is not None else [row[3] for row in batch.rows]
    return pd.Series(kinds, dtype=object).value_counts().to_dict()


def import_jobs_stale_fail(*, shop_id: int | None = None, stale_seconds: float | None = None) -> int:
    """Mark failed the running imports whose process is gone: no heartbeat for `stale_seconds`
    (IMPORT_HEARTBEAT_STALE_SECONDS, 10 minutes by default; each batch beats). Their error says how far they
    got ("stopped at 46 %; re-run the file to finish": stored rows count as duplicates the second time).
    Returns how many were marked. Called by the import pages and the nightly task."""
    stale_seconds = stale_seconds if stale_seconds is not None else settings.IMPORT_HEARTBEAT_STALE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    running = ImportJob.objects.filter(status=ImportJob.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    if shop_id is not None:
        running = running.filter(shop_id=shop_id)
    marked = 0
    for job in running.only("pk", "bytes_read", "bytes_total", "rows_committed"):
        percent = int(100 * job.bytes_read / job.bytes_total) if job.bytes_total else 0
        error = (f"The import stopped at {percent} % ({job.rows_committed:,} rows stored): its process is gone. "
                 "Re-run the file to finish (rows already stored count as duplicates).")
        # Conditional: a process that is alive after all and beats meanwhile keeps its job.
        failed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)).update(
            status=ImportJob.Status.FAILED, error=error, finished_at=timezone.now())
        if failed:  # the Jobs page must not show it running for ever either
            Job.objects.filter(import_job__pk=job.pk).update(status=Job.Status.FAILED, error=error,
                                                              finished_at=timezone.now())
        marked += failed
    return marked


def import_files_expire(*, before: float, dry_run: bool = False) -> Removed:
    """Remove uploads and rejected-rows reports under IMPORT_DIR last changed before `before` (Unix time).

    The files of imports still pending or running stay. Files named on the command line
    (`import_data --file`) live outside IMPORT_DIR and are never touched. The ImportJob rows stay: the
    import page then shows its counts without the report."""
    active = ImportJob.objects.filter(status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
    keep = [path for pair in active.values_list("file_path", "report_path") for path in pair]
    removed = old_files_remove(settings.IMPORT_DIR, before=before, keep=keep, dry_run=dry_run)
    if not dry_run:
        # Uploads still waiting for their mapping expire with their file.
        PendingUpload.objects.filter(pk__in=[p.pk for p in PendingUpload.objects.only("pk", "path")
                                             if not os.path.isfile(p.path)]).delete()
    return removed


class _Prefetched:
    """Iterate `batches` one batch ahead in a thread: the next batch is parsed while this one is written.

    The database driver releases the GIL while PostgreSQL works, so parsing and writing overlap
    on two cores. The parser starts a batch only once the writer has taken the previous one, so at most two
    batches are in memory: the one being written and the one being parsed (or waiting). Parsing is faster
    than writing, so the writer never waits but for the first. An error in the parser is raised here, in
    the caller's thread; leaving the loop early stops the parser."""

    _DONE = object()

    def __init__(self, batches: Iterator[Batch]):
        self._batches = batches
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._taken = threading.Semaphore(1)  # released when the writer takes a batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-parser", daemon=True)
        self._thread.start()

    def _wait_taken(self) -> bool:
        while not self._stop.is_set():
            if self._taken.acquire(timeout=0.1):
                return True
        return False

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while self._wait_taken():
                batch = next(self._batches, self._DONE)
                if not self._put(batch) or batch is self._DONE:
                    return
                del batch  # the writer's reference is the only one while the next batch is parsed
        except BaseException as exc:  # handed to the caller's thread
            self._put(exc)

    def __iter__(self):
        while True:
            item = self._queue.get()
            self._taken.release()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            del item  # before waiting for the next one

    def __enter__(self) -> _Prefetched:
        return self

    def __exit__(self, *exc) -> None:
        # Before the file closes: stop the parser (it finishes at most the batch it is on).
        self._stop.set()
        self._thread.join()


def _reason_kind(reason: str) -> str:
    """A reject's reason without the value it names ("unknown order 2476073" -> "unknown order"), and a row's
    rejected with its order's first row as that row's reason (the commonest reason is the cause, in words)."""
    reason = reason.removeprefix(ORDER_ROW_REJECTED)
    for label in ("customer", "product", "order"):
        if reason.startswith(f"unknown {label} "):
            return f"unknown {label}"
    return reason


def _all_rejected(job: ImportJob, report: _RejectReport) -> str:
    """The error of an import that stored nothing because every row it read was rejected ("" otherwise): it
    failed, whatever the batches did, and says why in the words of its commonest reason."""
    if not job.rows_read or job.rejected < job.rows_read or not report.reasons:
        return ""
    reason, count = report.reasons.most_common(1)[0]
    rows = f"{job.rows_read:,} row{'s' if job.rows_read != 1 else ''}"
    common = f"every one: {reason}" if count == job.rejected else f"most often ({count:,}): {reason}"
    which = f"all {rows} were" if job.rows_read != 1 else "its one row was"
    # Lines before their orders (an analyst's basket lines imported first): say which file comes first.
    first = (" Import the orders file first: lines name orders stored before them." if reason == "unknown order"
             and job.kind == "order_lines" else "")
    return (f"Nothing was imported: {which} rejected ({common}).{first} The rejected-rows report lists each "
            "line with its reason; fix the file and import it again.")


def _job_finish(job: ImportJob, report: _RejectReport, started: float, *, error: str = "") -> None:
    report.close()
    job.status = ImportJob.Status.FAILED if error else ImportJob.Status.SUCCEEDED
    job.error = error
    job.report_path = str(report.path) if report.written else ""
    job.seconds = time.monotonic() - started
    job.finished_at = timezone.now()
    if not error:
        job.bytes_read = job.bytes_total
    job.save(update_fields=["status", "error", "report_path", "seconds", "finished_at", "bytes_read", "bytes_total"])
    _job_sync(job)
    if not error and not job.dry_run and (job.inserted or job.updated):
        data_arrived.send(sender=ImportJob, shop_id=job.shop_id, kind=job.kind, source="import")


def _job_sync(job: ImportJob) -> None:
    """Mirror progress onto the generic Job row that pages poll, when the import has one."""
    if not job.job_id:
        return
    status = {ImportJob.Status.PENDING: Job.Status.PENDING, ImportJob.Status.RUNNING: Job.Status.RUNNING,
              ImportJob.Status.SUCCEEDED: Job.Status.SUCCEEDED, ImportJob.Status.FAILED: Job.Status.FAILED}
    Job.objects.filter(pk=job.job_id).update(
        status=status[job.status], progress_done=job.bytes_read, progress_total=job.bytes_total,
        message=f"{job.source_name}: {job.rows_read:,} row{'s' if job.rows_read != 1 else ''} read",
        error=job.error, finished_at=job.finished_at,
        started_at=Coalesce(F("started_at"), Value(timezone.now())))
