"""A write the API needs that predictions.services.segments lacks: changing a segment's filter."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.models import AuditLog, Shop
from ecomsight.errors import UserError
from predictions.filters import AtRiskFilter
from predictions.models import Segment


@transaction.atomic
def segment_filters_update(*, shop: Shop, segment: Segment, user: AbstractBaseUser | None,
                           flt: AtRiskFilter) -> Segment:
    """Replace the shop's segment's filter. Audited as "segment.update" with the old and new filters."""
    if segment.shop_id != shop.pk:
        raise UserError("No such segment.")
    old = segment.filters
    segment.filters = flt.to_dict()
    segment.save(update_fields=["filters", "updated_at"])
    AuditLog.objects.create(shop=shop, user=user if user is not None and user.pk else None, action="segment.update",
                            target=segment.name, details={"from": old, "to": segment.filters})
    return segment
