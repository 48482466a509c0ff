"""Small synthetic reviews in English and Chinese whose wording follows their stars (no real data in tests)."""

import numpy as np
import pandas as pd

GOOD_EN = ["great quality, love it", "fast delivery and well packed", "excellent value for money", "fits perfectly",
           "very happy with this purchase", "works great, recommended", "friendly support, quick refund"]
BAD_EN = ["broke after two days, poor quality", "delivery was late by two weeks", "terrible, waste of money",
          "too small, does not fit", "box arrived crushed and damaged", "rude customer service, no refund",
          "stopped working, very disappointed"]
GOOD_ZH = ["质量很好，非常满意", "物流很快，包装完好", "性价比高，值得购买", "服务态度很好", "做工精细，推荐"]
BAD_ZH = ["质量太差了，很失望", "物流太慢，等了两个星期", "包装破损，盒子压坏了", "客服态度很差，不给退款",
          "尺码偏小，穿不上"]


def reviews(n: int = 240, *, rated_share: float = 0.6, seed: int = 0) -> pd.DataFrame:
    """Reviews with text, language, a true label and a rating for `rated_share` of them (5/4 good, 1/2 bad)."""
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        good = bool(rng.rand() < 0.5)
        zh = bool(rng.rand() < 0.4)
        pool = (GOOD_ZH if good else BAD_ZH) if zh else (GOOD_EN if good else BAD_EN)
        text = pool[rng.randint(len(pool))]
        if rng.rand() < 0.5:
            text += ("，" if zh else ", ") + pool[rng.randint(len(pool))]
        rated = rng.rand() < rated_share
        rating = (rng.choice([4, 5]) if good else rng.choice([1, 2])) if rated else np.nan
        rows.append({"review_id": f"R{i}", "text": text, "title": "", "rating": rating, "truth": int(good),
                     "language": "zh" if zh else "en"})
    return pd.DataFrame(rows)
