"""Customers, orders, order lines, behaviour events and the import jobs that bring them in."""

from django.db import models
from django.db.models.functions import Upper

from accounts.models import Job, Shop
from catalog.models import Product
from ecomsight.crypto import EncryptedTextField, email_index

# Guest checkouts: an orders file's customer id left empty or written `0` (WooCommerce) or `guest` (in any case) is
# nobody's. Their orders are stored under the shop's one guest customer (its id: GUEST_CUSTOMER_ID) and count in the
# shop's sales, forecasts and alerts; the customer models leave that customer out (predictions.selectors.frames),
# whose churn, value and lists would describe nobody.
GUEST_CUSTOMER_ID = "guest"
GUEST_CUSTOMER_IDS_WRITTEN = frozenset({"", "0", "guest"})


class Customer(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=100)
    # Personal data: shown only to the shop's admins; stored encrypted (ecomsight.crypto: Fernet tokens under
    # PERSONAL_DATA_KEYS, random IVs), read back decrypted. Lookups by email go through email_index.
    email = EncryptedTextField(blank=True)
    name = EncryptedTextField(blank=True)
    # The email's blind index (ecomsight.crypto.email_index: HMAC-SHA256 of the normalised address under
    # PERSONAL_DATA_INDEX_KEY; "" without an email). Written with the email by save() and by the import.
    email_index = models.CharField(max_length=64, blank=True, default="", db_default="", editable=False)
    country = models.CharField(max_length=64, blank=True)
    signup_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Whether the customer agreed to marketing: True, False (refused: left out of exports and segment
    # members), None (unknown, the default: imports without the column, stand-ins).
    marketing_consent = models.BooleanField(null=True, blank=True)
    # Created as a minimal stand-in because an order or event named an unknown customer.
    is_stub = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="customer_external_id_unique_per_shop"),
        ]
        indexes = [
            models.Index(fields=["shop", "country"], name="customer_shop_country"),
            # The at-risk list's country filter matches case-insensitively (UPPER); the index also gives
            # the planner statistics on it, so it hashes the country's customers instead of probing them.
            models.Index("shop", Upper("country"), name="customer_shop_country_upper"),
            models.Index(fields=["shop", "email_index"], name="customer_shop_email_index"),
        ]

    def __str__(self) -> str:
        return self.external_id

    def save(self, *args, **kwargs):
        # The index follows the email wherever the ORM writes it (the import's COPY path computes it itself).
        self.email_index = email_index(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_index"}
        super().save(*args, **kwargs)


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed"
        CANCELLED = "cancelled"
        REFUNDED = "refunded"

    # No single-column indexes: order_shop_time and order_customer_time lead with these columns.
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="orders", db_index=False)
    external_id = models.CharField(max_length=100)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders", db_index=False)
    placed_at = models.DateTimeField()
    total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    # Shops that export only order totals still tell how many items an order had.
    item_count = models.PositiveIntegerField(null=True, blank=True)
    # The offer (or coupon code) the order redeemed, when the shop's export says so (the offers app reads it).
    offer_code = models.CharField(max_length=100, blank=True, default="")
    # When the status last changed (a refund's or a cancellation's moment), as the file or API gives it, or the
    # import's time when an import changes a stored order's status without one; empty: the order's own time. The
    # refund and cancellation monitors count on its day (forecasts.ml.anomalies).
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="order_external_id_unique_per_shop"),
        ]
        indexes = [
            # Covering: a customer range's orders (a scoring chunk, a recommendation partition) are read from the
            # index alone, whose entries lie in customer order, instead of from every page of the time-ordered
            # table (migration 0016).
            models.Index(fields=["customer", "placed_at"], name="order_customer_time",
                         include=["id", "shop", "total", "item_count", "status"]),
            models.Index(fields=["shop", "placed_at"], name="order_shop_time"),
        ]

    def __str__(self) -> str:
        return self.external_id


class OrderLine(models.Model):
    """A line of an order. One row per (order, product): a repeated product adds to its quantity."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines")
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_line_product_unique"),
        ]
        indexes = [models.Index(fields=["product"], name="order_line_product")]


class Event(models.Model):
    """A behaviour event. The biggest table: indexed for one customer's events in time order and for
    time-range scans. `idempotency_key` is an MD5 (as a UUID) of the event id, or of the row's
    content when the source has no id, so re-sending an event stores nothing new.

    Partitioned by month of `occurred_at` in the database (migration 0015, behavior.partitions): PostgreSQL
    requires every unique key of a partitioned table to contain the partition key, so the primary key is
    (id, occurred_at) in the database — Django keeps `id` as the pk, and ids stay unique because the one identity
    sequence gives them — and the idempotency key is unique per (shop, idempotency_key, occurred_at): an event
    is the same event when its key *and* its time match (the same event id sent again with another time is
    stored as another event).

    No foreign-key *constraints* on shop, customer and product (`db_constraint=False`): checking them
    cost about a third of an import's time. Integrity comes from the writers instead: the importer
    (behavior.ingest) and the API resolve every customer / product by (shop, external_id) to a row of
    the same shop before inserting, and deletes cascade / set null through Django's collector as they
    did before. No single-column indexes on shop and customer either: event_idempotency_unique_per_shop and
    event_customer_time lead with those columns. Each index costs every insert, so there are three:
    the primary key, the idempotency key, (customer, time) — and a BRIN index on time (each partition has its
    own copy of all four).

    (customer, time) is a covering index (INCLUDE shop, type, product: migration 0016). Rows lie in the table in
    the order they arrived, so the events of a range of customers (a scoring chunk, a recommendation partition)
    are spread over nearly every page of every month: reading them from the table cost every chunk a read of the
    whole table, and a shop's scoring grew with the square of its size. From the index alone (an index-only scan,
    once autovacuum has marked the pages all-visible) a chunk reads only its customers' entries, which lie together."""

    class Type(models.TextChoices):
        VIEW = "view"
        ADD_TO_CART = "add_to_cart"
        REMOVE_FROM_CART = "remove_from_cart"
        WISHLIST = "wishlist"
        SEARCH = "search"
        REVIEW = "review"
        LOGIN = "login"

    id = models.BigAutoField(primary_key=True)
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events", db_index=False,
                                 db_constraint=False)
    # Free text: shops send types beyond the known ones (Type lists those the models read).
    type = models.CharField(max_length=32)
    # No index either: products are deactivated, not deleted; the rare delete may scan.
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                db_index=False, db_constraint=False)
    occurred_at = models.DateTimeField()
    session_id = models.CharField(max_length=100, blank=True)
    properties = models.JSONField(null=True, blank=True)
    idempotency_key = models.UUIDField()

    class Meta:
        constraints = [
            # occurred_at: the partition key (see above).
            models.UniqueConstraint(fields=["shop", "idempotency_key", "occurred_at"],
                                    name="event_idempotency_unique_per_shop"),
        ]
        # Time-range scans use a BRIN index on occurred_at, created by migration 0004 on PostgreSQL
        # (events arrive roughly in time order; a BRIN index costs next to nothing to maintain).
        indexes = [
            # Covering (migration 0016): see the class docstring.
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time",
                         include=["shop", "type", "product"]),
        ]


class Review(models.Model):
    """A customer's review of a product (stars and/or text), and what the reviews app learned from it.

    Customer and product are optional: many shops export reviews without them. The analysis columns
    (sentiment, probabilities, aspects) are written in bulk by `reviews.services.reviews_analyze`; a
    review imported or changed since keeps its previous values (none for a new one) until the next analysis."""

    class Sentiment(models.TextChoices):
        POSITIVE = "positive"
        NEUTRAL = "neutral"
        NEGATIVE = "negative"

    id = models.BigAutoField(primary_key=True)
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=200)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices, blank=True)
    positive_probability = models.FloatField(null=True, blank=True)
    negative_probability = models.FloatField(null=True, blank=True)
    aspects = models.JSONField(default=list, blank=True)
    # Each aspect's own sentiment where the review speaks of it in some clauses only ("Fits perfectly, but box
    # arrived crushed": {"size_fit": "positive", "packaging": "negative"}); an aspect absent takes `sentiment`.
    aspect_sentiments = models.JSONField(default=dict, db_default={}, blank=True)  # db_default: raw INSERTs
    analyzed_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="review_external_id_unique_per_shop"),
            models.CheckConstraint(condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                                   name="review_rating_1_to_5"),
        ]
        indexes = [
            models.Index(fields=["shop", "created_at"], name="review_shop_time"),
            models.Index(fields=["product", "created_at"], name="review_product_time"),
            models.Index(fields=["customer", "created_at"], name="review_customer_time"),
            models.Index(fields=["shop", "sentiment"], name="review_shop_sentiment"),
            # Reviews imported or changed since their analysis (reviews.services.reviews_score_new takes them).
            models.Index(fields=["shop", "id"], condition=models.Q(analyzed_at__isnull=True), name="review_unscored"),
        ]

    def __str__(self) -> str:
        return self.external_id


class ImportJob(models.Model):
    """Every import: what, from where, how far it got, and the report of rejected rows."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers"
        PRODUCTS = "products"
        ORDERS = "orders"
        ORDER_LINES = "order_lines"
        EVENTS = "events"
        OFFERS = "offers"
        OFFER_ASSIGNMENTS = "offer_assignments"
        REVIEWS = "reviews"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="import_jobs")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_job")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    source_name = models.CharField(max_length=500)
    file_path = models.CharField(max_length=1000, blank=True)
    column_map = models.JSONField(default=dict, blank=True)
    create_missing = models.BooleanField(default=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Counts so far: a failure midway leaves these saying exactly how far the import got.
    rows_read = models.BigIntegerField(default=0)
    rows_committed = models.BigIntegerField(default=0, help_text="Rows of the batches committed so far.")
    inserted = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    # Values of stored rows that could not be read and were left empty (customers, products, reviews).
    blanked = models.BigIntegerField(default=0)
    # Stand-ins created for ids the file named and the shop did not have (per batch: an upper bound on a dry run).
    stub_customers = models.BigIntegerField(default=0)
    stub_products = models.BigIntegerField(default=0)
    # The first few of their ids, sorted ({"customers": ["C00001"], "products": [...]}): the page names them.
    stub_ids = models.JSONField(default=dict, blank=True)
    bytes_total = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    report_path = models.CharField(max_length=1000, blank=True)
    # How the file's values were read where it could have been otherwise (ImportResult.reading_notes): the day
    # order, the decimal comma, amounts rounded to the cent. Shown on the import's page.
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the process running the import at its start and after every batch: a running import whose
    # heartbeat is too old lost its process (SIGKILL, a crashed worker) and is marked failed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} import #{self.pk} ({self.status})"


class PendingUpload(models.Model):
    """An uploaded file waiting for its column mapping (step 2 of the import pages).

    Kept for its user and shop, not in the session: a new login of the same user finds it again (the link
    still works and the Imports page lists it). The file stays under IMPORT_DIR until the import starts (the
    ImportJob then owns it and this row goes) or until FILE_RETENTION_DAYS remove it with this row."""

    token = models.CharField(max_length=32, unique=True)
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    name = models.CharField(max_length=300, help_text="The file's name as uploaded: only ever shown.")
    path = models.CharField(max_length=1000)
    size = models.BigIntegerField(default=0)
    # The header as written in the file, and the first few non-empty values of each column (the preview).
    header = models.JSONField(default=list)
    samples = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["shop", "user", "-created_at"])]

    def __str__(self) -> str:
        return f"pending upload {self.name} ({self.kind})"
