"""The writers of the `offers` and `offer_assignments` import kinds (registered with behavior's ingest).

The parser (behavior.ingest) has checked ids, dates and decimals; here the values only this app knows are
checked (the offer kind, the propensity, the offer an assignment names) and bad rows are rejected with their
line and reason. Both writers work in bulk: one read of what exists, one bulk write per batch."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from behavior.ingest.common import BatchResult, IdCache
from behavior.ingest.formats import Batch, Plan, Reject
from behavior.ingest.postgres import customer_references, erased_taken_out
from behavior.ingest.values import md5_uuid

from .models import Assignment, Offer

KINDS = {choice.value for choice in Offer.Kind}
CHUNK = 5000


def _position(plan: Plan) -> dict[str, int]:
    return {name: i + 1 for i, name in enumerate(plan.output_columns)}


def offers_batch_write(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool,
                       ids: IdCache | None = None) -> BatchResult:
    """Insert or update the batch's offers (a later row for the same offer_id wins); reject unknown kinds."""
    result = BatchResult()
    at = _position(plan)
    latest: dict[str, tuple[list, dict]] = {}
    for row in batch.rows:
        kind = (row[at["kind"]] or "").lower()
        if kind not in KINDS:
            result.rejects.append(Reject(row[0], "kind", row[at["kind"]] or "",
                                         f"unknown offer kind (expected one of {', '.join(sorted(KINDS))})"))
            continue
        values: dict = {"kind": kind}
        if "name" in plan.present:
            values["name"] = row[at["name"]] or ""
        for name in ("value", "min_spend"):
            if name in plan.present:
                values[name] = None if row[at[name]] is None else Decimal(row[at[name]])
        if "cost_per_redemption" in plan.present:
            cost = row[at["cost_per_redemption"]]
            values["cost_per_redemption"] = Decimal(cost) if cost is not None else Decimal(0)
        if "categories" in plan.present:
            text = row[at["categories"]] or ""
            values["categories"] = [part.strip() for part in text.split("|") if part.strip()]
        if "exclude_ordered_within_days" in plan.present:
            days = row[at["exclude_ordered_within_days"]]
            values["exclude_ordered_within_days"] = None if days is None else int(days)
        if "active" in plan.present:
            values["active"] = row[at["active"]] != "false"
        if kind == "discount_pct" and values.get("value") is not None and values["value"] > 100:
            result.rejects.append(Reject(row[0], "value", row[at["value"]], "a discount above 100 %"))
            continue
        latest[row[at["offer_id"]]] = (row, values)
    existing = {o.external_id: o for o in Offer.objects.filter(shop_id=shop_id, external_id__in=list(latest))}
    new, changed, fields = [], [], set()
    for key, (_row, values) in latest.items():
        current = existing.get(key)
        if current is None:
            new.append(Offer(shop_id=shop_id, external_id=key, **values))
        elif any(getattr(current, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(current, name, value)
            fields.update(values)
            changed.append(current)
    Offer.objects.bulk_create(new)
    if changed:
        Offer.objects.bulk_update(changed, sorted(fields))
    result.inserted, result.updated = len(new), len(changed)
    result.duplicates = len(batch.rows) - len(result.rejects) - len(new) - len(changed)
    return result


def offer_none_ensure(*, shop_id: int) -> None:
    """The "no offer" arm always exists: an offer `none` of kind none unless the shop already has one."""
    if not Offer.objects.filter(shop_id=shop_id, kind=Offer.Kind.NONE).exists():
        Offer.objects.get_or_create(shop_id=shop_id, external_id="none",
                                    defaults={"name": "No offer", "kind": Offer.Kind.NONE})


def _propensity(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 < value <= 1 else None


def assignments_batch_write(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool,
                            ids: IdCache | None = None) -> BatchResult:
    """Insert the batch's assignments (an assignment_id already stored is a duplicate, never changed).

    Unknown customers become stand-ins (unless --no-create); an unknown offer, or a propensity outside
    (0, 1], rejects the row with its line."""
    result = BatchResult()
    erased = erased_taken_out(shop_id=shop_id, plan=plan, batch=batch)  # an erased customer is not stored again
    result.rejects.extend(erased)
    ids = ids if ids is not None else IdCache()
    at = _position(plan)
    offer_none_ensure(shop_id=shop_id)
    offers = dict(Offer.objects.filter(shop_id=shop_id).values_list("external_id", "id"))
    rows = []
    for row in batch.rows:
        propensity = _propensity(row[at["propensity"]])
        if propensity is None:
            result.rejects.append(Reject(row[0], "propensity", row[at["propensity"]],
                                         "not a probability in (0, 1]"))
        elif row[at["offer_id"]] not in offers:
            result.rejects.append(Reject(row[0], "offer_id", row[at["offer_id"]],
                                         f"unknown offer {row[at['offer_id']]} (import offers first)"))
        else:
            rows.append(row)
    rows, customers = customer_references(rows=rows, index=at["customer_id"], shop_id=shop_id, result=result,
                                          create=create_missing, ids=ids)
    latest: dict[str, Assignment] = {}
    for row in rows:
        key = row[at["assignment_id"]] or "auto-" + md5_uuid("|".join(
            (row[at["customer_id"]], row[at["offer_id"]], row[at["assigned_at"]])))
        latest[key] = Assignment(
            shop_id=shop_id, external_id=key, customer_id=customers[row[at["customer_id"]]],
            offer_id=offers[row[at["offer_id"]]], assigned_at=datetime.fromisoformat(row[at["assigned_at"]]),
            propensity=_propensity(row[at["propensity"]]), source=Assignment.Source.IMPORTED, channel="import")
    keys = list(latest)
    stored: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        stored.update(Assignment.objects.filter(shop_id=shop_id, external_id__in=keys[start:start + CHUNK])
                      .values_list("external_id", flat=True))
    new = [a for key, a in latest.items() if key not in stored]
    Assignment.objects.bulk_create(new, batch_size=2000)
    result.inserted = len(new)
    result.duplicates = len(rows) - len(new)
    return result
