"""Presets: simulated shops shaped like real ones (`simulate_shop --preset grocery|fashion|media`).

A preset is a ShopProfile (how customers buy) and default sizes; options given explicitly still win. Each
preset documents the shape figures (shape.py) its shops fall in, checked by the tests at small sizes and
compared with the real shops in ../shared/data by bench/presets.py:

- grocery, like the Instacart baskets (instacart_a): every customer re-stocks every one to four weeks (a
  personal cycle, median ~10 days) with baskets of ~10.5 products, ~70 % of them staples the customer bought
  before; few customers leave. Real: next-basket repeat share 0.69, 10.0 products an order, median gap 6 days
  (that sample holds customers with 9+ orders only), 7 % of next-basket items new to the shop.
- media, like the CD shop (cdnow_a): a closed acquisition cohort (everyone's first purchase falls in the first
  12 weeks, on the day they join), then Pareto/NBD-like repeat buying: very uneven order rates (Gamma shape
  0.25) and a high chance of leaving after each purchase, so about 55 % never buy again within the 78 weeks
  (about 60 % within the first 39); ~2.4 CDs an order, never the same CD twice. Real: one-time share 0.51 over
  78 weeks, 0.60 over the first 39, 2.44 items an order.
- fashion (no real orders to match here; the figures are the usual shape of apparel e-commerce): two orders a
  year from an active customer, ~1.8 items an order, a quarter of the orders returned (refunded), seasonal
  collections that leave the shop after eight months (so next baskets are almost never items bought before,
  though the categories repeat), and strong seasons: Black Friday, Christmas, the January and summer sales, the
  spring and autumn collections. Sizes are not separate products (a product is a style).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .config import DEFAULT_END_DATE, ShopProfile, SimulationConfig


@dataclass(frozen=True)
class Preset:
    """A named profile, its default sizes, what it mimics and the ranges its shape figures fall in."""

    name: str
    mimics: str
    customers: int
    products: int
    days: int
    profile: ShopProfile
    ranges: dict[str, tuple[float, float]]


PRESETS: dict[str, Preset] = {
    "grocery": Preset(
        name="grocery", mimics="instacart_a (a grocery shop's baskets)", customers=2000, products=3000, days=365,
        profile=ShopProfile(
            lam_shape=0.8, lam_mean=0.004, mu_mean=1 / 2500, p_drop_a=1.0, p_drop_b=120.0,
            consumer_share=1.0, cycle_median=10.0, cycle_spread=0.45, cycle_clip=(5.0, 30.0), cycle_sigma=0.3,
            basket="repertoire", basket_mean=11.5, repertoire_size=(20, 60), repertoire_pick=0.78,
            categories=("Grocery > Produce", "Grocery > Dairy & Eggs", "Grocery > Bakery", "Grocery > Beverages",
                        "Grocery > Frozen", "Grocery > Pantry", "Grocery > Snacks", "Grocery > Coffee & Tea",
                        "Home > Cleaning", "Beauty > Haircare", "Baby > Diapers", "Pets > Food"),
            refund_rate=0.01, yearly="grocery",
        ),
        ranges={"repeat_share": (0.6, 0.8), "mean_basket": (9.0, 13.0), "median_gap_days": (5.0, 28.0),
                "new_item_share": (0.0, 0.15)},
    ),
    "media": Preset(
        name="media", mimics="cdnow_a (a CD shop's closed acquisition cohort)", customers=3000, products=2000,
        days=546,
        profile=ShopProfile(
            cohort_days=84, first_order_on_join=True, lam_shape=0.25, lam_mean=0.012, mu_mean=1 / 4000,
            p_drop_a=0.8, p_drop_b=2.8, consumer_share=0.0, extra_items=1.45,
            categories=("Music > Rock & Pop", "Music > Jazz & Blues", "Music > Classical", "Music > Hip-Hop & R&B",
                        "Music > Country & Folk"),
            refund_rate=0.01,
        ),
        ranges={"one_time_share": (0.5, 0.65), "one_time_share_first_half": (0.52, 0.7), "mean_basket": (2.0, 3.0)},
    ),
    "fashion": Preset(
        name="fashion", mimics="an apparel shop (no real orders here: the usual shape of the trade)", customers=3000,
        products=1500, days=730,
        profile=ShopProfile(
            lam_shape=0.6, lam_mean=2.5 / 365, mu_mean=1 / 700, p_drop_a=1.0, p_drop_b=3.0, consumer_share=0.0,
            extra_items=0.8,
            categories=("Fashion > Women", "Fashion > Men", "Fashion > Shoes", "Fashion > Bags"),
            collection_days=182, collection_life=240, refund_rate=0.25, yearly="fashion",
        ),
        ranges={"repeat_share": (0.0, 0.1), "mean_basket": (1.4, 2.5), "refund_share": (0.18, 0.32),
                "seasonal_peak": (1.3, 3.0), "one_time_share": (0.4, 0.8)},
    ),
}


def preset_get(name: str) -> Preset:
    """The preset called `name`; ValueError naming the presets there are otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(sorted(PRESETS))}") from None


def preset_config(name: str | None, *, customers: int | None = None, products: int | None = None,
                  days: int | None = None, seed: int = 0, end_date: date = DEFAULT_END_DATE, future_days: int = 0,
                  dirty: bool = False) -> SimulationConfig:
    """A SimulationConfig from a preset (None: the default shop, 2000 customers, 500 products, 365 days), where
    the sizes given explicitly override the preset's."""
    if name is None:
        return SimulationConfig(customers=2000 if customers is None else customers,
                                products=500 if products is None else products, days=365 if days is None else days,
                                seed=seed, end_date=end_date, future_days=future_days, dirty=dirty)
    preset = preset_get(name)
    return SimulationConfig(
        customers=preset.customers if customers is None else customers,
        products=preset.products if products is None else products,
        days=preset.days if days is None else days, seed=seed, end_date=end_date, future_days=future_days,
        dirty=dirty, profile=preset.profile, preset=preset.name,
    )
