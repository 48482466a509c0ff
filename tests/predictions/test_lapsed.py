"""Already lapsed against about to leave (an outside analyst: 600 of a subscription box's 630 High-risk customers had
stopped ordering months ago, "80 % of revenue at risk" already gone). A small hand-made monthly shop scored through
the normal path (a BG/NBD champion, no LightGBM): the lapsed mark, the list's filter, saved segments, the API, the
export column, the dashboard's share and a re-scoring all agree."""

import csv
import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from behavior.models import GUEST_CUSTOMER_ID, Customer, Order
from predictions.filters import AtRiskFilter
from predictions.ml.reasons import LAPSED_GAPS, lapsed_first, lapsed_mask
from predictions.models import CustomerScore
from predictions.selectors.frames import shop_frames
from predictions.services.exports import csv_lines, export_rows
from predictions.services.rescoring import customers_rescore
from predictions.services.scoring import SCORE_COLUMNS, scores_compute, scoring_run_create, scoring_run_execute
from predictions.services.segments import export_create, segment_create
from predictions.services.training import model_train
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer

AS_OF = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
MONTH = 30


def _x(rows):
    return pd.DataFrame(rows, columns=["frequency_total", "recency_days", "mean_gap_days"], dtype=np.float64)


def test_the_rule_reads_the_customers_own_gap_then_the_shops():
    x = _x([
        [6, 120, 30],  # monthly, 4 months silent: lapsed
        [6, 90, 30],  # exactly 3 gaps: not yet (more than 3 of them)
        [6, 21, 30],  # 3 weeks: still active
        [1, 120, np.nan],  # a single order, against the shop's typical gap of 30: lapsed
        [1, 40, np.nan],  # not
        [2, 5, 0.01],  # two orders in one visit: a single order's rule, not "usually every 1" (5 > 3 days)
        [0, 400, np.nan],  # never ordered: nothing to win back
        [8, 370, 200],  # beyond the churn lookback: lapsed whatever the gap (the likely buyers list's lapsed ones)
        [2, 8, 1.26],  # two orders a day apart, 8 days ago: no daily habit yet, the shop's 30 days count
        [3, 10, 3],  # two gaps of 3 days: still the shop's 30
        [3, 100, 3],  # … 100 days silent: lapsed
        [4, 10, 3],  # three gaps of 3 days: their own rhythm, but a usual gap counts as a week at least
        [4, 35, 3],  # … 35 > 3 x 7: lapsed
    ])
    got = lapsed_mask(x, typical_gap_days=30.0, horizon_days=90, lookback_days=365).tolist()
    assert got == [True, False, False, True, False, False, False, True, False, False, True, False, True]
    # A customer browsing in the last 30 days has not lapsed, whatever their orders say; one beyond the lookback has.
    # (An order is a visit: whoever ordered in the last 30 days visited, so nobody lapses within 30 days.)
    x = x.assign(days_since_last_event=[5.0, 90, 21, 120, 40, 5, 400, 2, 8, 10, 100, 10, 35])
    got = lapsed_mask(x, typical_gap_days=30.0, horizon_days=90, lookback_days=365).tolist()
    assert got == [False, False, False, True, False, False, False, True, False, False, True, False, True]
    assert LAPSED_GAPS == 3
    # A shop without repeat customers measures a single order against the horizon.
    assert lapsed_mask(_x([[1, 200, np.nan], [1, 300, np.nan]]), typical_gap_days=None, horizon_days=90,
                       lookback_days=365).tolist() == [False, True]


def test_a_lapsed_customers_first_reason_is_why_they_lapsed():
    x = _x([[6, 122, 30], [1, 120, np.nan], [3, 96, 13]])
    reasons = [["no product viewed in the last 30 days", "no order for 122 days", "2 orders in 12 months"],
               ["customer for 1 year"], ["no product viewed in the last 30 days"]]
    lapsed_first(reasons, x, np.array([0, 1]))
    assert reasons == [
        ["no order for 122 days; usually every 30", "no product viewed in the last 30 days", "2 orders in 12 months"],
        ["no order for 120 days", "customer for 1 year"],
        ["no product viewed in the last 30 days"],  # not among the rows given: as it was
    ]


def _monthly(shop, name: str, last_days_ago: int, orders: int = 8) -> list[Order]:
    customer = Customer.objects.create(shop=shop, external_id=name, email=f"{name}@example.com")
    return [Order(shop=shop, customer=customer, external_id=f"{name}/{n}", total=40,
                  placed_at=AS_OF - dt.timedelta(days=last_days_ago + MONTH * n)) for n in range(orders)]


@pytest.fixture
def box(shop):
    """A subscription box: 12 monthly customers still ordering (last order 3 weeks ago), 12 who stopped 4 months
    ago, one who ordered on AS_OF, single-order customers 120 and 40 days back (the shop's typical gap: 30 days), a
    sign-up who never ordered and the guest customer's orders. Scored as of AS_OF with BG/NBD champions."""
    orders = []
    for i in range(12):
        orders += _monthly(shop, f"active-{i}", 21 + i % 3)
        orders += _monthly(shop, f"gone-{i}", 120 + i % 3)
    for i in range(4):
        orders += _monthly(shop, f"once-old-{i}", 120, orders=1)
        orders += _monthly(shop, f"once-new-{i}", 40, orders=1)
    orders += _monthly(shop, "today", 0)  # the data's last day: the runs' as_of
    Customer.objects.create(shop=shop, external_id="signup", signup_at=AS_OF - dt.timedelta(days=200))
    orders += _monthly(shop, GUEST_CUSTOMER_ID, 150, orders=3)
    Order.objects.bulk_create(orders)
    for task in ("churn", "purchase"):
        outcome = model_train(shop=shop, task=task, as_of=AS_OF.date(), algorithms=["bgnbd"])
        assert outcome.champion is not None
    run = scoring_run_execute(run=scoring_run_create(shop=shop, as_of=AS_OF.date(), enqueue=False))
    return run


def _marks(run, task="churn") -> dict[str, bool]:
    return dict(CustomerScore.objects.filter(scoring_run=run, task=task)
                .values_list("customer__external_id", "lapsed"))


def _expected(name: str) -> bool:
    return name.startswith(("gone-", "once-old-"))


@pytest.mark.django_db
def test_a_whole_run_marks_who_already_lapsed(box):
    run = box
    churn = _marks(run)
    assert GUEST_CUSTOMER_ID not in churn and "signup" not in churn  # the guest is not scored; a sign-up not at risk
    assert len(churn) == 33
    assert churn == {name: _expected(name) for name in churn}
    purchase = _marks(run, "purchase")
    assert purchase["signup"] is False  # no order at all: not lapsed
    assert {k: v for k, v in purchase.items() if k != "signup"} == churn  # one mark per customer, either row
    assert run.summary["typical_repeat_gap_days"] == pytest.approx(MONTH)
    # The dashboard's share: one grouped query, stored with the run's figures.
    figures = run.summary["figures"]
    gone = sum(s.revenue_at_risk for s in CustomerScore.objects.filter(scoring_run=run, task="churn", lapsed=True))
    assert figures["revenue_at_risk_lapsed"] == pytest.approx(gone)
    assert 0 < gone < figures["revenue_at_risk"]


@pytest.mark.django_db
def test_the_list_filter_the_segment_the_api_and_the_export(box, client):
    run = box
    shop = run.shop
    admin = UserFactory(role="admin", shops=[shop])
    client.force_login(admin)
    # The page: only lapsed rows, then only active ones, the choice kept in the form and the filter's words.
    page = client.get("/customers/", {"lapsed": "true", "limit": 100}).content.decode()
    assert 'value="true" selected' in page and "Already lapsed (win back)" in page
    assert page.count('class="badge badge-lapsed"') == 16
    assert "active-0" not in page and "gone-0" in page and "once-old-0" in page
    page = client.get("/customers/", {"lapsed": "false"}).content.decode()
    assert 'class="badge badge-lapsed"' not in page and "gone-0" not in page and "active-0" in page
    dashboard = client.get("/").content.decode()
    assert "from customers who already lapsed" in dashboard and "?lapsed=true" in dashboard
    # "Most worth saving" opens the customers still active: the lapsed ones led the list (48 of a demo's top 50).
    assert '?lapsed=false">See customers most worth saving' in dashboard
    bad = client.get("/customers/", {"lapsed": "maybe"})  # a bad value lists nobody and says why, as the others
    assert bad.status_code == 400 and "is not true or false" in bad.content.decode()

    # A saved segment keeps the choice (and reads it back), and its export has the lapsed column.
    flt = AtRiskFilter.from_query({"lapsed": "true"})
    assert flt.to_query_string() == "lapsed=true" and AtRiskFilter.from_query({"lapsed": "false"}).lapsed is False
    segment = segment_create(shop=shop, user=admin, name="Win back", flt=flt)
    segment.refresh_from_db()
    assert segment.filters == {"lapsed": True} and AtRiskFilter.from_dict(segment.filters) == flt
    for preset, column in (("generic", "lapsed"), ("klaviyo", "Lapsed"), ("mailchimp", "Lapsed")):
        plan = export_create(shop=shop, segment=segment, user=admin, preset=preset)
        rows = list(csv.reader(io.StringIO("".join(csv_lines(export_rows(plan=plan))))))
        header, body = rows[0], rows[1:]
        assert header[-1] == column and len(body) == 16 and {r[-1] for r in body} == {"true"}
    everyone = segment_create(shop=shop, user=admin, name="Everyone", flt=AtRiskFilter())
    # A win-back segment's campaign planner speaks of winning back, not of keeping (a new user's review).
    win_back, save = (client.get(f"/segments/{s.pk}/").content.decode() for s in (segment, everyone))
    assert "Share the offer wins back" in win_back and "Revenue won back" in win_back
    assert "what a retention offer would achieve" not in win_back
    # ... and of customers who would have come back anyway, not of ones "who would have stayed" (they left).
    assert "would have come back anyway" in win_back and "would have stayed" not in win_back
    assert "Offers to customers who would have stayed" in save
    assert "Share of leavers the offer keeps" in save and "Revenue saved" in save
    rows = list(csv.reader(io.StringIO("".join(csv_lines(export_rows(
        plan=export_create(shop=shop, segment=everyone, user=admin)))))))
    at = rows[0].index("lapsed")
    assert {r[0]: r[at] == "true" for r in rows[1:]} == {name: _expected(name) for name in _marks(run)}

    # The API: every item says it, the filter narrows, a saved segment's filter takes a JSON boolean.
    from accounts.tokens import api_token_create

    api = bearer(api_token_create(user=admin, shop=shop, name="t").plain)
    items = api.get("/api/v1/at-risk/", {"page_size": 100}).json()["results"]
    assert {i["customer_id"]: i["lapsed"] for i in items} == {name: _expected(name) for name in _marks(run)}
    for value, want in (("true", True), ("false", False)):
        items = api.get("/api/v1/at-risk/", {"lapsed": value, "page_size": 100}).json()["results"]
        assert len(items) == (16 if want else 17) and {i["lapsed"] for i in items} == {want}
    assert api.get("/api/v1/at-risk/", {"lapsed": "maybe"}).status_code == 400
    made = api.post("/api/v1/segments/", {"name": "Save", "filters": {"lapsed": False}}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["filters"] == {"lapsed": False}
    assert api.post("/api/v1/segments/", {"name": "Bad", "filters": {"lapsed": "yes"}},
                    format="json").status_code == 400


@pytest.mark.django_db
def test_a_rescored_customer_gets_the_mark_a_whole_run_gives(box):
    run = box
    shop = run.shop
    came_back = Customer.objects.get(shop=shop, external_id="gone-0")
    Order.objects.create(shop=shop, customer=came_back, external_id="back", total=40,
                         placed_at=AS_OF + dt.timedelta(hours=6))
    ids = [came_back.pk, *Customer.objects.filter(shop=shop, external_id__in=["once-old-0", "once-new-0"])
           .values_list("pk", flat=True)]
    assert customers_rescore(shop=shop, customer_ids=ids) == 3
    rescored = {(s.customer_id, s.task): s.lapsed for s in CustomerScore.objects.filter(customer_id__in=ids)}
    assert rescored[(came_back.pk, "churn")] is False  # ordered again: no longer lapsed
    cutoff = CustomerScore.objects.filter(customer_id__in=ids).values_list("history_until", flat=True)[0]
    rows = scores_compute(run=run, frames=shop_frames(shop_id=shop.pk, until=cutoff), cutoff=pd.Timestamp(cutoff))
    at = {name: SCORE_COLUMNS.index(name) for name in ("customer_id", "task", "lapsed")}
    whole = {(r[at["customer_id"]], r[at["task"]]): r[at["lapsed"]] for r in rows if r[at["customer_id"]] in ids}
    assert whole == rescored
    assert sorted(whole.values()) == [False, False, False, False, True, True]  # once-old still lapsed, both rows


@pytest.mark.django_db
def test_a_rescoring_task_measures_the_shops_typical_gap_once_and_marks_as_whole_runs_do(box, monkeypatch):
    # Re-scoring computed the shop's typical repeat gap (an aggregate over all its orders: ~1 s at 1.3 M orders) in
    # every chunk; now once per task, shared by its chunks (same cutoff: the end of the day of their orders).
    from predictions.services import rescoring, scoring
    from tests.conftest import calls_counted

    run = box
    shop = run.shop
    names = ["gone-0", "gone-1", "active-0", "once-old-0", "once-new-0"]
    customers = list(Customer.objects.filter(shop=shop, external_id__in=names))
    Order.objects.bulk_create([Order(shop=shop, customer=c, external_id=f"{c.external_id}/late", total=40,
                                     placed_at=AS_OF + dt.timedelta(days=1))
                           for c in customers if c.external_id in ("active-0", "gone-1", "once-new-0")])
    ids = sorted(c.pk for c in customers)
    rescoring._pending_add(shop_id=shop.pk, customer_ids=ids)
    gaps = calls_counted(monkeypatch, scoring, "typical_repeat_gap_days")
    chunks = calls_counted(monkeypatch, rescoring, "customers_rescore")
    assert rescoring.rescore_changed(shop_id=shop.pk, chunk_size=2) == 5
    # Each chunk holds a customer who ordered the next day: every chunk's cutoff is that day's end, not the run's
    # as_of (whose gap the run keeps); one computation for the three.
    (cutoff,) = set(CustomerScore.objects.filter(customer_id__in=ids).values_list("history_until", flat=True))
    assert cutoff > run.as_of
    assert len(chunks) == 3 and len(gaps) == 1
    rescored = {(s.customer_id, s.task): s.lapsed for s in CustomerScore.objects.filter(customer_id__in=ids)}
    rows = scores_compute(run=run, frames=shop_frames(shop_id=shop.pk, until=cutoff), cutoff=pd.Timestamp(cutoff))
    at = {name: SCORE_COLUMNS.index(name) for name in ("customer_id", "task", "lapsed")}
    whole = {(r[at["customer_id"]], r[at["task"]]): r[at["lapsed"]] for r in rows if r[at["customer_id"]] in ids}
    assert whole == rescored
    by_name = {c.external_id: rescored[(c.pk, "purchase")] for c in customers}
    assert by_name == {"gone-0": True, "gone-1": False, "active-0": False, "once-old-0": True, "once-new-0": False}


@pytest.mark.django_db
def test_scores_written_before_the_mark_get_it_from_the_fill_with_the_one_rule(box):
    # Migration 0008 gave existing scores lapsed = false: the current run said "not lapsed" for all (list filter, API,
    # exports, no dashboard share) until the next run. `lapsed_fill` computes the mark again at each row's cutoff.
    import json as jsonlib

    from django.core.management import call_command

    from predictions.models import ScoringRun
    from predictions.services.scoring import TYPICAL_GAP_KEY

    run = box
    shop = run.shop
    came_back = Customer.objects.get(shop=shop, external_id="gone-0")  # re-scored the next day: its own cutoff
    Order.objects.create(shop=shop, customer=came_back, external_id="back", total=40,
                         placed_at=AS_OF + dt.timedelta(days=1))
    assert customers_rescore(shop=shop, customer_ids=[came_back.pk]) == 1
    scored = {task: _marks(run, task) for task in ("churn", "purchase")}  # as the scoring wrote them
    assert scored["churn"]["gone-0"] is False and scored["churn"]["gone-1"] is True
    # The state 0008 left: every mark false, no typical gap kept, figures without the lapsed share. (The high risks
    # here, and their reasons, are made up: this little shop's BG/NBD gives all 8 %; a lapsed one's reasons did not
    # say first why it lapsed.)
    CustomerScore.objects.filter(scoring_run=run).update(lapsed=False)
    CustomerScore.objects.filter(scoring_run=run, task="churn", customer__external_id__in=["gone-1", "gone-2", "today"]
                                 ).update(probability=0.9, reasons=["no product viewed in the last 30 days",
                                                                    "no order for 5 days"])
    summary = ScoringRun.objects.get(pk=run.pk).summary
    summary.pop(TYPICAL_GAP_KEY)
    summary["figures"].pop("revenue_at_risk_lapsed")
    ScoringRun.objects.filter(pk=run.pk).update(summary=summary)

    out = io.StringIO()
    call_command("lapsed_fill", chunk_size=10, stdout=out, stderr=io.StringIO())
    (line,) = out.getvalue().splitlines()
    result = jsonlib.loads(line)
    assert result == {"shop": shop.slug, "run": run.pk, "customers": 34, "lapsed": 15, "rows_changed": 30,
                      "skipped": False}
    assert {task: _marks(run, task) for task in ("churn", "purchase")} == scored
    reasons = dict(CustomerScore.objects.filter(scoring_run=run, task="churn", probability=0.9)
                   .values_list("customer__external_id", "reasons"))
    assert reasons == {  # a lapsed high risk says first why, as the scoring writes it; one still active as it was
        "gone-1": ["no order for 121 days; usually every 30", "no product viewed in the last 30 days"],
        "gone-2": ["no order for 122 days; usually every 30", "no product viewed in the last 30 days"],
        "today": ["no product viewed in the last 30 days", "no order for 5 days"]}
    run.refresh_from_db()
    assert run.summary[TYPICAL_GAP_KEY] == pytest.approx(MONTH)
    gone = sum(s.revenue_at_risk for s in CustomerScore.objects.filter(scoring_run=run, task="churn", lapsed=True))
    assert 0 < gone == pytest.approx(run.summary["figures"]["revenue_at_risk_lapsed"])
    # Done once: a run with the mark is left alone (and --force changes nothing either).
    out = io.StringIO()
    call_command("lapsed_fill", stdout=out, stderr=io.StringIO())
    assert jsonlib.loads(out.getvalue())["skipped"] is True
    out = io.StringIO()
    call_command("lapsed_fill", force=True, stdout=out, stderr=io.StringIO())
    assert jsonlib.loads(out.getvalue())["rows_changed"] == 0


def test_the_fill_leaves_a_row_scored_after_it_read_the_data(box):
    # A reviewer: a customer re-scored while the fill ran, of orders dated before the run's as_of, keeps the same
    # cutoff; the fill's mark, read before those orders, overwrote the fresh one. A row scored after the chunk's read
    # is now left as it is.
    from django.core.management import call_command
    from django.utils import timezone

    run = box
    CustomerScore.objects.filter(scoring_run=run).update(lapsed=False)
    later = timezone.now() + dt.timedelta(hours=1)  # as a re-scoring during the fill writes it
    CustomerScore.objects.filter(scoring_run=run, customer__external_id="gone-1").update(scored_at=later)
    call_command("lapsed_fill", force=True, stdout=io.StringIO(), stderr=io.StringIO())
    marks = _marks(run, "churn")
    assert marks["gone-1"] is False and marks["gone-2"] is True
