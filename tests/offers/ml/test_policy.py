"""Reward models, exploration and cross-fitting of the learned offer policy."""

import numpy as np
import pytest

from offers.ml import simulate as sim
from offers.ml.policy import (
    PolicyConfig,
    RewardModelConfig,
    cross_fit,
    policy_probabilities,
    policy_sample,
    reward_model_fit,
    reward_model_from_json,
)


@pytest.mark.parametrize("exploration", ["epsilon_greedy", "softmax"])
def test_probabilities_sum_to_one_keep_the_control_floor_and_skip_ineligible_offers(exploration):
    rng = np.random.default_rng(0)
    predicted = rng.random((200, 5))
    eligible = rng.random((200, 5)) > 0.3
    eligible[:, 0] = True  # "no offer" is always eligible
    eligible[0] = False  # no eligible offer: falls back to all of them
    config = PolicyConfig(epsilon=0.05, control_share=0.1, exploration=exploration)
    probs = policy_probabilities(predicted=predicted, eligible=eligible, config=config)
    assert np.allclose(probs.sum(axis=1), 1)
    assert np.all(probs[1:][~eligible[1:]] == 0)
    count = eligible[1:].sum(axis=1, keepdims=True)
    assert np.all(probs[1:][eligible[1:]] >= (0.1 / np.repeat(count, 5, axis=1))[eligible[1:]] - 1e-12)
    assert np.all(probs[0] > 0)


def test_sampled_actions_follow_the_probabilities_and_report_them_as_propensities():
    probs = np.tile([0.7, 0.2, 0.1], (20_000, 1))
    actions, propensities = policy_sample(probabilities=probs, seed=3)
    assert np.bincount(actions, minlength=3) / len(actions) == pytest.approx([0.7, 0.2, 0.1], abs=0.015)
    assert np.allclose(propensities, probs[np.arange(len(actions)), actions])


@pytest.mark.parametrize("algorithm", ["linear", "lightgbm"])
def test_reward_model_json_round_trip_predicts_the_same(algorithm):
    logs = sim.logs_draw(n=1500, seed=2)
    model = reward_model_fit(x=logs.x, action=logs.action, reward=logs.conversion, n_actions=5,
                             features=sim.FEATURES, config=RewardModelConfig(algorithm=algorithm))
    again = reward_model_from_json(model.to_json())
    assert np.allclose(model.predict(logs.x[:100]), again.predict(logs.x[:100]))


def test_cross_fitted_predictions_of_a_block_do_not_depend_on_that_blocks_rewards():
    logs = sim.logs_draw(n=2000, seed=4)
    first = cross_fit(x=logs.x, action=logs.action, reward=logs.conversion, n_actions=5, features=sim.FEATURES)
    changed = logs.conversion.copy()
    block = first.folds == 0
    changed[block] = 1 - changed[block]
    second = cross_fit(x=logs.x, action=logs.action, reward=changed, n_actions=5, features=sim.FEATURES)
    assert np.allclose(first.predicted[block], second.predicted[block])
    assert not np.allclose(first.predicted[~block], second.predicted[~block])


def test_learned_policy_beats_the_best_single_offer_and_nears_the_oracle():
    population = sim.population_draw(n=50_000, seed=11)
    logs = sim.logs_draw(n=5000, seed=12)
    model = reward_model_fit(x=logs.x, action=logs.action, reward=logs.conversion, n_actions=5,
                             features=sim.FEATURES)
    probs = policy_probabilities(predicted=model.predict(population.x))
    value = sim.policy_value(population=population, probabilities=probs, reward="conversion")
    mu = population.conversion
    assert value > mu.mean(axis=0).max() * 1.1
    assert value > 0.85 * mu.max(axis=1).mean()
