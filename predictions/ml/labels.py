"""Labels for a cutoff T and horizon H, and whether a shop's history is long enough to learn from.

purchase: 1 when the customer places >= 1 non-cancelled order in (T, T + H].
churn:    1 when the customer places no non-cancelled order in (T, T + H]; only defined for
          customers active at T (see `features.eligible_customers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predictions.ml.base import ShopFrames
from predictions.ml.features import TASKS, as_utc, days_before, eligible_customers


def buyers_in_window(frames: ShopFrames, *, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Sorted ids of customers with >= 1 non-cancelled order in (start, end]."""
    orders = frames.orders
    if len(orders) == 0:
        return np.zeros(0, dtype=np.int64)
    start, end = as_utc(start), as_utc(end)
    placed = pd.to_datetime(orders["placed_at"])
    age_from_end = days_before(placed, end)
    age_from_start = days_before(placed, start)
    in_window = (age_from_end >= 0) & (age_from_start < 0)
    bought = (orders["status"].astype(str) != "cancelled").to_numpy()
    return np.unique(orders["customer_id"].to_numpy(dtype=np.int64)[in_window & bought])


def build_labels(
    frames: ShopFrames, *, cutoff: pd.Timestamp, horizon_days: int, task: str, customer_ids: np.ndarray
) -> np.ndarray:
    """0/1 int8 labels for `customer_ids` (in that order) at `cutoff` over `horizon_days`.

    The caller chooses the customers (normally `eligible_customers`); churn labels of customers
    who were not active at T are meaningless, so pass only active ones for churn.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    cutoff = as_utc(cutoff)
    buyers = buyers_in_window(frames, start=cutoff, end=cutoff + pd.Timedelta(days=horizon_days))
    bought = np.isin(np.asarray(customer_ids, dtype=np.int64), buyers)
    return (bought if task == "purchase" else ~bought).astype(np.int8)


def data_end(frames: ShopFrames) -> pd.Timestamp | None:
    """The latest timestamp in orders or events (None for an empty shop)."""
    ends = [
        pd.to_datetime(frame[column]).max()
        for frame, column in ((frames.orders, "placed_at"), (frames.events, "occurred_at"))
        if len(frame)
    ]
    ends = [e for e in ends if not pd.isna(e)]
    return as_utc(max(ends)) if ends else None


def data_start(frames: ShopFrames) -> pd.Timestamp | None:
    """The earliest order or event timestamp (None for an empty shop)."""
    starts = [
        pd.to_datetime(frame[column]).min()
        for frame, column in ((frames.orders, "placed_at"), (frames.events, "occurred_at"))
        if len(frame)
    ]
    starts = [s for s in starts if not pd.isna(s)]
    return as_utc(min(starts)) if starts else None


@dataclass(frozen=True)
class SufficiencyThresholds:
    """How much labelled data each algorithm needs (defaults are deliberately modest)."""

    min_bgnbd_buyers: int = 50
    min_bgnbd_repeat_buyers: int = 10
    min_baseline_rows: int = 50
    min_baseline_positives: int = 10
    min_gbm_rows: int = 200
    min_gbm_positives: int = 30
    min_lstm_train_rows: int = 2000
    # Features need some past before the first training cutoff, or every customer looks brand new.
    min_feature_history_days: int = 30


@dataclass(frozen=True)
class Sufficiency:
    """What a shop's history allows: counts, the labelled cutoffs it holds, the algorithms allowed.

    messages explain in plain words why an algorithm is not allowed.
    """

    customers: int
    buyers: int
    repeat_buyers: int
    history_days: int
    horizon_days: int
    labelled_cutoffs_possible: int
    algorithms_allowed: list[str]
    messages: list[str] = field(default_factory=list)
    # Per algorithm the history does not allow, the message that says why (the others' messages are not its).
    reasons: dict[str, str] = field(default_factory=dict)
    validation_rows: int = 0
    validation_positives: int = 0
    train_rows: int = 0

    def refusal(self, algorithm: str) -> str | None:
        """'not trained: <why>' for an algorithm the history does not allow, None for one it allows."""
        if algorithm in self.algorithms_allowed or algorithm not in self.reasons:
            return None
        return f"not trained: {self.reasons[algorithm]}"


# The algorithms that learn from labelled outcomes (the others, BG/NBD and Pareto/NBD, fit the history alone).
SUPERVISED_ALGORITHMS = ("recency", "rfm_logreg", "lgbm", "lstm", "event_gru", "ensemble")


def default_step_days(horizon_days: int) -> int:
    """Days between stacked training cutoffs: half the horizon, at least a week.

    Half a horizon keeps consecutive label windows overlapping by half (more examples from a short
    history) without repeating nearly the same rows.
    """
    return max(7, horizon_days // 2)


def history_sufficiency(
    frames: ShopFrames,
    *,
    as_of: pd.Timestamp,
    horizon_days: int,
    lookback_days: int = 365,
    task: str = "churn",
    n_train_cutoffs: int = 4,
    step_days: int | None = None,
    thresholds: SufficiencyThresholds | None = None,
) -> Sufficiency:
    """Say which algorithms the history up to `as_of` supports for `task` over `horizon_days`.

    The validation cutoff is as_of - H (its labels end at as_of); training cutoffs are
    as_of - 2H - k * step, so their labels end before validation starts. A labelled cutoff needs
    min_feature_history_days of data before it.
    """
    th = thresholds or SufficiencyThresholds()
    step = step_days or default_step_days(horizon_days)
    as_of = as_utc(as_of)
    horizon = pd.Timedelta(days=horizon_days)

    orders = frames.orders
    age = days_before(orders["placed_at"], as_of) if len(orders) else np.zeros(0)
    bought = (orders["status"].astype(str) != "cancelled").to_numpy() if len(orders) else np.zeros(0, dtype=bool)
    past = bought & (age >= 0)
    per_customer = pd.Series(np.floor(age[past])).groupby(orders["customer_id"].to_numpy()[past]).nunique()
    buyers, repeat_buyers = int(len(per_customer)), int((per_customer >= 2).sum())
    customers = len(eligible_customers(frames, cutoff=as_of, task="purchase"))
    start = data_start(frames)
    history_days = int(max(0.0, (as_of - start) / pd.Timedelta(days=1))) if start is not None else 0

    valid_cutoff = as_of - horizon
    earliest = start + pd.Timedelta(days=th.min_feature_history_days) if start is not None else None

    def rows_and_positives(cutoff: pd.Timestamp) -> tuple[int, int]:
        ids = eligible_customers(frames, cutoff=cutoff, task=task, lookback_days=lookback_days)
        y = build_labels(frames, cutoff=cutoff, horizon_days=horizon_days, task=task, customer_ids=ids)
        return len(ids), int(y.sum())

    labelled = 0
    valid_rows = valid_pos = train_rows = train_pos = 0
    if earliest is not None and valid_cutoff >= earliest:
        first_train = valid_cutoff - horizon
        # validation + every training cutoff first_train - k * step that still has feature history
        labelled = 1 + (int((first_train - earliest) / pd.Timedelta(days=step)) + 1 if first_train >= earliest else 0)
        valid_rows, valid_pos = rows_and_positives(valid_cutoff)
        for k in range(min(n_train_cutoffs, labelled - 1)):
            rows, pos = rows_and_positives(valid_cutoff - horizon - pd.Timedelta(days=k * step))
            train_rows, train_pos = train_rows + rows, train_pos + pos

    allowed: list[str] = []
    messages: list[str] = []
    reasons: dict[str, str] = {}

    def refuse(message: str, algorithms: tuple[str, ...]) -> None:
        messages.append(message)
        for name in algorithms:
            reasons.setdefault(name, message)

    supervised = SUPERVISED_ALGORITHMS
    yes, no = ("bought", "did not buy") if task == "purchase" else ("left", "stayed")

    def outcomes(rows: int, positives: int) -> str:
        return f"{rows:,} customers ({positives:,} {yes}, {rows - positives:,} {no})"

    if buyers >= th.min_bgnbd_buyers and repeat_buyers >= th.min_bgnbd_repeat_buyers:
        allowed += ["bgnbd", "paretonbd"]
    else:
        refuse(f"BG/NBD needs {th.min_bgnbd_buyers} buyers of whom {th.min_bgnbd_repeat_buyers} bought twice; "
               f"the shop has {buyers} buyers and {repeat_buyers} repeat buyers", ("bgnbd", "paretonbd"))
    if history_days < 2 * horizon_days:
        only = ("only BG/NBD and Pareto/NBD can be used" if "bgnbd" in allowed
                else "no model can learn from outcomes yet")
        refuse(f"history of {history_days} days is shorter than 2 × horizon ({2 * horizon_days}): {only}",
               supervised)
    elif labelled < 2:
        refuse("there is not yet a training cutoff whose labels end before the validation period", supervised)
    else:
        negatives_ok = min(valid_rows - valid_pos, train_rows - train_pos) >= th.min_baseline_positives
        if (
            min(valid_rows, train_rows) >= th.min_baseline_rows
            and min(valid_pos, train_pos) >= th.min_baseline_positives
            and negatives_ok
        ):
            allowed += ["recency", "rfm_logreg"]
        else:
            refuse(f"too few of each outcome to learn from (at least {th.min_baseline_positives} of each): "
                   f"validation has {outcomes(valid_rows, valid_pos)}, training {outcomes(train_rows, train_pos)}",
                   supervised)
        if valid_rows >= th.min_gbm_rows and min(valid_pos, train_pos) >= th.min_gbm_positives and negatives_ok:
            allowed.append("lgbm")
            if train_rows >= th.min_lstm_train_rows:
                allowed += ["lstm", "ensemble"]
            else:
                refuse(f"the LSTM needs {th.min_lstm_train_rows:,} training rows; the history gives {train_rows:,}",
                       ("lstm", "event_gru", "ensemble"))
        else:
            refuse(f"LightGBM needs {th.min_gbm_rows} validation customers, {th.min_gbm_positives} who {yes} and "
                   f"{th.min_baseline_positives} who {no} "
                   f"in training and validation each; validation has {outcomes(valid_rows, valid_pos)}, "
                   f"training {outcomes(train_rows, train_pos)}", ("lgbm", "lstm", "event_gru", "ensemble"))
    return Sufficiency(
        customers=customers,
        buyers=buyers,
        repeat_buyers=repeat_buyers,
        history_days=history_days,
        horizon_days=horizon_days,
        labelled_cutoffs_possible=labelled,
        algorithms_allowed=allowed,
        messages=messages,
        reasons=reasons,
        validation_rows=valid_rows,
        validation_positives=valid_pos,
        train_rows=train_rows,
    )
