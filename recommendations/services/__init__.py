"""Writes of the recommendations app, by topic: the build by customer partitions (build.py), the refresh of some
customers' lists (refresh.py), the offline evaluation and the similar-products export (evaluate.py)."""

from .build import (
    BuildOutcome,
    _ranker_load,
    _ranker_save,
    recommendations_build,
    recommendations_build_fail,
    recommendations_build_resume,
    recommendations_partition_run,
    recommendations_statistics_run,
    recommendations_step_fail,
    recommender_config,
)
from .evaluate import recommendations_evaluate, similar_products_export
from .refresh import RefreshOutcome, customers_rescored_refresh, recommendations_refresh

__all__ = [
    "BuildOutcome", "RefreshOutcome", "_ranker_load", "_ranker_save", "customers_rescored_refresh",
    "recommendations_build", "recommendations_build_fail", "recommendations_build_resume", "recommendations_evaluate",
    "recommendations_partition_run", "recommendations_refresh", "recommendations_statistics_run",
    "recommendations_step_fail", "recommender_config",
    "similar_products_export",
]
