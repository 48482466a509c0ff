"""Configuration of the hybrid recommender (one frozen dataclass, stored with each build)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

RECOMMENDER_NAMES = (
    "popularity", "repurchase", "item_knn", "user_knn", "content", "visual", "personal_frequency", "tifu_knn", "als",
    "seqrec",
)


def _default_kind_weights() -> dict[str, float]:
    return {"purchase": 5.0, "cart": 2.0, "wishlist": 1.5, "view": 1.0}


@dataclass(frozen=True)
class RecommenderConfig:
    """Every knob of the recommenders; defaults suit a shop with months of history.

    `allow_rebuy` / `rebuy_by_category`: whether products a customer already bought may be
    recommended again (per-category overrides win; a category path matches itself and its children).
    """

    half_life_days: float = 90.0
    kind_weights: dict[str, float] = field(default_factory=_default_kind_weights)
    popularity_window_days: float = 90.0
    popularity_half_life_days: float = 30.0
    popularity_category_boost: float = 1.0
    item_neighbours: int = 50
    item_shrinkage: float = 10.0
    user_neighbours: int = 50
    user_top_items: int = 10
    user_posting_cap: int = 50
    content_neighbours: int = 50
    repurchase_sigma: float = 0.5
    candidates: int = 100
    similar_k: int = 20
    # Image cold start: up to this many places at the end of each list go to products nobody has interacted
    # with yet that look like what the customer bought (picture cosine at least the minimum); 0 turns it off.
    cold_start_slots: int = 1
    cold_start_min_similarity: float = 0.6
    allow_rebuy: bool = True
    rebuy_by_category: dict[str, bool] = field(default_factory=dict)
    block_size: int = 2000
    workers: int = 2  # processes computing customer lists in a build (1: in process)
    validation_customers: int = 3000
    validation_train_customers: int = 50_000
    validation_quantile: float = 0.85
    weight_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    weight_passes: int = 2
    seed: int = 0
    # TIFU-KNN: weight of a basket per basket after it, share of the customer's own vector, neighbours
    tifu_decay: float = 0.9
    tifu_alpha: float = 0.9
    tifu_neighbours: int = 100
    tifu_decays: tuple[float, ...] = (0.7, 0.8, 0.9, 0.97)  # tried on the validation split
    # above this many customers TIFU-KNN keeps only the personal vector (no neighbours, no decay search), and the
    # build keeps its time budget (200k customers: about +60 % of the list stage with neighbours)
    tifu_neighbours_max_customers: int = 100_000
    # ALS (implicit): not fitted above als_max_interactions purchase lines (one product in one basket)
    als_factors: int = 64
    als_regularization: float = 0.05
    als_alpha: float = 1.0
    als_iterations: int = 15
    als_max_interactions: int = 2_000_000
    # sequential deep recommender (sequential.py: a GRU over basket sequences, PyTorch). Not fitted above
    # seqrec_max_customers customers or seqrec_max_interactions purchase lines (build time budget, see README);
    # trains on at most seqrec_train_customers customers' sequences, seqrec_epochs epochs, and stops after the
    # epoch that passes seqrec_time_budget_s seconds. seqrec_device "auto": CUDA when available, else CPU.
    seqrec_dim: int = 48
    seqrec_max_baskets: int = 50
    seqrec_repeat_decay: float = 0.9  # the history term: a basket's products weigh decay ** (baskets since)
    seqrec_epochs: int = 10
    seqrec_batch_customers: int = 128
    seqrec_learning_rate: float = 0.01
    seqrec_weight_decay: float = 0.0
    seqrec_train_customers: int = 20_000
    seqrec_time_budget_s: float = 30.0
    seqrec_max_customers: int = 100_000
    seqrec_max_interactions: int = 2_000_000
    seqrec_device: str = "auto"
    # learned ranker (LightGBM lambdarank) over each member's top `ranker_candidates`
    # (above ranker_max_customers customers its candidate features would take most of a build's time budget)
    ranker: bool = True
    ranker_max_customers: int = 50_000
    ranker_candidates: int = 30
    ranker_rounds: int = 100
    ranker_leaves: int = 7
    ranker_min_leaf: int = 100

    def to_dict(self) -> dict:
        """JSON-safe form, for RecommenderVersion.params."""
        data = asdict(self)
        data["weight_grid"] = list(self.weight_grid)
        data["tifu_decays"] = list(self.tifu_decays)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RecommenderConfig:
        """The config `to_dict` wrote (keys it does not know, e.g. a build's own notes, are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key in ("weight_grid", "tifu_decays"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
