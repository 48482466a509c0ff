"""Model artifacts on disk and their `ModelVersion` rows.

An artifact is written into a temporary folder and renamed into place only when complete
(`ecomsight.artifacts`, shared with the reviews' sentiment model), and the ModelVersion row that points at it
is created after that: the registry never points at a partly written model, whatever kills the process
(SIGTERM, SIGKILL, a full disk)."""

from __future__ import annotations

from pathlib import Path

from ecomsight.artifacts import artifact_folder, artifact_write
from ecomsight.errors import UserError

from ..ml.base import FeatureMismatch, Model
from ..ml.features import feature_names
from ..models import ModelVersion


def _model_class(algorithm: str):
    if algorithm == "recency":
        from ..ml.baselines import RecencyModel

        return RecencyModel
    if algorithm == "rfm_logreg":
        from ..ml.baselines import RfmLogReg

        return RfmLogReg
    if algorithm == "bgnbd":
        from ..ml.bgnbd import BgNbdModel

        return BgNbdModel
    if algorithm == "paretonbd":
        from ..ml.paretonbd import ParetoNbdModel

        return ParetoNbdModel
    if algorithm == "long_horizon":
        from ..ml.longhorizon import LongHorizonModel

        return LongHorizonModel
    if algorithm == "lgbm":
        from ..ml.gbm import LightGbmModel

        return LightGbmModel
    if algorithm == "lstm":
        from ..ml.lstm import LstmModel

        return LstmModel
    if algorithm == "event_gru":
        from ..ml.eventgru import EventGruModel

        return EventGruModel
    if algorithm == "ensemble":
        from ..ml.ensemble import EnsembleModel

        return EnsembleModel
    raise UserError(f"Unknown algorithm '{algorithm}'.")


def artifact_save(*, model: Model, shop_slug: str, task: str, horizon_days: int, run_key: str) -> Path:
    """Save a model under MODEL_DIR/<shop>/<task>-<H>d/<run>/<algorithm>, atomically (temp dir + rename)."""
    final = artifact_folder(shop_slug=shop_slug, task=f"{task}-{horizon_days}d", run_key=run_key,
                            algorithm=model.algorithm)
    return artifact_write(final, model.save)


_CACHE: dict[int, Model] = {}


def model_load(*, version: ModelVersion) -> Model:
    """The fitted model of a version (cached per process: scoring chunks reuse it).

    Refuses an artifact built for another feature list than the code builds now."""
    cached = _CACHE.get(version.pk)
    if cached is not None:
        return cached
    path = Path(version.artifact_path)
    if not path.exists():
        raise UserError(f"The artifact of model version {version.pk} is missing ({path}). Train again.")
    try:
        model = _model_class(version.algorithm).load(path, expected_features=feature_names())
    except FeatureMismatch as exc:
        raise UserError(
            f"Model version {version.pk} cannot read the features this code builds ({exc}). Train again."
        ) from exc
    _CACHE[version.pk] = model
    return model
