"""Reads for offers: the logged assignments with their context and outcomes as one frame, customers' context
now, offers and their eligibility, results per offer and per policy version.

Context and outcomes are computed in SQL in one statement for all rows (LATERAL joins over the order index
`order_customer_time`), never one query per customer. PostgreSQL only.

One rule, one place: *context at time t* uses only orders placed before t (no leakage; a refunded order counts
in recency but not in spend nor average order value, as in predictions' value), and the *outcome* of an
assignment at t is read from the orders that stand (neither cancelled nor refunded) placed in
(t, t + attribution window]: conversion = at least one such order; net revenue = their totals minus the offer's
cost_per_redemption when the customer converted (or, when the shop's orders name the offer they redeemed, for
those orders only). A refund is money back, not a sale the offer won.
An assignment whose window has not closed by the shop's latest order is *pending*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection

from accounts.models import Shop
from ecomsight.db import epoch_sql, read_frame

from .models import Assignment, Offer, OfferSettings, PolicyVersion

FEATURES = ("recency_days", "frequency_365", "monetary_365", "avg_order_value", "tenure_days",
            "churn_probability", "purchase_probability", "log_frequency_365")

# The context of (customer, at) rows given by the SQL `source` (columns: key, customer_id, at, churn_logged,
# purchase_logged). The scores are the customer's latest before `at`; where none is left (score-history retention,
# predictions/retention.py, deletes old runs' scores) those the source logged with the row, if any.
_CONTEXT_SQL = """
SELECT s.key, s.customer_id, {at_epoch},
       EXTRACT(EPOCH FROM s.at - h.last_at) / 86400.0,
       COALESCE(y.n, 0), COALESCE(y.spend, 0), h.aov,
       EXTRACT(EPOCH FROM s.at - COALESCE(LEAST(h.first_at, c.signup_at), c.signup_at)) / 86400.0,
       COALESCE(sc.churn, s.churn_logged), COALESCE(sc.purchase, s.purchase_logged){extra}
FROM ({source}) s
JOIN behavior_customer c ON c.id = s.customer_id
LEFT JOIN LATERAL (
    SELECT MAX(o.placed_at) AS last_at, MIN(o.placed_at) AS first_at,
           AVG(o.total) FILTER (WHERE o.status <> 'refunded') AS aov
    FROM behavior_order o WHERE o.customer_id = s.customer_id AND o.placed_at < s.at AND o.status <> 'cancelled'
) h ON TRUE
LEFT JOIN LATERAL (
    SELECT COUNT(*) AS n, SUM(CASE WHEN o.status = 'refunded' THEN 0 ELSE COALESCE(o.total, 0) END) AS spend
    FROM behavior_order o WHERE o.customer_id = s.customer_id AND o.status <> 'cancelled'
      AND o.placed_at < s.at AND o.placed_at >= s.at - INTERVAL '365 days'
) y ON TRUE
LEFT JOIN LATERAL (
    SELECT MAX(CASE WHEN x.task = 'churn' THEN x.probability END) AS churn,
           MAX(CASE WHEN x.task = 'purchase' THEN x.probability END) AS purchase
    FROM (SELECT DISTINCT ON (cs.task) cs.task, cs.probability FROM predictions_customerscore cs
          WHERE cs.customer_id = s.customer_id AND cs.scored_at <= s.at
          ORDER BY cs.task, cs.scored_at DESC) x
) sc ON TRUE
{outcome}
"""
# A probability the assignment logged in its context (JSON), NULL when it has none or it is not a number.
_LOGGED = ("CASE WHEN jsonb_typeof(a.context->'{key}') = 'number' THEN (a.context->>'{key}')::float8 END")
_CONTEXT_COLUMNS = ["key", "customer_id", "at", "recency_days", "frequency_365", "monetary_365",
                    "avg_order_value", "tenure_days", "churn_probability", "purchase_probability"]


def offer_settings_get(*, shop: Shop) -> OfferSettings:
    """The shop's offer settings (created with the defaults on first use)."""
    settings, _ = OfferSettings.objects.get_or_create(shop=shop)
    return settings


def offer_list(*, shop: Shop, active_only: bool = False) -> list[Offer]:
    """The shop's offers, by id."""
    qs = Offer.objects.filter(shop=shop)
    return list(qs.filter(active=True) if active_only else qs)


def data_clock(*, shop: Shop) -> datetime | None:
    """The moment the shop's data reaches: its latest order (outcomes after it are not known yet)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT MAX(placed_at) FROM behavior_order WHERE shop_id = %s", [shop.pk])
        return cursor.fetchone()[0]


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    for column in FEATURES[:-1]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["log_frequency_365"] = np.log1p(frame["frequency_365"])
    return frame


@dataclass(frozen=True)
class AssignmentFrame:
    """Logged assignments whose attribution window has closed, in time order, with context and outcomes."""

    frame: pd.DataFrame  # key, customer_id, at, FEATURES..., offer, propensity, converted, revenue, cost
    pending: int  # assignments whose window is still open
    clock: datetime | None
    attribution_days: int


def assignment_frame(*, shop: Shop, until: datetime | None = None) -> AssignmentFrame:
    """Every assignment of `shop` with a closed attribution window: context at assignment time (features from
    orders before it, the latest scores before it) and its outcome, in one SQL statement."""
    settings = offer_settings_get(shop=shop)
    clock = data_clock(shop=shop)
    total = Assignment.objects.filter(shop=shop).count()
    if clock is None:
        return AssignmentFrame(frame=_empty(), pending=total, clock=None,
                               attribution_days=settings.attribution_days)
    window = timedelta(days=settings.attribution_days)
    last = clock - window if until is None else min(clock - window, until)
    source = ("SELECT a.id AS key, a.customer_id, a.assigned_at AS at, a.offer_id, a.propensity,"
              f" {_LOGGED.format(key='churn_probability')} AS churn_logged,"
              f" {_LOGGED.format(key='purchase_probability')} AS purchase_logged"
              " FROM offers_assignment a WHERE a.shop_id = %s AND a.assigned_at <= %s")
    outcome = """
    JOIN offers_offer f ON f.id = s.offer_id
    LEFT JOIN LATERAL (
        SELECT COUNT(*) AS n, SUM(COALESCE(o.total, 0)) AS spend,
               BOOL_OR(o.offer_code = f.external_id) AS redeemed FROM behavior_order o
        WHERE o.customer_id = s.customer_id AND o.status = 'placed'
          AND o.placed_at > s.at AND o.placed_at <= s.at + %s
    ) r ON TRUE
    ORDER BY s.at, s.key"""
    sql = _CONTEXT_SQL.format(at_epoch=epoch_sql("s.at"), source=source, outcome=outcome,
                              extra=", f.external_id, s.propensity, (r.n > 0)::int, COALESCE(r.spend, 0), "
                                    "f.cost_per_redemption, COALESCE(r.redeemed, false)::int")
    frame = read_frame(sql, [shop.pk, last, window],
                       columns=_CONTEXT_COLUMNS + ["offer", "propensity", "converted", "spend", "cost", "redeemed"],
                       epoch_columns=["at"], dtypes={"offer": "str"})
    frame = _finish(frame)
    frame["offer"] = frame["offer"].astype(str)
    frame["propensity"] = frame["propensity"].astype(float)
    frame["converted"] = frame["converted"].astype(float)
    # Redemptions: where the shop's orders name the offer they redeemed (an offer_id / coupon column), the cost
    # is charged for those orders only; otherwise every conversion of an offered customer counts as one.
    charged = frame["redeemed"].astype(float) if _orders_name_offers(shop=shop) else frame["converted"]
    frame["revenue"] = frame["spend"].astype(float) - charged * frame["cost"].astype(float)
    return AssignmentFrame(frame=frame, pending=total - len(frame), clock=clock,
                           attribution_days=settings.attribution_days)


def _orders_name_offers(*, shop: Shop) -> bool:
    """Whether any of the shop's orders carries the offer it redeemed (the optional orders column offer_id)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM behavior_order WHERE shop_id = %s AND offer_code <> '')",
                       [shop.pk])
        return bool(cursor.fetchone()[0])


def _empty() -> pd.DataFrame:
    columns = _CONTEXT_COLUMNS + ["offer", "propensity", "converted", "revenue", "log_frequency_365"]
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})


def customer_context_frame(*, shop: Shop, customer_ids: list[int], at: datetime) -> pd.DataFrame:
    """The context of each customer at `at` (one row per customer id, FEATURES columns), in one statement."""
    if not customer_ids:
        return _finish(pd.DataFrame({c: pd.Series(dtype="float64") for c in _CONTEXT_COLUMNS}))
    source = ("SELECT u.id AS key, u.id AS customer_id, %s::timestamptz AS at, NULL::float8 AS churn_logged,"
              " NULL::float8 AS purchase_logged FROM unnest(%s::bigint[]) AS u(id)")
    sql = _CONTEXT_SQL.format(at_epoch=epoch_sql("s.at"), source=source, outcome="WHERE c.shop_id = %s",
                              extra="")
    frame = read_frame(sql, [at, list(customer_ids), shop.pk], columns=_CONTEXT_COLUMNS, epoch_columns=["at"])
    return _finish(frame)


def eligibility_matrix(*, shop: Shop, offers: list[Offer], context: pd.DataFrame) -> np.ndarray:
    """(rows, offers) booleans: may this customer get this offer at that moment (min spend over the last
    365 days, no order in the last N days, bought in one of the offer's categories)? "No offer" always."""
    n = len(context)
    eligible = np.ones((n, len(offers)), dtype=bool)
    spend = context["monetary_365"].to_numpy(dtype=float) if n else np.zeros(0)
    recency = context["recency_days"].to_numpy(dtype=float) if n else np.zeros(0)
    customers = context["customer_id"].to_numpy(dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    for j, offer in enumerate(offers):
        if offer.kind == Offer.Kind.NONE:
            continue
        if offer.min_spend is not None:
            eligible[:, j] &= spend >= float(offer.min_spend)
        if offer.exclude_ordered_within_days:
            eligible[:, j] &= ~(recency < offer.exclude_ordered_within_days)  # NaN (never ordered) passes
        if offer.categories:
            buyers = _category_buyers(shop=shop, paths=offer.categories, customer_ids=customers)
            eligible[:, j] &= np.isin(customers, buyers)
    return eligible


def _category_buyers(*, shop: Shop, paths: list[str], customer_ids: np.ndarray) -> np.ndarray:
    """Customers among `customer_ids` who bought a product in one of the categories (or below them)."""
    patterns = list(paths) + [path + " > %" for path in paths]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT o.customer_id FROM behavior_orderline l JOIN behavior_order o ON o.id = l.order_id "
            "JOIN catalog_product p ON p.id = l.product_id JOIN catalog_category g ON g.id = p.category_id "
            "WHERE o.shop_id = %s AND o.customer_id = ANY(%s) AND g.path LIKE ANY(%s)",
            [shop.pk, list(map(int, customer_ids)), patterns])
        return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


def policy_current(*, shop: Shop) -> PolicyVersion | None:
    """The policy version now live (None: no learned policy yet; the control draws for everyone)."""
    return PolicyVersion.objects.filter(shop=shop, status=PolicyVersion.Status.CURRENT).first()


@dataclass(frozen=True)
class OfferResult:
    """One offer's (or policy version's) logged results: assignments, conversions, net revenue, lift over none."""

    label: str
    assignments: int
    conversions: int
    conversion_rate: float
    net_revenue: float
    lift: float | None
    lift_low: float | None
    lift_high: float | None


def offer_results(*, shop: Shop, by: str = "offer", frame: pd.DataFrame | None = None) -> list[OfferResult]:
    """Results per offer (`by="offer"`) or per policy version (`by="policy"`) over closed windows: the lift in
    conversion rate over the "no offer" assignments, with a 95 % interval (normal approximation, each
    assignment weighted by 1/propensity so a policy that gave offers unevenly is not credited for who it chose).
    `frame`: the `assignment_frame` already read (a page showing both groupings reads it once)."""
    frame = (assignment_frame(shop=shop).frame if frame is None else frame).copy()
    if frame.empty:
        return []
    if by == "policy":
        versions = dict(Assignment.objects.filter(shop=shop).values_list("id", "policy_version_id"))
        frame["group"] = frame["key"].map(lambda key: f"policy {versions.get(int(key))}"
                                          if versions.get(int(key)) else "imported / none")
    else:
        frame["group"] = frame["offer"]
    none_ids = set(Offer.objects.filter(shop=shop, kind=Offer.Kind.NONE).values_list("external_id", flat=True))
    weights = 1.0 / frame["propensity"]
    base = frame[frame["offer"].isin(none_ids)]
    base_rate, base_var = _weighted_rate(base["converted"], weights[base.index])
    results = []
    for label, rows in frame.groupby("group", sort=True):
        rate, var = _weighted_rate(rows["converted"], weights[rows.index])
        lift = low = high = None
        if len(base) and (by == "policy" or label not in none_ids):
            lift = rate - base_rate
            half = 1.96 * float(np.sqrt(var + base_var))
            low, high = lift - half, lift + half
        results.append(OfferResult(label=str(label), assignments=len(rows), conversions=int(rows["converted"].sum()),
                                   conversion_rate=float(rows["converted"].mean()),
                                   net_revenue=float(rows["revenue"].sum()), lift=lift, lift_low=low,
                                   lift_high=high))
    return results


def _weighted_rate(values: pd.Series, weights: pd.Series) -> tuple[float, float]:
    """Self-normalised weighted mean and the variance of that estimate."""
    if len(values) == 0:
        return 0.0, 0.0
    w = weights.to_numpy(dtype=float)
    v = values.to_numpy(dtype=float)
    mean = float(np.sum(w * v) / np.sum(w))
    var = float(np.sum(w ** 2 * (v - mean) ** 2) / np.sum(w) ** 2)
    return mean, var


# An assignment made for the same customer this recently is handed out again instead of drawing anew
# (repeated API calls and re-exports do not multiply the logs).
STICKY = timedelta(hours=24)


def assignments_recent(*, shop: Shop, customer_ids: list[int], at: datetime) -> dict[int, Assignment]:
    """customer id -> their latest assignment (API or export) within STICKY before `at`, with its offer: what an
    assignment at `at` hands out again instead of drawing (services.offers_assign) and a plan shows as given."""
    return {a.customer_id: a for a in Assignment.objects.filter(
        shop=shop, customer_id__in=customer_ids, assigned_at__gt=at - STICKY, assigned_at__lte=at,
        channel__in=["api", "export"]).select_related("offer").order_by("customer_id", "-assigned_at")
        .distinct("customer_id")}


@dataclass(frozen=True)
class PlanRow:
    """One customer of a planned campaign: the offer the export would most likely draw for them."""

    customer_external_id: str
    offer_id: str
    offer_name: str
    chance: float  # the probability the export draws that offer
    choices: int  # how many offers the export may draw for them (chance above 0)
    expected: float | None  # the reward model's prediction for that offer (the version's reward)
    choice_ids: tuple[str, ...] = ()  # the ids of the offers the export may draw for them
    # when they were given this offer, within STICKY: a file made now repeats it instead of drawing (chance 1)
    given_at: datetime | None = None


@dataclass(frozen=True)
class Plan:
    """A segment's campaign under the current policy: per customer offers, totals with 95 % intervals."""

    version: PolicyVersion | None
    customers: int
    rows: list[PlanRow]
    offer_counts: dict[str, int]  # offer id -> customers the file is expected to carry it for, most first
    # reward -> {"value", "low", "high"} in total over the segment (None: not measured)
    expected: dict[str, dict | None]
    note: str
    offer_names: dict[str, str] = field(default_factory=dict)  # offer id -> its name (the id when it has none)
    repeated: int = 0  # customers given an offer within STICKY: a file made now repeats it

    @property
    def repeated_text(self) -> str:
        """Why some customers' offer is certain (empty when none is)."""
        if not self.repeated:
            return ""
        hours = int(STICKY.total_seconds() // 3600)
        who = "1 customer was" if self.repeated == 1 else f"{self.repeated:,} customers were"
        return (f"{who} given an offer in the last {hours} hours (by an export or the API): a file made now gives "
                "them the same offer again instead of drawing a new one.")

    @property
    def offer_lines(self) -> list[tuple[str, str, int]]:
        """(offer id, its name, expected customers) per offer in offer_counts' order."""
        return [(offer, self.offer_names.get(offer, offer), count) for offer, count in self.offer_counts.items()]


def offer_choice_probabilities(*, shop: Shop, offers: list[Offer], context: pd.DataFrame,
                               version: PolicyVersion | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(the random control's part, the policy's part, predicted rewards or None) over `offers` for each context
    row: what an assignment draws from (services.offers_assign) and what a campaign's plan shows (offer_plan).
    Without a current policy both parts are uniform over the customer's eligible offers."""
    from .ml.policy import PolicyConfig, policy_probabilities, reward_model_from_json

    eligible = eligibility_matrix(shop=shop, offers=offers, context=context)
    eligible[~eligible.any(axis=1)] = True
    uniform = eligible / eligible.sum(axis=1, keepdims=True)
    if version is None:
        return uniform, uniform, None
    model = reward_model_from_json(version.params["reward_model"])
    raw = model.predict(context[list(version.features)].to_numpy(dtype=float))
    predicted = np.zeros((len(context), len(offers)))
    known = np.zeros(len(offers), dtype=bool)
    for j, offer in enumerate(offers):
        if offer.external_id in version.offers:
            predicted[:, j] = raw[:, version.offers.index(offer.external_id)]
            known[j] = True
    learn_on = eligible & known
    learn_on[~learn_on.any(axis=1)] = eligible[~learn_on.any(axis=1)]
    learned = policy_probabilities(predicted=predicted, eligible=learn_on,
                                   config=PolicyConfig(epsilon=version.epsilon, control_share=0.0))
    return uniform, learned, predicted


def offer_plan(*, shop: Shop, customer_ids: list[int], show: int = 50, at: datetime | None = None) -> Plan:
    """What a campaign to these customers would give them: per customer the offer the export most likely draws
    and its chance, per offer how many the file is expected to hold (the sum of the chances the export draws
    from: the policy's and the random control's, or every eligible offer alike before a policy is live), and the
    expected conversions and net revenue with 95 % intervals — the policy's held-out doubly robust value per
    assignment (`offer_policy_train`) times the customers. A customer given an offer within STICKY gets it again
    (`assignments_recent`, as the export does): their row is that offer, for certain. Nothing is drawn nor logged
    here: the export draws."""
    version = policy_current(shop=shop)
    offers = offer_list(shop=shop, active_only=True)
    if not customer_ids or not offers:
        return Plan(version=version, customers=len(customer_ids), rows=[], offer_counts={}, expected={},
                    note="No customers in the segment." if offers else "The shop has no offers yet.")
    customer_ids = list(dict.fromkeys(customer_ids))
    recent = assignments_recent(shop=shop, customer_ids=customer_ids, at=at or datetime.now().astimezone())
    fresh = [c for c in customer_ids if c not in recent]
    context = customer_context_frame(shop=shop, customer_ids=fresh, at=data_clock(shop=shop) or
                                     datetime.now().astimezone())
    expected_counts = np.zeros(len(offers))
    names = {o.external_id: o.name or o.external_id for o in offers}
    rows = []
    predicted = None
    if len(context):
        control_share = 1.0 if version is None else offer_settings_get(shop=shop).control_share
        uniform, learned, predicted = offer_choice_probabilities(shop=shop, offers=offers, context=context,
                                                                 version=version)
        probabilities = control_share * uniform + (1 - control_share) * learned
        chosen = probabilities.argmax(axis=1)
        from behavior.models import Customer

        externals = dict(Customer.objects.filter(shop=shop, id__in=context["customer_id"].astype(int).tolist())
                         .values_list("id", "external_id"))
        expected_counts = probabilities.sum(axis=0)
        rows = [PlanRow(customer_external_id=externals.get(int(c), ""), offer_id=offers[j].external_id,
                        offer_name=offers[j].name, chance=float(probabilities[i, j]),
                        choices=int((probabilities[i] > 0).sum()),
                        choice_ids=tuple(offers[k].external_id for k in np.flatnonzero(probabilities[i] > 0)),
                        expected=float(predicted[i, j]) if predicted is not None else None)
                for i, (c, j) in enumerate(zip(context["customer_id"].tolist()[:show], chosen[:show], strict=False))]
    counted = {offer.external_id: float(expected_counts[j]) for j, offer in enumerate(offers)}
    given = []
    if recent:
        from behavior.models import Customer

        externals = dict(Customer.objects.filter(shop=shop, id__in=list(recent)).values_list("id", "external_id"))
        for customer_id in customer_ids:
            assignment = recent.get(customer_id)
            if assignment is None:
                continue
            offer = assignment.offer
            counted[offer.external_id] = counted.get(offer.external_id, 0.0) + 1
            names.setdefault(offer.external_id, offer.name or offer.external_id)
            if len(given) < show:
                given.append(PlanRow(customer_external_id=externals.get(customer_id, ""), offer_id=offer.external_id,
                                     offer_name=offer.name, chance=1.0, choices=1, expected=None,
                                     choice_ids=(offer.external_id,), given_at=assignment.assigned_at))
    rows = (given + rows)[:show]
    counts = {offer: int(round(n)) for offer, n in sorted(counted.items(), key=lambda kv: -kv[1]) if n >= 0.5}
    n = len(context) + len(recent)
    expected: dict[str, dict | None] = {}
    note = ""
    if version is None:
        note = ("No learned policy is live yet: each customer's offer is drawn at random from the offers they may "
                "get, so the file mixes them (the counts below are what to expect) and the campaign's results teach "
                "the policy which offer works for whom. A policy is trained from those results every night.")
    else:
        for reward, value in (version.metrics.get("value_by_reward") or {}).items():
            expected[reward] = None if value is None else {k: value[k] * n for k in ("value", "low", "high")}
    return Plan(version=version, customers=n, rows=rows, offer_counts=counts, expected=expected, note=note,
                offer_names=names, repeated=len(recent))


def policy_versions(*, shop: Shop, limit: int = 10) -> list[PolicyVersion]:
    """The shop's latest policy versions, newest first."""
    return list(PolicyVersion.objects.filter(shop=shop)[:limit])
