"""Who campaigns leave out for consent: the one rule segments, their exports, deliveries and the nested segment
filter apply. A customer who refused marketing (marketing_consent false) is never a member; with the shop's
`marketing_consent_required`, neither is one whose consent is unknown (only opted-in customers are)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Shop
from behavior.models import Customer


def consent_missing(*, shop: Shop) -> QuerySet:
    """The pks of the shop's customers campaigns leave out for consent (a subquery to exclude)."""
    rule = Q(marketing_consent=False)
    if shop.marketing_consent_required:
        rule |= Q(marketing_consent__isnull=True)
    return Customer.objects.filter(rule, shop=shop).values("pk")


def consent_words(*, shop: Shop) -> str:
    """Why they are left out, in words: "refused marketing" (or "did not opt in to marketing")."""
    return "did not opt in to marketing" if shop.marketing_consent_required else "refused marketing"
