"""Shared save / load helpers for model artifacts.

Every model directory holds its weights in the library's native format (LightGBM text model, torch
state_dict of tensors) plus a `metadata.json` written here: algorithm, task, the feature list in
order, library versions and the model's config. Nothing is pickled, so an artifact can be read by a
newer code version (or audited by a person) without executing stored code, and a changed feature
list is caught by `check_features` before a model silently scores shuffled columns.
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from predictions.ml.base import FeatureMismatch
from predictions.ml.features import FEATURE_DEFINITION

METADATA_FILE = "metadata.json"
CALIBRATOR_FILE = "calibrator.json"
FORMAT_VERSION = 1

# Libraries whose versions decide whether an artifact reproduces; recorded, not enforced.
_TRACKED_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "torch")


@dataclass(frozen=True)
class ArtifactMetadata:
    """What `metadata.json` says about a saved model."""

    algorithm: str
    task: str
    features: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    # features.FEATURE_DEFINITION when the model was trained (1 for artifacts written before it was recorded)
    feature_definition: int = FEATURE_DEFINITION
    library_versions: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries an artifact depends on (missing ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in _TRACKED_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _json_safe(value: Any) -> Any:
    """Turn numpy scalars / arrays and non-finite floats into plain JSON values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: Any) -> None:
    """Write `payload` as indented JSON; numpy values are converted, NaN / inf become null."""
    path.write_text(json.dumps(_json_safe(payload), indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file written by `write_json`."""
    return json.loads(path.read_text())


def write_metadata(
    directory: Path, *, algorithm: str, task: str, features: list[str], config: dict[str, Any]
) -> ArtifactMetadata:
    """Create `directory` if needed and write its `metadata.json`; returns what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = ArtifactMetadata(
        algorithm=algorithm,
        task=task,
        features=list(features),
        config=_json_safe(config),
        library_versions=library_versions(),
    )
    write_json(
        directory / METADATA_FILE,
        {
            "algorithm": meta.algorithm,
            "task": meta.task,
            "features": meta.features,
            "config": meta.config,
            "library_versions": meta.library_versions,
            "format_version": meta.format_version,
            "feature_definition": meta.feature_definition,
        },
    )
    return meta


def read_metadata(directory: Path, *, algorithm: str | None = None) -> ArtifactMetadata:
    """Read `metadata.json` from `directory`; with `algorithm`, refuse an artifact of another algorithm."""
    raw = read_json(directory / METADATA_FILE)
    if algorithm is not None and raw["algorithm"] != algorithm:
        raise ValueError(f"{directory} holds a {raw['algorithm']!r} model, not {algorithm!r}")
    return ArtifactMetadata(
        algorithm=raw["algorithm"],
        task=raw["task"],
        features=list(raw["features"]),
        config=raw.get("config", {}),
        library_versions=raw.get("library_versions", {}),
        format_version=raw.get("format_version", FORMAT_VERSION),
        feature_definition=raw.get("feature_definition", 1),
    )


def check_features(saved: list[str], expected: list[str]) -> None:
    """Raise `FeatureMismatch` unless `saved` and `expected` are the same names in the same order.

    Order matters: models read X by position, so a reordered list would feed every column to the
    wrong weights without any error.
    """
    saved, expected = list(saved), list(expected)
    if saved == expected:
        return
    missing = [name for name in saved if name not in expected]
    extra = [name for name in expected if name not in saved]
    parts = []
    if missing:
        parts.append(f"no longer built: {', '.join(missing)}")
    if extra:
        parts.append(f"new: {', '.join(extra)}")
    if not parts:
        parts.append("same features in another order")
    raise FeatureMismatch("model was trained on other features (" + "; ".join(parts) + ")")


def check_meta(meta: ArtifactMetadata, expected: list[str]) -> None:
    """Raise `FeatureMismatch` unless the saved model read the features this code builds: the same names in the same
    order (`check_features`), meaning what they meant when it was trained (`features.FEATURE_DEFINITION`)."""
    if meta.feature_definition != FEATURE_DEFINITION:
        raise FeatureMismatch(
            f"model was trained on an earlier definition of the features ({meta.feature_definition}; this code "
            f"builds definition {FEATURE_DEFINITION}: since 2, an order counts as a visit)"
        )
    check_features(meta.features, expected)


def require_columns(X_columns: Any, features: list[str]) -> None:
    """Raise `FeatureMismatch` when a frame lacks some of the features a model was trained on."""
    present = set(map(str, X_columns))
    missing = [name for name in features if name not in present]
    if missing:
        raise FeatureMismatch(f"input lacks features the model needs: {', '.join(missing)}")
