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
