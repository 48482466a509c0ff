"""The hybrid recommender, pure ML (numpy / pandas / scipy.sparse / scikit-learn; no Django)."""

from .build import BuildResult, build_all
from .config import RecommenderConfig
from .evaluate import EvaluationResult, evaluate_recommenders

__all__ = ["BuildResult", "EvaluationResult", "RecommenderConfig", "build_all", "evaluate_recommenders"]
