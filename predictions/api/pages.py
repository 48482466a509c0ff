"""The API's pages of at-risk rows (the at-risk list, a segment's members), and the at-risk list's first page kept in
Django's cache (Redis) between the writes that change it.

A page is built as the API answers it: the run it was read in ({"id", "as_of"}) and its rows as at_risk_row_data
writes them, personal fields included; a caller without personal data gets them as nulls (`page_rows_for`).

Why the first page is kept: on two cores the API is throughput-bound (32 clients wait ≈ 32 / requests per second),
and an at-risk page read from PostgreSQL costs 3-4 times the CPU of a customer's scores (the ORM builds a query with
the filter and the display columns, then the customers of the page: docs/status/issue-22-session6.md). Clients
mostly ask for the first page of a few filters again and again; deeper pages, reached by a cursor, are read from
PostgreSQL. A kept page is the answer itself (run and rows, JSON, decoded by orjson), so a call it answers reads
nothing from PostgreSQL: reading the current run and unpickling AtRiskRow objects and serialising them cost
about 0.3 ms of an at-risk call's 2.1 ms of CPU (docs/status/issue-22-session8.md).

What is kept: the first page of a filter on the scores' own columns (bands, churn, value, days, limit, sort: a
filter on categories, countries, reviews or a saved segment reads other tables and is never kept). The rows hold
customers' emails and names: kept sealed with the personal-data key (ecomsight.crypto.personal_seal), so Redis
never holds them in clear.

A page is kept under its format (PAGE_FORMAT and the fields), its shop (with the shop's creation time: ids repeat
when a database is recreated, and Redis may outlive it), its filter and page length, with the shop's page
generation it was read under: a random token that predictions.services.at_risk_pages replaces when a write that
changes what the page shows commits: a scoring run that succeeds, fails or is deleted (a run that lands becomes the
current one), a re-scoring, an erasure, orders or events stored
(behavior.signals.customers_changed, per committed batch), an import when it finishes or an API batch
(behavior.signals.data_arrived: while a customers file is being imported, its committed batches' new names or
emails show when the import ends or within the page's lifetime). A kept page counts only under the generation it
names: the generation and the page are read together (one MGET), before the rows, so a page built from rows read
before a write committed names the generation that write retired and is never served. Anything else (a row
changed in SQL or through the admin, a database restored from a backup under a Redis that kept its pages) shows
within AT_RISK_PAGE_CACHE_SECONDS, and so does a write whose retiring could not reach Redis at its commit (logged):
the kept page then still names the run current before it. Deploy the workers (which finish scoring runs) with or
before the web processes, so that every run that lands retires the pages. With Redis down, pages are read from
PostgreSQL (logged)."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.cache import cache

from accounts.models import Shop
from ecomsight.api.renderers import encode
from ecomsight.crypto import personal_seal, personal_unseal
from predictions.filters import AtRiskFilter
from predictions.selectors.at_risk_pages import AtRiskWindow, at_risk_pages_generation_key

from .serializers import AtRiskRowSerializer, at_risk_row_data, at_risk_row_masked

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """Rows start to stop - 1 of a list as the API writes them (email and name filled in) and the run they were
    read in (None: the shop has no such run, no rows)."""

    run: dict | None
    rows: list[dict]


def page_of(window: AtRiskWindow) -> Page:
    """The window's run and rows as the API writes them."""
    run = window.run
    return Page(run={"id": run.pk, "as_of": run.as_of} if run else None,
                rows=[at_risk_row_data(row) for row in window.rows])


def page_rows_for(rows: list[dict], *, personal: bool) -> list[dict]:
    """The page's rows for a caller who may (`personal`) or may not see customers' personal data."""
    return rows if personal else [at_risk_row_masked(row) for row in rows]


# What a kept page holds, in its key: a release that changes the row's fields or the page's never reads the pages an
# earlier one kept (they expire), nor does one running beside it during a deploy. PAGE_FORMAT counts changes of
# meaning the field names do not show.
PAGE_FORMAT = 1
_FORMAT = hashlib.sha256(f"{PAGE_FORMAT}|{','.join(Page.__dataclass_fields__)}|"
                         f"{','.join(AtRiskRowSerializer().fields)}".encode()).hexdigest()[:12]


# The filter fields on the scores' own columns. A list of those allowed, not of those refused: a filter field added
# later reads other tables until it is added here on purpose.
KEPT_FIELDS = frozenset({"bands", "churn_min", "churn_max", "value_min", "value_max", "days_min", "days_max",
                         "limit", "sort", "lapsed"})


def at_risk_page_kept(flt: AtRiskFilter) -> bool:
    """Whether the first page of `flt` is kept: a filter on the scores' own columns only (see the module)."""
    return set(flt.to_dict()) <= KEPT_FIELDS


def at_risk_first_page(*, shop: Shop, flt: AtRiskFilter, stop: int, read: Callable[[], Page]) -> Page:
    """The at-risk list's first `stop` rows for `flt` in the shop's current run: the kept page while no write
    changed it, else `read()` (from PostgreSQL), kept for the next call (see the module)."""
    seconds = settings.AT_RISK_PAGE_CACHE_SECONDS
    if not seconds or not at_risk_page_kept(flt):
        return read()
    generation_key = at_risk_pages_generation_key(shop.pk)
    page_key = _page_key(shop=shop, flt=flt, stop=stop)
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
        return read()
    kept = found.get(page_key)
    if kept is not None and kept[0] == generation:
        try:
            return Page(**orjson.loads(personal_unseal(kept[1])))
        except (InvalidToken, orjson.JSONDecodeError, TypeError):  # another key, or not a page: read it again
            logger.warning("kept at-risk page unreadable: read from PostgreSQL", exc_info=True)
    page = read()
    try:
        sealed = personal_seal(encode({"run": page.run, "rows": page.rows}))
    except TypeError:  # a value orjson cannot write (the renderer then writes it through DRF's): not kept
        logger.warning("at-risk page not kept: not encodable", exc_info=True)
        return page
    try:
        cache.set(page_key, (generation, sealed), seconds)
    except Exception:  # noqa: BLE001
        logger.warning("cache unavailable: at-risk page not kept", exc_info=True)
    return page


def _page_key(*, shop: Shop, flt: AtRiskFilter, stop: int) -> str:
    query = json.dumps(flt.to_dict(), sort_keys=True)
    digest = hashlib.sha256(f"{query}|{stop}".encode()).hexdigest()[:32]
    return f"at-risk-page:{_FORMAT}:{shop.pk}:{shop.created_at.timestamp()}:{digest}"
