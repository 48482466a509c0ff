"""Reads the API needs beyond predictions.selectors.at_risk: a run named by a cursor, and at-risk rows
as plain dicts (the page's customers joined in the same query, personal data only when allowed), and a
customer's scores as dicts. The hot endpoints read values() and build their dicts directly."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import F, QuerySet, Subquery

from accounts.models import Shop
from behavior.models import Customer
from ecomsight.crypto import personal_decrypt
from ecomsight.db import fetch_prepared
from predictions.current_run import current_run_kept
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun, Segment
from predictions.selectors.at_risk import list_columns_copied
from predictions.selectors.segments import segment_queryset

# The columns of a score as the API shows it (ScoreOutputSerializer's fields), read with values().
_SCORE_COLUMNS = ("id", "task", "probability", "risk_band", "decile", "reasons", "expected_orders", "p_alive",
                  "spend_12m", "revenue_at_risk", "scored_at", "scoring_run_id", "model_version_id")


def customer_score_history_values(*, shop: Shop, customer_id: str, task: str | None = None) -> QuerySet:
    """Every score of the shop's customer `customer_id` (their own id) in a succeeded run, as dicts with
    the run's `as_of`: one query, the customer joined by id (empty for an unknown customer)."""
    qs = CustomerScore.objects.filter(customer__shop=shop, customer__external_id=customer_id,
                                      scoring_run__status=ScoringRun.Status.SUCCEEDED)
    if task:
        qs = qs.filter(task=task)
    return qs.values(*_SCORE_COLUMNS, as_of=F("scoring_run__as_of"))


def customer_current_score_values(*, shop: Shop, customer_id: str) -> list[dict]:
    """The customer's scores in the shop's current run (scoring_run_current's), as dicts: one query."""
    current = (ScoringRun.objects.filter(shop=shop, status=ScoringRun.Status.SUCCEEDED)
               .order_by("-as_of", "-id").values("id")[:1])
    return list(CustomerScore.objects.filter(customer__shop=shop, customer__external_id=customer_id,
                                             scoring_run_id=Subquery(current))
                .values(*_SCORE_COLUMNS, as_of=F("scoring_run__as_of")))


def score_row(row: dict) -> dict:
    """A score dict from the selectors above in ScoreOutputSerializer's shape (built directly: the
    serializer costs more than the query on this hot path; it stays the documented schema)."""
    return {"task": row["task"], "probability": row["probability"], "risk_band": row["risk_band"],
            "decile": row["decile"], "reasons": row["reasons"], "expected_orders": row["expected_orders"],
            "p_alive": row["p_alive"], "spend_12m": row["spend_12m"], "revenue_at_risk": row["revenue_at_risk"],
            "scored_at": row["scored_at"], "as_of": row["as_of"], "scoring_run": row["scoring_run_id"],
            "model_version": row["model_version_id"]}


_SCORE_SQL_COLUMNS = ("s.task, s.probability, s.risk_band, s.decile, s.reasons, s.expected_orders, s.p_alive, "
                      "s.spend_12m, s.revenue_at_risk, s.scored_at, run.as_of, s.scoring_run_id, s.model_version_id")
_SCORE_FROM = f"""
FROM {Customer._meta.db_table} c
JOIN {CustomerScore._meta.db_table} s ON s.customer_id = c.id
JOIN {ScoringRun._meta.db_table} run ON run.id = s.scoring_run_id
WHERE c.shop_id = %(shop)s AND c.external_id = %(customer)s"""
# The history page (newest first, as ApiCursorPagination orders it) and the current run's scores, in one
# round trip. The current run is scoring_run_current's: the shop's latest succeeded run by as_of, then id.
_SCORES_SQL = f"""
(SELECT 'history' AS part, {_SCORE_SQL_COLUMNS} {_SCORE_FROM}
   AND run.status = %(succeeded)s AND (%(task)s::text IS NULL OR s.task = %(task)s::text)
 ORDER BY s.scored_at DESC, s.id DESC LIMIT %(limit)s)
UNION ALL
(SELECT 'current' AS part, {_SCORE_SQL_COLUMNS} {_SCORE_FROM}
   AND s.scoring_run_id = (SELECT r.id FROM {ScoringRun._meta.db_table} r
                           WHERE r.shop_id = %(shop)s AND r.status = %(succeeded)s
                           ORDER BY r.as_of DESC, r.id DESC LIMIT 1))
"""
# The history alone: for the usual call (no task filter), whose current scores are among a complete history.
_HISTORY_SQL = f"""
SELECT {_SCORE_SQL_COLUMNS} {_SCORE_FROM}
   AND run.status = %(succeeded)s
 ORDER BY s.scored_at DESC, s.id DESC LIMIT %(limit)s
"""
_SCORE_KEYS = ("task", "probability", "risk_band", "decile", "reasons", "expected_orders", "p_alive", "spend_12m",
               "revenue_at_risk", "scored_at", "as_of", "scoring_run", "model_version")


@dataclass(frozen=True)
class CustomerScoreRows:
    """A customer's first page of score history and their scores in the current run, as API rows."""

    history: list[dict]
    current: list[dict]


def customer_score_rows(*, shop: Shop, customer_id: str, task: str | None, size: int) -> CustomerScoreRows | None:
    """Every score of the shop's customer `customer_id` (their own id) in succeeded runs, newest first (only
    `task`'s when given), and their scores in the current run, in ScoreOutputSerializer's shape; None when
    there are more than `size` (the caller pages: customer_score_history_values, customer_current_score_values).
    Both empty for an unknown customer. One SQL statement.

    Without a task, the history is read alone and the current scores are taken from it, by the current run
    this process keeps (predictions.current_run: a run finished in another process shows as current within
    API_SYNC_SECONDS). Three tables instead of seven: PostgreSQL's CPU per call 0.20 -> 0.15 ms (pgbench, one
    connection, prepared). With a task, the current scores (of every task) come in the same statement.

    Deliberately SQL: the customer scores endpoint is a hot path and the ORM querysets cost more to build
    than PostgreSQL takes to answer (tests/api checks it against the ORM path)."""
    params = {"shop": shop.pk, "customer": customer_id, "limit": size + 1,
              "succeeded": str(ScoringRun.Status.SUCCEEDED)}
    if task is None:
        run = scoring_run_for_list(shop=shop, run_id=None)
        _, fetched = fetch_prepared(_HISTORY_SQL, params)
        if len(fetched) > size:
            return None
        history = [_score_dict(values) for values in fetched]
        # The whole history: the current run's scores are among it.
        return CustomerScoreRows(history=history, current=[row for row in history
                                                           if run is not None and row["scoring_run"] == run.pk])
    _, fetched = fetch_prepared(_SCORES_SQL, {**params, "task": task})
    parts: dict[str, list[dict]] = {"history": [], "current": []}
    for part, *values in fetched:
        parts[part].append(_score_dict(values))
    if len(parts["history"]) > size:
        return None
    return CustomerScoreRows(history=parts["history"], current=parts["current"])


def _score_dict(values) -> dict:
    row = dict(zip(_SCORE_KEYS, values, strict=True))
    # jsonb arrives as text from a raw cursor (JSONField decodes it on the ORM path).
    row["reasons"] = json.loads(row["reasons"]) if isinstance(row["reasons"], str) else row["reasons"]
    return row


def scoring_run_for_list(*, shop: Shop, run_id: int | None) -> ScoringRun | None:
    """The run a paged list reads: the one its cursor names (None if that is not a succeeded run of
    the shop), else the shop's current run (kept in the process while no run changed: see
    predictions.current_run)."""
    # A prepared statement with only the columns the lists use (the summary says whether the list columns
    # were filled in): the ORM's compile of this small query cost more than running it, on every page.
    if run_id is None:
        return current_run_kept(shop_id=shop.pk, read=lambda: _run_read(_CURRENT_RUN_SQL, shop.pk))
    return _run_read(_RUN_SQL, shop.pk, run_id)


def _run_read(sql: str, shop_id: int, *more) -> ScoringRun | None:
    names, fetched = fetch_prepared(sql, [shop_id, str(ScoringRun.Status.SUCCEEDED), *more])
    if not fetched:
        return None
    row = dict(zip(names, fetched[0], strict=True))
    if isinstance(row["summary"], str):  # jsonb arrives as text from a raw cursor
        row["summary"] = json.loads(row["summary"])
    # The other fields stay deferred (read from the database if ever used), as with raw().
    return ScoringRun.from_db(connection.alias, list(row), list(row.values()))


_RUN_COLUMNS = f"SELECT id, shop_id, as_of, summary FROM {ScoringRun._meta.db_table} WHERE shop_id = %s AND status = %s"
# scoring_run_current's choice: the latest succeeded run by as_of, then id.
_CURRENT_RUN_SQL = f"{_RUN_COLUMNS} ORDER BY as_of DESC, id DESC LIMIT 1"
_RUN_SQL = f"{_RUN_COLUMNS} AND id = %s"


def segment_members_queryset(*, shop: Shop, segment: Segment, run: ScoringRun) -> QuerySet[CustomerScore]:
    return segment_queryset(shop=shop, segment=segment, run=run)


def at_risk_values(queryset: QuerySet[CustomerScore]) -> QuerySet:
    """An at-risk queryset (at_risk_window / segment_window, in its order) as dicts of the columns a row
    shows, the customer joined in the same query."""
    return queryset.values("probability", "purchase_probability", "risk_band", "spend_12m", "value_at_risk",
                           "last_order_at", "reasons", customer_external_id=F("customer__external_id"),
                           customer_email=F("customer__email"), customer_name=F("customer__name"),
                           customer_country=F("customer__country"))


# Compiled at-risk SQL by (shop, run state, filter, slice): the list's queryset (subqueries, annotations,
# filters) costs about 3 ms of Python to build and compile, five times what PostgreSQL takes to run it.
# The SQL depends on nothing else for filters without a category or a segment (those read the database
# while building it), so only those are kept; a new run, or the run's list columns filled in (the only part
# of its summary the SQL reads; dumping the whole summary, chunk lists and all, cost more), is a new key.
_compiled: OrderedDict = OrderedDict()
_COMPILED_MAX = 512
_compiled_lock = threading.Lock()


def _list_key(*, run: ScoringRun, flt: AtRiskFilter | None, start: int, stop: int) -> tuple | None:
    """What rows start to stop - 1 of at_risk_queryset(flt) in `run` depend on, when that is the filter alone
    (None for a category or segment filter, or no filter: the queryset then reads the database to build)."""
    if flt is None or flt.category is not None or flt.segment is not None or flt.negative_review_days is not None:
        return None
    return run.shop_id, run.pk, run.as_of, list_columns_copied(run), flt, start, stop


def at_risk_values_slice(*, make_window, run: ScoringRun, flt: AtRiskFilter | None, start: int,
                         stop: int) -> list[dict]:
    """`at_risk_values(make_window(start, stop))` (rows start to stop - 1 of a list: at_risk_window or
    segment_window), as dicts. When `flt` is the filter the window was built from (at_risk_window), the
    compiled SQL is reused across calls (see above)."""
    key = _list_key(run=run, flt=flt, start=start, stop=stop)
    if key is None:
        return list(at_risk_values(make_window(start, stop)))
    compiled = _compiled.get(key)
    if compiled is None:
        qs = at_risk_values(make_window(start, stop))
        compiled = qs.query.sql_with_params()
        with _compiled_lock:
            _compiled[key] = compiled
            while len(_compiled) > _COMPILED_MAX:
                _compiled.popitem(last=False)
    sql, params = compiled
    # values() names every column after its key (`... AS "risk_band"`).
    names, fetched = fetch_prepared(sql, params)
    rows = [dict(zip(names, values, strict=True)) for values in fetched]
    for row in rows:
        # jsonb arrives as text from a raw cursor (JSONField decodes it on the ORM path).
        if isinstance(row["reasons"], str):
            row["reasons"] = json.loads(row["reasons"])
    return rows


# At-risk pages kept per process: key (_list_key's, and whether personal data shows) -> (time.monotonic() when
# read, the API rows). Only pages of runs with the list columns copied are kept: their scores, sort columns and
# filter columns do not change once the run succeeded, so what a kept page can miss is a change to its
# customers' details (an import updating an email or a country, and so whether a country filter matches them),
# for at most API_PAGE_CACHE_SECONDS. Dashboards and campaign tools poll the same first pages: on a hit the
# call skips the page query and the building of 50 rows (bench/api.py, in one sitting: see the README).
# Bounded by rows (1.07 KB each, measured with tracemalloc: 10,000 rows are about 11 MB per process; an empty page
# counts as one), the least recently read out first.
_pages: OrderedDict = OrderedDict()
_PAGES_MAX_ROWS = 10_000
_pages_rows = 0  # rows in _pages
_pages_lock = threading.Lock()


def at_risk_page_rows(*, make_window, run: ScoringRun, flt: AtRiskFilter | None, start: int, stop: int,
                      personal: bool) -> list[dict]:
    """at_risk_rows() of `at_risk_values_slice(make_window, ...)`'s rows start to stop - 1: kept in the process for
    API_PAGE_CACHE_SECONDS when `flt` alone decides them (see _list_key). The list returned may be shared
    between calls: read it only."""
    global _pages_rows

    def read() -> list[dict]:
        scores = at_risk_values_slice(make_window=make_window, run=run, flt=flt, start=start, stop=stop)
        return at_risk_rows(scores=scores, run=run, personal=personal)

    seconds = settings.API_PAGE_CACHE_SECONDS
    # Runs finished before the list columns were copied compute the last order (its sort, the days filters)
    # from live orders: an import could change those pages at any time, so they are never kept.
    list_key = _list_key(run=run, flt=flt, start=start, stop=stop) \
        if seconds > 0 and list_columns_copied(run) else None
    if list_key is None:
        return read()
    key, clock = (list_key, personal), time.monotonic()
    kept = _pages.get(key)
    if kept is not None and clock - kept[0] <= seconds:
        try:
            _pages.move_to_end(key)
        except KeyError:  # another thread made room meanwhile
            pass
        return kept[1]
    rows = read()  # the clock was read before the database: a page is never kept longer than promised
    with _pages_lock:
        replaced = _pages.pop(key, None)
        _pages[key] = (clock, rows)
        _pages_rows += _weight(rows) - (_weight(replaced[1]) if replaced else 0)
        while _pages_rows > _PAGES_MAX_ROWS and len(_pages) > 1:
            _pages_rows -= _weight(_pages.popitem(last=False)[1][1])
    return rows


def _weight(rows: list) -> int:
    # An empty page (a filter matching nobody, a cursor past the end) still costs its key: counted as a row,
    # or pages of nothing would pile up unbounded.
    return max(1, len(rows))


def at_risk_rows(*, scores: list[dict], run: ScoringRun, personal: bool) -> list[dict]:
    """One dict per row of an at-risk page (from at_risk_values), in page order; email and name only
    when `personal`."""
    ref: datetime = run.as_of
    rows = []
    for s in scores:
        last = s["last_order_at"]
        rows.append({
            "customer_id": s["customer_external_id"],
            # Stored encrypted: the raw-SQL path (at_risk_values_slice) reads tokens, the ORM path plain text.
            "email": personal_decrypt(s["customer_email"]) if personal else None,
            "name": personal_decrypt(s["customer_name"]) if personal else None,
            "country": s["customer_country"],
            "churn_probability": s["probability"],
            "purchase_probability": s["purchase_probability"],
            "risk_band": s["risk_band"],
            "spend_12m": s["spend_12m"],
            "revenue_at_risk": s["value_at_risk"] or 0.0,
            "last_order_at": last,
            "days_since_last_order": max(0, (ref - last).days) if last else None,
            "reasons": list(s["reasons"] or []),
        })
    return rows
