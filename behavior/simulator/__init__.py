"""A synthetic shop whose hidden state is known, so predictions and recommendations can be scored.

Pure numpy / pandas (no Django): `simulate(config, out_dir)` writes customers, products, orders, order
lines and events in the CSV import formats of DESIGN.md, plus `truth.csv` (each customer's true
probability of buying in the next 30 / 90 days) and, on request, the sampled future.

The generative model runs in whole days, one random stream per day, so the data of the window does
not depend on how far the future is simulated. Per customer:

- joins on some day (30 % before the window starts, the rest ever more often through the window);
- while *active*: places Poisson orders at rate lam * season(day) (lam ~ Gamma, long tail), a share of
  them cancelled; a "consumer" also re-buys a favourite consumable every ~cycle days (lognormal
  intervals); browses in sessions at a rate tied to its buying rate;
- turns *fading* at the end of a day with probability p_drop after a (non-cancelled) purchase and
  1 - exp(-mu) otherwise: its orders and sessions then decay as exp(-age / FADE_SCALE) and stop
  after FADE_DAYS, when it is *dead*. Engagement thus visibly decays in the weeks before the end.

Because the first purchase of a horizon comes before any purchase-triggered dropout, the truth
probabilities have a closed form over the daily grid (see `history._truth`), which is what makes
`truth.csv` exact for this model rather than an estimate from one sampled future.

That is the default (general merchandise) shop. A ShopProfile (config.py) turns the model's knobs, and the
presets (presets.py: grocery, media, fashion) are profiles matched to real shops' shapes (shape.py); the
default profile draws exactly as before, so the default shop's files stay byte-identical.
"""

from .config import (
    BURN_DAYS,
    CANCEL_RATE,
    CART,
    COLUMNS,
    CURRENCY,
    CYCLE_SIGMA,
    DEFAULT_END_DATE,
    EVENT_TYPES,
    FADE_DAYS,
    FADE_SCALE,
    LOGIN,
    REFUND_RATE,
    REVIEW,
    SEARCH,
    STATUSES,
    TRUTH_HORIZONS,
    UNCART,
    VIEW,
    WISH,
    ShopProfile,
    SimulationConfig,
    SimulationSummary,
)
from .core import simulate
from .grid import seasonality
from .history import ACTIVE, DEAD, FADING, WAITING
from .presets import PRESETS, Preset, preset_config, preset_get
from .shape import ShopShape, shop_shape

__all__ = [
    "ACTIVE",
    "BURN_DAYS",
    "CANCEL_RATE",
    "CART",
    "COLUMNS",
    "CURRENCY",
    "CYCLE_SIGMA",
    "DEAD",
    "DEFAULT_END_DATE",
    "EVENT_TYPES",
    "FADE_DAYS",
    "FADE_SCALE",
    "FADING",
    "LOGIN",
    "REFUND_RATE",
    "REVIEW",
    "SEARCH",
    "STATUSES",
    "TRUTH_HORIZONS",
    "UNCART",
    "VIEW",
    "WAITING",
    "WISH",
    "PRESETS",
    "Preset",
    "ShopProfile",
    "ShopShape",
    "SimulationConfig",
    "SimulationSummary",
    "preset_config",
    "preset_get",
    "seasonality",
    "shop_shape",
    "simulate",
]
