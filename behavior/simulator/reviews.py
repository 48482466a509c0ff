"""Reviews of the simulated shop: stars and texts that follow each customer's experience.

A share of orders gets a review a few days after it is placed (only those written inside the window). The
experience behind it: a refunded order is mostly a bad one (quality), a customer's last order before leaving
more often disappointed (delivery, service, price), the others mostly pleased. A fifth of the reviews come
without stars (text only), as many shops' do, so the sentiment model has unrated reviews to score. Texts are
built from phrases per aspect, mostly English with some German, so aspects and languages show in the demo.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REVIEW_SHARE = 0.12
UNRATED_SHARE = 0.2
GERMAN_SHARE = 0.15
# Customers whose last order in the window is this old (days) left: their last order's review is worse.
LEFT_AFTER_DAYS = 90

_PHRASES = {
    "en": {
        "good": {"delivery": ["arrived fast", "quick delivery", "shipped the next day"],
                 "quality": ["great quality", "well made and sturdy", "works perfectly"],
                 "price": ["good value for money", "fair price"],
                 "size_fit": ["fits perfectly", "true to size"],
                 "packaging": ["nicely packed", "packaging was neat"],
                 "customer_service": ["friendly customer service", "support answered quickly"]},
        "bad": {"delivery": ["delivery was late", "took two weeks to arrive", "the courier lost it for days"],
                "quality": ["poor quality", "broke after a week", "stopped working"],
                "price": ["overpriced", "too expensive for what it is"],
                "size_fit": ["too small", "does not fit"],
                "packaging": ["box arrived crushed", "packaging was damaged"],
                "customer_service": ["rude customer service", "no reply from support", "refund took forever"]},
        "good_close": ["Very happy.", "Would buy again.", "Recommended!", "Love it."],
        "bad_close": ["Disappointed.", "Not buying again.", "Avoid.", "Waste of money."],
        "mixed_close": ["It is okay.", "Average.", "Nothing special."],
    },
    "de": {
        "good": {"delivery": ["schnelle Lieferung"], "quality": ["tolle Qualität", "sehr gut verarbeitet"],
                 "price": ["gutes Preis-Leistungs-Verhältnis"], "size_fit": ["passt perfekt"],
                 "packaging": ["gut verpackt"], "customer_service": ["freundlicher Kundenservice"]},
        "bad": {"delivery": ["Lieferung kam viel zu spät"],
                "quality": ["schlechte Qualität", "nach einer Woche kaputt"], "price": ["viel zu teuer"],
                "size_fit": ["zu klein"], "packaging": ["Verpackung beschädigt"],
                "customer_service": ["Kundenservice unfreundlich"]},
        "good_close": ["Sehr zufrieden.", "Gerne wieder."],
        "bad_close": ["Enttäuscht.", "Nie wieder."],
        "mixed_close": ["Geht so.", "Okay."],
    },
}
_ASPECTS = ("delivery", "quality", "price", "size_fit", "packaging", "customer_service")


def reviews_simulate(orders: pd.DataFrame, lines: pd.DataFrame, *, window_end: pd.Timestamp,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Reviews (the import format's columns) of a sample of `orders` (the written orders frame, strings)."""
    columns = ["review_id", "customer_id", "product_id", "rating", "title", "text", "created_at", "language"]
    placed = pd.to_datetime(orders["placed_at"], utc=True)
    if orders.empty:
        return pd.DataFrame(columns=columns)
    last = placed.groupby(orders["customer_id"]).transform("max")
    is_last = (placed == last) & (window_end - last > pd.Timedelta(days=LEFT_AFTER_DAYS))
    refunded = orders["status"].to_numpy() == "refunded"
    cancelled = orders["status"].to_numpy() == "cancelled"
    chosen = np.flatnonzero((rng.random(len(orders)) < REVIEW_SHARE * (1 + is_last.to_numpy())) & ~cancelled)
    created = placed.iloc[chosen] + pd.to_timedelta(rng.integers(2, 15, len(chosen)), unit="D") \
        + pd.to_timedelta(rng.integers(0, 86400, len(chosen)), unit="s")
    keep = (created < window_end).to_numpy()
    chosen, created = chosen[keep], created[keep]
    p_bad = np.where(refunded[chosen], 0.75, np.where(is_last.to_numpy()[chosen], 0.45, 0.12))
    draw = rng.random(len(chosen))
    mood = np.where(draw < p_bad, "bad", np.where(draw < p_bad + 0.1, "mixed", "good"))
    first_product = lines.drop_duplicates("order_id").set_index("order_id")["product_id"]
    rows = []
    for k, i in enumerate(chosen):
        language = "de" if rng.random() < GERMAN_SHARE else "en"
        words = _PHRASES[language]
        aspect = _ASPECTS[0 if mood[k] == "bad" and rng.random() < 0.35 else rng.integers(len(_ASPECTS))]
        if refunded[i] and mood[k] == "bad":
            aspect = "quality"
        side = "bad" if mood[k] == "bad" else "good"
        phrase = words[side][aspect][rng.integers(len(words[side][aspect]))]
        close = words[f"{mood[k]}_close"][rng.integers(len(words[f"{mood[k]}_close"]))]
        if mood[k] == "mixed":
            other = _ASPECTS[rng.integers(len(_ASPECTS))]
            phrase += ", but " + words["bad"][other][0] if language == "en" else ", aber " + words["bad"][other][0]
        stars = {"bad": rng.integers(1, 3), "mixed": 3, "good": rng.integers(4, 6)}[mood[k]]
        rows.append({
            "review_id": f"RV{k + 1:07d}", "customer_id": orders["customer_id"].iloc[i],
            "product_id": first_product.get(orders["order_id"].iloc[i], ""),
            "rating": "" if rng.random() < UNRATED_SHARE else str(int(stars)), "title": "",
            "text": f"{phrase[0].upper()}{phrase[1:]}. {close}",
            "created_at": created.iloc[k].strftime("%Y-%m-%dT%H:%M:%SZ"), "language": language,
        })
    return pd.DataFrame(rows, columns=columns)
