"""`customer_flags_refresh`: recompute a shop's customer flags (refund abuse, bot-like sessions) in bulk."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Shop
from ecomsight.db import epoch_sql, read_frame

from ..ml.flags import customer_flags_frame
from ..models import CustomerFlag
from ..selectors import shop_orders_frames


@transaction.atomic
def customer_flags_refresh(*, shop: Shop) -> list[CustomerFlag]:
    """Replace the shop's flags with those its orders and events show now (two bulk reads, one bulk write)."""
    frames = shop_orders_frames(shop_id=shop.pk)
    events = read_frame(
        f"SELECT customer_id, {epoch_sql('occurred_at')}, session_id FROM behavior_event WHERE shop_id = %s",
        [shop.pk], columns=["customer_id", "occurred_at", "session_id"], epoch_columns=["occurred_at"],
        dtypes={"customer_id": "int64", "session_id": "str"})
    flags = customer_flags_frame(frames.orders, events)
    CustomerFlag.objects.filter(shop=shop).delete()
    return CustomerFlag.objects.bulk_create([
        CustomerFlag(shop=shop, customer_id=int(r.customer_id), kind=r.kind, reason=r.reason[:300])
        for r in flags.itertuples()])
