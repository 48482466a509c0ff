"""The off-policy estimators on logs whose truth is known (offers.ml.simulate)."""

import numpy as np
import pytest

from offers.ml import simulate as sim
from offers.ml.estimators import (
    REFUSAL,
    EstimatorConfig,
    effective_sample_size,
    off_policy_estimate,
    overlap_guard,
    policy_gain,
)
from offers.ml.policy import cross_fit

FAST = EstimatorConfig(n_bootstrap=300, seed=1)


@pytest.fixture(scope="module")
def truth():
    return sim.population_draw(n=100_000, seed=99)


def _always(n, k, action):
    probs = np.zeros((n, k))
    probs[:, action] = 1
    return probs


@pytest.mark.parametrize("offer", [1, 3])
def test_ips_snips_dr_intervals_cover_the_true_value_of_a_single_offer_policy_wrong_weights_would_miss(truth, offer):
    logs = sim.logs_draw(n=6000, seed=5)
    n, k = len(logs.action), len(sim.OFFERS)
    probs = _always(n, k, offer)
    fit = cross_fit(x=logs.x, action=logs.action, reward=logs.conversion, n_actions=k, features=sim.FEATURES)
    rows = np.arange(n)
    result = off_policy_estimate(propensity=logs.propensity, reward=logs.conversion,
                                 target_prob=probs[rows, logs.action], q_logged=fit.predicted[rows, logs.action],
                                 q_target=np.sum(probs * fit.predicted, axis=1), config=FAST)
    true = sim.policy_value(population=truth, probabilities=_always(len(truth.x), k, offer), reward="conversion")
    for name in ("ips", "snips", "dr"):
        estimate = result.estimates[name]
        assert estimate.low <= true <= estimate.high, (name, estimate, true)
    # Ignoring the propensities (the naive mean of the rows that got the offer) is biased by the logging policy.
    naive = logs.conversion[logs.action == offer].mean()
    assert abs(naive - true) > abs(result.estimates["dr"].value - true)
    assert not result.refused


def test_dr_interval_is_narrower_than_ips_with_a_good_reward_model(truth):
    logs = sim.logs_draw(n=6000, seed=6)
    n, k = len(logs.action), len(sim.OFFERS)
    probs = _always(n, k, 3)
    rows = np.arange(n)
    q = logs.population.conversion  # the true reward model
    result = off_policy_estimate(propensity=logs.propensity, reward=logs.conversion,
                                 target_prob=probs[rows, logs.action], q_logged=q[rows, logs.action],
                                 q_target=np.sum(probs * q, axis=1), config=FAST)
    width = {name: e.high - e.low for name, e in result.estimates.items()}
    assert width["dr"] < 0.95 * width["ips"]


def test_effective_sample_size_is_n_for_equal_weights_and_small_for_one_heavy_weight():
    assert effective_sample_size(np.ones(500)) == pytest.approx(500)
    weights = np.ones(500)
    weights[0] = 1000
    assert effective_sample_size(weights) < 5


@pytest.mark.parametrize(("actions", "refused"), [(80, True), (4, False)])
def test_overlap_guard_refuses_a_deterministic_policy_on_uniform_logs_over_many_actions(actions, refused):
    rng = np.random.default_rng(0)
    n = 10_000
    logged = rng.integers(0, actions, n)
    target = (logged == 7 % actions).astype(float)  # a deterministic policy always choosing one action
    weights = target / (1 / actions)
    is_refused, reason = overlap_guard(weights=weights)
    assert is_refused is refused
    assert (REFUSAL in reason) is refused


def test_a_policy_is_never_promoted_over_itself_and_is_over_a_much_worse_one():
    logs = sim.logs_draw(n=4000, seed=7)
    n, k = len(logs.action), len(sim.OFFERS)
    rows = np.arange(n)
    q = logs.population.conversion
    best = np.eye(k)[q.argmax(axis=1)]
    worst = np.eye(k)[q.argmin(axis=1)]

    def estimate(probs):
        return off_policy_estimate(propensity=logs.propensity, reward=logs.conversion,
                                   target_prob=probs[rows, logs.action], q_logged=q[rows, logs.action],
                                   q_target=np.sum(probs * q, axis=1), config=FAST)

    good, bad = estimate(best), estimate(worst)
    assert not policy_gain(new=good, current=good, config=FAST).promote
    gain = policy_gain(new=good, current=bad, config=FAST)
    assert gain.promote and gain.low > 0
    assert not policy_gain(new=bad, current=good, config=FAST).promote


def test_bad_propensities_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="propensities"):
        off_policy_estimate(propensity=np.array([0.5, 0.0]), reward=np.array([1.0, 0.0]),
                            target_prob=np.array([1.0, 0.0]))
