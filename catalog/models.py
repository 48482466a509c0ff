"""The shop's catalogue: a category tree and products (whose text feeds content-based recommendations)."""

from django.db import models

from accounts.models import Shop


class Category(models.Model):
    """A node of the category tree. `path` is the full name ("Home > Kitchen"), unique per shop."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=500)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # None: follow the shop's setting; True/False: whether bought products may be recommended again.
    allow_rebuy = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["path"]
        verbose_name_plural = "categories"
        constraints = [models.UniqueConstraint(fields=["shop", "path"], name="category_path_unique_per_shop")]

    def __str__(self) -> str:
        return self.path


class Product(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="products")
    external_id = models.CharField(max_length=100)
    title = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products")
    brand = models.CharField(max_length=200, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    active = models.BooleanField(default=True)
    # The product's page on the shop (optional import column `url`): campaign files link recommendations to it.
    url = models.CharField(max_length=2000, blank=True, default="", db_default="")
    # The picture as the shop gave it: an http(s) address, or a path under the import's --images directory.
    # db_default: the ingest writers' raw INSERTs of stand-ins name no image columns.
    image_url = models.CharField(max_length=2000, blank=True, default="", db_default="")
    image_file = models.CharField(max_length=500, blank=True, default="", db_default="")
    # Created as a minimal stand-in because an order line or event named an unknown product.
    is_stub = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="product_external_id_unique_per_shop"),
            models.CheckConstraint(condition=models.Q(price__gte=0) | models.Q(price__isnull=True),
                                   name="product_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class ProductImage(models.Model):
    """A product's picture as stored: where it came from, its file (under MEDIA_ROOT, named by its SHA-256),
    its thumbnail, perceptual hashes of the border-trimmed picture and its embedding.

    One per product: a new `image_url` / `image_file` replaces it (status back to pending)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        STORED = "stored"
        FAILED = "failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="image")
    source = models.CharField(max_length=2000, help_text="The image_url, or file:<image_file>.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    path = models.CharField(max_length=300, blank=True)
    thumbnail = models.CharField(max_length=300, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    bytes = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    phash = models.BigIntegerField(null=True, blank=True)
    dhash = models.BigIntegerField(null=True, blank=True)
    # float16 bytes of the L2-normalised embedding, and the model that made it (embeddings of two models
    # are never compared).
    embedding = models.BinaryField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["shop", "status"], name="productimage_shop_status")]


class VisualNeighbour(models.Model):
    """Products whose pictures look alike (embedding cosine), overall and within the product's category.

    Derived and rebuilt whole per shop by `index_images` (no recommender build needed)."""

    class Scope(models.TextChoices):
        OVERALL = "overall"
        CATEGORY = "category"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    similar = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()

    kind = "visual"  # read like a recommendations.SimilarProduct row by the similar-products API

    class Meta:
        ordering = ["product", "scope", "rank"]
        constraints = [models.UniqueConstraint(fields=["product", "scope", "rank"], name="visual_rank_unique")]
