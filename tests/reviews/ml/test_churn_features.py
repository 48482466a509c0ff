"""A recent negative review as a churn / purchase feature and a reason in plain words."""

import numpy as np
import pandas as pd

from predictions.ml.base import ShopFrames
from predictions.ml.features import FeatureConfig, build_features
from predictions.ml.reasons import REASON_TEMPLATES, REVIEW_ASPECT_WORDS
from reviews.ml.aspects import ASPECTS

T = pd.Timestamp("2026-06-30", tz="UTC")


def frames(reviews: pd.DataFrame | None) -> ShopFrames:
    customers = pd.DataFrame({"customer_id": np.array([1, 2, 3], dtype=np.int64),
                              "signup_at": pd.to_datetime(["2025-01-01"] * 3, utc=True)})
    orders = pd.DataFrame({"order_id": np.array([10, 11, 12], dtype=np.int64),
                           "customer_id": np.array([1, 2, 3], dtype=np.int64),
                           "placed_at": pd.to_datetime(["2026-05-01"] * 3, utc=True), "total": [10.0] * 3,
                           "item_count": [1.0] * 3, "status": ["placed"] * 3})
    empty = pd.DataFrame({"customer_id": pd.Series(dtype="int64"),
                          "occurred_at": pd.Series(dtype="datetime64[ns, UTC]"),
                          "type": pd.Series(dtype="str"), "product_id": pd.Series(dtype="float64")})
    lines = pd.DataFrame({c: pd.Series(dtype=t) for c, t in [
        ("order_id", "int64"), ("customer_id", "int64"), ("placed_at", "datetime64[ns, UTC]"), ("product_id", "int64"),
        ("category_id", "float64"), ("quantity", "float64"), ("unit_price", "float64")]})
    return ShopFrames(customers=customers, orders=orders, order_lines=lines, events=empty, reviews=reviews)


REVIEWS = pd.DataFrame({
    "customer_id": np.array([1, 1, 2, 3], dtype=np.int64),
    "created_at": pd.to_datetime(["2026-06-18", "2026-03-01", "2026-06-29", "2026-07-05"], utc=True),
    "stars": [1.0, 2.0, np.nan, 1.0],
    "negative": [True, True, False, True],
    "aspect": [0.0, 1.0, -1.0, 2.0],
})


def test_latest_negative_review_before_the_cutoff_becomes_features_and_a_reason():
    X = build_features(frames(REVIEWS), cutoff=T, config=FeatureConfig(),
                       customer_ids=np.array([1, 2, 3])).X
    assert X.loc[0, "days_since_negative_review"] == 12 and X.loc[0, "negative_reviews_90d"] == 1
    assert (X.loc[0, "negative_review_stars"], X.loc[0, "negative_review_aspect"]) == (1, 0)
    # Customer 2's review was positive; customer 3's came after the cutoff (no leakage from the future).
    assert np.isnan(X.loc[[1, 2], "days_since_negative_review"]).all()
    assert (X.loc[[1, 2], "negative_review_aspect"] == -1).all()
    reason = REASON_TEMPLATES["days_since_negative_review"]
    assert reason(X.loc[0]) == "left a 1-star review about delivery 12 days ago"
    assert reason(X.loc[1]) is None


def test_no_reviews_gives_empty_features_not_an_error():
    X = build_features(frames(None), cutoff=T, config=FeatureConfig(), customer_ids=np.array([1, 2, 3])).X
    assert X["days_since_negative_review"].isna().all() and (X["negative_reviews_90d"] == 0).all()


def test_reason_words_follow_the_aspects_order():
    assert len(REVIEW_ASPECT_WORDS) == len(ASPECTS)
    assert [w.split()[0] for w in REVIEW_ASPECT_WORDS] == [a.split("_")[0] for a in ASPECTS]
