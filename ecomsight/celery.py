"""The Celery app. Without CELERY_BROKER_URL tasks run eagerly in process (the demo default)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.base")

app = Celery("ecomsight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Libraries that size their thread pools from these when they load (after this process started).
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@worker_process_init.connect
def ml_threads_limit(**kwargs) -> None:
    """A worker process's numeric libraries use at most ML_THREADS threads (0: their defaults). Two worker
    processes on two cores, each with BLAS's and LightGBM's two threads, ran slower than one: threads waiting
    for a core spin (bench/scale.py, docs/status/issue-23-session8.md)."""
    from django.conf import settings

    if settings.ML_THREADS:
        numeric_threads_limit(settings.ML_THREADS)


def numeric_threads_limit(threads: int) -> None:
    """This process's BLAS, OpenMP, torch and LightGBM use at most `threads` threads from now on: the ones
    loaded already through threadpoolctl and torch, the ones loaded later through the variables they read."""
    import sys

    from threadpoolctl import threadpool_limits

    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)  # the BLAS and OpenMP libraries already loaded (numpy's, with Django's app)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    from predictions.ml.gbm import threads_limit

    threads_limit(threads)
