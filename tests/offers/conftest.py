"""A shop with simulated logged assignments (offers.ml.simulate): orders, offers and assignments imported."""

import pytest

from behavior.services import data_import
from offers.ml import simulate as sim


@pytest.fixture
def logged_shop(shop, tmp_path):
    tables = sim.shop_tables(logs=sim.logs_draw(n=1500, seed=8))
    for kind, frame in (("orders", tables.orders), ("offers", tables.offers),
                        ("offer_assignments", tables.assignments)):
        path = tmp_path / f"{kind}.csv"
        frame.to_csv(path, index=False)
        data_import(shop=shop, kind=kind, path=path)
    return shop
