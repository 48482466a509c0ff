"""Flagged customers are left out of segment exports (the campaign files) and the audit log says how many."""

import pytest

from accounts.models import AuditLog
from forecasts.models import CustomerFlag
from predictions.services.segments import export_create
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


def test_a_flagged_customer_is_not_in_the_export_but_the_others_are(shop):
    run = ScoringRunFactory(shop=shop)
    customers = scored_customers(shop, run, [{"external_id": x, "p": p, "buy": 0.2, "spend": 100}
                                             for x, p in (("A", 0.9), ("B", 0.8), ("C", 0.7))])
    CustomerFlag.objects.create(shop=shop, customer=customers["B"], kind="refund_abuse", reason="refunded 4 of 5")
    segment = SegmentFactory(shop=shop, filters={"churn_min": 50})
    plan = export_create(shop=shop, segment=segment, user=UserFactory(role="admin", shops=[shop]))
    assert plan.customer_ids == [customers["A"].pk, customers["C"].pk]
    assert plan.export.rows == 2
    assert AuditLog.objects.get(action="segment.export").details["flagged_left_out"] == 1
