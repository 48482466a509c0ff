import datetime as dt
import os

import pytest

from accounts.models import Shop

# A small simulated shop shared by the tests that need realistic history (simulated once per session).
SIM_CUSTOMERS, SIM_PRODUCTS, SIM_DAYS = 600, 80, 420
SIM_END = dt.date(2026, 6, 30)


@pytest.fixture(scope="session", autouse=True)
def _numeric_threads_shared_with_the_other_workers():
    """Each pytest-xdist worker's numeric libraries use its share of the cores, as a Celery worker's do with
    ML_THREADS: two workers on two cores, each with LightGBM's, BLAS's and torch's two threads, left the OpenMP
    threads spinning for a busy core and slowed the other worker (the suite 778 s -> 659 s on 2026-12-07)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        from ecomsight.celery import numeric_threads_limit

        numeric_threads_limit(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture
def shop(db):
    return Shop.objects.create(slug="acme", name="Acme")


@pytest.fixture
def other_shop(db):
    return Shop.objects.create(slug="globex", name="Globex")


@pytest.fixture(scope="session")
def simulated_dir(tmp_path_factory):
    """CSV files of a small simulated shop (with 90 days of future orders and truth.csv)."""
    from behavior.simulator import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("simshop")
    simulate(SimulationConfig(customers=SIM_CUSTOMERS, products=SIM_PRODUCTS, days=SIM_DAYS, seed=3,
                              end_date=SIM_END, future_days=90), out)
    return out


@pytest.fixture
def simulated_shop(db, simulated_dir):
    """The simulated shop imported into the test database (every kind, in dependency order)."""
    from behavior.services import data_import

    shop = Shop.objects.create(slug="sim", name="Simulated")
    for kind in ("customers", "products", "orders", "order_lines", "events"):
        data_import(shop=shop, kind=kind, path=simulated_dir / f"{kind}.csv")
    return shop


@pytest.fixture
def trained_shop(simulated_shop):
    """The simulated shop with a 60-day horizon and purchase and churn champions (BG/NBD and LightGBM)."""
    from predictions.services.training import model_train

    for task in ("purchase", "churn"):
        model_train(shop=simulated_shop, task=task, horizon_days=60, algorithms=["bgnbd", "lgbm"])
    simulated_shop.horizon_days = 60
    simulated_shop.save()
    return simulated_shop


def calls_counted(monkeypatch, owner, name: str) -> list:
    """Replace `owner.name` (a function) with one that records each call's arguments and calls the real one:
    a count of real work (queries, round trips), not a stand-in for it. Returns the list of calls."""
    calls = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls
