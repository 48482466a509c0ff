import json

import numpy as np
import pytest

from predictions.ml.artifacts import check_features, read_metadata, require_columns, write_metadata
from predictions.ml.base import FeatureMismatch

FEATURES = ["recency_days", "frequency_total", "spend_365d"]


def test_check_features_accepts_identical_list():
    check_features(list(FEATURES), list(FEATURES))


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        (["frequency_total", "recency_days", "spend_365d"], "another order"),
        (["recency_days", "frequency_total"], "no longer built: spend_365d"),
        ([*FEATURES, "views_30d"], "new: views_30d"),
    ],
)
def test_check_features_catches_reordered_missing_or_new_features(expected, message):
    with pytest.raises(FeatureMismatch, match=message):
        check_features(FEATURES, expected)


def test_require_columns_names_missing_feature():
    with pytest.raises(FeatureMismatch, match="spend_365d"):
        require_columns(["recency_days", "frequency_total"], FEATURES)


def test_metadata_round_trip_records_versions_and_writes_strict_json_for_nan(tmp_path):
    config = {"threshold": np.float32(0.5), "stats": np.array([1.0, np.nan]), "nested": {"inf": float("inf")}}
    write_metadata(tmp_path / "m", algorithm="lightgbm", task="churn", features=FEATURES, config=config)

    raw = (tmp_path / "m" / "metadata.json").read_text()
    json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    meta = read_metadata(tmp_path / "m", algorithm="lightgbm")
    assert meta.features == FEATURES
    assert meta.task == "churn"
    assert meta.config == {"threshold": 0.5, "stats": [1.0, None], "nested": {"inf": None}}
    assert {"lightgbm", "torch", "numpy"} <= set(meta.library_versions)


def test_read_metadata_refuses_artifact_of_another_algorithm(tmp_path):
    write_metadata(tmp_path, algorithm="lstm", task="churn", features=FEATURES, config={})
    with pytest.raises(ValueError, match="lstm"):
        read_metadata(tmp_path, algorithm="lightgbm")
