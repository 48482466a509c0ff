"""A weighted blend of already fitted models, with the weights chosen on validation.

Members' calibrated probabilities are averaged in logit space (a weighted geometric mean of odds),
which keeps a confident member confident instead of pulling every blend toward 0.5. The weights
come from a grid with step 0.1 over the simplex (w and 1 - w for two members) scored by validation
log loss; the blend is then re-calibrated on the same validation split, since averaging logits of
calibrated models is not itself calibrated.

`fit(train, valid)` does NOT train the members: they must already be fitted (on the same train /
valid split) — the pipeline trains each member once and reuses it alone and in the blend.

Layout on disk:
    directory/metadata.json      algorithm "ensemble", features, weights, member subdirectories
    directory/calibrator.json
    directory/member_0_lightgbm/ each member's own artifact (its save())
    directory/member_1_lstm/
`load(directory, *, expected_features, member_loaders)` loads each member with the loader registered
for its algorithm; LightGBM and LSTM are known by default, others (baselines) are passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predictions.ml.artifacts import (
    CALIBRATOR_FILE,
    check_meta,
    read_json,
    read_metadata,
    write_json,
    write_metadata,
)
from predictions.ml.base import Model, ModelInput
from predictions.ml.calibration import Calibrator, fit_calibrator

MemberLoader = Callable[..., Model]  # called as loader(directory, expected_features=[...])
_EPS = 1e-6
GRID_STEP = 0.1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def weight_grid(n_members: int, *, step: float = GRID_STEP) -> np.ndarray:
    """All weight vectors on the simplex with the given step: shape [combinations, n_members]."""
    ticks = round(1.0 / step)
    rows = [
        [c / ticks for c in combo] + [(ticks - sum(combo)) / ticks]
        for combo in itertools.product(range(ticks + 1), repeat=n_members - 1)
        if sum(combo) <= ticks
    ]
    return np.asarray(rows, dtype=np.float64)


def _default_loaders() -> dict[str, MemberLoader]:
    from predictions.ml.baselines import RfmLogReg
    from predictions.ml.gbm import LightGbmModel
    from predictions.ml.lstm import LstmModel
    from predictions.ml.paretonbd import ParetoNbdModel

    return {model.algorithm: model.load for model in (LightGbmModel, LstmModel, ParetoNbdModel, RfmLogReg)}


class EnsembleModel:
    """Model protocol implementation blending fitted `members` (see the module docstring)."""

    algorithm = "ensemble"

    def __init__(self, members: Sequence[Model], *, task: str = "", weights: Sequence[float] | None = None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.task = task or str(getattr(self.members[0], "task", ""))
        self.weights = np.asarray(weights, dtype=np.float64) if weights is not None else None
        self.calibrator: Calibrator | None = None
        self.features: list[str] = list(getattr(self.members[0], "features", []))
        self.valid_log_loss: float | None = None

    def _blend_logits(self, data: ModelInput, weights: np.ndarray) -> np.ndarray:
        stacked = np.column_stack([_logit(m.predict_proba(data)) for m in self.members])
        return stacked @ weights

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Choose the member weights by validation log loss and re-calibrate; members must be fitted.

        `train` is unused (kept for the Model protocol): fitting the weights on training
        predictions would favour the member that overfits most.
        """
        del train
        if valid.y is None:
            raise ValueError("fit needs labels in valid")
        y = np.asarray(valid.y).astype(np.float64)
        logits = np.column_stack([_logit(m.predict_proba(valid)) for m in self.members])
        grid = weight_grid(len(self.members))
        losses = [_log_loss(y, 1.0 / (1.0 + np.exp(-(logits @ w)))) for w in grid]
        best = int(np.argmin(losses))  # first minimum: ties go to the earlier grid point, deterministically
        self.weights = grid[best]
        self.valid_log_loss = float(losses[best])
        blended = 1.0 / (1.0 + np.exp(-(logits @ self.weights)))
        self.calibrator = fit_calibrator(blended, y)
        if not self.features:
            self.features = [str(c) for c in valid.X.columns]

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the positive class for each row of `data`."""
        if self.weights is None or self.calibrator is None:
            raise RuntimeError("ensemble is not fitted")
        # Members with weight 0 are skipped entirely (an LSTM costs real time to score).
        used = np.flatnonzero(self.weights > 0)
        logits = np.column_stack([_logit(self.members[i].predict_proba(data)) for i in used]) @ self.weights[used]
        return self.calibrator.apply(1.0 / (1.0 + np.exp(-logits)))

    def member_dirs(self) -> list[str]:
        """Subdirectory names the members are saved under, in member order."""
        return [f"member_{i}_{m.algorithm}" for i, m in enumerate(self.members)]

    def save(self, directory: Path) -> None:
        """Save every member in its own subdirectory, then the weights, calibrator and metadata."""
        if self.weights is None or self.calibrator is None:
            raise RuntimeError("ensemble is not fitted")
        directory = Path(directory)
        config: dict[str, Any] = {
            "weights": self.weights.tolist(),
            "members": [
                {"directory": name, "algorithm": m.algorithm}
                for name, m in zip(self.member_dirs(), self.members, strict=True)
            ],
            "valid_log_loss": self.valid_log_loss,
        }
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config=config)
        for name, member in zip(self.member_dirs(), self.members, strict=True):
            member.save(directory / name)
        write_json(directory / CALIBRATOR_FILE, self.calibrator.to_dict())

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        expected_features: list[str],
        member_loaders: Mapping[str, MemberLoader] | None = None,
    ) -> EnsembleModel:
        """Load the ensemble and its members; `FeatureMismatch` if any part saw other features.

        member_loaders maps an algorithm name to a loader called as
        `loader(subdirectory, expected_features=...)`; LightGBM and LSTM are registered by default.
        """
        directory = Path(directory)
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        loaders = {**_default_loaders(), **(member_loaders or {})}
        members: list[Model] = []
        for entry in meta.config["members"]:
            loader = loaders.get(entry["algorithm"])
            if loader is None:
                raise ValueError(f"no loader for ensemble member algorithm {entry['algorithm']!r}")
            members.append(loader(directory / entry["directory"], expected_features=expected_features))
        model = cls(members, task=meta.task, weights=meta.config["weights"])
        model.features = list(meta.features)
        model.valid_log_loss = meta.config.get("valid_log_loss")
        model.calibrator = Calibrator.from_dict(read_json(directory / CALIBRATOR_FILE))
        return model
