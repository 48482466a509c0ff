"""`import_data KIND FILE`: import a CSV file of customers, products, orders, order lines or events."""

import csv
import itertools
import time

from django.core.management.base import CommandError
from django.db.models import Q

from accounts.management.base import ShopCommand
from behavior.forms import column_guess, column_name_normal, kind_guess
from behavior.ingest.formats import KINDS, SPECS, ImportFileError, source_open
from behavior.ingest.values import event_idempotency_key
from behavior.models import Event, Order, Review
from behavior.services import DEFAULT_BATCH_SIZE, data_import, import_shop_currency
from catalog.services import product_images_enqueue
from ecomsight.errors import UserError


class Command(ShopCommand):
    help = ("Import a UTF-8 CSV file (with a header row). Progress goes to stderr; stdout gets one JSON line: "
            "kind, rows, inserted, updated, duplicates, rejected, seconds, report (the rejected-rows CSV, "
            "null when nothing was rejected), plus import_job_id, status, stubs, ignored_columns, dry_run, "
            "error, shop_currency, guest_rows (orders: rows of guest checkouts, customer id empty, 0 or guest, kept "
            "under the shop's guest customer), rejected_stored_orders (orders: rejected rows of orders the shop "
            "held before this import, which stay as stored; the same in a dry run), rounded_amounts (amounts of more "
            "than two decimals that were rounded to the cent, of the rows stored - or a dry run would store - by "
            "the file's column), customer_ids_leading_zeros and customer_ids_differing_only_in_case (the file's "
            "customer ids equal to another of its ids, or a stored customer's, but for leading zeros - 0007 and 7 - "
            "or case: groups, extra_ids, stored_ids, example), customer_ids_look_like_emails (how many of its "
            "customer ids are e-mail addresses, stored and exported as written). The rows continuing an order whose "
            "first row was rejected are rejected with it (not duplicates). Exit status 1 when the import failed, "
            "also when every row it read was rejected (a shop it created that holds nothing is then not kept). A "
            "shop without orders takes the currency --currency names, else the one its orders file's currency "
            "column names.")
    creates_shop = True

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("file")
        parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                            help="read FIELD from the file's COLUMN (repeatable)")
        parser.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
        # Accepted as the other commands accept it: the import's output is one JSON line on stdout already.
        parser.add_argument("--json", action="store_true", help="(always) end with one JSON line on stdout")
        parser.add_argument("--no-create", action="store_true",
                            help="reject rows naming unknown customers/products instead of creating stand-ins "
                                 "(guest checkouts are still kept, under the shop's guest customer)")
        parser.add_argument("--images", metavar="DIR",
                            help="products: the directory the image_file column's paths are relative to")
        parser.add_argument("--currency", metavar="CODE",
                            help="the shop's currency (USD, GBP…), for a shop this import creates or one without "
                                 "orders yet; refused for a shop holding orders in another (nothing converts "
                                 "them). Without it, an orders file into a shop without orders gives the shop the "
                                 "one currency its currency column names")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                            help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})")

    def handle_shop(self, target_shop, *args, **options):
        failed = True
        try:
            self._import(target_shop, **options)
            failed = False
        finally:
            if options["dry_run"] and self.shop_created:  # a dry run writes nothing, not even the shop
                target_shop.delete()
                self.progress(f"dry run: the shop '{target_shop.slug}' was not kept")
            elif failed and self.shop_created and not _holds_data(target_shop):
                # An import refused before it stored anything (a column missing) leaves no empty shop behind.
                target_shop.delete()
                self.progress(f"the shop '{target_shop.slug}' was not kept: the import stored nothing")

    def _import(self, target_shop, **options):
        # The base passes the Shop positionally.
        column_map = {}
        for item in options["map"]:
            field, sep, column = item.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise CommandError(f"--map expects FIELD=COLUMN, got '{item}'.")
            column_map[field.strip()] = column.strip()
        header = _file_header(options["file"])  # read once for the two checks below; the import reads the file
        guessed, hints = _columns_guessed(options["kind"], header, column_map,
                                          read_id=_id_readable(target_shop, options["kind"], options["file"], header))
        for field, column in guessed.items():
            self.progress(f"reading {field} from the column '{column}' (--map {field}=COLUMN to choose another)")
            column_map[field] = column
        for field, column in hints.items():
            self.progress(f"the column '{column}' looks like {field}, which is not read: --map {field}={column} "
                          "reads it")
        other = _kind_reading_more(options["kind"], header, column_map)
        if other:
            self.progress(f"the file looks like {other[0]} rather than {options['kind']}: {other[0]} would read "
                          f"{other[1]} of its columns, {options['kind']} {other[2]}. If so, import it as {other[0]}.")
        product = column_guess("product_id", header.header_written) if header and options["kind"] == "orders" else ""
        if product and product.strip().lower() != "id":
            self.progress(f"the file has a product column ('{product}'): if it holds a row per product bought, "
                          "import it as orders and then as order_lines (README: \"Files shaped like well-known "
                          "datasets\")" + ("" if "order_id" in column_map or "order_id" in header.header else
                                           "; without an order id every row becomes an order of its own"))
        started = time.monotonic()

        def report_progress(job):
            rate = job.rows_read / max(time.monotonic() - started, 1e-6)
            share = f" ({100 * job.bytes_read / job.bytes_total:.0f}%)" if job.bytes_total else ""
            self.progress(f"{job.kind}: {job.rows_read:,} rows{share}, {rate:,.0f} rows/s")

        try:
            # A dry run changes nothing but the shop it creates (deleted after it).
            currency = import_shop_currency(shop=target_shop, kind=options["kind"], path=options["file"],
                                            column_map=column_map, currency=options["currency"],
                                            save=not options["dry_run"] or self.shop_created)
            if currency.source:
                how = ("as --currency says" if currency.source == "option" else
                       "the one currency its orders file names (--currency CODE to choose another)")
                takes = "takes" if currency.currency == target_shop.currency else "would take"  # a dry run's
                self.progress(f"the shop '{target_shop.slug}' {takes} the currency {currency.currency}, {how}")
            result = data_import(shop=target_shop, kind=options["kind"], path=options["file"],
                                 column_map=column_map, create_missing=not options["no_create"],
                                 dry_run=options["dry_run"], batch_size=options["batch_size"],
                                 progress=report_progress,
                                 currency=currency.currency if currency.source else None)
        except UserError as exc:
            # Still one JSON line on stdout for the caller's scripts; the message on stderr, exit status 1.
            self.print_json({"kind": options["kind"], "status": "failed", "error": exc.message})
            raise CommandError(exc.message) from None
        for note in result.reading_notes():  # the day order, the decimal comma, the rounding (the page's too)
            self.progress(note)
        for note in result.customer_id_notes():  # ids split by leading zeros or case, e-mail addresses as ids
            self.progress(note)
        document = result.as_json()
        # A dry run's: the currency the shop would take (its file's rows were compared with it).
        document["shop_currency"] = result.shop_currency or target_shop.currency
        if options["kind"] == "products" and not options["dry_run"]:
            # The pictures are fetched, copied and embedded by a worker (index_images does the same by hand).
            document["images"] = product_images_enqueue(shop=target_shop, images_dir=options["images"])
        elif options["images"]:
            raise CommandError("--images applies to product imports only.")
        self.print_json(document)
        if result.rejected and result.status != "failed":
            self.progress(f"{result.rejected:,} of {result.rows:,} rows were rejected and not imported (most often: "
                          f"{result.rejected_reason}); the report lists each: {result.report}")
        if result.rejected_stored_orders:
            self.progress(f"{result.rejected_stored_orders:,} of the rejected rows are of orders the shop already "
                          "holds: those orders stay as they were stored, not updated from this file (correct the "
                          "rows and import them again to update them)")
        if result.blanked:
            self.progress(f"{result.blanked:,} value(s) could not be read and were left empty, their rows kept (most "
                          f"often: {result.blanked_reason}); the report lists each: {result.report}")
        if result.guest_rows:
            self.progress(f"{result.guest_rows:,} order row(s) name no customer (empty, 0 or guest): kept as guest "
                          "checkouts under the customer 'guest' - in the shop's sales and forecasts, left out of the "
                          "customer models")
        if result.unknown_types:
            named = ", ".join(f"{name} ({count:,})" for name, count in
                              sorted(result.unknown_types.items(), key=lambda item: -item[1])[:5])
            self.progress(f"events of types no model reads (rows of the file): {named}. The models read "
                          f"{', '.join(Event.Type.values)} (and trackers' names for them, such as 'Product Viewed' "
                          "or view_item); rename the others in the file to one of those.")
        if result.other_currencies:
            named = ", ".join(f"{code} ({count:,})" for code, count in result.other_currencies.items())
            self.progress(f"orders in a currency other than the shop's ({document['shop_currency']}): {named}. Their "
                          "totals are added to the shop's figures as they are (revenue, forecasts, customer value): "
                          "convert them in the file first, or import them into a shop of their own.")
        if result.status == "succeeded" and not result.rows:
            # Succeeded all the same: a scheduled export of a day without new rows is a header alone.
            self.progress(f"{options['file']} holds a header and no data rows: nothing was imported.")
        if result.status == "failed":  # every row rejected: the JSON line says how many, the exit status 1
            raise CommandError(result.error)


# The optional id of a kind: read from a column named in words ("Order Number") on the shop's first import of that
# kind, and later only while the rows stored carry ids from files (`_id_readable`): rows stored with ids derived
# from their content would each be stored again under the file's id.
REVIEW_CONTENT = frozenset({"text", "title", "rating"})  # a review needs one of them
# Optional fields read from a column under another name (`updated_at`, `Refunded At`) like a required one: they
# derive no id, and left unread a status history's refunds were counted on the days their orders were placed (an
# outside analyst's refund wave went unseen).
READ_WHEN_GUESSED = {"orders": frozenset({"status_changed_at"})}
# An order's own total and item count, from a column whose name says it is the order's ("Order Total (inc tax)",
# "Grand Total", "Total Quantity": BigCommerce's and Magento's exports), are read like a required field: hinted
# only, an analyst's 3,000 BigCommerce orders were stored without totals. Their ids do not change (an order stored
# without its total is the same order when a re-import brings it, README "Idempotent"). "Amount", "Value" or
# "Quantity" (a line's?) stay hints: a column that only looks like one would reject every order.
READ_WHEN_NAMED = {"orders": {
    "total": frozenset(map(column_name_normal, ("order_total", "order_total_inc_tax", "order_total_incl_tax",
                                                "total_inc_tax", "total_incl_tax", "grand_total", "grand_total_base",
                                                "grand_total_purchased", "gesamtbetrag"))),
    "item_count": frozenset(map(column_name_normal, ("total_quantity", "total_qty", "total_items",
                                                     "total_item_count", "number_of_items", "num_items"))),
}}
OPTIONAL_IDS = {"orders": ("order_id", Order), "events": ("event_id", Event), "reviews": ("review_id", Review)}


def _file_header(path: str):
    """The file's Source (closed) for its header, or None when it cannot be read (the import says why)."""
    try:
        source = source_open(path)
    except ImportFileError:
        return None
    source.close()
    return source


def _kind_reading_more(kind: str, source, column_map: dict[str, str]) -> tuple[str, int, int] | None:
    """(another kind, how many of the file's columns it would read, how many `kind` reads) when another kind reads
    at least two more of them (by name or the usual other names: behavior.forms.kind_guess) than `kind` does with
    its mapping (a products file imported as reviews); else None."""
    if source is None:
        return None
    _, counts = kind_guess(source.header_written)
    ours = max(counts[kind], len(column_map))
    best = max((k for k in counts if k != kind), key=lambda k: counts[k])
    return (best, counts[best], ours) if counts[best] > ours + 1 else None


ID_PROBE_ROWS = 100


def _id_readable(shop, kind: str, path: str, source) -> bool:
    """Whether the kind's optional id may be read from a column under another name ("Invoice"): on the shop's
    first import of the kind, and later while the rows stored carry ids read from files — orders and reviews: an
    id that is not derived from the content (`auto-…`); events (whose stored key does not say): one of the file's
    first ids is stored already. Read on a first import and not on the second, a re-import of the same file
    stored every order again (an outside review: 23,275 orders for 7,086 invoices)."""
    if kind not in OPTIONAL_IDS or source is None:
        return False
    field, model = OPTIONAL_IDS[kind]
    if not model.objects.filter(shop=shop).exists():
        return True
    if kind != "events":
        return model.objects.filter(shop=shop).exclude(external_id__startswith="auto-").exists()
    column = column_guess(field, source.header_written)
    if not column:
        return False
    index = source.header_written.index(column)
    try:
        with source_open(path) as again:
            ids = {record[index].strip() for record in itertools.islice(again.reader, ID_PROBE_ROWS)
                   if index < len(record) and record[index].strip()}
    except (ImportFileError, csv.Error, UnicodeDecodeError):
        return False
    keys = [event_idempotency_key(event_id=v, customer_id="", type="", product_id=None, occurred_at="",
                                  session_id=None, properties=None) for v in ids]
    return bool(keys) and model.objects.filter(shop=shop, idempotency_key__in=keys).exists()


def _holds_data(shop) -> bool:
    """Whether the shop holds anything: customers, products, orders, or an import that stored rows (an import of
    events, reviews or offers counts by its rows inserted or updated). A refused import stored none, nor did one
    whose every row was rejected (its rows were committed as read: by that count the empty shop it created was
    kept)."""
    return (shop.customers.exists() or shop.products.exists() or shop.orders.exists()
            or shop.import_jobs.filter(Q(inserted__gt=0) | Q(updated__gt=0)).exists())


def _columns_guessed(kind: str, source, column_map: dict[str, str], *, read_id: bool = False,
                     ) -> tuple[dict[str, str], dict[str, str]]:
    """Columns under another obvious name ("Customer ID", "Order Date", "Amount": the synonyms the mapping page
    preselects) for fields neither named as ours nor mapped: (fields read from them; fields only named in a hint).
    Read: required fields (the import would fail without), an order's status_changed_at (READ_WHEN_GUESSED), its
    total and item count under a name that says so (READ_WHEN_NAMED),
    and the kind's optional id where `read_id`
    (`_id_readable`; order lines name orders by it), and a review's text, title and rating when the file has none
    of them under our names or mapped (else every row is rejected as empty: Olist's review_score and
    review_comment_message). Other optional fields are only hinted: a file imported
    before without them would change its orders' derived ids (and add every order again) on a second import,
    and a column that only looks like a field ("Items" holding product names) would reject rows. Never a bare
    "id" (which id?) nor a column already read for another field. `source`: _file_header's (None: an unreadable
    file, left to the import)."""
    if source is None:
        return {}, {}
    mapped = {f.strip().lower() for f in column_map}
    used = {c.strip().lower() for c in column_map.values()} | {h for h in source.header if h in SPECS[kind].names}
    guessed, hints = {}, {}
    no_content = kind == "reviews" and not (REVIEW_CONTENT & (mapped | set(source.header)))
    for spec in SPECS[kind].columns:
        if spec.name in mapped or spec.name in source.header:
            continue
        column = column_guess(spec.name, source.header_written)
        if column and column.strip().lower() != "id" and column.strip().lower() not in used:
            read = (spec.required or (read_id and spec.name == OPTIONAL_IDS[kind][0])
                    or spec.name in READ_WHEN_GUESSED.get(kind, ())
                    or column_name_normal(column) in READ_WHEN_NAMED.get(kind, {}).get(spec.name, ())
                    or (no_content and spec.name in REVIEW_CONTENT))
            (guessed if read else hints)[spec.name] = column
            used.add(column.strip().lower())
    return guessed, hints
