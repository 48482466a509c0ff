"""The contracts shared by the feature code, the models and the pipeline.

Frames (all timestamps are tz-aware UTC pandas datetimes; ids are the database's integer ids):

- customers:   customer_id (int64), signup_at (datetime, NaT allowed)
- orders:      order_id (int64), customer_id (int64), placed_at (datetime), total (float64, NaN allowed),
               item_count (float64, NaN allowed), status (str: placed / cancelled / refunded)
- order_lines: order_id (int64), customer_id (int64), placed_at (datetime), product_id (int64),
               category_id (float64, NaN allowed), quantity (float64), unit_price (float64, NaN allowed)
- events:      customer_id (int64), occurred_at (datetime), type (str), product_id (float64, NaN allowed)
- reviews:     customer_id (int64), created_at (datetime), stars (float64, NaN: unrated), negative (bool: the
               reviews app's sentiment), aspect (float64: index into reasons.REVIEW_ASPECT_WORDS, -1 none);
               optional (None: the shop has no reviews)

Any of order_lines and events may be empty (many shops export only order totals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ShopFrames:
    customers: pd.DataFrame
    orders: pd.DataFrame
    order_lines: pd.DataFrame
    events: pd.DataFrame
    reviews: pd.DataFrame | None = None


@dataclass(frozen=True)
class EventSequences:
    """The last `steps` events and orders of each customer, oldest first, right-aligned (padding first).

    types: int64 [n, steps] (0 = padding; see eventseq.type_codes), categories: int64 [n, steps]
    (0 = unknown), numeric: float32 [n, steps, channels] (eventseq.NUMERIC_CHANNELS)."""

    types: np.ndarray
    categories: np.ndarray
    numeric: np.ndarray

    def take(self, rows: np.ndarray | slice) -> EventSequences:
        return EventSequences(types=self.types[rows], categories=self.categories[rows], numeric=self.numeric[rows])

    @staticmethod
    def concat(parts: list[EventSequences]) -> EventSequences:
        return EventSequences(
            types=np.concatenate([p.types for p in parts]),
            categories=np.concatenate([p.categories for p in parts]),
            numeric=np.concatenate([p.numeric for p in parts]),
        )


@dataclass(frozen=True)
class ModelInput:
    """What every model reads: static features, the per-customer sequence, and (when training) labels.

    X: one row per customer, float32 columns in a fixed order (the feature list).
    sequences: float32 array [customers, time bins, channels], or None when the model needs none.
    y: 0/1 labels aligned with X (None when scoring).
    events: each customer's last individual events and orders (only built for the event-level model).
    """

    customer_ids: np.ndarray
    X: pd.DataFrame
    sequences: np.ndarray | None = None
    y: np.ndarray | None = None
    events: EventSequences | None = None


class Model(Protocol):
    """Every algorithm (baselines, BG/NBD, LightGBM, LSTM, ensemble) has this shape."""

    algorithm: str

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Fit on `train`; `valid` is for early stopping and calibration only."""

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the positive class, one per row of `data.X`."""

    def save(self, directory: Path) -> None:
        """Native formats plus a metadata JSON (features in order, library versions). Never pickle."""


class FeatureMismatch(Exception):
    """An artifact was trained on another feature list than the code now builds."""


def training_labels(train: ModelInput, valid: ModelInput | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The 0/1 labels a supervised fit needs, as int64: refuses a missing set of labels, and training
    labels of a single class (nothing to learn). `valid` may be omitted by models that only train."""
    if train.y is None or (valid is not None and valid.y is None):
        raise ValueError("fit needs labels in both train and valid")
    y_train = np.asarray(train.y).astype(np.int64)
    if len(y_train) == 0 or y_train.min() == y_train.max():
        raise ValueError("training labels hold a single class; nothing to learn")
    return y_train, (np.asarray(valid.y).astype(np.int64) if valid is not None else None)
