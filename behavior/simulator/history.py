"""The day-by-day run of the generative model (orders, sessions, fading, death) and the exact truth
probabilities from the latent state after the window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import _S_DAY, CANCEL_RATE, FADE_DAYS, FADE_SCALE, TRUTH_HORIZONS, SimulationConfig, _rng
from .grid import _Grid
from .people import _interval_cdf, _intervals, _People

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
        if config.profile.first_order_on_join and hi > lo:
            # a cohort defined by first purchase: every customer buys on their join day
            first = np.searchsorted(live, joiners[lo:hi])
            n_orders[first] = np.maximum(n_orders[first], n_cancelled[first] + 1)
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
            due[hit] = t + _intervals(g, people.cycle[hit], people.cycle_sigma)
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
        before = 1 - _interval_cdf(elapsed, cycle, people.cycle_sigma)
        after = 1 - _interval_cdf(elapsed + k[None, :], cycle, people.cycle_sigma)
        out[cons] = np.where(before > 0, after / np.maximum(before, 1e-300), 0.0)
    return out
