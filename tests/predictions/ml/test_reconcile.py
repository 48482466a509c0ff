"""One chance of leaving and one of buying per active customer."""

import numpy as np

from predictions.ml.reconcile import reconcile


def test_the_two_models_views_are_averaged_and_the_figures_add_up_to_one():
    leave, buy = reconcile(churn=np.array([0.56, 0.10, 0.9]), purchase=np.array([0.37, 0.95, np.nan]))
    np.testing.assert_allclose(leave, [(0.56 + 0.63) / 2, (0.10 + 0.05) / 2, 0.9])
    np.testing.assert_allclose(leave + buy, 1.0)
