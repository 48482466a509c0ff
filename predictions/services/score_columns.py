"""Set-based writes over a scoring run's rows: the deciles and the at-risk list's copied columns.

Each joins a run's churn rows with its purchase rows (and the shop's orders): 200,000 x 200,000 rows on a big
shop. With no statistics on freshly written rows PostgreSQL estimates a few dozen rows per side and may plan a
nested loop that scans one set once per row of the other (a bench seeding ran one such UPDATE for more than 15
minutes). So every function here first ANALYZEs the tables its statement reads (`_tables_analyse`): the plan
then stays right whoever calls it — the scoring service, the re-scoring task, a bench or a test — and no
caller has to remember to do it. ANALYZE samples a fixed number of rows (30,000 at the default statistics
target), so it costs well under a second even on tables of millions of rows.

The re-scoring of changed customers (`rescoring.py`) writes a few customers' rows of a finished run: for them
the deciles are placed against the run's decile boundaries through the (run, customer, task) unique index (their
list columns come with the rows, see `scoring.scores_compute`)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from ..models import ScoringRun, Task
from ..selectors.at_risk import LIST_COLUMNS

# The tables the statements below read; analysed before each statement runs.
_SCORE_TABLES = ("predictions_customerscore",)
_FILL_TABLES = ("predictions_customerscore", "behavior_order")


def _tables_analyse(cursor, tables: Sequence[str]) -> None:
    """Fresh planner statistics for `tables` (allowed inside a transaction, unlike VACUUM)."""
    for table in tables:
        cursor.execute(f"ANALYZE {table}")


# Both sides are the run's rows of one task, read through the (run, task, probability) index; they meet on the
# primary key. The run/task condition on the updated side keeps the join to the run's rows, not the table's. A row
# already in its decile is not written again: every written row is a new row version and an entry in each of the
# table's indexes. The chunks place their rows by a sample's deciles (scoring._decile_lows_provisional), so this
# moves only the rows near a decile's edge; when every row was written a second time here, this one process was
# most of a 1,000,000-customer run's last, serial step.
_DECILES_SQL = """
UPDATE predictions_customerscore AS s SET decile = ranked.d
FROM (SELECT id, NTILE(10) OVER (ORDER BY probability DESC, id) AS d FROM predictions_customerscore
      WHERE scoring_run_id = %(run)s AND task = %(task)s) AS ranked
WHERE s.id = ranked.id AND s.scoring_run_id = %(run)s AND s.task = %(task)s AND s.decile <> ranked.d
"""

# A re-scored customer's decile: the first decile of the run (1 = the highest probabilities) whose lowest
# probability its new probability reaches; below every one, decile 10. Through the (run, customer, task) index.
_DECILES_PLACE_SQL = """
UPDATE predictions_customerscore AS s
SET decile = COALESCE((SELECT MIN(b.d) FROM unnest(%(lows)s::float8[]) WITH ORDINALITY AS b(low, d)
                       WHERE s.probability >= b.low), 10)
WHERE s.scoring_run_id = %(run)s AND s.task = %(task)s AND s.customer_id = ANY(%(ids)s)
"""


def customer_score_deciles_fill(*, run: ScoringRun) -> None:
    """Deciles over the whole run, per task (1 = the most likely), ties broken by id."""
    with connection.cursor() as cursor:
        _tables_analyse(cursor, _SCORE_TABLES)
        for task in Task.values:
            cursor.execute(_DECILES_SQL, {"run": run.pk, "task": task})


def customer_score_deciles_bounds(*, run: ScoringRun) -> dict[str, list[float]]:
    """The lowest probability of each decile of the run (deciles 1 to 10), per task: read before re-scored rows
    replace their customers' old ones, and given to `customer_score_deciles_place`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT task, decile, MIN(probability) FROM predictions_customerscore WHERE scoring_run_id = %s"
                       " GROUP BY task, decile ORDER BY task, decile", [run.pk])
        bounds: dict[str, list[float]] = {}
        for task, _decile, low in cursor.fetchall():
            bounds.setdefault(task, []).append(low)
    return bounds


def customer_score_deciles_place(*, run: ScoringRun, customer_ids: Sequence[int],
                                 bounds: dict[str, list[float]]) -> None:
    """Deciles for the re-scored `customer_ids` of a finished run, against the run's decile `bounds` from before
    they were re-scored (the other customers keep theirs); a task the run had no rows of is ranked whole."""
    ids = list(customer_ids)
    with connection.cursor() as cursor:
        _tables_analyse(cursor, _SCORE_TABLES)
        for task in Task.values:
            if bounds.get(task):
                cursor.execute(_DECILES_PLACE_SQL, {"run": run.pk, "task": task, "ids": ids, "lows": bounds[task]})
            else:
                cursor.execute(_DECILES_SQL, {"run": run.pk, "task": task})


# One pass over the run's rows with window functions: each churn row takes its customer's purchase probability
# from the same partition, so the two tasks' rows never meet in a join; the last orders are one grouped scan.
_FILL_SQL = """
WITH run_rows AS (
    SELECT id, task, customer_id,
           MAX(probability) FILTER (WHERE task = 'purchase') OVER (PARTITION BY customer_id) AS purchase_probability
    FROM predictions_customerscore WHERE scoring_run_id = %(run)s
), last_order AS (
    SELECT customer_id, MAX(placed_at) AS placed_at FROM behavior_order
    WHERE shop_id = %(shop)s AND status <> 'cancelled' AND placed_at <= %(as_of)s
    GROUP BY customer_id
), churn AS (
    SELECT r.id, r.purchase_probability, last_order.placed_at
    FROM run_rows r LEFT JOIN last_order USING (customer_id) WHERE r.task = 'churn'
)
UPDATE predictions_customerscore AS s
SET purchase_probability_copy = churn.purchase_probability, last_order_placed_at = churn.placed_at
FROM churn WHERE s.id = churn.id AND s.scoring_run_id = %(run)s AND s.task = 'churn'
"""


def customer_score_list_columns_fill(*, run: ScoringRun) -> int:
    """Copy each churn row's purchase probability and last order (up to the run's as_of) onto it, for a whole run
    whose rows were written some other way (a benchmark's seeded run), and mark the run
    (`customer_score_list_columns_mark`). Returns the number of churn rows. The scoring chunks and the
    re-scoring write both columns with the rows themselves (`scoring.scores_compute`).

    The at-risk list (predictions.selectors.at_risk) sorts and filters on these columns from an index; runs
    without them still list correctly, computing both per row."""
    params = {"run": run.pk, "shop": run.shop_id, "as_of": run.as_of}
    with connection.cursor() as cursor:
        _tables_analyse(cursor, _FILL_TABLES)
        cursor.execute(_FILL_SQL, params)
    return customer_score_list_columns_mark(run=run)


def customer_score_list_columns_mark(*, run: ScoringRun) -> int:
    """Record in the run's summary (saved) that its churn rows carry the list columns, with how many churn rows
    the run has (the list's "of N scored"). Returns that number."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM predictions_customerscore WHERE scoring_run_id = %s AND task = 'churn'",
                       [run.pk])
        churn_rows = cursor.fetchone()[0]
    # In place on the caller's object: the scoring service goes on to add its figures to the same summary.
    run.summary = {**(run.summary or {}), LIST_COLUMNS: {"churn_scored": churn_rows}}
    run.save(update_fields=["summary"])
    return churn_rows
