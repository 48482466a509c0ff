"""Off-policy estimators: what a target policy would have earned on assignments another policy logged.

Inputs are arrays over the n logged assignments: the logged action's propensity p_i (the probability the
logging policy chose it), the reward r_i, the target policy's probability of that same action π(a_i|x_i),
and, for the doubly robust estimator, a reward model's predictions q̂(x_i, a) for every action with the target
policy's whole distribution π(·|x_i).

- IPS: mean(w_i r_i), w_i = π(a_i|x_i) / p_i. Unbiased when p_i > 0 wherever π puts mass.
- SNIPS: Σ w_i r_i / Σ w_i. Slightly biased, much lower variance when weights are heavy.
- DR: mean(Σ_a π(a|x_i) q̂(x_i,a) + w_i (r_i − q̂(x_i,a_i))). Unbiased when either the propensities or the
  reward model are right; lower variance than IPS when q̂ is decent. q̂ must come from data other than the
  rows it is applied to (cross-fitting, see `policy.py`), or its errors stop averaging out.

Intervals: the percentile bootstrap over assignments (rows resampled with replacement, 95 %), each
estimator recomputed on each resample, with a fixed seed. The effective sample size (Σw)² / Σw² says how
many logged rows the estimate really rests on; the overlap guard refuses to report an estimate that rests on
too few of them ("cannot tell: the logs rarely chose what this policy chooses").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The overlap guard: refuse when the weights leave fewer effective rows than this share of the logs, or fewer
# than MIN_EFFECTIVE rows at all. A deterministic policy on uniformly random logs over K actions keeps about
# n/K effective rows; with K = 80 (the OBD sample) that is 1.25 % and the estimate is refused, while a policy
# spread like the logs keeps most rows. Also refused: target mass on rows whose logged action had a
# propensity below MIN_PROPENSITY (weights so large a single row decides the estimate).
MIN_EFFECTIVE_SHARE = 0.05
MIN_EFFECTIVE = 50
REFUSAL = "cannot tell: the logs rarely chose what this policy chooses"


@dataclass(frozen=True)
class EstimatorConfig:
    """Bootstrap resamples, interval level, seed and the overlap guard's thresholds."""

    n_bootstrap: int = 1000
    level: float = 0.95
    seed: int = 0
    min_effective_share: float = MIN_EFFECTIVE_SHARE
    min_effective: float = MIN_EFFECTIVE


@dataclass(frozen=True)
class Estimate:
    """One estimator's value and its bootstrap interval."""

    value: float
    low: float
    high: float

    def as_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class OffPolicyResult:
    """The three estimates of one policy's value, the effective sample size and the overlap guard's verdict."""

    n: int
    effective_sample_size: float
    estimates: dict[str, Estimate]
    refused: bool
    reason: str = ""
    matched_share: float = 0.0
    # Per-row contributions of each estimator (kept for paired comparisons of two policies).
    contributions: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)


def effective_sample_size(weights: np.ndarray) -> float:
    """(Σw)² / Σw²: how many equally weighted rows the weighted mean is worth (n when all weights are equal)."""
    weights = np.asarray(weights, dtype=float)
    square = float(np.sum(weights ** 2))
    return float(np.sum(weights) ** 2 / square) if square > 0 else 0.0


def _check(propensity: np.ndarray, reward: np.ndarray, target_prob: np.ndarray) -> None:
    if not (len(propensity) == len(reward) == len(target_prob)):
        raise ValueError("propensity, reward and target_prob must have the same length")
    if len(propensity) == 0:
        raise ValueError("no logged assignments")
    if np.any(~np.isfinite(propensity)) or np.any(propensity <= 0) or np.any(propensity > 1):
        raise ValueError("propensities must lie in (0, 1]")


def _bootstrap_chunks(n: int, config: EstimatorConfig):
    """Resampled row indices, a block of resamples at a time (memory stays ~80 MB whatever n is)."""
    rng = np.random.default_rng(config.seed)
    chunk = max(1, 20_000_000 // max(n, 1))
    for start in range(0, config.n_bootstrap, chunk):
        yield rng.integers(0, n, size=(min(chunk, config.n_bootstrap - start), n), dtype=np.int64)


def _interval(samples: np.ndarray, config: EstimatorConfig) -> tuple[float, float]:
    tail = (1 - config.level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def off_policy_estimate(*, propensity: np.ndarray, reward: np.ndarray, target_prob: np.ndarray,
                        q_logged: np.ndarray | None = None, q_target: np.ndarray | None = None,
                        config: EstimatorConfig | None = None) -> OffPolicyResult:
    """IPS, SNIPS and (given a reward model) DR estimates of a target policy's mean reward, with intervals.

    `target_prob`: π(a_i|x_i) of each logged action. `q_logged`: q̂(x_i, a_i); `q_target`: Σ_a π(a|x_i) q̂(x_i,a)
    (the reward model's value of the target policy on row i). Without them DR is left out."""
    config = config or EstimatorConfig()
    propensity = np.asarray(propensity, dtype=float)
    reward = np.asarray(reward, dtype=float)
    target_prob = np.asarray(target_prob, dtype=float)
    _check(propensity, reward, target_prob)
    n = len(reward)
    w = target_prob / propensity
    ess = effective_sample_size(w)
    contributions = {"ips": w * reward}
    if q_logged is not None and q_target is not None:
        contributions["dr"] = np.asarray(q_target, dtype=float) + w * (reward - np.asarray(q_logged, dtype=float))
    estimates: dict[str, Estimate] = {}
    boot: dict[str, list[np.ndarray]] = {"ips": [], "snips": [], "dr": []}
    for rows in _bootstrap_chunks(n, config):
        wb = w[rows]
        wr = contributions["ips"][rows]
        boot["ips"].append(wr.mean(axis=1))
        sums = wb.sum(axis=1)
        boot["snips"].append(np.divide(wr.sum(axis=1), sums, out=np.zeros(len(rows)), where=sums > 0))
        if "dr" in contributions:
            boot["dr"].append(contributions["dr"][rows].mean(axis=1))
    total = w.sum()
    values = {"ips": float(contributions["ips"].mean()),
              "snips": float(contributions["ips"].sum() / total) if total > 0 else 0.0}
    if "dr" in contributions:
        values["dr"] = float(contributions["dr"].mean())
    for name, value in values.items():
        low, high = _interval(np.concatenate(boot[name]), config)
        estimates[name] = Estimate(value=value, low=low, high=high)
    refused, reason = overlap_guard(weights=w, config=config)
    return OffPolicyResult(n=n, effective_sample_size=ess, estimates=estimates, refused=refused, reason=reason,
                           matched_share=float(np.mean(target_prob > 0)), contributions=contributions)


def overlap_guard(*, weights: np.ndarray, config: EstimatorConfig | None = None) -> tuple[bool, str]:
    """Whether an estimate resting on these importance weights must be refused, and why (in words)."""
    config = config or EstimatorConfig()
    n = len(weights)
    ess = effective_sample_size(weights)
    needed = max(config.min_effective, config.min_effective_share * n)
    if ess < needed:
        return True, (f"{REFUSAL} (effective sample size {ess:.0f} of {n} logged assignments; "
                      f"at least {needed:.0f} needed)")
    return False, ""


@dataclass(frozen=True)
class Gain:
    """The estimated gain of a new policy over the current one on the same rows, with its paired interval."""

    value: float
    low: float
    high: float
    estimator: str
    promote: bool
    reason: str

    def as_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "estimator": self.estimator,
                "promote": self.promote, "reason": self.reason}


def policy_gain(*, new: OffPolicyResult, current: OffPolicyResult, estimator: str = "dr",
                config: EstimatorConfig | None = None) -> Gain:
    """Gain of `new` over `current`, both estimated on the same logged rows: the bootstrap resamples rows and
    recomputes both (paired), so what the two share cancels out. Promote only if the 95 % interval of the
    gain lies above zero and neither estimate was refused by the overlap guard."""
    config = config or EstimatorConfig()
    name = estimator if estimator in new.contributions and estimator in current.contributions else "ips"
    diff = new.contributions[name] - current.contributions[name]
    means = np.concatenate([diff[rows].mean(axis=1) for rows in _bootstrap_chunks(len(diff), config)])
    low, high = _interval(means, config)
    value = float(diff.mean())
    if new.refused or current.refused:
        return Gain(value, low, high, name, False, "can't tell yet: " + (new.reason or current.reason))
    if low > 0:
        return Gain(value, low, high, name, True, f"the 95 % interval of the gain ({low:.4g} to {high:.4g}) "
                                                  "lies above zero")
    return Gain(value, low, high, name, False,
                f"can't tell yet: the 95 % interval of the gain ({low:.4g} to {high:.4g}) includes zero"
                if high > 0 else f"the new policy does not do better (gain interval {low:.4g} to {high:.4g})")
