"""The catalog: category vocabulary, products with prices, launch and retirement days, and picking a
product of a category by popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import _S_CATALOG, SimulationConfig, _rng
from .grid import _Grid

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
    "Music": (["Bluebird Records", "Northside Music", "Vinyl Hall", "Echo Lane"],
              ["debut", "acclaimed", "live", "remastered", "classic", "new"],
              ["bonus tracks", "deluxe edition", "digipak", "liner notes", "two discs", "import"],
              ["long drives", "quiet evenings", "parties", "collectors", "road trips", "late nights"]),
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
    # Only the presets' catalogues use the categories below (presets.py); the default shop draws from the above.
    ("Grocery", "Produce", True, 2, 8, ["bananas", "apples", "avocados", "baby spinach", "tomatoes", "lemons"]),
    ("Grocery", "Dairy & Eggs", True, 3, 7, ["milk", "eggs", "yogurt", "butter", "cheddar cheese", "oat milk"]),
    ("Grocery", "Bakery", True, 3, 4, ["sourdough bread", "bagels", "tortillas", "croissants", "rye bread",
                                       "muffins"]),
    ("Grocery", "Beverages", True, 3, 5, ["sparkling water", "orange juice", "cola", "iced tea", "kombucha",
                                          "lemonade"]),
    ("Grocery", "Frozen", True, 5, 4, ["frozen pizza", "frozen berries", "ice cream", "frozen peas",
                                       "fish fingers", "veggie burgers"]),
    ("Music", "Rock & Pop", False, 14, 8, ["album", "live album", "greatest hits", "box set", "single",
                                           "soundtrack album"]),
    ("Music", "Jazz & Blues", False, 14, 3, ["album", "live album", "anthology", "box set", "session recordings",
                                             "best of"]),
    ("Music", "Classical", False, 16, 3, ["symphony", "concerto", "opera highlights", "box set", "sonatas",
                                          "requiem"]),
    ("Music", "Hip-Hop & R&B", False, 14, 4, ["album", "mixtape", "single", "deluxe album", "live album",
                                              "greatest hits"]),
    ("Music", "Country & Folk", False, 13, 3, ["album", "live album", "best of", "box set", "duets album",
                                               "acoustic album"]),
]
_DEFAULT_SUBS = 29  # the default shop's categories: the first 29 of _SUBS


# Median price (EUR) of the items whose price is far from their sub category's median: a phone case is not
# priced like a smartphone. Items not named here take the sub category's median.
_ITEM_PRICES = {
    "chef knife": 60, "frying pan": 40, "cutting board": 25, "saucepan": 45, "mixing bowl": 20, "coffee grinder": 50,
    "mattress topper": 90, "throw blanket": 45, "pillow": 30, "fitted sheet": 30, "bedspread": 70,
    "smartphone": 450, "phone case": 18, "screen protector": 12, "wireless charger": 30, "power bank": 35,
    "phone stand": 20,
    "headphones": 120, "earbuds": 80, "bluetooth speaker": 70, "soundbar": 250, "turntable": 300, "microphone": 90,
    "laptop": 900, "monitor": 250, "keyboard": 60, "mouse": 30, "webcam": 70, "docking station": 150,
    "usb-c cable": 12, "memory card": 20, "hdmi adapter": 18,
    "dress": 60, "blouse": 40, "cardigan": 50, "skirt": 40, "jeans": 60, "coat": 140,
    "shirt": 40, "chinos": 50, "hoodie": 45, "jacket": 120, "polo shirt": 30, "sweater": 55,
    "sneakers": 90, "boots": 130, "sandals": 45, "loafers": 90, "running shoes": 110, "slippers": 25,
    "backpack": 60, "tote bag": 35, "wallet": 35, "belt": 30, "scarf": 25, "crossbody bag": 55,
    "yoga mat": 30, "dumbbells": 50, "resistance bands": 15, "kettlebell": 40, "jump rope": 12, "foam roller": 25,
    "tent": 180, "sleeping bag": 90, "hiking backpack": 110, "camping stove": 50, "headlamp": 25, "water bottle": 18,
    "bike helmet": 70, "bike light": 25, "cycling gloves": 25, "bike lock": 40, "saddle": 45, "bike pump": 25,
    "building set": 50, "train set": 60, "robot kit": 80,
    "stroller": 450, "baby carrier": 90, "high chair": 120, "car seat": 250, "baby monitor": 110, "play mat": 50,
    "cat bed": 35, "scratching post": 40, "pet bowl": 12,
}
# How far a product's price strays from its item's median (lognormal sigma): within ±30 % for most.
_PRICE_SPREAD = 0.25


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
    retries: int = 6  # draws among a category's products before falling back to its anchor

    def available(self, product: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (self.launch[product] <= day) & (day < self.gone[product])


def category_paths() -> list[str]:
    """Every category the simulator knows, as "Top > Sub" paths (what a preset's `categories` name)."""
    return [f"{top} > {sub}" for top, sub, *_ in _SUBS]


def _category_ids(categories: tuple[str, ...] | None) -> np.ndarray:
    if categories is None:
        return np.arange(_DEFAULT_SUBS)
    known = {path: i for i, path in enumerate(category_paths())}
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {', '.join(known)}")
    return np.array([known[c] for c in categories], dtype=np.int64)


def _make_catalog(config: SimulationConfig, grid: _Grid) -> _Catalog:
    rng = _rng(config.seed, _S_CATALOG)
    profile = config.profile
    ids = _category_ids(profile.categories)
    m, k = config.products, ids.size
    weights = np.array([_SUBS[i][4] for i in ids], dtype=float)
    cat = np.empty(m, dtype=np.int64)
    first = min(m, k)
    # Every category gets a product before the rest follow popularity, when there are enough.
    cat[:first] = ids[rng.choice(k, size=first, replace=False, p=weights / weights.sum())]
    cat[first:] = ids[rng.choice(k, size=m - first, p=weights / weights.sum())]
    cat = rng.permutation(cat)
    popularity = rng.lognormal(0.0, 1.0, m)
    late = rng.random(m) < 0.25
    launch = np.where(late, rng.integers(grid.burn, grid.end + 1, m), 0)
    retired = rng.random(m) < 0.03
    gone = np.where(retired, rng.integers(grid.burn + grid.days // 2, grid.end + 2, m), np.iinfo(np.int64).max)
    if profile.collection_days:
        # Seasonal collections: a fifth of the products are basics sold throughout; the rest arrive with one
        # season's collection (every collection_days, from before the burn-in to the end) and leave the shop
        # collection_life days later.
        seasons = -(-grid.total // profile.collection_days) + 1
        basic = rng.random(m) < 0.2
        season = rng.integers(0, seasons, m)
        start = season * profile.collection_days - profile.collection_days // 2 + rng.integers(0, 14, m)
        launch = np.where(basic, 0, np.maximum(start, 0))
        gone = np.where(basic, np.iinfo(np.int64).max, np.maximum(start, 0) + profile.collection_life)
    present = np.unique(cat)
    anchor = np.zeros(len(_SUBS), dtype=np.int64)
    for c in present:
        members = np.flatnonzero(cat == c)
        anchor[c] = members[np.argmax(popularity[members])]
    launch[anchor[present]] = 0
    gone[anchor[present]] = np.iinfo(np.int64).max

    spread = rng.lognormal(0.0, _PRICE_SPREAD, m)
    picks = rng.integers(0, 6, size=(m, 6))
    medians = np.array([_ITEM_PRICES.get(_SUBS[c][5][n], _SUBS[c][3]) for c, n in zip(cat, picks[:, 1], strict=True)],
                       dtype=float)
    price = medians * spread
    price_cents = np.where(price >= 5, np.floor(price) * 100 + 99, np.round(price * 100)).astype(np.int64)
    price_cents = np.maximum(price_cents, 49)

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
        retries=20 if profile.collection_days else 6,
    )


def _pick_in_category(catalog: _Catalog, cats: np.ndarray, days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A product of each given category, by popularity among those on sale that day."""

    def draw(c: np.ndarray) -> np.ndarray:
        u = np.minimum(rng.random(c.size), 1 - 1e-9)
        return catalog.by_cat[np.searchsorted(catalog.keys, c + u, side="right")]

    product = draw(cats)
    bad = ~catalog.available(product, days)
    for _ in range(catalog.retries):
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        product[idx] = draw(cats[idx])
        bad[idx] = ~catalog.available(product[idx], days[idx])
    product[bad] = catalog.anchor[cats[bad]]
    return product
