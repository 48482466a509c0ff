"""A segment as CSV rows for a campaign tool: safe to open in a spreadsheet, personal data only when allowed.

Columns: customer_id, email, name, churn_probability, purchase_probability, risk_band, revenue_at_risk,
reasons, rec_1, rec_2, rec_3. In a pseudonymised file the email column holds a pseudonym instead:
"anon-" + the first 20 hex digits of HMAC-SHA256(SECRET_KEY, "<shop id>:<lower-cased email>") — stable
from one export to the next (a campaign tool can deduplicate and join on it) but not reversible
without the server's key; the name column is left empty. Customers without an email get an empty cell.

Formula injection: any text cell starting with =, +, -, @, a tab or a carriage return gets a leading
single quote, so a spreadsheet shows it as text instead of evaluating it. Numbers are written as
numbers (a negative number is not text, and is not touched).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Iterable, Iterator

from django.conf import settings

from ecomsight.csvsafe import neutralise
from predictions.models import CustomerScore, Task
from predictions.segment_services import ExportPlan
from recommendations.models import Recommendation, RecommenderVersion

HEADER = ["customer_id", "email", "name", "churn_probability", "purchase_probability", "risk_band",
          "revenue_at_risk", "reasons", "rec_1", "rec_2", "rec_3"]
CHUNK = 2000


def pseudonym(*, shop_id: int, email: str) -> str:
    """A stable, non-reversible stand-in for an email (empty for an empty email)."""
    email = (email or "").strip().lower()
    if not email:
        return ""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{shop_id}:{email}".encode(), hashlib.sha256).hexdigest()
    return f"anon-{digest[:20]}"


def export_rows(*, plan: ExportPlan) -> Iterator[list]:
    """The header, then one row per targeted customer in the plan's order; reads in chunks of 2,000."""
    yield HEADER
    if plan.run is None or not plan.customer_ids:
        return
    shop_id = plan.export.shop_id
    version_id = (
        RecommenderVersion.objects.filter(shop_id=shop_id, status=RecommenderVersion.Status.ACTIVE)
        .order_by("-created_at", "-id").values_list("id", flat=True).first()
    )
    for start in range(0, len(plan.customer_ids), CHUNK):
        ids = plan.customer_ids[start:start + CHUNK]
        scores = {
            s.customer_id: s
            for s in CustomerScore.objects.filter(shop_id=shop_id, scoring_run=plan.run, task=Task.CHURN,
                                                  customer_id__in=ids).select_related("customer")
        }
        purchase = dict(
            CustomerScore.objects.filter(shop_id=shop_id, scoring_run=plan.run, task=Task.PURCHASE,
                                         customer_id__in=ids).values_list("customer_id", "probability")
        )
        recs: dict[int, list[str]] = {}
        if version_id is not None:
            for customer_id, title, external_id in (
                Recommendation.objects.filter(version_id=version_id, customer_id__in=ids, rank__lte=3)
                .order_by("customer_id", "rank").values_list("customer_id", "product__title", "product__external_id")
            ):
                recs.setdefault(customer_id, []).append(title or external_id)
        for customer_id in ids:
            score = scores.get(customer_id)
            if score is None:  # scores replaced since the export was recorded: nothing to say about them
                continue
            customer = score.customer
            if plan.pseudonymised:
                email, name = pseudonym(shop_id=shop_id, email=customer.email), ""
            else:
                email, name = customer.email, customer.name
            at_risk = score.revenue_at_risk
            if at_risk is None:
                at_risk = score.probability * score.spend_12m
            p_buy = purchase.get(customer_id)
            top3 = (recs.get(customer_id, []) + ["", "", ""])[:3]
            row = [customer.external_id, email, name, round(score.probability, 4),
                   round(p_buy, 4) if p_buy is not None else "", score.risk_band, round(at_risk, 2),
                   "; ".join(score.reasons or []), *top3]
            yield [neutralise(v) for v in row]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a streamed response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """CSV text, one line at a time (for StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)
