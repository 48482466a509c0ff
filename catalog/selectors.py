"""Reads of the catalogue: picture embeddings and hashes in bulk, duplicate groups, visual neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Sum

from ecomsight.errors import UserError

from .ml.images import hamming
from .ml.similar import DuplicateConfig, duplicate_groups
from .models import Category, Product, ProductImage, VisualNeighbour


def image_vectors_frame(*, shop_id: int, model: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Every stored picture embedded by `model`: a frame (product_id, external_id, category, active) and the
    embeddings as an aligned float32 matrix (one query)."""
    rows = list(ProductImage.objects.filter(shop_id=shop_id, status=ProductImage.Status.STORED,
                                            embedding_model=model, embedding__isnull=False)
                .order_by("product_id")
                .values_list("product_id", "product__external_id", "product__category__path", "product__active",
                             "embedding"))
    frame = pd.DataFrame([r[:4] for r in rows], columns=["product_id", "external_id", "category", "active"])
    frame["category"] = frame["category"].fillna("")
    if not rows:
        return frame, np.zeros((0, 0), np.float32)
    vectors = np.vstack([np.frombuffer(bytes(r[4]), dtype=np.float16) for r in rows]).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return frame, vectors


def duplicate_image_groups(*, shop_id: int, config: DuplicateConfig | None = None) -> list[list[str]]:
    """Groups of the shop's products (their own ids) whose pictures are the same picture, largest first.

    All pairs are compared (in blocks), so the answer is kept in the cache under a key that changes with any
    indexing pass (how many pictures, the last indexing time, which products)."""
    stored = ProductImage.objects.filter(shop_id=shop_id, status=ProductImage.Status.STORED, phash__isnull=False,
                                         dhash__isnull=False)
    state = stored.aggregate(n=Count("id"), last=Max("indexed_at"), ids=Sum("product_id"))
    key = (f"duplicate-pictures:v1:{shop_id}:{state['n']}:{state['last'].timestamp() if state['last'] else 0}:"
           f"{state['ids'] or 0}:{settings.IMAGE_DUPLICATE_MAX_DISTANCE}")
    if config is None:
        cached = cache.get(key)
        if cached is not None:
            return cached
    groups = _duplicate_groups_compute(stored, config)
    if config is None:
        cache.set(key, groups, DUPLICATE_CACHE_SECONDS)
    return groups


DUPLICATE_CACHE_SECONDS = 3600


def _duplicate_groups_compute(stored, config: DuplicateConfig | None) -> list[list[str]]:
    rows = list(stored.values_list("product__external_id", "phash", "dhash", "sha256"))
    if len(rows) < 2:
        return []
    ids, phash, dhash, sha = zip(*rows, strict=True)
    config = config or DuplicateConfig(max_phash_distance=settings.IMAGE_DUPLICATE_MAX_DISTANCE,
                                       max_dhash_distance=settings.IMAGE_DUPLICATE_MAX_DISTANCE + 2)
    return duplicate_groups(np.array(ids, dtype=object), np.array(phash, dtype=np.int64),
                            np.array(dhash, dtype=np.int64), np.array(sha, dtype=object), config=config)


DUPLICATE_GROUPS_SHOWN = 50


def same_picture_products(*, shop_id: int, image: ProductImage) -> list[str]:
    """The shop's other products (their ids) whose picture is the same picture as `image` (same bytes, or both
    hashes within the duplicate distances): one pass over the shop's hashes, not the whole grouping."""
    rows = list(ProductImage.objects.filter(shop_id=shop_id, status=ProductImage.Status.STORED, phash__isnull=False)
                .exclude(pk=image.pk).values_list("product__external_id", "phash", "dhash", "sha256"))
    if not rows:
        return []
    ids, phash, dhash, sha = zip(*rows, strict=True)
    limit = settings.IMAGE_DUPLICATE_MAX_DISTANCE
    close = ((hamming(np.array([image.phash]), np.array(phash, dtype=np.int64))[0] <= limit)
             & (hamming(np.array([image.dhash]), np.array(dhash, dtype=np.int64))[0] <= limit + 2))
    same = close | (np.array(sha, dtype=object) == image.sha256)
    return sorted(pid for pid, hit in zip(ids, same, strict=True) if hit)


def duplicate_image_groups_detail(*, shop_id: int) -> list[list[dict]]:
    """`duplicate_image_groups` with each product's title and thumbnail, for the Data quality page."""
    groups = duplicate_image_groups(shop_id=shop_id)
    wanted = {pid for group in groups for pid in group}
    details = {row["external_id"]: row for row in Product.objects.filter(shop_id=shop_id, external_id__in=wanted)
               .values("external_id", "title", "image__thumbnail")}
    return [[details.get(pid, {"external_id": pid}) for pid in group] for group in groups]


def visual_neighbours_frame(*, shop_id: int, scope: str = VisualNeighbour.Scope.OVERALL) -> pd.DataFrame:
    """The shop's visual neighbours of one scope with the products' own ids: product_id, similar_product_id,
    rank, score (one query)."""
    rows = (VisualNeighbour.objects.filter(shop_id=shop_id, scope=scope).order_by("product_id", "rank")
            .values_list("product__external_id", "similar__external_id", "rank", "score"))
    return pd.DataFrame(list(rows), columns=["product_id", "similar_product_id", "rank", "score"])


def visual_neighbour_pairs_frame(*, shop_id: int) -> pd.DataFrame:
    """Internal ids of every overall visual neighbour pair: product_id, similar_id, score (for recommenders)."""
    rows = (VisualNeighbour.objects.filter(shop_id=shop_id, scope=VisualNeighbour.Scope.OVERALL)
            .values_list("product_id", "similar_id", "score"))
    return pd.DataFrame(list(rows), columns=["product_id", "similar_id", "score"]).astype(
        {"product_id": "int64", "similar_id": "int64", "score": "float32"})


def product_thumbnails(*, shop_id: int, product_ids) -> dict[int, str]:
    """product id → thumbnail storage path, for the products that have one (one query)."""
    return dict(ProductImage.objects.filter(shop_id=shop_id, product_id__in=list(product_ids),
                                            status=ProductImage.Status.STORED)
                .exclude(thumbnail="").values_list("product_id", "thumbnail"))


PAGE_NEIGHBOURS = 8


@dataclass(frozen=True)
class ProductPage:
    product: Product
    image: ProductImage | None
    looks_like: list  # VisualNeighbour rows (overall), with .similar
    looks_like_in_category: list
    same_picture: list[str]  # other products (their ids) whose picture is the same picture


def product_page_detail(*, shop_id: int, external_id: str) -> ProductPage | None:
    """What the product page shows (a few queries); None for an unknown product."""
    product = Product.objects.filter(shop_id=shop_id, external_id=external_id).select_related("category").first()
    if product is None:
        return None
    image = ProductImage.objects.filter(product=product).first()
    neighbours = list(VisualNeighbour.objects.filter(product_id=product.pk, rank__lte=PAGE_NEIGHBOURS)
                      .select_related("similar").order_by("scope", "rank"))
    thumbs = product_thumbnails(shop_id=shop_id, product_ids={n.similar_id for n in neighbours})
    for neighbour in neighbours:
        neighbour.has_thumbnail = neighbour.similar_id in thumbs
    same = []
    if image is not None and image.status == ProductImage.Status.STORED and image.phash is not None:
        same = same_picture_products(shop_id=shop_id, image=image)
    return ProductPage(product=product, image=image if image and image.status == ProductImage.Status.STORED else None,
                       looks_like=[n for n in neighbours if n.scope == VisualNeighbour.Scope.OVERALL],
                       looks_like_in_category=[n for n in neighbours if n.scope == VisualNeighbour.Scope.CATEGORY],
                       same_picture=[p for p in same if p != external_id])


def shops_with_picture_changes() -> list[int]:
    """Shops with a product whose image_url / image_file is not yet what its stored picture came from, or that
    has pictures still pending (one query): what the periodic pass indexes."""
    from django.db.models import Exists, F, OuterRef, Q, Value
    from django.db.models.functions import Concat

    wanted = Q(image_url__gt="") | Q(image_file__gt="")
    stored_same = ProductImage.objects.filter(product_id=OuterRef("pk")).filter(
        Q(source=F("product__image_url")) | Q(source=Concat(Value("file:"), F("product__image_file"))))
    changed = (Product.objects.filter(wanted).annotate(known=Exists(stored_same)).filter(known=False)
               .values_list("shop_id", flat=True).distinct())
    pending = (ProductImage.objects.filter(status=ProductImage.Status.PENDING).exclude(source__startswith="file:")
               .values_list("shop_id", flat=True))
    cleared = ProductImage.objects.filter(product__image_url="", product__image_file="").values_list("shop_id",
                                                                                                     flat=True)
    return sorted(set(changed) | set(pending) | set(cleared))


MAX_CATEGORY_REF = 500  # catalog.Category.path's length


def category_find(*, shop_id: int, value: str | int, field: str = "category") -> Category:
    """The shop's category that `value` names, as every filter takes one (the Reviews page, the at-risk and likely
    buyers lists, their API): its path ("Home > Kitchen"; spaces around ">" and case do not matter) or its id
    ("14", what the lists' selects and saved segments hold). `UserError` on `field` for one the shop has not."""
    text = str(value).strip()
    if "\x00" in text or len(text) > MAX_CATEGORY_REF or not text:
        raise UserError(f"Category: give a category's path (“Home > Kitchen”) or its id, of at most "
                        f"{MAX_CATEGORY_REF} characters.", field=field)
    path = " > ".join(part.strip() for part in text.split(">") if part.strip())
    categories = Category.objects.filter(shop_id=shop_id)
    found = categories.filter(path=path).first() or categories.filter(path__iexact=path).order_by("path").first()
    if found is None and text.isascii() and text.isdigit() and len(text) <= 15:
        found = categories.filter(pk=int(text)).first()
    if found is None and text.isascii() and text.isdigit():
        raise UserError(f"No category with id {text[:20]} in this shop's catalogue ({field}): it may have been "
                        "removed; give a category's path (“Home > Kitchen”) or the id of one it has.", field=field)
    if found is None:
        raise UserError(f"Unknown category “{text[:80]}” ({field}): give a category's path as the catalogue "
                        "names it (“Home > Kitchen”) or its id.", field=field)
    return found
