"""The customers: names, join days, latent rates and category preferences, and the intervals between
their consumable re-buys."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import _SUBS, _Catalog, _pick_in_category
from .config import _S_CUSTOMERS, CYCLE_SIGMA, SimulationConfig, _rng
from .grid import _Grid

_FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Klara", "Leon",
          "Mia", "Noah", "Olivia", "Paul", "Rosa", "Sam", "Tara", "Udo", "Vera", "Will", "Yara", "Zoe", "Lucas",
          "Sofia", "Elias", "Lena", "Omar", "Nina", "Marco", "Julia", "Tom", "Alice", "Karim", "Eva"]
_LAST = ["Berg", "Schmidt", "Martin", "Rossi", "Garcia", "Jansen", "Novak", "Dubois", "Smith", "Larsen", "Weber",
         "Moreau", "Silva", "Kowalski", "Fischer", "Lopez", "Bauer", "Nielsen", "Romano", "Meyer", "Brown",
         "Costa", "Wagner", "Petit", "Hansen", "Keller", "Ricci", "Vogel", "Evans", "Laurent"]
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]
_COUNTRIES = np.array(["DE", "FR", "GB", "NL", "ES", "IT", "AT", "SE", "PL", "US"])
_COUNTRY_P = np.array([0.28, 0.15, 0.12, 0.09, 0.08, 0.08, 0.06, 0.05, 0.05, 0.04])


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
    cycle_sigma: float = CYCLE_SIGMA
    # "repertoire" baskets: each customer's staples and each one's chance of being in a basket (0: padding)
    repertoire: np.ndarray | None = None
    repertoire_chance: np.ndarray | None = None


def _make_customers(config: SimulationConfig, grid: _Grid, catalog: _Catalog) -> _People:
    rng = _rng(config.seed, _S_CUSTOMERS)
    profile = config.profile
    n = config.customers
    if profile.cohort_days:
        # A closed acquisition cohort: everyone joins in the window's first cohort_days days.
        join = grid.burn + rng.integers(0, min(profile.cohort_days, grid.days), n)
    else:
        early = rng.random(n) < 0.3
        # Later in the window joins get more frequent: a growing shop.
        join = np.where(early, rng.integers(0, grid.burn, n),
                        grid.burn + np.floor(grid.days * rng.random(n) ** 0.8))
    join = np.minimum(join.astype(np.int64), grid.end)
    lam = rng.gamma(profile.lam_shape, profile.lam_mean / profile.lam_shape, n)
    mu = rng.gamma(2.0, profile.mu_mean / 2.0, n)
    p_drop = rng.beta(profile.p_drop_a, profile.p_drop_b, n)
    weights = np.array([s[4] for s in _SUBS], dtype=float)[catalog.present]
    prefs = 0.7 * rng.dirichlet(np.full(catalog.present.size, 0.3), n) + 0.3 * weights / weights.sum()
    prefs_cum = np.cumsum(prefs, axis=1)
    prefs_cum[:, -1] = 1.0
    consumable_present = catalog.consumable[catalog.present]
    consumer = (rng.random(n) < profile.consumer_share) & consumable_present.any()
    cycle = np.clip(np.exp(rng.normal(np.log(profile.cycle_median), profile.cycle_spread, n)), *profile.cycle_clip)
    favourite = np.zeros(n, dtype=np.int64)
    who = np.flatnonzero(consumer)
    if who.size:
        cons_prefs = prefs[who][:, consumable_present]
        cum = np.cumsum(cons_prefs, axis=1) / cons_prefs.sum(axis=1, keepdims=True)
        col = np.minimum((cum < rng.random(who.size)[:, None]).sum(axis=1), cum.shape[1] - 1)
        cats = catalog.present[consumable_present][col]
        favourite[who] = _pick_in_category(catalog, cats, join[who], rng)
    first_due = np.where(consumer, join + _intervals(rng, cycle, profile.cycle_sigma), np.iinfo(np.int64).max)
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
    country = _COUNTRIES[rng.choice(len(_COUNTRIES), n, p=_COUNTRY_P)]
    repertoire = repertoire_chance = None
    if profile.basket == "repertoire":
        repertoire, repertoire_chance = _repertoires(profile, catalog, prefs_cum, join, rng)
    return _People(
        ids=np.array([f"C{i + 1:07d}" for i in range(n)]), join=join, lam=lam, mu=mu, p_drop=p_drop,
        consumer=consumer, cycle=cycle, first_due=first_due, favourite=favourite, session_rate=session_rate,
        prefs_cum=prefs_cum, present=catalog.present, names=names, emails=emails, country=country,
        cycle_sigma=profile.cycle_sigma, repertoire=repertoire, repertoire_chance=repertoire_chance,
    )


def _repertoires(profile, catalog: _Catalog, prefs_cum: np.ndarray, join: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's staples: a few dozen products of their preferred categories (by popularity on their
    join day), each with its own chance of being in a basket (lognormal weights, so some are in nearly every
    basket and others now and then; together `basket_mean * repertoire_pick` staples a basket on average)."""
    n = join.size
    lo, hi = profile.repertoire_size
    size = rng.integers(lo, hi + 1, n)
    width = int(size.max())
    who = np.repeat(np.arange(n), size)
    slot = np.arange(who.size) - np.repeat(np.cumsum(size) - size, size)
    col = np.empty(who.size, dtype=np.int64)
    for a in range(0, who.size, 200_000):
        w = who[a:a + 200_000]
        col[a:a + 200_000] = (prefs_cum[w] < rng.random(w.size)[:, None]).sum(axis=1)
    col = np.minimum(col, catalog.present.size - 1)
    items = _pick_in_category(catalog, catalog.present[col], join[who], rng)
    weight = rng.lognormal(0.0, 1.0, who.size)
    repertoire = np.zeros((n, width), dtype=np.int64)
    chance = np.zeros((n, width))
    repertoire[who, slot] = items
    chance[who, slot] = weight
    chance *= profile.basket_mean * profile.repertoire_pick / chance.sum(axis=1, keepdims=True)
    return repertoire, np.minimum(chance, 0.9)


def _intervals(rng: np.random.Generator, cycle: np.ndarray, sigma: float = CYCLE_SIGMA) -> np.ndarray:
    """Days to the next consumable re-buy: round(cycle * lognormal), at least 1 (see `_interval_cdf`)."""
    return np.maximum(1, np.round(cycle * np.exp(sigma * rng.standard_normal(cycle.size)))).astype(np.int64)


def _interval_cdf(x: np.ndarray, cycle: np.ndarray, sigma: float = CYCLE_SIGMA) -> np.ndarray:
    """P(interval <= x) for the intervals drawn by `_intervals`."""
    x = np.asarray(x, dtype=float)
    z = (np.log(np.maximum(x, 0.5) + 0.5) - np.log(cycle)) / sigma
    return np.where(x < 1, 0.0, 1 - 0.5 * _erfc(z / np.sqrt(2)))


def _erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function with relative error < 1.2e-7 (Numerical Recipes' erfcc)."""
    z = np.abs(x)
    t = 1 / (1 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2 - r)
