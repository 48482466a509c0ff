"""Product pictures, measured the way issue 25 judges them.

1. **Same photograph.** The real photographs bundled with scikit-image and scikit-learn (21: astronaut, brick,
   camera, cell, chelsea, clock, coffee, coins, grass, gravel, hubble_deep_field, immunohistochemistry,
   microaneurysms, moon, motorcycle, page, retina, rocket, text; china and flower), each turned into 7 product
   pictures: the photo, re-encoded (JPEG q=45), resized (55 %), brightened (+30 %), lightly cropped (5-7 % a side),
   padded onto a white canvas, and with a sale banner. Every picture's visual neighbours should hold the other 6
   pictures of its photograph (recall@k, k = 6 and 10), for the built-in EfficientNet-Lite0 embedding and for
   its strongest simple peer, the colour-histogram + pHash fallback. Duplicate groups (perceptual hashes of the
   border-trimmed picture) must never join different photographs; the share of same-photograph pairs they join
   is reported per variant.
2. **Images per second on this CPU**: the embedding alone (batches of 32) and the whole `index_images` pass
   (fetch from a local HTTP server through the product import's `image_url`, decode, trim, hash, thumbnail,
   store, embed, neighbours) with the real services and database.
3. **Image cold start on the simulator.** A simulated shop (behavior.simulator) whose products get pictures
   derived from the photographs: one photograph per top category, one region of it per sub-category, and per
   product a jittered crop of that region, brightened or darkened and re-encoded (the simulator's customers
   choose by category, so pictures carry the category — like text does). Time split: the last 60 days are
   the test window; *new products* are those with no interaction before it. For customers who bought a new
   product in the window, HitRate@10 and NDCG@10 of the hybrid (weights fit on a validation split of the
   training data) counting only new products as hits — with and without pictures, for the full catalogue text
   and for a catalogue known only by ids (no title, description, category or brand).

Prints its tables, then ONE JSON line. Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench)
for part 2; `--no-db` skips it.

    .venv/bin/python bench/images.py [--customers 3000 --products 300 --days 400] [--threads N] [--no-db]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import log as _log  # noqa: E402
from catalog.ml.embed import EmbedderConfig, HistogramEmbedder, embedder_load  # noqa: E402
from catalog.ml.images import border_trim, image_decode, image_hashes  # noqa: E402
from catalog.ml.similar import duplicate_groups, nearest_neighbours, visual_neighbours_frame  # noqa: E402

SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "motorcycle", "page",
                  "retina", "rocket", "text")
VARIANTS = ("photo", "reencoded", "resized", "brightened", "cropped", "padded", "banner")
MAX_SIDE = 640  # photographs larger than this are scaled down first (retina is 1411 px): shop-sized pictures


def log(message: str) -> None:
    _log(message, prefix="images")


def photographs() -> dict[str, Image.Image]:
    """The real photographs bundled with scikit-image and scikit-learn, as RGB pictures."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = {}
    for name in SKIMAGE_PHOTOS:
        array = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        photos[name] = Image.fromarray(np.asarray(array)).convert("RGB")
    sample = load_sample_images()
    for name, array in zip(("china", "flower"), sample.images, strict=True):
        photos[name] = Image.fromarray(array).convert("RGB")
    for name, image in photos.items():
        if max(image.size) > MAX_SIDE:
            image = image.copy()
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            photos[name] = image
    return photos


def _encode(image: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def product_pictures(photo: Image.Image, rng: np.random.Generator) -> dict[str, bytes]:
    """The 7 pictures a shop makes of one photograph (JPEG bytes)."""
    w, h = photo.size
    out = {"photo": _encode(photo), "reencoded": _encode(photo, quality=45)}
    out["resized"] = _encode(photo.resize((int(w * 0.55), int(h * 0.55)), Image.BICUBIC))
    out["brightened"] = _encode(ImageEnhance.Brightness(photo).enhance(1.3))
    left, top = (int(w * rng.uniform(0.05, 0.07)), int(h * rng.uniform(0.05, 0.07)))
    right, bottom = (w - int(w * rng.uniform(0.05, 0.07)), h - int(h * rng.uniform(0.05, 0.07)))
    out["cropped"] = _encode(photo.crop((left, top, right, bottom)))
    cw, ch = int(w * rng.uniform(1.2, 1.6)), int(h * rng.uniform(1.2, 1.6))
    canvas = Image.new("RGB", (max(cw, ch), max(cw, ch)), (255, 255, 255))
    canvas.paste(photo, ((canvas.width - w) // 2, (canvas.height - h) // 2))
    out["padded"] = _encode(canvas)
    banner = photo.copy()
    draw = ImageDraw.Draw(banner)
    strip = int(h * 0.12)
    draw.rectangle((0, h - strip, w, h), fill=(210, 25, 35))
    draw.text((int(w * 0.05), h - int(strip * 0.8)), "SALE -30% FREE DELIVERY", fill=(255, 255, 255))
    out["banner"] = _encode(banner)
    return out


def recall_at(vectors: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean over pictures of the share of the other pictures of its photograph among its k nearest."""
    idx, _ = nearest_neighbours(vectors, k=k)
    same = labels[idx] == labels[:, None]
    others = np.array([(labels == label).sum() - 1 for label in labels])
    return float(np.mean(same.sum(axis=1) / np.minimum(others, k)))


def part_photographs(args) -> dict:
    rng = np.random.default_rng(args.seed)
    photos = photographs()
    names, kinds, blobs = [], [], []
    for name, photo in photos.items():
        for kind, blob in product_pictures(photo, rng).items():
            names.append(name)
            kinds.append(kind)
            blobs.append(blob)
    labels, kinds = np.array(names), np.array(kinds)
    log(f"{len(photos)} photographs, {len(blobs)} product pictures")
    clock = time.perf_counter()
    trimmed = [border_trim(image_decode(blob).image) for blob in blobs]
    decode_seconds = time.perf_counter() - clock
    hashes = [image_hashes(picture) for picture in trimmed]
    embedder = embedder_load(EmbedderConfig(device=args.device, batch_size=32))
    embedder.embed(trimmed[:2])  # warm-up (allocations) outside the timing
    import torch

    by_threads = {}
    for threads in sorted({1, 2, torch.get_num_threads()}):
        torch.set_num_threads(threads)
        clock = time.perf_counter()
        vectors = embedder.embed(trimmed)
        by_threads[threads] = round(len(blobs) / (time.perf_counter() - clock), 2)
    torch.set_num_threads(args.threads or max(by_threads, key=by_threads.get))
    embed_seconds = len(blobs) / max(by_threads.values())
    fallback = HistogramEmbedder()
    clock = time.perf_counter()
    fallback_vectors = fallback.embed(trimmed)
    fallback_seconds = time.perf_counter() - clock
    result = {"photographs": len(photos), "pictures": len(blobs),
              "recall_at_6": round(recall_at(vectors, labels, 6), 4),
              "recall_at_10": round(recall_at(vectors, labels, 10), 4),
              "histogram_recall_at_6": round(recall_at(fallback_vectors, labels, 6), 4),
              "histogram_recall_at_10": round(recall_at(fallback_vectors, labels, 10), 4),
              "embed_images_per_second": round(len(blobs) / embed_seconds, 2),
              "embed_images_per_second_by_threads": by_threads,
              "histogram_images_per_second": round(len(blobs) / fallback_seconds, 2),
              "decode_trim_images_per_second": round(len(blobs) / decode_seconds, 2),
              "model": embedder.name, "device": str(getattr(embedder, "device", "cpu"))}
    per_kind = {}
    for kind in VARIANTS:
        pick = kinds == kind
        idx, _ = nearest_neighbours(vectors, k=6)
        per_kind[kind] = round(float(np.mean((labels[idx[pick]] == labels[pick][:, None]).mean(axis=1))), 4)
    result["recall_at_6_by_variant"] = per_kind
    ids = np.array([f"{n}-{k}" for n, k in zip(labels, kinds, strict=True)], dtype=object)
    groups = duplicate_groups(ids, np.array([h.phash for h in hashes]), np.array([h.dhash for h in hashes]))
    false_groups = [g for g in groups if len({member.rsplit("-", 1)[0] for member in g}) > 1]
    grouped = {}
    for group in groups:
        for member in group:
            grouped[member] = tuple(group)
    pair_share = {}
    for kind in VARIANTS[1:]:
        joined = [grouped.get(f"{name}-{kind}") is not None and grouped.get(f"{name}-{kind}") == grouped.get(
            f"{name}-photo") for name in photos]
        pair_share[kind] = round(float(np.mean(joined)), 4)
    result.update({"duplicate_groups": len(groups), "false_duplicate_groups": len(false_groups),
                   "duplicate_pairs_joined_by_variant": pair_share})
    if false_groups:
        result["false_groups"] = false_groups[:5]
    return result, photos, blobs, ids


# --- part 2: the whole index_images pass through the product import ------------------------------------------

class _Server:
    def __init__(self, files: dict[str, bytes]):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def part_index(args, blobs: list[bytes], ids: np.ndarray) -> dict:
    """import_data's service with image_url → product_images_index → duplicate groups, on the database."""
    from bench.common import database_ensure, shop_drop

    database_ensure()
    media = tempfile.mkdtemp(prefix="bench-images-media-")
    os.environ["MEDIA_ROOT"] = media  # read by the settings at setup
    os.environ["IMAGE_FETCH_ALLOW_PRIVATE"] = "true"  # the pictures are served from this machine
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Shop
    from behavior.services import data_import
    from catalog.selectors import duplicate_image_groups, visual_neighbours_frame
    from catalog.services import product_images_index

    call_command("migrate", verbosity=0)
    server = _Server({f"/{pid}.jpg": blob for pid, blob in zip(ids, blobs, strict=True)})
    shop_drop("bench-images")
    shop = Shop.objects.create(slug="bench-images", name="Bench images")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "products.csv"
            pd.DataFrame({"product_id": ids, "title": ids, "image_url": [f"{server.base}/{pid}.jpg" for pid in ids]}
                         ).to_csv(path, index=False)
            data_import(shop=shop, kind="products", path=path)
        clock = time.perf_counter()
        outcome = product_images_index(shop=shop)
        seconds = time.perf_counter() - clock
        groups = duplicate_image_groups(shop_id=shop.pk)
        neighbours = visual_neighbours_frame(shop_id=shop.pk)
        labels = neighbours["product_id"].str.rsplit("-", n=1).str[0]
        similar = neighbours["similar_product_id"].str.rsplit("-", n=1).str[0]
        top6 = neighbours[neighbours["rank"] <= 6]
        recall = float((labels[top6.index] == similar[top6.index]).groupby(top6["product_id"]).mean().mean())
        false_groups = [g for g in groups if len({m.rsplit("-", 1)[0] for m in g}) > 1]
        return {"index_images_per_second": round(outcome.images_per_second, 2),
                "index_seconds": round(seconds, 2), "index_stored": outcome.stored, "index_failed": outcome.failed,
                "index_recall_at_6": round(recall, 4), "index_duplicate_groups": len(groups),
                "index_false_duplicate_groups": len(false_groups), "index_timings": outcome.timings}
    finally:
        server.close()
        if not args.keep:
            shop_drop("bench-images")
        import shutil

        shutil.rmtree(media, ignore_errors=True)


# --- part 3: image cold start on the simulator -----------------------------------------------------------------

def simulated_pictures(products: pd.DataFrame, photos: dict[str, Image.Image], rng) -> list[Image.Image]:
    """A picture per simulated product: its top category's photograph, its sub-category's region, jittered."""
    names = sorted(photos)
    tops = sorted({c.split(" > ")[0] for c in products["category"]})
    subs_of = {top: sorted({c for c in products["category"] if c.split(" > ")[0] == top}) for top in tops}
    pictures = []
    for category in products["category"]:
        top = category.split(" > ")[0]
        photo = photos[names[tops.index(top) % len(names)]]
        subs = subs_of[top]
        w, h = photo.size
        # the sub-category's region: one of a 3x3 grid of half-size windows
        cell = subs.index(category) % 9
        cx, cy = (0.25 + 0.25 * (cell % 3)) * w, (0.25 + 0.25 * (cell // 3)) * h
        jx, jy = rng.normal(0, 0.03 * w), rng.normal(0, 0.03 * h)
        half_w, half_h = w * rng.uniform(0.22, 0.28), h * rng.uniform(0.22, 0.28)
        box = (max(0, cx + jx - half_w), max(0, cy + jy - half_h), min(w, cx + jx + half_w), min(h, cy + jy + half_h))
        picture = ImageEnhance.Brightness(photo.crop(tuple(int(v) for v in box))).enhance(rng.uniform(0.8, 1.2))
        pictures.append(Image.open(io.BytesIO(_encode(picture, quality=int(rng.integers(50, 90))))).convert("RGB"))
    return pictures


def part_cold_start(args, photos) -> dict:
    import scipy.sparse as sp

    from behavior.simulator import SimulationConfig, simulate
    from recommendations.ml.base import exclusion_matrix
    from recommendations.ml.config import RecommenderConfig
    from recommendations.ml.content import content_similarity
    from recommendations.ml.data import build_interaction_data
    from recommendations.ml.evaluate import validation_weights
    from recommendations.ml.hybrid import HybridRecommender, fit_recommenders
    from recommendations.ml.metrics import ranking_metrics
    from recommendations.ml.visual import visual_similarity

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"simulating {args.customers} customers, {args.products} products, {args.days} days")
        simulate(SimulationConfig(customers=args.customers, products=args.products, days=args.days, seed=args.seed),
                 Path(tmp))
        products = pd.read_csv(Path(tmp) / "products.csv", dtype=str, keep_default_na=False)
        orders = pd.read_csv(Path(tmp) / "orders.csv", dtype=str, keep_default_na=False)
        lines = pd.read_csv(Path(tmp) / "order_lines.csv", dtype=str, keep_default_na=False)
        events = pd.read_csv(Path(tmp) / "events.csv", dtype=str, keep_default_na=False)
    product_index = pd.Index(products["product_id"])
    customer_index = pd.Index(pd.unique(pd.concat([orders["customer_id"], events["customer_id"]])))
    orders = orders[orders.get("status", "placed") != "cancelled"]
    bought = lines.merge(orders[["order_id", "customer_id", "placed_at"]], on="order_id")
    purchases = pd.DataFrame({"customer_id": customer_index.get_indexer(bought["customer_id"]),
                              "product_id": product_index.get_indexer(bought["product_id"]),
                              "ts": pd.to_datetime(bought["placed_at"], utc=True, format="ISO8601"),
                              "kind": "purchase", "quantity": 1.0,
                              "order_id": pd.factorize(bought["order_id"])[0].astype(float)})
    kinds = {"view": "view", "add_to_cart": "cart", "wishlist": "wishlist"}
    ev = events[events["type"].isin(list(kinds)) & (events["product_id"] != "")]
    views = pd.DataFrame({"customer_id": customer_index.get_indexer(ev["customer_id"]),
                          "product_id": product_index.get_indexer(ev["product_id"]),
                          "ts": pd.to_datetime(ev["occurred_at"], utc=True, format="ISO8601"),
                          "kind": ev["type"].map(kinds), "quantity": 1.0, "order_id": np.nan})
    interactions = pd.concat([purchases, views], ignore_index=True)
    interactions = interactions[interactions["product_id"] >= 0]
    cutoff = interactions["ts"].max() - pd.Timedelta(days=args.test_days)
    train, test = interactions[interactions["ts"] < cutoff], interactions[interactions["ts"] >= cutoff]
    # New products: those the simulator launched inside the test window, plus a random tenth of the catalogue
    # launched at the cutoff (their earlier interactions are dropped from training; the test window is kept).
    launched = rng.choice(len(products), size=len(products) // 10, replace=False)
    train = train[~train["product_id"].isin(launched)]
    seen = set(train["product_id"].unique())
    new_products = np.array(sorted(set(range(len(products))) - seen))
    test_purchases = test[test["kind"] == "purchase"]
    targets_frame = test_purchases[test_purchases["product_id"].isin(new_products)]
    log(f"time split at {cutoff.date()}: {len(new_products)} new products, "
        f"{targets_frame['customer_id'].nunique()} customers bought one in the last {args.test_days} days")

    frame = pd.DataFrame({"product_id": np.arange(len(products)), "title": products["title"],
                          "description": products["description"], "category": products["category"],
                          "brand": products["brand"], "active": True, "created_at": pd.NaT})
    frame["label"] = frame["title"]
    customers = pd.DataFrame({"customer_id": np.arange(len(customer_index))})
    log("pictures for the simulated products and their embeddings")
    pictures = simulated_pictures(products, photos, rng)
    embedder = embedder_load(EmbedderConfig(device=args.device, batch_size=32))
    vectors = embedder.embed([border_trim(p) for p in pictures])
    pairs = visual_neighbours_frame(frame.assign(category=""), vectors)
    pairs = pairs[pairs["scope"] == "overall"][["product_id", "similar_id", "score"]]
    same_sub = (products["category"].to_numpy()[pairs["product_id"]] == products["category"].to_numpy()[
        pairs["similar_id"]])
    strong = pairs["score"].to_numpy() >= RecommenderConfig().cold_start_min_similarity
    log(f"picture neighbours: {strong.mean():.1%} at or above the cold-start minimum cosine, of which "
        f"{same_sub[strong].mean() if strong.any() else 0:.1%} share the sub-category (all neighbours: "
        f"{same_sub.mean():.1%})")
    config = RecommenderConfig(workers=1)

    def hits(data, hybrid, bought: pd.DataFrame, exclude) -> tuple[float, float]:
        rows = data.customer_positions(bought["customer_id"].unique())
        rows = rows[rows >= 0]
        local = pd.Index(data.customer_ids[rows]).get_indexer(bought["customer_id"])
        cols = data.product_positions(bought["product_id"])
        keep = (local >= 0) & (cols >= 0)
        target = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (local[keep], cols[keep])),
                               shape=(len(rows), data.n_items))
        target.data[:] = 1.0
        items = hybrid.recommend(rows, 10, exclude).items
        metrics = ranking_metrics(items, target)
        return float(metrics.hit_rate), float(metrics.ndcg), items

    def evaluate(catalogue: pd.DataFrame, visual_pairs) -> dict:
        data = build_interaction_data(train, catalogue, customers, config=config, as_of=cutoff)
        content = content_similarity(catalogue, config)
        visual = visual_similarity(catalogue, visual_pairs)
        weights = validation_weights(train, catalogue, customers, k=10, config=config, content_similarity=content,
                                     visual_similarity=visual)
        components = fit_recommenders(data, config, content_similarity=content, visual_similarity=visual)
        hybrid = HybridRecommender(config, weights, components).fit(data)
        exclude = exclusion_matrix(data, config)
        hit, ndcg, items = hits(data, hybrid, targets_frame, exclude)
        all_hit, all_ndcg, _ = hits(data, hybrid, test_purchases, exclude)
        shown_new = np.isin(data.product_ids[items[items >= 0]], new_products).mean() if (items >= 0).any() else 0
        return {"hit_rate_at_10": round(hit, 4), "ndcg_at_10": round(ndcg, 4),
                "all_purchases_hit_rate_at_10": round(all_hit, 4), "all_purchases_ndcg_at_10": round(all_ndcg, 4),
                "share_of_new_products_shown": round(float(shown_new), 4),
                "weights": {name: float(w) for name, w in weights.items()}}

    blank = frame.assign(title="", description="", category="", brand="", label=frame["product_id"].astype(str))
    # The strongest simple peer of the picture slot: the same place given by text look-alikes (TF-IDF over title,
    # description, category and brand: the new product's 20 nearest texts), every pair let through.
    text = content_similarity(frame, RecommenderConfig(content_neighbours=20))
    text_rows, text_cols = text.nonzero()
    text_pairs = pd.DataFrame({"product_id": text_rows, "similar_id": text_cols, "score": 1.0})
    result = {"customers_evaluated": int(targets_frame["customer_id"].nunique()), "new_products": len(new_products),
              "cutoff": str(cutoff.date()), "neighbours_same_subcategory": round(float(same_sub.mean()), 4),
              "strong_neighbours_same_subcategory": round(float(same_sub[strong].mean()) if strong.any() else 0, 4)}
    for name, catalogue in (("with_text", frame), ("ids_only", blank)):
        for images in (False, True):
            label = f"{name}_{'with' if images else 'without'}_images"
            log(f"cold start: {label}")
            result[label] = evaluate(catalogue, pairs if images else None)
    log("cold start: with_text_text_slot (the peer)")
    result["with_text_text_slot"] = evaluate(frame, text_pairs)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--products", type=int, default=300)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--test-days", type=int, default=60, help="the cold-start test window (days)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu (the figure the issue asks for), cuda or auto")
    parser.add_argument("--no-db", action="store_true", help="skip the index_images pass on the database")
    parser.add_argument("--cold-start-only", action="store_true", help="only part 3 (for tuning runs)")
    parser.add_argument("--keep", action="store_true", help="keep the bench shop afterwards")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    started = time.perf_counter()
    result = {"bench": "images", "threads": threads, "load_average_1m": round(os.getloadavg()[0], 2)}
    if args.cold_start_only:
        result["cold_start"] = _cold_start_report(args, photographs())
        print(json.dumps(result))
        return 0
    photos_result, photos, blobs, ids = part_photographs(args)
    print(f"same photograph: recall@6 {photos_result['recall_at_6']} "
          f"(histogram {photos_result['histogram_recall_at_6']}), recall@10 {photos_result['recall_at_10']} "
          f"(histogram {photos_result['histogram_recall_at_10']})")
    print(f"  recall@6 by variant: {photos_result['recall_at_6_by_variant']}")
    print(f"duplicate groups: {photos_result['duplicate_groups']}, false: {photos_result['false_duplicate_groups']}; "
          f"pairs joined by variant: {photos_result['duplicate_pairs_joined_by_variant']}")
    print(f"embedding on {photos_result['device']}: {photos_result['embed_images_per_second_by_threads']} images/s "
          f"by torch threads (histogram fallback {photos_result['histogram_images_per_second']})")
    result.update(photos_result)
    result["threads"] = torch.get_num_threads()
    if not args.no_db:
        index = part_index(args, blobs, ids)
        print(f"index_images through the import: {index['index_images_per_second']} images/s, "
              f"{index['index_stored']} stored, recall@6 {index['index_recall_at_6']}, "
              f"{index['index_false_duplicate_groups']} false duplicate groups")
        result.update(index)
    result["cold_start"] = _cold_start_report(args, photos)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))
    return 0


def _cold_start_report(args, photos) -> dict:
    cold = part_cold_start(args, photos)
    print(f"image cold start ({cold['customers_evaluated']} customers, {cold['new_products']} new products, "
          f"split {cold['cutoff']}): HitRate@10 / NDCG@10 of new products")
    for label in ("with_text_without_images", "with_text_with_images", "with_text_text_slot",
                  "ids_only_without_images", "ids_only_with_images"):
        row = cold[label]
        print(f"  {label:<28} {row['hit_rate_at_10']:.4f} / {row['ndcg_at_10']:.4f}   (all purchases "
              f"{row['all_purchases_hit_rate_at_10']:.4f} / {row['all_purchases_ndcg_at_10']:.4f}; new products "
              f"{row['share_of_new_products_shown']:.1%} of those shown)  weights {row['weights']}")
    return cold


if __name__ == "__main__":
    sys.exit(main())
