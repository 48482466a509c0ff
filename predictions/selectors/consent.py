"""Who campaigns leave out for consent: the one rule segments, their exports, deliveries and the nested segment
filter apply. A customer who refused marketing (marketing_consent false) is never a member; with the shop's
`marketing_consent_required`, neither is one whose consent is unknown (only opted-in customers are)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Shop
from behavior.models import Customer


def consent_missing(*, shop: Shop) -> QuerySet:
    """The shop's customers campaigns leave out for consent (for a few ids, or whether there are any)."""
    rule = Q(marketing_consent=False)
    if shop.marketing_consent_required:
        rule |= Q(marketing_consent__isnull=True)
    return Customer.objects.filter(rule, shop=shop).values("pk")


def consent_given(*, shop: Shop) -> Q:
    """The rule on rows with a `customer` (scores): the members campaigns may hold. A condition on the joined
    customer row, never `NOT IN (the customers left out)`: with opt-in required that list is most of the shop,
    and PostgreSQL then probes it once per row (a second reader: past work_mem, a minute on 400,000 scores)."""
    if shop.marketing_consent_required:
        return Q(customer__marketing_consent=True)
    return ~Q(customer__marketing_consent=False)  # NULL (unknown) is kept
