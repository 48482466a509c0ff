"""reviews.ml.aspects: seeds per language, terms learned from the shop, negative themes."""

import numpy as np

from reviews.ml.aspects import AspectConfig, aspects_find


def test_seed_keywords_find_aspects_in_english_and_chinese_without_spaces():
    result = aspects_find(["Delivery was late and the box was crushed", "物流太慢，包装破损", "Lovely colour"],
                          ["en", "zh", "en"])
    assert set(result.aspects[0]) == {"delivery", "packaging"}
    assert set(result.aspects[1]) == {"delivery", "packaging"}
    assert result.aspects[2] == []


def test_a_term_used_with_delivery_seeds_is_learned_and_finds_reviews_without_seeds():
    texts = [f"parcel lost, shipping took {i} days" for i in range(8)] + ["the parcel never came"] + \
            [f"nice colour, it took {i} days to decide" for i in range(30)]
    result = aspects_find(texts, ["en"] * len(texts), config=AspectConfig(min_reviews=5, min_lift=3))
    assert "parcel" in result.learned["delivery"] and "took" not in result.learned["delivery"]
    assert "delivery" in result.aspects[8]  # no seed word in it: found by the learned term
    assert result.aspects[20] == []


def test_themes_are_terms_typical_of_negative_reviews():
    texts = ["battery died fast"] * 10 + ["great screen"] * 10 + ["battery fine, great screen"] * 2
    labels = np.array([0] * 10 + [1] * 12, dtype=float)
    result = aspects_find(texts, ["en"] * len(texts), labels=labels)
    assert result.themes[0] in {"died", "fast"} and "great" not in result.themes
