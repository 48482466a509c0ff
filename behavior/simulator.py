"""A synthetic shop whose hidden state is known, so predictions and recommendations can be scored.

Pure numpy / pandas (no Django): `simulate(config, out_dir)` writes customers, products, orders, order
lines and events in the CSV import formats of DESIGN.md, plus `truth.csv` (each customer's true
probability of buying in the next 30 / 90 days) and, on request, the sampled future.

The generative model runs in whole days, one random stream per day, so the data of the window does
not depend on how far the future is simulated. Per customer:

- joins on some day (30 % before the window starts, the rest ever more often through the window);
- while *active*: places Poisson orders at rate lam * season(day) (lam ~ Gamma, long tail), a share of
  them cancelled; a "consumer" also re-buys a favourite consumable every ~cycle days (lognormal
  intervals); browses in sessions at a rate tied to its buying rate;
- turns *fading* at the end of a day with probability p_drop after a (non-cancelled) purchase and
  1 - exp(-mu) otherwise: its orders and sessions then decay as exp(-age / FADE_SCALE) and stop
  after FADE_DAYS, when it is *dead*. Engagement thus visibly decays in the weeks before the end.

Because the first purchase of a horizon comes before any purchase-triggered dropout, the truth
probabilities have a closed form over the daily grid (see `_truth`), which is what makes
`truth.csv` exact for this model rather than an estimate from one sampled future.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_END_DATE = date(2026, 6, 30)
BURN_DAYS = 180  # simulated before the window so that early customers arrive with a history
FADE_DAYS = 42
FADE_SCALE = 14.0
CANCEL_RATE = 0.03
REFUND_RATE = 0.03
CYCLE_SIGMA = 0.2
TRUTH_HORIZONS = (30, 90)
CURRENCY = "EUR"

COLUMNS = {
    "customers": ["customer_id", "email", "name", "country", "signup_at"],
    "products": ["product_id", "title", "description", "category", "brand", "price", "active"],
    "orders": ["order_id", "customer_id", "placed_at", "total", "currency", "status", "item_count"],
    "order_lines": ["order_id", "product_id", "quantity", "unit_price"],
    "events": ["event_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties"],
    "truth": ["customer_id", "p_purchase_30", "p_purchase_90", "alive"],
}
EVENT_TYPES = ["view", "add_to_cart", "remove_from_cart", "wishlist", "search", "review", "login"]
VIEW, CART, UNCART, WISH, SEARCH, REVIEW, LOGIN = range(7)
STATUSES = np.array(["placed", "cancelled", "refunded"])

# Random streams: every part of the simulation draws from its own, so parts stay independent.
_S_CATALOG, _S_CUSTOMERS, _S_DAY, _S_ORDERS, _S_FUTURE, _S_EVENTS, _S_DIRTY, _S_SIGNUP = range(8)

# --- vocabulary -------------------------------------------------------------------------------
# Per top category: brands, adjectives, features, uses. Per sub category: consumable?, median price
# (EUR), popularity weight, nouns. Titles and descriptions draw from these, so TF-IDF similarity
# between products follows their category.
_TOPS = {
    "Home": (["Nordhaus", "Casa Viva", "Hearthline", "Linden & Co"],
             ["cosy", "modern", "classic", "compact", "elegant", "durable"],
             ["stainless steel", "oak wood", "ceramic", "linen", "bamboo", "cast iron"],
             ["everyday cooking", "small apartments", "family dinners", "a calm bedroom", "spring cleaning",
              "hosting guests"]),
    "Electronics": (["Voltra", "Pixelon", "Soundwave", "Kestrel"],
                    ["wireless", "fast", "smart", "portable", "high-resolution", "compact"],
                    ["bluetooth 5.3", "usb-c charging", "noise cancelling", "4k display", "long battery life",
                     "fast charging"],
                    ["work and travel", "gaming", "video calls", "streaming music", "the home office", "commuting"]),
    "Fashion": (["Maren", "Urban Thread", "Olive & Oak", "Stride"],
                ["slim-fit", "relaxed", "casual", "tailored", "lightweight", "warm"],
                ["organic cotton", "merino wool", "recycled polyester", "leather", "denim", "linen blend"],
                ["the office", "weekends", "summer evenings", "cold winter days", "everyday wear",
                 "special occasions"]),
    "Beauty": (["Lumea", "Pure Botanics", "Velvetine", "Aqua Derm"],
               ["hydrating", "gentle", "nourishing", "long-lasting", "fragrance-free", "vegan"],
               ["hyaluronic acid", "vitamin c", "shea butter", "argan oil", "aloe vera", "spf 30"],
               ["dry skin", "sensitive skin", "a daily routine", "curly hair", "a natural look", "night care"]),
    "Grocery": (["Green Valley", "Roastery 9", "Harvest Table", "Nutri"],
                ["organic", "fair trade", "crunchy", "whole grain", "rich", "fresh"],
                ["arabica", "dark roast", "sea salt", "gluten free", "high protein", "no added sugar"],
                ["breakfast", "the morning brew", "snacking", "quick dinners", "lunch boxes", "baking"]),
    "Sports": (["Peakform", "Trailhead", "Velox", "Corefit"],
               ["lightweight", "adjustable", "breathable", "heavy-duty", "foldable", "waterproof"],
               ["carbon frame", "anti-slip grip", "quick-dry fabric", "reinforced stitching", "ergonomic handle",
                "reflective details"],
               ["home workouts", "trail running", "long rides", "camping trips", "the gym", "yoga practice"]),
    "Toys": (["Playmoor", "Brickly", "Funtastic", "Kiddo"],
             ["colourful", "educational", "creative", "classic", "interactive", "wooden"],
             ["500 pieces", "ages 6+", "battery free", "rechargeable", "two players", "ages 3+"],
             ["family game night", "rainy afternoons", "birthday gifts", "learning at home", "travel",
              "creative play"]),
    "Pets": (["Pawsome", "Whisker", "Happy Tail", "Furrytale"],
             ["grain free", "natural", "chewy", "washable", "durable", "premium"],
             ["salmon", "chicken", "lamb and rice", "orthopedic foam", "reflective strap", "dental care"],
             ["adult dogs", "indoor cats", "puppies", "senior pets", "long walks", "sensitive stomachs"]),
    "Baby": (["Little Sprout", "Cuddlebug", "Bambino", "Tiny Steps"],
             ["soft", "hypoallergenic", "ultra absorbent", "lightweight", "foldable", "gentle"],
             ["size 3", "size 4", "organic cotton", "one-hand fold", "five-point harness", "unscented"],
             ["newborns", "overnight", "travel", "daily walks", "sensitive skin", "toddlers"]),
    "Books": (["Northlight Press", "Paper Lantern", "Meridian Books", "Quill"],
              ["bestselling", "award-winning", "gripping", "illustrated", "practical", "classic"],
              ["hardcover", "paperback", "large print", "first edition", "annotated", "pocket edition"],
              ["long evenings", "book clubs", "young readers", "curious minds", "travel reading", "gift giving"]),
}
_SUBS = [
    ("Home", "Kitchen", False, 35, 5, ["chef knife", "frying pan", "cutting board", "saucepan", "mixing bowl",
                                       "coffee grinder"]),
    ("Home", "Cleaning", True, 8, 4, ["dish soap", "laundry detergent", "surface spray", "sponges",
                                      "dishwasher tablets", "microfibre cloths"]),
    ("Home", "Decor", False, 30, 3, ["vase", "wall clock", "picture frame", "table lamp", "scented candle",
                                     "cushion cover"]),
    ("Home", "Bedding", False, 55, 2, ["duvet cover", "pillow", "fitted sheet", "throw blanket", "mattress topper",
                                       "bedspread"]),
    ("Electronics", "Phones", False, 450, 2, ["smartphone", "phone case", "screen protector", "wireless charger",
                                              "power bank", "phone stand"]),
    ("Electronics", "Audio", False, 90, 3, ["headphones", "earbuds", "bluetooth speaker", "soundbar", "turntable",
                                            "microphone"]),
    ("Electronics", "Computers", False, 700, 2, ["laptop", "monitor", "keyboard", "mouse", "webcam",
                                                 "docking station"]),
    ("Electronics", "Accessories", False, 20, 4, ["usb-c cable", "hdmi adapter", "memory card", "laptop sleeve",
                                                  "charger", "smart plug"]),
    ("Fashion", "Women", False, 45, 8, ["dress", "blouse", "cardigan", "skirt", "jeans", "coat"]),
    ("Fashion", "Men", False, 45, 6, ["shirt", "chinos", "hoodie", "jacket", "polo shirt", "sweater"]),
    ("Fashion", "Shoes", False, 80, 5, ["sneakers", "boots", "sandals", "loafers", "running shoes", "slippers"]),
    ("Fashion", "Bags", False, 60, 3, ["backpack", "tote bag", "wallet", "belt", "scarf", "crossbody bag"]),
    ("Beauty", "Skincare", True, 22, 5, ["face cream", "serum", "cleanser", "sunscreen", "eye cream", "face mask"]),
    ("Beauty", "Makeup", False, 18, 4, ["lipstick", "mascara", "foundation", "eyeliner", "blush", "concealer"]),
    ("Beauty", "Haircare", True, 12, 3, ["shampoo", "conditioner", "hair oil", "hair mask", "styling gel",
                                         "dry shampoo"]),
    ("Grocery", "Coffee & Tea", True, 11, 5, ["coffee beans", "ground coffee", "green tea", "espresso capsules",
                                              "herbal tea", "chai"]),
    ("Grocery", "Snacks", True, 4, 4, ["granola bars", "trail mix", "dark chocolate", "crackers", "protein bars",
                                       "popcorn"]),
    ("Grocery", "Pantry", True, 6, 4, ["olive oil", "pasta", "basmati rice", "peanut butter", "tomato sauce",
                                       "oat flakes"]),
    ("Sports", "Fitness", False, 40, 3, ["yoga mat", "dumbbells", "resistance bands", "kettlebell", "jump rope",
                                         "foam roller"]),
    ("Sports", "Outdoor", False, 70, 2, ["tent", "sleeping bag", "hiking backpack", "camping stove", "headlamp",
                                         "water bottle"]),
    ("Sports", "Cycling", False, 60, 2, ["bike helmet", "bike light", "cycling gloves", "bike lock", "saddle",
                                         "bike pump"]),
    ("Toys", "Games", False, 25, 3, ["board game", "card game", "puzzle", "chess set", "trivia game", "dice game"]),
    ("Toys", "Building", False, 40, 2, ["building set", "construction kit", "marble run", "magnetic tiles",
                                        "train set", "robot kit"]),
    ("Pets", "Food", True, 25, 4, ["dry dog food", "wet cat food", "dog treats", "cat treats", "puppy food",
                                   "kitten food"]),
    ("Pets", "Accessories", False, 20, 2, ["dog leash", "cat bed", "scratching post", "pet bowl", "dog toy",
                                           "collar"]),
    ("Baby", "Diapers", True, 18, 3, ["diapers", "baby wipes", "nappy cream", "swim diapers", "training pants",
                                      "changing mats"]),
    ("Baby", "Gear", False, 120, 1, ["stroller", "baby carrier", "high chair", "car seat", "baby monitor",
                                     "play mat"]),
    ("Books", "Fiction", False, 14, 4, ["novel", "thriller", "fantasy saga", "short stories", "crime novel",
                                        "romance"]),
    ("Books", "Non-fiction", False, 20, 3, ["cookbook", "biography", "travel guide", "history book",
                                            "self-help book", "science book"]),
]
_FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Klara", "Leon",
          "Mia", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tara", "Udo", "Vera", "Will", "Yara", "Zoe", "Lucas",
          "Sofia", "Elias", "Lena", "Omar", "Nina", "Marco", "Julia", "Tom", "Alice", "Karim", "Eva"]
_LAST = ["Berg", "Schmidt", "Martin", "Rossi", "Garcia", "Jansen", "Novak", "Dubois", "Smith", "Larsen", "Weber",
         "Moreau", "Silva", "Kowalski", "Fischer", "Lopez", "Bauer", "Nielsen", "Romano", "Meyer", "Brown",
         "Costa", "Wagner", "Petit", "Hansen", "Keller", "Ricci", "Vogel", "Evans", "Laurent"]
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]
_COUNTRIES = np.array(["DE", "FR", "GB", "NL", "ES", "IT", "AT", "SE", "PL", "US"])
_COUNTRY_P = np.array([0.28, 0.15, 0.12, 0.09, 0.08, 0.08, 0.06, 0.05, 0.05, 0.04])
# Share of orders / sessions per hour of the day: lunch and evening peaks.
_HOURS = np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2.5, 3, 3.2, 3.4, 3.8, 3.6, 3.2, 3, 3.1, 3.4, 3.8, 4.5, 5, 4.6,
                   3.5, 2])
_HOUR_CUM = np.cumsum(_HOURS) / _HOURS.sum()


# --- public API -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Data covers the `days` days ending with `end_date` (inclusive)."""

    customers: int
    products: int
    days: int
    seed: int
    end_date: date = DEFAULT_END_DATE
    future_days: int = 0
    dirty: bool = False

    def __post_init__(self):
        for name in ("customers", "products", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.seed < 0:
            raise ValueError("seed must be 0 or more")
        if self.future_days < 0:
            raise ValueError("future_days must be 0 or more")


@dataclass(frozen=True)
class SimulationSummary:
    """Counts of what was written (clean rows, before any injected faults) and where."""

    out_dir: Path
    customers: int
    products: int
    orders: int
    order_lines: int
    events: int
    future_orders: int
    future_order_lines: int
    dead_customers: int
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


def simulate(
    config: SimulationConfig, out_dir: Path, progress: Callable[[str], None] | None = None
) -> SimulationSummary:
    """Run the generative model and write the CSV files into `out_dir` (created if missing).

    Deterministic: the same config gives byte-identical files; the window's files do not depend on
    `future_days`."""
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = _Grid(config)
    catalog = _make_catalog(config, grid)
    people = _make_customers(config, grid, catalog)
    say(f"simulating {config.customers} customers over {grid.burn + config.days + config.future_days} days")
    history = _run_days(config, grid, people)
    say(f"orders sampled: {history.o_cust.size}; building order lines")

    in_window = (history.o_day >= grid.burn) & (history.o_day <= grid.end)
    orders = _make_orders(history, in_window, grid, people, catalog, _rng(config.seed, _S_ORDERS), id_offset=0)
    future = None
    if config.future_days:
        in_future = history.o_day > grid.end
        future = _make_orders(history, in_future, grid, people, catalog, _rng(config.seed, _S_FUTURE),
                              id_offset=orders.cust.size)
    say(f"building events ({history.s_cust.size} browsing sessions, {orders.cust.size} orders)")
    events = _make_events(history, orders, grid, people, catalog, _rng(config.seed, _S_EVENTS))
    signup = _signup_times(people, grid, orders, events, _rng(config.seed, _S_SIGNUP))
    truth = _truth(history.snapshot, people, grid)

    frames = {
        "customers": _customers_frame(people, signup),
        "products": _products_frame(catalog),
        "orders": _orders_frame(orders, people),
        "order_lines": _lines_frame(orders, catalog),
    }
    files: dict[str, Path] = {}
    manifest: dict[str, dict[str, list[int]]] = {}
    dirty_rng = _rng(config.seed, _S_DIRTY)
    known = {"customers": set(people.ids.tolist()), "products": set(catalog.ids.tolist())} if config.dirty else {}
    for kind in ("customers", "products", "orders", "order_lines"):
        frame = frames.pop(kind)
        if config.dirty:
            frame, manifest[f"{kind}.csv"] = _inject_faults(kind, frame, dirty_rng, known)
        files[kind] = _write(frame, out_dir / f"{kind}.csv")
        say(f"wrote {kind}.csv")
    files["events"] = out_dir / "events.csv"
    if config.dirty:
        frame, manifest["events.csv"] = _inject_faults("events", _events_frame(events, people, catalog, None),
                                                       dirty_rng, known)
        _write(frame, files["events"])
    else:
        _write_events(events, people, catalog, files["events"])
    say("wrote events.csv")
    files["truth"] = _write(_truth_frame(truth, people), out_dir / "truth.csv")
    if future is not None:
        files["future_orders"] = _write(_orders_frame(future, people), out_dir / "future_orders.csv")
        files["future_order_lines"] = _write(_lines_frame(future, catalog), out_dir / "future_order_lines.csv")
    if config.dirty:
        files["dirty_manifest"] = out_dir / "dirty_manifest.json"
        files["dirty_manifest"].write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return SimulationSummary(
        out_dir=out_dir,
        customers=config.customers,
        products=config.products,
        orders=int(orders.cust.size),
        order_lines=int(orders.l_order.size),
        events=int(events.time.size),
        future_orders=int(future.cust.size) if future is not None else 0,
        future_order_lines=int(future.l_order.size) if future is not None else 0,
        dead_customers=int((truth.alive == 0).sum()),
        seconds=round(time.perf_counter() - started, 3),
        files=files,
    )


def seasonality(days: np.ndarray) -> np.ndarray:
    """Relative purchase intensity of calendar days (datetime64[D]); averages 1 over a year.

    Weekly (Sunday and Monday peaks) times yearly (Black Friday, December, January sales, summer lull)."""
    days = np.asarray(days, dtype="datetime64[D]")
    dow = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = np.array([1.05, 1.0, 0.97, 0.95, 0.93, 0.92, 1.18])
    weekly = weekly / weekly.mean()
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    return weekly[dow] * _yearly(doy) / _YEARLY_MEAN


def _yearly(doy: np.ndarray) -> np.ndarray:
    def bump(center: float, width: float) -> np.ndarray:
        distance = np.abs(doy - center)
        distance = np.minimum(distance, 365 - distance)
        return np.exp(-0.5 * (distance / width) ** 2)

    return 1 + 0.9 * bump(331, 5) + 0.7 * bump(350, 9) + 0.25 * bump(8, 7) - 0.2 * bump(205, 30)


_YEARLY_MEAN = float(_yearly(np.arange(365)).mean())


# --- model pieces -----------------------------------------------------------------------------
def _rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *more])


class _Grid:
    """Simulation day t = 0 is BURN_DAYS before the window; `end` is the index of end_date."""

    def __init__(self, config: SimulationConfig):
        self.burn = BURN_DAYS
        self.days = config.days
        self.future = config.future_days
        self.end = self.burn + config.days - 1
        self.total = self.end + 1 + config.future_days
        self.day0 = np.datetime64(config.end_date, "D") - self.end
        self.epoch0 = int(self.day0.astype("datetime64[s]").astype(np.int64))
        self.window_start = self.epoch0 + self.burn * 86400
        self.window_end = self.epoch0 + (self.end + 1) * 86400  # exclusive: midnight after end_date
        span = max(self.total, self.end + 1 + max(TRUTH_HORIZONS))
        self.season = seasonality(self.day0 + np.arange(span))

    def seconds(self, day: np.ndarray) -> np.ndarray:
        return self.epoch0 + day.astype(np.int64) * 86400


@dataclass(frozen=True)
class _Catalog:
    ids: np.ndarray
    cat: np.ndarray
    price_cents: np.ndarray
    launch: np.ndarray
    gone: np.ndarray  # first day it is no longer sold
    titles: list[str]
    descriptions: list[str]
    brands: list[str]
    nouns: list[str]
    keys: np.ndarray  # category + cumulative popularity share, in `by_cat` order, for sampling
    by_cat: np.ndarray
    anchor: np.ndarray  # per category: a product sold on every day (fallback)
    present: np.ndarray  # categories that have products
    consumable: np.ndarray  # per category

    def available(self, product: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (self.launch[product] <= day) & (day < self.gone[product])


def _make_catalog(config: SimulationConfig, grid: _Grid) -> _Catalog:
    rng = _rng(config.seed, _S_CATALOG)
    m, k = config.products, len(_SUBS)
    weights = np.array([s[4] for s in _SUBS], dtype=float)
    cat = np.empty(m, dtype=np.int64)
    first = min(m, k)
    # Every category gets a product before the rest follow popularity, when there are enough.
    cat[:first] = rng.choice(k, size=first, replace=False, p=weights / weights.sum())
    cat[first:] = rng.choice(k, size=m - first, p=weights / weights.sum())
    cat = rng.permutation(cat)
    popularity = rng.lognormal(0.0, 1.0, m)
    late = rng.random(m) < 0.25
    launch = np.where(late, rng.integers(grid.burn, grid.end + 1, m), 0)
    retired = rng.random(m) < 0.03
    gone = np.where(retired, rng.integers(grid.burn + grid.days // 2, grid.end + 2, m), np.iinfo(np.int64).max)
    present = np.unique(cat)
    anchor = np.zeros(k, dtype=np.int64)
    for c in present:
        members = np.flatnonzero(cat == c)
        anchor[c] = members[np.argmax(popularity[members])]
    launch[anchor[present]] = 0
    gone[anchor[present]] = np.iinfo(np.int64).max

    medians = np.array([s[3] for s in _SUBS], dtype=float)
    price = medians[cat] * rng.lognormal(0.0, 0.45, m)
    price_cents = np.where(price >= 5, np.floor(price) * 100 + 99, np.round(price * 100)).astype(np.int64)
    price_cents = np.maximum(price_cents, 49)

    picks = rng.integers(0, 6, size=(m, 6))
    titles, descriptions, brands, nouns = [], [], [], []
    for i in range(m):
        top, sub, _, _, _, sub_nouns = _SUBS[cat[i]]
        top_brands, adjectives, features, uses = _TOPS[top]
        brand = top_brands[picks[i, 0] % 4]
        noun = sub_nouns[picks[i, 1]]
        adjective = adjectives[picks[i, 2]]
        feature, feature2 = features[picks[i, 3]], features[(picks[i, 3] + 1 + picks[i, 4] % 5) % 6]
        use = uses[picks[i, 5]]
        titles.append(f"{brand} {adjective} {noun}, {feature}")
        descriptions.append(
            f"A {adjective} {noun} with {feature} and {feature2}. Made for {use}. "
            f"Part of our {sub.lower()} range in {top.lower()}."
        )
        brands.append(brand)
        nouns.append(noun)

    by_cat = np.lexsort((np.arange(m), cat))
    sorted_cat = cat[by_cat]
    share = np.empty(m)
    for c in present:
        rows = np.flatnonzero(sorted_cat == c)
        cumulative = np.cumsum(popularity[by_cat[rows]])
        share[rows] = cumulative / cumulative[-1]
        share[rows[-1]] = 1.0
    return _Catalog(
        ids=np.array([f"P{i + 1:07d}" for i in range(m)]),
        cat=cat, price_cents=price_cents, launch=launch, gone=gone,
        titles=titles, descriptions=descriptions, brands=brands, nouns=nouns,
        keys=sorted_cat + share, by_cat=by_cat, anchor=anchor, present=present,
        consumable=np.array([s[2] for s in _SUBS]),
    )


def _pick_in_category(catalog: _Catalog, cats: np.ndarray, days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A product of each given category, by popularity among those on sale that day."""

    def draw(c: np.ndarray) -> np.ndarray:
        u = np.minimum(rng.random(c.size), 1 - 1e-9)
        return catalog.by_cat[np.searchsorted(catalog.keys, c + u, side="right")]

    product = draw(cats)
    bad = ~catalog.available(product, days)
    for _ in range(6):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        product[idx] = draw(cats[idx])
        bad[idx] = ~catalog.available(product[idx], days[idx])
    product[bad] = catalog.anchor[cats[bad]]
    return product


@dataclass(frozen=True)
class _People:
    ids: np.ndarray
    join: np.ndarray
    lam: np.ndarray  # Poisson order rate per day while active
    mu: np.ndarray  # daily hazard of starting to fade
    p_drop: np.ndarray  # chance of starting to fade after a purchase day
    consumer: np.ndarray
    cycle: np.ndarray  # median days between consumable re-buys
    first_due: np.ndarray
    favourite: np.ndarray  # the consumable product re-bought
    session_rate: np.ndarray
    prefs_cum: np.ndarray  # cumulative category preferences over catalog.present
    present: np.ndarray
    names: list[str]
    emails: list[str]
    country: np.ndarray


def _make_customers(config: SimulationConfig, grid: _Grid, catalog: _Catalog) -> _People:
    rng = _rng(config.seed, _S_CUSTOMERS)
    n = config.customers
    early = rng.random(n) < 0.3
    # Later in the window joins get more frequent: a growing shop.
    join = np.where(early, rng.integers(0, grid.burn, n), grid.burn + np.floor(grid.days * rng.random(n) ** 0.8))
    join = np.minimum(join.astype(np.int64), grid.end)
    lam = rng.gamma(0.8, (9.0 / 365) / 0.8, n)
    mu = rng.gamma(2.0, (1 / 1100) / 2.0, n)
    p_drop = rng.beta(1.0, 18.0, n)
    weights = np.array([s[4] for s in _SUBS], dtype=float)[catalog.present]
    prefs = 0.7 * rng.dirichlet(np.full(catalog.present.size, 0.3), n) + 0.3 * weights / weights.sum()
    prefs_cum = np.cumsum(prefs, axis=1)
    prefs_cum[:, -1] = 1.0
    consumable_present = catalog.consumable[catalog.present]
    consumer = (rng.random(n) < 0.45) & consumable_present.any()
    cycle = np.clip(np.exp(rng.normal(np.log(30), 0.35, n)), 7, 120)
    favourite = np.zeros(n, dtype=np.int64)
    who = np.flatnonzero(consumer)
    if who.size:
        cons_prefs = prefs[who][:, consumable_present]
        cum = np.cumsum(cons_prefs, axis=1) / cons_prefs.sum(axis=1, keepdims=True)
        col = np.minimum((cum < rng.random(who.size)[:, None]).sum(axis=1), cum.shape[1] - 1)
        cats = catalog.present[consumable_present][col]
        favourite[who] = _pick_in_category(catalog, cats, join[who], rng)
    first_due = np.where(consumer, join + _intervals(rng, cycle), np.iinfo(np.int64).max)
    rate_total = lam + consumer / cycle
    session_rate = (0.005 + 0.5 * rate_total) * rng.lognormal(0.0, 0.4, n)
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    domain = rng.integers(0, len(_DOMAINS), n)
    names = [f"{_FIRST[a]} {_LAST[b]}" for a, b in zip(first, last, strict=True)]
    emails = [
        f"{_FIRST[a].lower()}.{_LAST[b].lower()}{i + 1}@{_DOMAINS[d]}"
        for i, (a, b, d) in enumerate(zip(first, last, domain, strict=True))
    ]
    return _People(
        ids=np.array([f"C{i + 1:07d}" for i in range(n)]), join=join, lam=lam, mu=mu, p_drop=p_drop,
        consumer=consumer, cycle=cycle, first_due=first_due, favourite=favourite, session_rate=session_rate,
        prefs_cum=prefs_cum, present=catalog.present, names=names, emails=emails,
        country=_COUNTRIES[rng.choice(len(_COUNTRIES), n, p=_COUNTRY_P)],
    )


def _intervals(rng: np.random.Generator, cycle: np.ndarray) -> np.ndarray:
    """Days to the next consumable re-buy: round(cycle * lognormal), at least 1 (see `_interval_cdf`)."""
    return np.maximum(1, np.round(cycle * np.exp(CYCLE_SIGMA * rng.standard_normal(cycle.size)))).astype(np.int64)


def _interval_cdf(x: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """P(interval <= x) for the intervals drawn by `_intervals`."""
    x = np.asarray(x, dtype=float)
    z = (np.log(np.maximum(x, 0.5) + 0.5) - np.log(cycle)) / CYCLE_SIGMA
    return np.where(x < 1, 0.0, 1 - 0.5 * _erfc(z / np.sqrt(2)))


def _erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function with relative error < 1.2e-7 (Numerical Recipes' erfcc)."""
    z = np.abs(x)
    t = 1 / (1 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2 - r)


ACTIVE, FADING, DEAD, WAITING = 1, 2, 3, 0


@dataclass(frozen=True)
class _Snapshot:
    """Each customer's latent state on the first day after the window."""

    phase: np.ndarray
    fade_start: np.ndarray
    last_rebuy: np.ndarray


@dataclass(frozen=True)
class _History:
    o_cust: np.ndarray
    o_day: np.ndarray
    o_rebuy: np.ndarray  # a consumable re-buy (else a regular order)
    o_cancelled: np.ndarray
    s_cust: np.ndarray  # browsing sessions in the window
    s_day: np.ndarray
    snapshot: _Snapshot


def _run_days(config: SimulationConfig, grid: _Grid, people: _People) -> _History:
    n = people.ids.size
    phase = np.full(n, WAITING, dtype=np.int8)
    fade_start = np.zeros(n, dtype=np.int64)
    last_rebuy = people.join.copy()
    due = people.first_due.copy()
    joiners = np.argsort(people.join, kind="stable")
    join_sorted = people.join[joiners]
    orders: list[tuple[np.ndarray, ...]] = []
    sessions: list[tuple[np.ndarray, np.ndarray]] = []
    snapshot = None
    session_season = np.sqrt(grid.season)
    for t in range(grid.total):
        g = _rng(config.seed, _S_DAY, t)
        lo, hi = np.searchsorted(join_sorted, [t, t + 1])
        phase[joiners[lo:hi]] = ACTIVE
        live = np.flatnonzero((phase == ACTIVE) | (phase == FADING))
        fading = phase[live] == FADING
        age = t - fade_start[live]
        mult = np.where(fading, np.exp(-age / FADE_SCALE), 1.0)
        n_orders = g.poisson(people.lam[live] * grid.season[t] * mult)
        n_cancelled = g.binomial(n_orders, CANCEL_RATE)
        rebuy = ~fading & (due[live] == t)
        bought = (n_orders > n_cancelled) | rebuy
        n_sessions = g.poisson(people.session_rate[live] * session_season[t] * mult)
        u = g.random(live.size)

        if n_orders.any():
            cust = np.repeat(live, n_orders)
            rank = np.arange(cust.size) - np.repeat(np.cumsum(n_orders) - n_orders, n_orders)
            orders.append((cust, np.full(cust.size, t), np.zeros(cust.size, bool),
                           rank < np.repeat(n_cancelled, n_orders)))
        hit = live[rebuy]
        if hit.size:
            orders.append((hit, np.full(hit.size, t), np.ones(hit.size, bool), np.zeros(hit.size, bool)))
            last_rebuy[hit] = t
            due[hit] = t + _intervals(g, people.cycle[hit])
        if grid.burn <= t <= grid.end and n_sessions.any():
            sessions.append((np.repeat(live, n_sessions), np.full(int(n_sessions.sum()), t)))

        p_fade = 1 - (1 - people.p_drop[live] * bought) * np.exp(-people.mu[live])
        to_fade = live[~fading & (u < p_fade)]
        phase[to_fade] = FADING
        fade_start[to_fade] = t + 1
        phase[live[fading & (age + 1 >= FADE_DAYS)]] = DEAD
        if t == grid.end:
            snapshot = _Snapshot(phase=phase.copy(), fade_start=fade_start.copy(), last_rebuy=last_rebuy.copy())

    def cat(i: int, parts: list, dtype) -> np.ndarray:
        return np.concatenate([p[i] for p in parts]).astype(dtype) if parts else np.zeros(0, dtype)

    return _History(
        o_cust=cat(0, orders, np.int64), o_day=cat(1, orders, np.int64), o_rebuy=cat(2, orders, bool),
        o_cancelled=cat(3, orders, bool), s_cust=cat(0, sessions, np.int64), s_day=cat(1, sessions, np.int64),
        snapshot=snapshot,
    )


@dataclass(frozen=True)
class _Truth:
    p30: np.ndarray
    p90: np.ndarray
    alive: np.ndarray


def _truth(snapshot: _Snapshot, people: _People, grid: _Grid) -> _Truth:
    """P(at least one non-cancelled order in the next h days | latent state after the window).

    Exact for the daily model: a purchase-triggered dropout only follows a purchase, so it cannot
    prevent the first one; what can is the daily fade hazard, after which the rate decays."""
    start = grid.end + 1
    phase = snapshot.phase
    rate = people.lam * (1 - CANCEL_RATE)
    out = {}
    for h in TRUTH_HORIZONS:
        s = grid.season[start:start + h]
        p_none = np.zeros(phase.size)  # dead customers: no purchase, for sure
        p_none[phase == DEAD] = 1.0
        ages = np.arange(h)
        decay = np.where(ages < FADE_DAYS, np.exp(-ages / FADE_SCALE), 0.0)

        fading = np.flatnonzero(phase == FADING)
        if fading.size:
            age = start - snapshot.fade_start[fading]
            a = age[:, None] + ages[None, :]
            weight = np.where(a < FADE_DAYS, np.exp(-a / FADE_SCALE), 0.0)
            p_none[fading] = np.exp(-rate[fading] * (weight * s[None, :]).sum(axis=1))

        # Active: fading starts on horizon day k (1..h-1) or not within the horizon.
        cum_s = np.concatenate([[0.0], np.cumsum(s)])  # cum_s[k]: season summed over days 0..k-1
        tail = np.array([(s[k:] * decay[: h - k]).sum() for k in range(h)])  # faded from day k on
        active = np.flatnonzero(phase == ACTIVE)
        for chunk in np.array_split(active, max(1, active.size // 20000)):
            if not chunk.size:
                continue
            r, mu = rate[chunk][:, None], people.mu[chunk][:, None]
            k = np.arange(1, h)[None, :]
            survive_due = _survive_due(snapshot, people, chunk, grid.end, np.arange(h + 1))
            fade_k = np.exp(-mu * (k - 1)) * (1 - np.exp(-mu)) * np.exp(-r * cum_s[k]) * survive_due[:, 1:h] \
                * np.exp(-r * tail[k])
            never = np.exp(-mu[:, 0] * (h - 1)) * np.exp(-r[:, 0] * cum_s[h]) * survive_due[:, h]
            p_none[chunk] = fade_k.sum(axis=1) + never
        out[h] = np.clip(1 - p_none, 0.0, 1.0)
    # Nested horizons: guard the bound against floating-point noise.
    p30, p90 = out[30], np.maximum(out[90], out[30])
    return _Truth(p30=p30, p90=p90, alive=(phase != DEAD).astype(np.int8))


def _survive_due(snapshot: _Snapshot, people: _People, who: np.ndarray, end: int, k: np.ndarray) -> np.ndarray:
    """P(no consumable re-buy falls due on horizon days 0..k-1 | none fell due up to the end)."""
    out = np.ones((who.size, k.size))
    cons = people.consumer[who]
    if cons.any():
        idx = who[cons]
        elapsed = (end - snapshot.last_rebuy[idx]).astype(float)[:, None]
        cycle = people.cycle[idx][:, None]
        before = 1 - _interval_cdf(elapsed, cycle)
        after = 1 - _interval_cdf(elapsed + k[None, :], cycle)
        out[cons] = np.where(before > 0, after / np.maximum(before, 1e-300), 0.0)
    return out


# --- orders and events ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Orders:
    cust: np.ndarray
    time: np.ndarray  # epoch seconds
    status: np.ndarray  # index into STATUSES
    total_cents: np.ndarray
    item_count: np.ndarray
    rebuy: np.ndarray
    l_order: np.ndarray
    l_product: np.ndarray
    l_qty: np.ndarray
    l_cents: np.ndarray
    id_offset: int


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    hour = np.searchsorted(_HOUR_CUM, rng.random(size), side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, size)


def _pick_category(people: _People, cust: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(cust.size, dtype=np.int64)
    for lo in range(0, cust.size, 200_000):
        c = cust[lo:lo + 200_000]
        col = (people.prefs_cum[c] < rng.random(c.size)[:, None]).sum(axis=1)
        out[lo:lo + 200_000] = people.present[np.minimum(col, people.present.size - 1)]
    return out


def _make_orders(history: _History, mask: np.ndarray, grid: _Grid, people: _People, catalog: _Catalog,
                 rng: np.random.Generator, *, id_offset: int) -> _Orders:
    cust, day = history.o_cust[mask], history.o_day[mask]
    rebuy, cancelled = history.o_rebuy[mask], history.o_cancelled[mask]
    when = grid.seconds(day) + _time_of_day(rng, cust.size)
    order = np.lexsort((cust, when))
    cust, day, rebuy, cancelled, when = cust[order], day[order], rebuy[order], cancelled[order], when[order]
    n = cust.size
    status = np.where(cancelled, 1, np.where(rng.random(n) < REFUND_RATE, 2, 0))

    n_regular = np.where(rebuy, (rng.random(n) < 0.25).astype(np.int64), 1 + np.minimum(rng.poisson(0.5, n), 5))
    o_idx = np.repeat(np.arange(n), n_regular)
    products = _pick_in_category(catalog, _pick_category(people, cust[o_idx], rng), day[o_idx], rng)
    u = rng.random(o_idx.size)
    qty = 1 + (u > 0.85) + (u > 0.97)
    re_idx = np.flatnonzero(rebuy)
    fav = people.favourite[cust[re_idx]]
    fav = np.where(catalog.available(fav, day[re_idx]), fav, catalog.anchor[catalog.cat[fav]])
    re_qty = 1 + (rng.random(re_idx.size) < 0.35)
    # One line per (order, product): a product drawn twice adds to its quantity.
    key = np.concatenate([o_idx, re_idx]) * np.int64(catalog.ids.size) + np.concatenate([products, fav])
    keys, inverse = np.unique(key, return_inverse=True)
    l_qty = np.bincount(inverse, weights=np.concatenate([qty, re_qty])).astype(np.int64)
    l_order, l_product = keys // catalog.ids.size, keys % catalog.ids.size
    discount = np.where(rng.random(keys.size) < 0.1, rng.uniform(0.7, 0.9, keys.size), 1.0)
    l_cents = np.round(catalog.price_cents[l_product] * discount).astype(np.int64)
    gross = np.bincount(l_order, weights=l_qty * l_cents, minlength=n)
    coupon = np.where(rng.random(n) < 0.05, 0.9, 1.0)
    return _Orders(
        cust=cust, time=when, status=status, total_cents=np.round(gross * coupon).astype(np.int64),
        item_count=np.bincount(l_order, weights=l_qty, minlength=n).astype(np.int64), rebuy=rebuy,
        l_order=l_order, l_product=l_product, l_qty=l_qty, l_cents=l_cents, id_offset=id_offset,
    )


@dataclass(frozen=True)
class _Events:
    time: np.ndarray
    cust: np.ndarray
    type: np.ndarray
    product: np.ndarray  # -1: none
    session: np.ndarray  # dense session number, in order of first event
    prop: np.ndarray  # index into props
    props: list[str]


class _EventBuffer:
    def __init__(self):
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, time_, cust, type_, product, session, prop=None) -> None:
        size = np.asarray(time_).size
        self.parts.append((
            np.asarray(time_, dtype=np.int64), np.asarray(cust, dtype=np.int64),
            np.broadcast_to(np.asarray(type_, dtype=np.int8), (size,)),
            np.broadcast_to(np.asarray(product, dtype=np.int64), (size,)),
            np.asarray(session, dtype=np.int64),
            np.broadcast_to(np.asarray(0 if prop is None else prop, dtype=np.int64), (size,)),
        ))

    def column(self, i: int) -> np.ndarray:
        return np.concatenate([p[i] for p in self.parts])


def _make_events(history: _History, orders: _Orders, grid: _Grid, people: _People, catalog: _Catalog,
                 rng: np.random.Generator) -> _Events:
    """Funnel sessions before each order, reviews after some, and browsing sessions (the data's bulk)."""
    props = ["", *[f'{{"quantity": {q}}}' for q in range(1, 7)], *[f'{{"rating": {r}}}' for r in range(1, 6)]]
    queries = sorted(set(catalog.nouns))
    props += [json.dumps({"query": q}) for q in queries]
    query_prop = {q: 12 + i for i, q in enumerate(queries)}
    noun_prop = np.array([query_prop[w] for w in catalog.nouns], dtype=np.int64)
    buf = _EventBuffer()
    n = orders.cust.size
    base = 0

    # Purchase session: the products of the order viewed and (mostly) put in the cart before it.
    start = orders.time - rng.integers(120, 1800, n)
    lo = orders.l_order
    view_t = start[lo] + (rng.random(lo.size) * 0.6 * (orders.time - start)[lo]).astype(np.int64)
    cart_t = view_t + (rng.uniform(0.1, 0.9, lo.size) * (orders.time[lo] - view_t)).astype(np.int64)
    buf.add(view_t, orders.cust[lo], VIEW, orders.l_product, base + lo)
    carted = rng.random(lo.size) < 0.92
    buf.add(cart_t[carted], orders.cust[lo][carted], CART, orders.l_product[carted], base + lo[carted],
            np.minimum(orders.l_qty[carted], 6))
    first_line = np.searchsorted(lo, np.arange(n))
    first_product = orders.l_product[np.minimum(first_line, lo.size - 1)] if lo.size else np.zeros(n, np.int64)
    day = (orders.time - grid.epoch0) // 86400
    alt_o = np.repeat(np.arange(n), rng.poisson(0.8, n))
    alt_p = _pick_in_category(catalog, catalog.cat[first_product[alt_o]], day[alt_o], rng)
    alt_t = start[alt_o] + (rng.random(alt_o.size) * (orders.time - start)[alt_o]).astype(np.int64)
    buf.add(alt_t, orders.cust[alt_o], VIEW, alt_p, base + alt_o)
    login = np.flatnonzero(rng.random(n) < 0.3)
    buf.add(start[login] - 5, orders.cust[login], LOGIN, -1, base + login)
    base += n

    # Research session a few days before a regular order: the same products and alternatives.
    research = ~orders.rebuy & (rng.random(n) < 0.4)
    r_start = orders.time - rng.integers(86400, 6 * 86400, n)
    r_lines = np.flatnonzero(research[lo] & (rng.random(lo.size) < 0.85))
    buf.add(r_start[lo[r_lines]] + rng.integers(0, 1200, r_lines.size), orders.cust[lo[r_lines]], VIEW,
            orders.l_product[r_lines], base + lo[r_lines])
    r_alt = np.repeat(np.flatnonzero(research), rng.poisson(1.2, int(research.sum())))
    buf.add(r_start[r_alt] + rng.integers(0, 1200, r_alt.size), orders.cust[r_alt], VIEW,
            _pick_in_category(catalog, catalog.cat[first_product[r_alt]], day[r_alt], rng), base + r_alt)
    wish = np.flatnonzero(research & (rng.random(n) < 0.1))
    buf.add(r_start[wish] + 1230, orders.cust[wish], WISH, first_product[wish], base + wish)
    base += n

    # Reviews some days after delivery.
    reviewed = np.flatnonzero((orders.status != 1) & (rng.random(n) < 0.06))
    rating = 1 + np.searchsorted(np.cumsum([0.04, 0.05, 0.11, 0.3, 0.5]), rng.random(reviewed.size), side="right")
    buf.add(orders.time[reviewed] + rng.integers(5 * 86400, 25 * 86400, reviewed.size), orders.cust[reviewed],
            REVIEW, first_product[reviewed], base + reviewed, 6 + np.minimum(rating, 5))
    base += n

    # Browsing sessions: views in preferred categories, searches, logins, abandoned carts.
    s_cust, s_day = history.s_cust, history.s_day
    m = s_cust.size
    s_start = grid.seconds(s_day) + _time_of_day(rng, m)
    n_views = rng.geometric(0.38, m)
    v_s = np.repeat(np.arange(m), n_views)
    v_p = _pick_in_category(catalog, _pick_category(people, s_cust[v_s], rng), s_day[v_s], rng)
    first_v = np.cumsum(n_views) - n_views
    last_v = np.cumsum(n_views) - 1
    gaps = rng.integers(15, 200, v_s.size)
    elapsed = np.cumsum(gaps)
    v_t = s_start[v_s] + elapsed - np.repeat(elapsed[first_v] - gaps[first_v], n_views)
    buf.add(v_t, s_cust[v_s], VIEW, v_p, base + v_s)
    searched = np.flatnonzero(rng.random(m) < 0.35)
    buf.add(s_start[searched] - rng.integers(5, 30, searched.size), s_cust[searched], SEARCH, -1, base + searched,
            noun_prop[v_p[first_v[searched]]])
    logged = np.flatnonzero(rng.random(m) < 0.25)
    buf.add(s_start[logged] - 40, s_cust[logged], LOGIN, -1, base + logged)
    cart = np.flatnonzero(rng.random(m) < 0.12)
    cart_t = v_t[last_v[cart]] + rng.integers(10, 120, cart.size)
    buf.add(cart_t, s_cust[cart], CART, v_p[last_v[cart]], base + cart, 1)
    removed = rng.random(cart.size) < 0.35
    buf.add(cart_t[removed] + rng.integers(30, 600, int(removed.sum())), s_cust[cart[removed]], UNCART,
            v_p[last_v[cart[removed]]], base + cart[removed])
    wished = np.flatnonzero(rng.random(m) < 0.05)
    buf.add(v_t[first_v[wished]] + 5, s_cust[wished], WISH, v_p[first_v[wished]], base + wished)

    time_, cust, type_ = buf.column(0), buf.column(1), buf.column(2)
    product, session, prop = buf.column(3), buf.column(4), buf.column(5)
    joined = grid.seconds(people.join[cust])
    keep = (time_ >= grid.window_start) & (time_ < grid.window_end) & (time_ >= joined)
    time_, cust, type_, product, session, prop = (a[keep] for a in (time_, cust, type_, product, session, prop))
    order = np.lexsort((cust, time_))
    time_, cust, type_, product, session, prop = (a[order] for a in (time_, cust, type_, product, session, prop))
    session = pd.factorize(session)[0].astype(np.int64)
    return _Events(time=time_, cust=cust, type=type_, product=product, session=session, prop=prop, props=props)


def _signup_times(people: _People, grid: _Grid, orders: _Orders, events: _Events,
                  rng: np.random.Generator) -> np.ndarray:
    """Signup on the join day, and never after the customer's first order or event in the files."""
    signup = grid.seconds(people.join) + rng.integers(0, 12 * 3600, people.join.size)
    first = np.full(people.join.size, np.iinfo(np.int64).max)
    np.minimum.at(first, orders.cust, orders.time)
    np.minimum.at(first, events.cust, events.time)
    return np.minimum(signup, first - rng.integers(60, 1800, people.join.size))


# --- files ------------------------------------------------------------------------------------
def _iso(seconds: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return np.strings.add(text, "Z")


def _money(cents: np.ndarray) -> np.ndarray:
    cents = np.asarray(cents, dtype=np.int64)
    return np.strings.add(np.strings.add((cents // 100).astype(str), "."),
                          np.strings.zfill((cents % 100).astype(str), 2))


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.strings.add(prefix, np.strings.zfill(np.asarray(numbers, dtype=np.int64).astype(str), width))


def _customers_frame(people: _People, signup: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": people.ids, "email": people.emails, "name": people.names,
                         "country": people.country, "signup_at": _iso(signup)})


def _products_frame(catalog: _Catalog) -> pd.DataFrame:
    paths = np.array([f"{top} > {sub}" for top, sub, *_ in _SUBS])
    return pd.DataFrame({
        "product_id": catalog.ids, "title": catalog.titles, "description": catalog.descriptions,
        "category": paths[catalog.cat], "brand": catalog.brands, "price": _money(catalog.price_cents),
        "active": np.where(catalog.gone == np.iinfo(np.int64).max, "true", "false"),
    })


def _orders_frame(orders: _Orders, people: _People) -> pd.DataFrame:
    n = orders.cust.size
    return pd.DataFrame({
        "order_id": _numbered("O", orders.id_offset + np.arange(1, n + 1), 8), "customer_id": people.ids[orders.cust],
        "placed_at": _iso(orders.time), "total": _money(orders.total_cents), "currency": np.full(n, CURRENCY),
        "status": STATUSES[orders.status], "item_count": orders.item_count.astype(str),
    })


def _lines_frame(orders: _Orders, catalog: _Catalog) -> pd.DataFrame:
    return pd.DataFrame({
        "order_id": _numbered("O", orders.id_offset + orders.l_order + 1, 8),
        "product_id": catalog.ids[orders.l_product],
        "quantity": orders.l_qty.astype(str), "unit_price": _money(orders.l_cents),
    })


def _events_frame(events: _Events, people: _People, catalog: _Catalog, rows: slice | None) -> pd.DataFrame:
    rows = rows or slice(0, events.time.size)
    product = events.product[rows]
    product_ids = np.append(catalog.ids, "")  # index -1: no product
    return pd.DataFrame({
        "event_id": _numbered("E", np.arange(rows.start + 1, rows.start + product.size + 1), 9),
        "customer_id": people.ids[events.cust[rows]], "type": np.array(EVENT_TYPES)[events.type[rows]],
        "product_id": product_ids[product], "occurred_at": _iso(events.time[rows]),
        "session_id": _numbered("S", events.session[rows] + 1, 8),
        "properties": np.array(events.props)[events.prop[rows]],
    })


def _truth_frame(truth: _Truth, people: _People) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": people.ids, "p_purchase_30": np.char.mod("%.6f", truth.p30),
                         "p_purchase_90": np.char.mod("%.6f", truth.p90), "alive": truth.alive.astype(str)})


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def _write_events(events: _Events, people: _People, catalog: _Catalog, path: Path, chunk: int = 500_000) -> None:
    """Events are the bulk of the data: formatted and written a chunk at a time."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(COLUMNS["events"]) + "\n")
        for lo in range(0, events.time.size, chunk):
            frame = _events_frame(events, people, catalog, slice(lo, min(lo + chunk, events.time.size)))
            frame.to_csv(handle, index=False, header=False, lineterminator="\n")


# --- dirty data -------------------------------------------------------------------------------
# Per file: (fault kind, column, bad values). Each faulty row carries one fault, so the manifest
# names exactly one reason per line.
_BAD_DATES = ["2024-13-45", "yesterday", "31/02/2024 25:61", "not a date"]
_BAD_NUMBERS = ["N/A", "twelve", "1.2.3", "12,5 EUR"]
_FAULTS = {
    "customers": [("missing_customer_id", "customer_id", [""]), ("unparseable_date", "signup_at", _BAD_DATES)],
    "products": [("missing_product_id", "product_id", [""]), ("non_numeric_price", "price", _BAD_NUMBERS)],
    "orders": [("missing_customer_id", "customer_id", [""]), ("missing_placed_at", "placed_at", [""]),
               ("unknown_customer", "customer_id", None), ("unparseable_date", "placed_at", _BAD_DATES),
               ("non_numeric_total", "total", _BAD_NUMBERS)],
    "order_lines": [("unknown_product", "product_id", None), ("non_numeric_price", "unit_price", _BAD_NUMBERS),
                    ("missing_product_id", "product_id", [""])],
    "events": [("missing_customer_id", "customer_id", [""]), ("unknown_customer", "customer_id", None),
               ("unknown_product", "product_id", None), ("unparseable_date", "occurred_at", _BAD_DATES)],
}
_TIME_COLUMN = {"orders": "placed_at", "events": "occurred_at"}


def _inject_faults(kind: str, frame: pd.DataFrame, rng: np.random.Generator,
                   known: dict[str, set[str]]) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Spoil a few rows of `frame` and say where: {fault kind: [1-based line numbers, header = 1]}."""
    n = len(frame)
    columns = {c: frame[c].to_numpy(dtype=object).copy() for c in frame.columns}
    per_fault = max(1, min(200, round(n * 0.002)))
    taken = np.zeros(n, dtype=bool)
    rows: dict[str, np.ndarray] = {}

    time_column = _TIME_COLUMN.get(kind)
    if time_column and n >= 10:
        # Out of order: reverse a block whose first and last times differ, so it really is unsorted.
        size = min(20, n // 5)
        for _ in range(20):
            lo = int(rng.integers(0, n - size + 1))
            if columns[time_column][lo] != columns[time_column][lo + size - 1]:
                for column in columns.values():
                    column[lo:lo + size] = column[lo:lo + size][::-1].copy()
                taken[lo:lo + size] = True
                rows["out_of_order"] = np.arange(lo, lo + size)
                break

    def free_rows(count: int, allowed: np.ndarray | None = None) -> np.ndarray:
        ok = ~taken if allowed is None else ~taken & allowed
        pool = np.flatnonzero(ok)
        chosen = np.sort(rng.choice(pool, size=min(count, pool.size), replace=False)) if pool.size else pool
        taken[chosen] = True
        return chosen

    for fault, column, values in _FAULTS[kind]:
        allowed = None
        if fault == "unknown_product":
            allowed = columns[column] != ""  # a row without product names no unknown one
        chosen = free_rows(per_fault, allowed)
        if not chosen.size:
            continue
        if values is None:
            prefix = "C9" if fault == "unknown_customer" else "P9"
            bad = [f"{prefix}{i:07d}" for i in rng.integers(0, 10_000_000, chosen.size)]
            family = known["customers" if fault == "unknown_customer" else "products"]
            bad = [b if b not in family else b + "X" for b in bad]
        else:
            bad = [values[i] for i in rng.integers(0, len(values), chosen.size)]
        columns[column][chosen] = bad
        rows[fault] = chosen

    duplicated = free_rows(per_fault)
    repeat = np.ones(n, dtype=np.int64)
    repeat[duplicated] = 2
    order = np.repeat(np.arange(n), repeat)
    first_at = np.cumsum(repeat) - repeat  # new position of each original row
    manifest = {fault: (first_at[r] + 2).tolist() for fault, r in rows.items()}
    if duplicated.size:
        manifest["duplicate_row"] = (first_at[duplicated] + 3).tolist()
    dirty = pd.DataFrame({c: v[order] for c, v in columns.items()})
    return dirty, manifest
