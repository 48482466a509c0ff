"""Writes of the catalogue: product pictures (sync with the product columns, fetch or copy, store, hash,
embed) and their visual neighbours.

The bridge: products' `image_url` / `image_file` → `ProductImage` rows (pending) → `product_images_index`
(fetch in threads, decode, trim, hash, thumbnail, store under MEDIA_ROOT by SHA-256, embed in batches) →
`VisualNeighbour` rebuilt whole from every stored embedding of the current model (`catalog.ml`)."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import Shop
from ecomsight.db import bulk_insert_frame
from ecomsight.errors import UserError

from .fetch import FetchError, FetchPolicy, image_fetch
from .ml.embed import Embedder, EmbedderConfig, embedder_load
from .ml.images import ImageDecodeError, ImageLimits, border_trim, image_decode, image_hashes, thumbnail_bytes
from .ml.similar import NeighbourConfig, visual_neighbours_frame
from .models import Product, ProductImage, VisualNeighbour
from .selectors import image_vectors_frame

logger = logging.getLogger("ecomsight.catalog")

FILE_PREFIX = "file:"
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}
_FORMAT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                 "BMP": "image/bmp", "TIFF": "image/tiff"}


def fetch_policy() -> FetchPolicy:
    """The fetch limits from settings (IMAGE_FETCH_*)."""
    return FetchPolicy(connect_timeout=settings.IMAGE_FETCH_CONNECT_TIMEOUT,
                       read_timeout=settings.IMAGE_FETCH_READ_TIMEOUT, max_bytes=settings.IMAGE_MAX_BYTES,
                       attempts=settings.IMAGE_FETCH_ATTEMPTS, allow_private=settings.IMAGE_FETCH_ALLOW_PRIVATE)


def embedder_config() -> EmbedderConfig:
    """The embedding model from settings (IMAGE_EMBEDDING_*)."""
    return EmbedderConfig(model=settings.IMAGE_EMBEDDING_MODEL, device=settings.IMAGE_EMBEDDING_DEVICE,
                          batch_size=settings.IMAGE_EMBEDDING_BATCH_SIZE, threads=settings.IMAGE_EMBEDDING_THREADS)


_EMBEDDERS: dict[EmbedderConfig, Embedder] = {}


def embedder_get(config: EmbedderConfig) -> Embedder:
    """One loaded model per configuration and process (a worker embeds many batches)."""
    if config not in _EMBEDDERS:
        _EMBEDDERS[config] = embedder_load(config)
    return _EMBEDDERS[config]


# --- the product columns → ProductImage rows -----------------------------------------------------------

@dataclass(frozen=True)
class ImageSync:
    """What `product_images_sync` changed: pictures new or replaced (pending), removed."""

    pending: int
    removed: int


def _wanted_source(image_url: str, image_file: str) -> str:
    if image_url.strip():
        return image_url.strip()
    if image_file.strip():
        return FILE_PREFIX + image_file.strip()
    return ""


@transaction.atomic
def product_images_sync(*, shop: Shop) -> ImageSync:
    """Make each product's ProductImage follow its `image_url` (preferred) or `image_file`: a new or changed
    source becomes a pending row (its old file, hashes and embedding dropped), a cleared one is deleted."""
    products = Product.objects.filter(shop=shop).values_list("id", "image_url", "image_file")
    current = dict(ProductImage.objects.filter(shop=shop).values_list("product_id", "source"))
    wanted = {pid: _wanted_source(url, file) for pid, url, file in products}
    stale = [pid for pid, source in current.items() if not wanted.get(pid)]
    changed = {pid: source for pid, source in wanted.items() if source and current.get(pid) != source}
    ProductImage.objects.filter(shop=shop, product_id__in=stale).delete()
    ProductImage.objects.filter(shop=shop, product_id__in=[p for p in changed if p in current]).delete()
    ProductImage.objects.bulk_create([ProductImage(shop=shop, product_id=pid, source=source)
                                      for pid, source in changed.items()], batch_size=1000)
    return ImageSync(pending=len(changed), removed=len(stale))


# --- reading the bytes ----------------------------------------------------------------------------------

def image_file_read(*, images_dir: str | os.PathLike, name: str, max_bytes: int) -> bytes:
    """The bytes of `name` under `images_dir`; refuses paths that leave the directory (`..`, absolute paths,
    symbolic links pointing out) and files over `max_bytes`. Raises FetchError with the reason."""
    root = Path(images_dir).resolve()
    candidate = Path(name)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise FetchError(f"refused: {name} is not a path inside the images directory")
    target = (root / candidate).resolve()
    if root not in target.parents:
        raise FetchError(f"refused: {name} leads outside the images directory")
    if not target.is_file():
        raise FetchError(f"no such file in the images directory: {name}")
    size = target.stat().st_size
    if size > max_bytes:
        raise FetchError(f"too large: {size:,} bytes (limit {max_bytes:,})")
    return target.read_bytes()


@dataclass
class _Work:
    row: ProductImage
    data: bytes | None = None
    error: str = ""
    fresh: bool = True  # bytes newly fetched / copied (else re-read from storage to re-embed)


def _load_bytes(work: _Work, *, images_dir, policy: FetchPolicy) -> _Work:
    source = work.row.source
    try:
        if not work.fresh:
            with default_storage.open(work.row.path, "rb") as handle:
                work.data = handle.read()
        elif source.startswith(FILE_PREFIX):
            if images_dir is None:
                raise FetchError("image_file given but no images directory (import_data --images DIR)")
            work.data = image_file_read(images_dir=images_dir, name=source[len(FILE_PREFIX):],
                                        max_bytes=policy.max_bytes)
        else:
            work.data = image_fetch(source, policy=policy).data
    except FetchError as exc:
        work.error = str(exc)
    except OSError as exc:
        work.error = f"cannot read the stored file ({exc})"
    return work


def _store(row: ProductImage, data: bytes, fmt: str, image) -> None:
    digest = hashlib.sha256(data).hexdigest()
    path = f"products/{digest[:2]}/{digest}.{_EXTENSIONS.get(fmt, 'img')}"
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(data))
    thumb = f"products/thumbs/{digest[:2]}/{digest}.jpg"
    if not default_storage.exists(thumb):
        default_storage.save(thumb, ContentFile(thumbnail_bytes(image)))
    row.sha256, row.path, row.thumbnail = digest, path, thumb
    row.content_type, row.bytes = _FORMAT_TYPES.get(fmt, ""), len(data)
    row.width, row.height = image.width, image.height
    row.fetched_at = timezone.now()


# --- the whole pass ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexOutcome:
    """What `product_images_index` did; `failures`: product id, source and reason of each failed picture."""

    products_with_images: int
    fetched: int
    copied: int
    embedded: int
    hashed: int
    failed: int
    failures: list[dict]
    stored: int
    neighbours: int
    model: str
    device: str
    seconds: float
    images_per_second: float
    timings: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"products_with_images": self.products_with_images, "fetched": self.fetched, "copied": self.copied,
                "hashed": self.hashed, "embedded": self.embedded, "stored": self.stored, "failed": self.failed,
                "failures": self.failures, "neighbours": self.neighbours, "model": self.model,
                "device": self.device, "seconds": round(self.seconds, 3),
                "images_per_second": round(self.images_per_second, 2), "timings": self.timings}


UPDATE_FIELDS = ["status", "error", "attempts", "sha256", "path", "thumbnail", "content_type", "bytes", "width",
                 "height", "phash", "dhash", "embedding", "embedding_model", "fetched_at", "indexed_at"]
FAILURES_SHOWN = 200


def product_images_index(*, shop: Shop, images_dir: str | os.PathLike | None = None, retry_failed: bool = False,
                         progress: Callable[[str], None] | None = None,
                         files_wait_for_directory: bool = False) -> IndexOutcome:
    """Fetch or copy every pending picture, hash and embed every picture not yet embedded with the current
    model, then rebuild the shop's visual neighbours. Idempotent: a second run with nothing new only
    rebuilds the neighbours. Failed pictures keep their reason; `retry_failed` tries them again.
    `files_wait_for_directory`: without `images_dir`, leave `image_file` pictures pending (the periodic pass:
    the import that named the directory queued its own pass) instead of failing them."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    timings: dict[str, float] = {"load": 0.0, "decode": 0.0, "embed": 0.0, "write": 0.0}
    if images_dir is not None and not Path(images_dir).is_dir():
        raise UserError(f"--images: no such directory: {images_dir}", field="images")
    product_images_sync(shop=shop)
    policy = fetch_policy()
    try:
        embedder = embedder_get(embedder_config())
    except Exception as exc:  # a shop's model file that cannot load: say so, do not crash the worker
        raise UserError(f"the image embedding model cannot be loaded: {exc}", field="IMAGE_EMBEDDING_MODEL") from exc
    statuses = [ProductImage.Status.PENDING] + ([ProductImage.Status.FAILED] if retry_failed else [])
    todo = ProductImage.objects.filter(shop=shop, status__in=statuses).select_related("product")
    if images_dir is None and files_wait_for_directory:
        todo = todo.exclude(source__startswith=FILE_PREFIX)
    todo = list(todo)
    stale = list(ProductImage.objects.filter(shop=shop, status=ProductImage.Status.STORED)
                 .exclude(embedding_model=embedder.name).select_related("product"))
    works = [_Work(row) for row in todo] + [_Work(row, fresh=False) for row in stale]
    say(f"{len(todo)} pictures to fetch or copy, {len(stale)} to re-embed with {embedder.name}")
    counts = {"fetched": 0, "copied": 0, "embedded": 0, "hashed": 0}
    chunk = max(settings.IMAGE_EMBEDDING_BATCH_SIZE * 4, 32)
    limits = ImageLimits(max_pixels=settings.IMAGE_MAX_PIXELS)
    with ThreadPoolExecutor(max_workers=settings.IMAGE_FETCH_WORKERS) as pool:
        for start in range(0, len(works), chunk):
            part = works[start:start + chunk]
            clock = time.perf_counter()
            part = list(pool.map(lambda w: _load_bytes(w, images_dir=images_dir, policy=policy), part))
            timings["load"] += time.perf_counter() - clock
            clock = time.perf_counter()
            trimmed, embed_rows = [], []
            now = timezone.now()
            for work in part:
                row = work.row
                row.attempts += 1 if work.fresh else 0
                row.indexed_at = now
                if not work.error:
                    try:
                        decoded = image_decode(work.data, limits=limits)
                    except ImageDecodeError as exc:
                        work.error = str(exc)
                if work.error:
                    row.status, row.error = ProductImage.Status.FAILED, work.error[:500]
                    continue
                try:
                    if work.fresh:
                        _store(row, work.data, decoded.format, decoded.image)
                    picture = border_trim(decoded.image)
                    hashes = image_hashes(picture)
                except Exception as exc:  # one odd picture (or a storage error) fails alone, with its reason
                    logger.exception("picture of product %s could not be processed", row.product_id)
                    row.status, row.error = ProductImage.Status.FAILED, f"cannot process the picture ({exc})"[:500]
                    continue
                if work.fresh:
                    counts["copied" if row.source.startswith(FILE_PREFIX) else "fetched"] += 1
                row.phash, row.dhash = hashes.phash, hashes.dhash
                counts["hashed"] += 1
                row.status, row.error = ProductImage.Status.STORED, ""
                trimmed.append(picture)
                embed_rows.append(row)
                work.data = None
            timings["decode"] += time.perf_counter() - clock
            clock = time.perf_counter()
            if trimmed:
                vectors = embedder.embed(trimmed)
                for row, vector in zip(embed_rows, vectors, strict=True):
                    row.embedding = vector.astype(np.float16).tobytes()
                    row.embedding_model = embedder.name
                counts["embedded"] += len(embed_rows)
            timings["embed"] += time.perf_counter() - clock
            clock = time.perf_counter()
            ProductImage.objects.bulk_update([w.row for w in part], UPDATE_FIELDS, batch_size=500)
            timings["write"] += time.perf_counter() - clock
            say(f"indexed {min(start + chunk, len(works))} of {len(works)} pictures")
    clock = time.perf_counter()
    neighbours = visual_neighbours_rebuild(shop=shop, model=embedder.name)
    timings["neighbours"] = time.perf_counter() - clock
    failed_rows = (ProductImage.objects.filter(shop=shop, status=ProductImage.Status.FAILED)
                   .select_related("product").order_by("product__external_id"))
    failures = [{"product_id": row.product.external_id, "source": row.source, "reason": row.error}
                for row in failed_rows[:FAILURES_SHOWN]]
    seconds = time.perf_counter() - started
    processed = counts["embedded"]
    work_seconds = timings["load"] + timings["decode"] + timings["embed"]
    return IndexOutcome(
        products_with_images=ProductImage.objects.filter(shop=shop).count(), failed=failed_rows.count(),
        failures=failures, stored=ProductImage.objects.filter(shop=shop, status=ProductImage.Status.STORED).count(),
        neighbours=neighbours, model=embedder.name, device=str(getattr(embedder, "device", "cpu")),
        seconds=seconds, images_per_second=processed / work_seconds if processed and work_seconds else 0.0,
        timings={name: round(value, 3) for name, value in timings.items()}, **counts)


@transaction.atomic
def visual_neighbours_rebuild(*, shop: Shop, model: str, k: int | None = None) -> int:
    """Replace the shop's visual neighbours (overall and per category) with those of every picture embedded
    by `model`; returns the number of rows written."""
    Shop.objects.select_for_update().filter(pk=shop.pk).first()  # one rebuild per shop at a time (unique ranks)
    frame, vectors = image_vectors_frame(shop_id=shop.pk, model=model)
    rows = visual_neighbours_frame(frame, vectors, config=NeighbourConfig(k=k or settings.IMAGE_NEIGHBOURS))
    VisualNeighbour.objects.filter(shop=shop).delete()
    if rows.empty:
        return 0
    out = rows.assign(shop_id=shop.pk)[["shop_id", "product_id", "similar_id", "scope", "rank", "score"]]
    return bulk_insert_frame(VisualNeighbour._meta.db_table, out)


def product_images_enqueue(*, shop: Shop, images_dir: str | os.PathLike | None = None) -> dict:
    """After a product import: mark new or changed pictures pending and, when there are any, queue
    `product_images_index_task` for a worker (the images directory must be readable there). Returns
    {"pending", "removed", "queued"}."""
    if images_dir is not None and not Path(images_dir).is_dir():
        raise UserError(f"--images: no such directory: {images_dir}", field="images")
    sync = product_images_sync(shop=shop)
    pending = ProductImage.objects.filter(shop=shop, status=ProductImage.Status.PENDING).exists()
    if pending:
        from .tasks import product_images_index_task

        directory = str(Path(images_dir).resolve()) if images_dir is not None else None
        transaction.on_commit(lambda: product_images_index_task.delay(shop.pk, directory), robust=True)
    return {"pending": sync.pending, "removed": sync.removed, "queued": pending}
