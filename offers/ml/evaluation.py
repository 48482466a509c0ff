"""Off-policy evaluation of a named policy on logged assignments: `always:OFFER_ID`, `model` or `logged`.

The reward model of the doubly robust estimator and the learned policy are cross-fitted over time blocks
(`policy.cross_fit`): each assignment is scored by models fitted on the other blocks only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .estimators import EstimatorConfig, Gain, OffPolicyResult, off_policy_estimate, policy_gain
from .policy import CrossFit, PolicyConfig, RewardModelConfig, cross_fit


class PolicySpecError(ValueError):
    """The policy name cannot be read or names an unknown offer."""


@dataclass(frozen=True)
class LoggedData:
    """Logged assignments in time order: features, the logged action (an index into `offers`), its propensity,
    the reward, and which offers each customer was eligible for (None: all)."""

    x: np.ndarray
    features: tuple[str, ...]
    action: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    offers: tuple[str, ...]
    binary: bool
    eligible: np.ndarray | None = None


@dataclass(frozen=True)
class Evaluation:
    """What `offer_policy_evaluate` prints, plus the per-row results kept for comparisons."""

    policy: str
    reward: str
    result: OffPolicyResult
    verdict: str
    gain: Gain | None = None
    fitted: CrossFit | None = field(default=None, repr=False, compare=False)

    def as_json(self) -> dict:
        """{"policy", "reward", "n", "effective_sample_size", "estimates": {...}, "verdict"} (+ "refused", "gain")."""
        document = {
            "policy": self.policy, "reward": self.reward, "n": self.result.n,
            "effective_sample_size": round(self.result.effective_sample_size, 1),
            # A refused estimate is not reported: its values are null (the verdict says why).
            "estimates": {name: ({"value": None, "low": None, "high": None} if self.result.refused
                                 else estimate.as_json()) for name, estimate in self.result.estimates.items()},
            "verdict": self.verdict, "refused": self.result.refused,
        }
        if self.gain is not None:
            document["gain"] = self.gain.as_json()
        return document


def target_probabilities(*, spec: str, data: LoggedData, fitted=None) -> np.ndarray:
    """The (n, K) choice probabilities of the policy named `spec` on the logged rows."""
    n, k = len(data.action), len(data.offers)
    if spec.startswith("always:"):
        offer = spec.split(":", 1)[1]
        if offer not in data.offers:
            raise PolicySpecError(f"Unknown offer '{offer}' in --policy always:{offer}; the offers are: "
                                  f"{', '.join(data.offers)}.")
        probs = np.zeros((n, k))
        probs[:, data.offers.index(offer)] = 1.0
        return probs
    if spec == "model":
        return fitted.probabilities
    raise PolicySpecError(f"Unknown policy '{spec}': use always:OFFER_ID, model or logged.")


def policy_evaluate(*, data: LoggedData, spec: str, reward_name: str,
                    reward_config: RewardModelConfig | None = None, policy_config: PolicyConfig | None = None,
                    estimator_config: EstimatorConfig | None = None, n_folds: int = 2,
                    current: np.ndarray | None = None, fitted: CrossFit | None = None) -> Evaluation:
    """Estimate what the policy `spec` would have earned on `data` (IPS, SNIPS, DR with 95 % intervals).

    `current`: (n, K) probabilities of the policy now live, for the gain of a `model` policy over it (None:
    the logged policy itself, whose value is the logged mean reward). `fitted`: a cross-fit of the same data
    and configuration to reuse (several policies evaluated on one log)."""
    reward_config = reward_config or RewardModelConfig(binary=data.binary)
    estimator_config = estimator_config or EstimatorConfig()
    if spec != "logged" and not (spec == "model" or spec.startswith("always:")):
        raise PolicySpecError(f"Unknown policy '{spec}': use always:OFFER_ID, model or logged.")
    n = len(data.action)
    if n == 0:
        raise PolicySpecError("No logged assignments with outcomes to evaluate on.")
    rows = np.arange(n)
    fitted = fitted or cross_fit(x=data.x, action=data.action, reward=data.reward, n_actions=len(data.offers),
                       features=data.features, eligible=data.eligible, n_folds=n_folds,
                       reward_config=reward_config, policy_config=policy_config)
    q_logged = fitted.predicted[rows, data.action]
    logged = off_policy_estimate(propensity=data.propensity, reward=data.reward, target_prob=data.propensity,
                                 q_logged=q_logged, q_target=q_logged, config=estimator_config)
    if spec == "logged":
        result = logged
    else:
        probs = target_probabilities(spec=spec, data=data, fitted=fitted)
        result = off_policy_estimate(propensity=data.propensity, reward=data.reward,
                                     target_prob=probs[rows, data.action], q_logged=q_logged,
                                     q_target=np.sum(probs * fitted.predicted, axis=1), config=estimator_config)
    gain = None
    if spec == "model":
        if current is None:
            baseline = logged
        else:
            baseline = off_policy_estimate(propensity=data.propensity, reward=data.reward,
                                           target_prob=current[rows, data.action], q_logged=q_logged,
                                           q_target=np.sum(current * fitted.predicted, axis=1),
                                           config=estimator_config)
        gain = policy_gain(new=result, current=baseline, config=estimator_config)
    return Evaluation(policy=spec, reward=reward_name, result=result, verdict=_verdict(result, gain, reward_name),
                      gain=gain, fitted=fitted)


def _verdict(result: OffPolicyResult, gain: Gain | None, reward_name: str) -> str:
    if result.refused:
        return result.reason
    best = result.estimates.get("dr") or result.estimates["snips"]
    unit = "conversion rate" if reward_name == "conversion" else "net revenue per assignment"
    text = f"estimated {unit} {best.value:.4g} (95 % interval {best.low:.4g} to {best.high:.4g})"
    if gain is not None:
        text += "; promote: " + gain.reason if gain.promote else "; " + gain.reason
    return text
