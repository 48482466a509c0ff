"""Reviews through `import_data reviews` and POST reviews/batch/: optional ids, stand-ins, row-level rejects."""

import csv

import pytest

from behavior.ingest import services as ingest_services
from behavior.models import Customer, Review
from catalog.models import Product

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/reviews/batch/"


def run(shop, path, *, batch_size=1000, **options):
    job = ingest_services.import_job_create(shop=shop, kind="reviews", path=path, **options)
    return ingest_services.import_job_run(import_job_id=job.pk, batch_size=batch_size)


def write(tmp_path, text, name="r.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rejected(result) -> dict[int, tuple[str, str]]:
    with open(result.report, encoding="utf-8") as handle:
        return {int(row["line"]): (row["column"], row["reason"]) for row in csv.DictReader(handle)}


FULL = ("review_id,customer_id,product_id,rating,title,text,created_at,language\n"
        "R1,C1,P1,5,Great,Lovely shoes,2026-05-01,en\n"
        "R2,C1,P2,1,,\"Arrived late, box crushed\",2026-05-02T10:00:00+02:00,en\n"
        "R3,,,,,没有评分的评论,,zh\n"
        "R4,C2,P1,7,,too many stars,2026-05-03,en\n"
        "R5,C2,P1,,,,2026-05-03,en\n"
        "R6,C2,P1,4.5,,half star,not a date,en\n"
        "R7,C3,P1,4.5,,half star rounds up,2026-05-04,en\n")


def test_bad_review_rows_are_rejected_alone_and_good_ones_kept(shop, tmp_path):
    result = run(shop, write(tmp_path, FULL))
    # A value that cannot be read is left empty and listed; the review keeps its text (rows.LENIENT_KINDS).
    assert (result.rows, result.inserted, result.rejected, result.blanked) == (7, 6, 1, 2)
    assert rejected(result) == {5: ("rating", "left empty: rating out of range (expected 1 to 5 stars)"),
                                6: ("text", "empty review: no text, title or rating"),
                                7: ("created_at", "left empty: unparseable date (expected ISO 8601, e.g. 2024-03-01 or "
                                                  "2024-03-01T14:05:00, the month's name in English, German, French, "
                                                  "Spanish or Italian, e.g. 26 Oct 2025 or 26. Oktober 2025, or Unix "
                                                  "time in seconds, milliseconds or microseconds)")}
    assert Review.objects.get(external_id="R4").text == "too many stars"
    late = Review.objects.get(shop=shop, external_id="R2")
    assert (late.customer.external_id, late.product.external_id, late.rating) == ("C1", "P2", 1)
    assert late.created_at.isoformat() == "2026-05-02T08:00:00+00:00"
    assert late.text == "Arrived late, box crushed" and late.sentiment == "" and late.aspects == []
    unrated = Review.objects.get(shop=shop, external_id="R3")
    assert (unrated.customer, unrated.product, unrated.rating, unrated.language) == (None, None, None, "zh")
    assert Review.objects.get(external_id="R7").rating == 5
    # Unknown customers and products became stand-ins; a review without ids created none.
    assert set(Customer.objects.filter(shop=shop, is_stub=True).values_list("external_id", flat=True)) == {
        "C1", "C2", "C3"}
    assert Product.objects.filter(shop=shop, is_stub=True).count() == 2


def test_text_only_reviews_get_stable_ids_so_a_reimport_stores_nothing_new(shop, tmp_path):
    text = "text,rating\nGood value,4\nBroke after a week,1\nGood value,4\n"
    first = run(shop, write(tmp_path, text))
    assert (first.inserted, first.duplicates, first.rejected) == (2, 1, 0)
    again = run(shop, write(tmp_path, text))
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 3)
    assert Review.objects.filter(shop=shop).count() == 2


def test_changed_rating_updates_the_review_and_no_create_rejects_unknown_customers(shop, tmp_path):
    Customer.objects.create(shop=shop, external_id="C1")
    run(shop, write(tmp_path, "review_id,customer_id,rating,text\nR1,C1,2,meh\n"))
    result = run(shop, write(tmp_path, "review_id,customer_id,rating,text\nR1,C1,4,better now\nR2,C9,5,x\n"
                                       "R3,,5,anonymous\n"), create_missing=False)
    assert (result.inserted, result.updated, result.rejected) == (1, 1, 1)
    assert rejected(result) == {3: ("customer_id", "unknown customer C9")}
    assert Review.objects.get(external_id="R1").rating == 4
    assert not Customer.objects.filter(external_id="C9").exists()


def test_review_batch_api_is_idempotent_and_rejects_items_alone(clients, shop):
    items = [{"review_id": "R1", "customer_id": "C1", "product_id": "P1", "rating": 2, "text": "slow delivery",
              "created_at": "2026-06-01T10:00:00Z"},
             {"review_id": "R2", "text": "nur Text, keine Sterne", "language": "de"},
             {"review_id": "R3", "rating": 9, "text": "x"},
             {"review_id": "R4"},
             {"text": "no id"}]
    body = clients["analyst"].post(BATCH, items, format="json").json()
    assert body["stored"] == 2
    assert {r["index"]: (r["field"], r["code"]) for r in body["rejected"]} == {
        2: ("rating", "invalid_rating"), 3: ("text", "empty"), 4: ("review_id", "required")}
    again = clients["analyst"].post(BATCH, items[:2], format="json").json()
    assert (again["stored"], again["duplicates"]) == (0, 2)
    assert Review.objects.filter(shop=shop).count() == 2
    assert clients["marketer"].post(BATCH, items, format="json").status_code == 403


@pytest.mark.parametrize("raw,stars", [("4", "4"), ("4.0", "4"), ("4,5", "5"), ("4/5", "4"), ("8/10", "4"),
                                       ("5 stars", "5"), ("★★☆☆☆", "2"), ("1 Stern", "1"), ("90/100", "5"),
                                       ("1/10", "1"), ("10/100", "1"), ("⭐⭐⭐⭐", "4"), ("4 ★", "4"),
                                       ("Five stars", "5"), ("4 out of 5", "4")])
def test_ratings_written_the_ways_shops_export_them_are_read_as_stars(raw, stars):
    from behavior.ingest.formats import SPECS
    from behavior.ingest.values import _rating

    assert _rating(raw, SPECS["reviews"].columns[3]) == stars


@pytest.mark.parametrize("raw", ["0", "6", "fives", "-1", "3/7", "☆☆☆", "0/5", "6/5"])
def test_ratings_that_are_not_stars_are_refused(raw):
    from behavior.ingest.formats import SPECS
    from behavior.ingest.values import RowError, _rating

    with pytest.raises(RowError):
        _rating(raw, SPECS["reviews"].columns[3])
