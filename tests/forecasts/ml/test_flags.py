"""forecasts.ml.flags: the refund abuser and the bot are flagged with reasons, ordinary customers are not."""

import numpy as np
import pandas as pd

from forecasts.ml.flags import customer_flags_frame


def test_refund_abuser_and_bot_session_are_flagged_and_nobody_else():
    rng = np.random.default_rng(0)
    rows = []
    for c in range(200):
        for _ in range(5):
            rows.append((c, 50.0, "refunded" if rng.random() < 0.04 else "placed"))
    rows += [(999, 80.0, "refunded")] * 4 + [(999, 80.0, "placed")]
    orders = pd.DataFrame(rows, columns=["customer_id", "total", "status"])
    start = pd.Timestamp("2024-03-01 10:00", tz="UTC")
    calm = [start + pd.Timedelta(seconds=30 * k) for k in range(20)] * 50
    people = pd.DataFrame({"customer_id": np.repeat(np.arange(50), 20),
                           "session_id": np.repeat([f"s{i}" for i in range(50)], 20), "occurred_at": calm})
    bot = pd.DataFrame({"customer_id": 777, "session_id": "b1",
                        "occurred_at": [start + pd.Timedelta(seconds=k) for k in range(120)]})
    flags = customer_flags_frame(orders, pd.concat([people, bot]))
    assert sorted(zip(flags["customer_id"], flags["kind"], strict=True)) == [(777, "bot_sessions"),
                                                                             (999, "refund_abuse")]
    reason = flags.set_index("kind").loc["refund_abuse", "reason"]
    assert "4 of 5" in reason and "80%" in reason
    assert "60 in one minute" in flags.set_index("kind").loc["bot_sessions", "reason"]


def test_no_orders_and_no_events_give_no_flags():
    empty = pd.DataFrame(columns=["customer_id", "total", "status"])
    assert customer_flags_frame(empty, None).empty
