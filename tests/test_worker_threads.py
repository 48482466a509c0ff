"""ML_THREADS: a Celery worker process's numeric libraries limited to their share of the machine's cores
(ecomsight.celery.ml_threads_limit, run when a worker process starts)."""

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from ecomsight.celery import ml_threads_limit
from predictions.ml import gbm
from tests.predictions.ml.test_gbm import _data


@pytest.fixture
def restored():
    """The process's thread settings as they were before the test (the limit is process-wide)."""
    before = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    limits = threadpool_limits(limits=None)  # records the current limits, changes nothing
    lightgbm_limit = gbm._thread_limit  # the test run's own limit (tests/conftest.py), if any
    gbm.threads_limit(None)  # each test starts from a process without one
    yield
    limits.restore_original_limits()
    gbm.threads_limit(lightgbm_limit)
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_a_worker_process_with_ml_threads_limits_blas_openmp_and_lightgbm(settings, restored):
    settings.ML_THREADS = 1
    ml_threads_limit()
    pools = [pool for pool in threadpool_info() if pool["user_api"] in ("blas", "openmp")]
    assert pools and all(pool["num_threads"] == 1 for pool in pools)
    assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
    # LightGBM fits and predicts on one thread, and still learns: its threads are the one thing that changed.
    model = gbm.LightGbmModel("churn", seed=0)
    model.fit(_data(3000, 1), _data(1500, 2))
    assert model._predict_threads() == 1
    probabilities = model.predict_proba(_data(1000, 3))
    assert probabilities.shape == (1000,) and np.isfinite(probabilities).all()


def test_without_ml_threads_a_worker_keeps_the_libraries_defaults(settings, restored):
    settings.ML_THREADS = 0
    before = [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()]
    ml_threads_limit()
    assert [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()] == before
    assert gbm.LightGbmModel("churn")._predict_threads() == gbm.DEFAULT_PARAMS["num_threads"]
