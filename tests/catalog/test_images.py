"""Product pictures end to end: import columns, fetch / copy, storage by hash, hashes, neighbours, commands."""

import csv
import hashlib
import io
import json

import pytest
from django.core.management import call_command

from catalog.models import Product, ProductImage, VisualNeighbour
from catalog.selectors import duplicate_image_groups
from catalog.services import product_images_index
from tests.catalog.conftest import products_csv as _csv
from tests.catalog.pictures import bannered, brightened, jpeg_bytes, photo


@pytest.mark.django_db
def test_import_columns_then_index_stores_pictures_by_hash_with_thumbnails_and_reasons_for_failures(shop, catalogue):
    product = Product.objects.get(shop=shop, external_id="COF")
    assert product.image_file == "coffee.jpg" and product.image_url == ""
    outcome = product_images_index(shop=shop, images_dir=catalogue["images"])
    assert (outcome.fetched, outcome.copied, outcome.stored, outcome.failed) == (3, 2, 5, 2)
    reasons = {f["product_id"]: f["reason"] for f in outcome.failures}
    assert reasons["GONE"] == "HTTP 404"
    assert "outside" in reasons["ESCAPE"] or "not a path inside" in reasons["ESCAPE"]
    stored = ProductImage.objects.get(product__external_id="COF")
    data = (catalogue["images"] / "coffee.jpg").read_bytes()
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.sha256 in stored.path
    media = catalogue["tmp"] / "media"
    assert (media / stored.path).read_bytes() == data and (media / stored.thumbnail).is_file()
    assert stored.phash is not None and stored.embedding_model == "histogram" and stored.embedding
    originals = [p for p in (media / "products").rglob("*") if p.is_file() and "thumbs" not in p.parts]
    assert len(originals) == len(set(ProductImage.objects.exclude(sha256="").values_list("sha256", flat=True)))
    assert outcome.neighbours > 0 and outcome.images_per_second > 0


@pytest.mark.django_db
def test_a_second_run_fetches_nothing_again_and_a_changed_url_is_fetched_anew(shop, catalogue):
    product_images_index(shop=shop, images_dir=catalogue["images"])
    hits = dict(catalogue["server"].hits)
    again = product_images_index(shop=shop, images_dir=catalogue["images"])
    assert (again.fetched, again.copied, again.embedded) == (0, 0, 0) and catalogue["server"].hits == hits
    new_url = catalogue["server"].add("/cat-v2.jpg", jpeg_bytes(brightened(photo("astronaut"))))
    Product.objects.filter(shop=shop, external_id="CAT").update(image_url=new_url)
    third = product_images_index(shop=shop, images_dir=catalogue["images"])
    assert third.fetched == 1 and ProductImage.objects.get(product__external_id="CAT").source == new_url


@pytest.mark.django_db
def test_duplicates_group_the_padded_copy_and_the_re_encoded_file_but_not_different_photos(shop, catalogue):
    product_images_index(shop=shop, images_dir=catalogue["images"])
    assert duplicate_image_groups(shop_id=shop.pk) == [["CAT", "CAT-PAD"], ["COF", "COF-2"]]
    out = io.StringIO()
    call_command("find_duplicate_images", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"groups": [["CAT", "CAT-PAD"], ["COF", "COF-2"]]}


@pytest.mark.django_db
def test_visual_neighbours_export_and_category_scope(shop, catalogue, tmp_path):
    product_images_index(shop=shop, images_dir=catalogue["images"])
    out = tmp_path / "visual.csv"
    call_command("export_similar_products", "--kind", "visual", "--out", str(out), stdout=io.StringIO())
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["product_id", "similar_product_id", "rank", "score", "kind"]
    first = {r["product_id"]: r["similar_product_id"] for r in rows if r["rank"] == "1"}
    assert first["CAT"] == "CAT-PAD" and first["COF"] == "COF-2"
    assert {r["kind"] for r in rows} == {"visual"}
    in_category = VisualNeighbour.objects.filter(shop=shop, scope="category")
    assert all(n.product.category_id == n.similar.category_id for n in in_category.select_related("product",
                                                                                                   "similar"))


@pytest.mark.django_db
def test_index_images_command_prints_counts_failures_and_rate(shop, catalogue):
    out = io.StringIO()
    call_command("index_images", "--json", "--images", str(catalogue["images"]), stdout=out)
    document = json.loads(out.getvalue())
    assert {"fetched", "copied", "embedded", "failed", "failures", "images_per_second"} <= set(document)
    assert document["failed"] == 2 and {f["product_id"] for f in document["failures"]} == {"GONE", "ESCAPE"}


@pytest.mark.django_db
def test_without_the_private_allowance_a_local_url_fails_as_refused(shop, catalogue, settings):
    settings.IMAGE_FETCH_ALLOW_PRIVATE = False
    outcome = product_images_index(shop=shop, images_dir=catalogue["images"])
    reasons = {f["product_id"]: f["reason"] for f in outcome.failures}
    assert reasons["CAT"].startswith("refused") and outcome.fetched == 0 and outcome.copied == 2


@pytest.mark.django_db
def test_import_data_with_images_queues_the_worker_which_indexes(shop, picture_server, tmp_path, image_settings,
                                                                django_capture_on_commit_callbacks):
    images = tmp_path / "pics"
    images.mkdir()
    (images / "a.jpg").write_bytes(jpeg_bytes(bannered(photo("coins"))))
    path = _csv(tmp_path / "p.csv", [{"product_id": "A", "title": "A", "image_file": "a.jpg"},
                                     {"product_id": "B", "title": "B",
                                      "image_url": picture_server.add("/b.jpg", jpeg_bytes(photo("camera")))}])
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_data", "products", str(path), "--shop", shop.slug, "--images", str(images), stdout=out)
    assert json.loads(out.getvalue())["images"] == {"pending": 2, "removed": 0, "queued": True}
    # tasks run in process in the tests (CELERY_TASK_ALWAYS_EAGER): the worker's pass already ran
    assert set(ProductImage.objects.filter(shop=shop).values_list("status", flat=True)) == {"stored"}


@pytest.mark.django_db
def test_the_periodic_pass_finds_shops_whose_pictures_changed_by_any_route(shop, catalogue, other_shop):
    from catalog.selectors import shops_with_picture_changes
    from catalog.tasks import product_images_pending_task

    Product.objects.create(shop=other_shop, external_id="X")  # no picture: nothing to do there
    assert shops_with_picture_changes() == [shop.pk]  # imported through the service: nothing queued yet
    product_images_pending_task()  # tasks run in process in the tests
    # URLs fetched; image_file pictures wait for the pass of the import that named their directory
    pending = set(ProductImage.objects.filter(shop=shop, status="pending").values_list("product__external_id",
                                                                                         flat=True))
    assert pending == {"COF", "COF-2", "ESCAPE"}
    assert ProductImage.objects.get(product__external_id="CAT").status == "stored"
    assert shops_with_picture_changes() == []
    Product.objects.filter(shop=shop, external_id="ROCKET").update(image_url="")  # cleared by an upload
    assert shops_with_picture_changes() == [shop.pk]
    product_images_pending_task()
    assert not ProductImage.objects.filter(product__external_id="ROCKET").exists()
    assert shops_with_picture_changes() == []


@pytest.mark.django_db
def test_duplicate_groups_kept_in_the_cache_follow_a_new_indexing_pass(shop, catalogue):
    product_images_index(shop=shop, images_dir=catalogue["images"])
    assert ["CAT", "CAT-PAD"] in duplicate_image_groups(shop_id=shop.pk)  # computed, then kept
    new_url = catalogue["server"].add("/moon.jpg", jpeg_bytes(photo("moon")))
    Product.objects.filter(shop=shop, external_id="CAT-PAD").update(image_url=new_url)
    product_images_index(shop=shop, images_dir=catalogue["images"])
    assert duplicate_image_groups(shop_id=shop.pk) == [["COF", "COF-2"]]
