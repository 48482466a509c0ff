"""Long horizons: a supervised model of a shorter horizon blended with the label-free model of the long one.

When the history is too short to label a window of the shop's horizon H (39 weeks of data, a 39-week horizon),
only label-free models (Pareto/NBD, BG/NBD) can be fitted for H. A supervised model can still be trained on the
longest horizon h < H whose labelled windows fit, and it knows things the label-free model ignores (spend, order
sizes, recent trend). The two are blended by percentiles: each member's score becomes its percentile among the
customers the model was fitted on (stored as quantile knots, so scoring in chunks gives the same answer), the
percentiles are averaged with `weight` on the supervised member, and the blend's percentile is mapped back to
the label-free model's own probability at that percentile - its probabilities keep their level for H, the order
is the blend's.

Saved as metadata.json (weight, proxy horizon, knots) with each member in its own subdirectory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predictions.ml.artifacts import check_meta, read_metadata, write_metadata
from predictions.ml.base import Model, ModelInput

KNOTS = 513
LEVELS = np.linspace(0.0, 1.0, KNOTS)


def _loaders() -> dict:
    from predictions.ml.baselines import RecencyModel, RfmLogReg
    from predictions.ml.bgnbd import BgNbdModel
    from predictions.ml.ensemble import EnsembleModel
    from predictions.ml.gbm import LightGbmModel
    from predictions.ml.paretonbd import ParetoNbdModel

    models = (RecencyModel, RfmLogReg, BgNbdModel, ParetoNbdModel, LightGbmModel, EnsembleModel)
    return {m.algorithm: m.load for m in models}


def _percentile(values: np.ndarray, knots: np.ndarray) -> np.ndarray:
    # flat stretches of knots (many equal scores) get their middle percentile
    low = np.interp(values, knots, LEVELS, left=0.0, right=1.0)
    high = 1.0 - np.interp(-values, -knots[::-1], LEVELS, left=0.0, right=1.0)
    return (low + high) / 2


class LongHorizonModel:
    """`Model`: percentile blend of a fitted supervised `proxy` (horizon `proxy_horizon`) and a fitted label-free
    model of the full horizon (see the module docstring). `fit` only records the reference distributions."""

    algorithm = "long_horizon"

    def __init__(self, *, label_free: Model, proxy: Model, proxy_horizon: int, weight: float = 0.5,
                 task: str = "") -> None:
        self.label_free = label_free
        self.proxy = proxy
        self.proxy_horizon = int(proxy_horizon)
        self.weight = float(weight)
        self.task = task or str(getattr(label_free, "task", ""))
        self.features: list[str] = list(getattr(label_free, "features", []))
        self.knots: dict[str, np.ndarray] = {}

    def _blend(self, data: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        own = np.asarray(self.label_free.predict_proba(data), dtype=np.float64)
        proxy = np.asarray(self.proxy.predict_proba(data), dtype=np.float64)
        if not self.knots:
            return own, proxy
        blend = (self.weight * _percentile(proxy, self.knots["proxy"])
                 + (1 - self.weight) * _percentile(own, self.knots["own"]))
        return own, blend

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Record the members' score quantiles on `valid` (the customers as of the fit); members are fitted."""
        del train
        self.features = [str(c) for c in valid.X.columns]
        self.knots = {}
        own, proxy = self._blend(valid)
        self.knots = {"own": np.quantile(own, LEVELS), "proxy": np.quantile(proxy, LEVELS)}
        _, blend = self._blend(valid)
        self.knots["blend"] = np.quantile(blend, LEVELS)

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """The label-free model's probability at the blend's percentile."""
        if not self.knots:
            raise RuntimeError("LongHorizonModel is not fitted")
        _, blend = self._blend(data)
        p = np.interp(_percentile(blend, self.knots["blend"]), LEVELS, self.knots["own"])
        # keep the blend's order within flat stretches of the label-free probabilities
        return np.clip(p + 1e-6 * blend, 1e-6, 1 - 1e-6)

    def save(self, directory: Path) -> None:
        """metadata.json with weight, horizon and knots; the members in member_label_free/ and member_proxy/."""
        directory = Path(directory)
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config={
            "weight": self.weight, "proxy_horizon": self.proxy_horizon,
            "label_free": self.label_free.algorithm, "proxy": self.proxy.algorithm,
            "knots": {name: values.tolist() for name, values in self.knots.items()},
        })
        self.label_free.save(directory / "member_label_free")
        self.proxy.save(directory / "member_proxy")

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str]) -> LongHorizonModel:
        """Read a saved model and its members; FeatureMismatch when any part saw other features."""
        directory = Path(directory)
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        loaders = _loaders()
        label_free = loaders[meta.config["label_free"]](directory / "member_label_free",
                                                        expected_features=expected_features)
        proxy = loaders[meta.config["proxy"]](directory / "member_proxy", expected_features=expected_features)
        model = cls(label_free=label_free, proxy=proxy, proxy_horizon=meta.config["proxy_horizon"],
                    weight=meta.config["weight"], task=meta.task)
        model.features = list(meta.features)
        model.knots = {name: np.asarray(values, dtype=np.float64) for name, values in meta.config["knots"].items()}
        return model
