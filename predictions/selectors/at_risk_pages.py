"""The API's first page of the at-risk list, kept in Django's cache (Redis) between the writes that change it.

Why: on two cores the API is throughput-bound (32 clients wait ≈ 32 / requests per second), and an at-risk page
read from PostgreSQL costs 3-4 times the CPU of a customer's scores (the ORM builds a query with the filter and
the display columns, then the customers of the page: docs/status/issue-22-session6.md). Clients mostly ask for
the first page of a few filters again and again; deeper pages, reached by a cursor, are read from PostgreSQL.

What is kept: the first page's rows (AtRiskRow, the same rows at_risk_window_rows reads) in the current run, for
a filter on the scores' own columns (bands, churn, value, days, limit, sort: a filter on categories,
countries, reviews or a saved segment reads other tables and is never kept). The rows hold customers' emails and
names: they are kept sealed with the personal-data key (ecomsight.crypto.personal_seal), so Redis never holds
them in clear.

A page is kept under its shop, its run (read from PostgreSQL on every call: a run that lands shows at once; with
its creation time and whether its list columns are filled), its filter and page length, with the shop's page
generation it was read under: a random token under `at-risk-pages:<shop id>` that at_risk_pages_forget
(predictions.services.at_risk_pages) replaces when a write that changes the rows of a run commits: a re-scoring,
an erasure, orders or events stored (behavior.signals.customers_changed, per committed batch), an import when it
finishes or an API batch (behavior.signals.data_arrived: while a customers file is being imported, its committed
batches' new names or emails show when the import ends or within the page's lifetime). A kept page counts
only under the generation it names: the generation and the page are read together (one MGET), before the rows,
so a page built from rows read before a write committed names the generation that write retired and is never
served. Anything else (a row changed in SQL or through the
admin) shows within AT_RISK_PAGE_CACHE_SECONDS. With Redis down, pages are read from PostgreSQL (logged)."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import uuid
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.cache import cache

from accounts.models import Shop
from ecomsight.crypto import personal_seal, personal_unseal
from predictions.filters import AtRiskFilter
from predictions.models import ScoringRun

from .at_risk import AtRiskRow, at_risk_window_rows, list_columns_copied, scoring_run_for_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AtRiskWindow:
    """Rows start to stop - 1 of the at-risk list in `run` (None: the shop has no such run, no rows)."""

    run: ScoringRun | None
    rows: list[AtRiskRow]


def at_risk_pages_generation_key(shop_id: int) -> str:
    """The cache key of the shop's page generation (replaced by predictions.services.at_risk_pages)."""
    return f"at-risk-pages:{shop_id}"


# The filter fields on the scores' own columns. A list of those allowed, not of those refused: a filter field added
# later reads other tables until it is added here on purpose.
KEPT_FIELDS = frozenset({"bands", "churn_min", "churn_max", "value_min", "value_max", "days_min", "days_max",
                         "limit", "sort"})


def at_risk_page_kept(flt: AtRiskFilter) -> bool:
    """Whether the first page of `flt` is kept: a filter on the scores' own columns only (see the module)."""
    return set(flt.to_dict()) <= KEPT_FIELDS


def at_risk_list_window(*, shop: Shop, flt: AtRiskFilter, run_id: int | None, start: int, stop: int) -> AtRiskWindow:
    """Rows start to stop - 1 of the at-risk list (at_risk_window_rows) in the run `run_id` names (None: the
    shop's current run, scoring_run_for_list): the API's pages. The first page of a filter on the scores' own
    columns comes from the cache while no write changed it (see the module)."""
    run = scoring_run_for_list(shop=shop, run_id=run_id)
    if run is None:
        return AtRiskWindow(run=None, rows=[])
    seconds = settings.AT_RISK_PAGE_CACHE_SECONDS
    if start != 0 or not seconds or not at_risk_page_kept(flt):
        return AtRiskWindow(run=run, rows=at_risk_window_rows(shop=shop, run=run, flt=flt, start=start, stop=stop))
    return AtRiskWindow(run=run, rows=_first_rows(shop=shop, run=run, flt=flt, stop=stop, seconds=seconds))


def _first_rows(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter, stop: int, seconds: int) -> list[AtRiskRow]:
    generation_key = at_risk_pages_generation_key(shop.pk)
    page_key = _page_key(shop=shop, run=run, flt=flt, stop=stop)
    try:
        found = cache.get_many([generation_key, page_key])
        generation = found.get(generation_key)
        if generation is None:
            # Random, never a counter: a generation lost with Redis's memory and started again must not meet
            # pages kept under an earlier one. No expiry: the pages expire.
            cache.add(generation_key, uuid.uuid4().hex, None)
            generation = cache.get(generation_key)
    except Exception:  # noqa: BLE001 — with the cache down, pages are read from PostgreSQL
        logger.warning("cache unavailable: at-risk page read from PostgreSQL", exc_info=True)
        return at_risk_window_rows(shop=shop, run=run, flt=flt, start=0, stop=stop)
    kept = found.get(page_key)
    if kept is not None and kept[0] == generation:
        try:
            return pickle.loads(personal_unseal(kept[1]))
        except InvalidToken:  # sealed under a key no longer configured: read it again
            pass
    rows = at_risk_window_rows(shop=shop, run=run, flt=flt, start=0, stop=stop)
    try:
        cache.set(page_key, (generation, personal_seal(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))),
                  seconds)
    except Exception:  # noqa: BLE001
        logger.warning("cache unavailable: at-risk page not kept", exc_info=True)
    return rows


def _page_key(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter, stop: int) -> str:
    query = json.dumps(flt.to_dict(), sort_keys=True)
    digest = hashlib.sha256(f"{query}|{stop}".encode()).hexdigest()[:32]
    # The run's creation time: ids repeat when a database is recreated, and Redis may outlive it.
    return (f"at-risk-page:{shop.pk}:{run.pk}:{run.created_at.timestamp()}:{int(list_columns_copied(run))}:"
            f"{digest}")
