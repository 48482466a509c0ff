"""Erasure and access requests: everything stored about one customer, removed or handed over.

`customer_erase` deletes a customer's personal data and behaviour everywhere — the customer row (email,
name, consent, attributes), orders and their lines, events, scores (with the personal columns copied
onto them), recommendations — takes their ids out of recorded segment exports and rewrites the kept export
files without their rows, and the kept import files (uploads, rejected-rows reports) without the rows naming
them (behavior.ingest.erasure). Only an audit row stays: who, when, and a keyed hash of the id (never the id).
Idempotent: erasing again finds nothing in the database and says so (kept files are still searched). Trained
models keep no per-customer rows (LightGBM and the LSTM store weights and the feature list only), so nothing is
left there.

`customer_data_export` gathers every stored fact about one customer, machine-readable (the access request)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q

from accounts.models import AuditLog, Shop
from accounts.selectors import customer_id_hash as id_hash
from behavior.models import Customer, Event, Order, OrderLine, Review
from behavior.services import import_files_scrub
from ecomsight.csvsafe import neutralise
from ecomsight.errors import UserError
from forecasts.models import CustomerFlag
from offers.models import Assignment
from predictions.models import CustomerInterest, CustomerScore, SegmentExport
from predictions.services.at_risk_pages import at_risk_pages_forget
from predictions.services.export_presets import FileFormat, file_format
from predictions.services.scoring import run_figures_refresh
from recommendations.models import Recommendation

MAX_IDS = 10_000


def customer_id_hash(*, shop: Shop, external_id: str) -> str:
    """What the audit log keeps of an erased customer (accounts.selectors.customer_id_hash)."""
    return id_hash(shop_id=shop.pk, external_id=external_id)


@dataclass(frozen=True)
class ErasureResult:
    """What erasing one customer id removed (all zero, `found` False, when there was nothing left)."""

    id_hash: str
    found: bool
    orders: int = 0
    order_lines: int = 0
    events: int = 0
    scores: int = 0
    interests: int = 0  # interest-profile rows (category and brand shares)
    recommendations: int = 0
    export_files_rewritten: int = 0
    import_files_rewritten: int = 0  # uploads and rejected-rows reports still kept that named them


def _clean_ids(external_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(str(i).strip() for i in external_ids if str(i).strip()))
    if not ids:
        raise UserError("Name at least one customer id.", field="ids")
    if len(ids) > MAX_IDS:
        raise UserError(f"At most {MAX_IDS:,} customers per request.", field="ids")
    if any("\x00" in i or len(i) > 100 for i in ids):
        raise UserError("A customer id has at most 100 characters and no NUL.", field="ids")
    return ids


@transaction.atomic
def customer_erase(*, shop: Shop, external_ids: Iterable[str],
                   actor: AbstractBaseUser | None = None) -> list[ErasureResult]:
    """Erase the customers `external_ids` of `shop` everywhere (see the module docstring); one audit row
    ("customer.erase") per id, with its hash and the counts. Set-based: one DELETE per table for all ids."""
    ids = _clean_ids(external_ids)
    # Locked first (FOR UPDATE, in id order): a scoring chunk or re-scoring holding these customers (FOR KEY SHARE,
    # predictions.services.scoring.customers_still_there) commits before this goes on, so the DELETEs below see the
    # rows it wrote; without it the scores' foreign key failed this erasure at commit (fourth replay of issue 16).
    found_rows = list(Customer.objects.select_for_update().filter(shop=shop, external_id__in=ids).order_by("pk")
                      .values_list("external_id", "pk", "email"))
    customers = {external_id: pk for external_id, pk, _ in found_rows}
    emails = {external_id: email for external_id, _, email in found_rows}
    pks = list(customers.values())
    counts: dict[int, dict[str, int]] = {pk: {} for pk in pks}

    def count_by(queryset, key: str, field: str = "customer_id") -> None:
        for customer_id, n in _grouped(queryset, field):
            counts[customer_id][key] = n

    if pks:
        count_by(OrderLine.objects.filter(order__customer_id__in=pks), "order_lines", "order__customer_id")
        count_by(Order.objects.filter(customer_id__in=pks), "orders")
        count_by(Event.objects.filter(shop=shop, customer_id__in=pks), "events")
        count_by(CustomerScore.objects.filter(customer_id__in=pks), "scores")
        count_by(CustomerInterest.objects.filter(customer_id__in=pks), "interests")
        count_by(Recommendation.objects.filter(shop=shop, customer_id__in=pks), "recommendations")
        # Children first, one DELETE per table for every id (Django deletes these without loading the rows:
        # nothing refers to them), so the customer's own delete has no events left to collect one by one.
        OrderLine.objects.filter(order__customer_id__in=pks).delete()
        Event.objects.filter(shop=shop, customer_id__in=pks).delete()
        Recommendation.objects.filter(shop=shop, customer_id__in=pks).delete()
        CustomerScore.objects.filter(customer_id__in=pks).delete()
        CustomerInterest.objects.filter(customer_id__in=pks).delete()
        Order.objects.filter(customer_id__in=pks).delete()
        Customer.objects.filter(pk__in=pks).delete()
        at_risk_pages_forget(shop_id=shop.pk)  # a page the API keeps must never show an erased customer
        # The dashboard's figures count the current run's scores: again once the erasure commits (no customer
        # locked then: a re-scoring holds the run's lock while it waits for customers).
        transaction.on_commit(functools.partial(run_figures_refresh, shop=shop), robust=True)
    # Files: every id asked for, found or not: an id erased before a file was scrubbed may still be in one.
    rewritten = _exports_scrub(shop=shop, customers=customers, external_ids=ids)
    import_files = import_files_scrub(shop_id=shop.pk, customers={i: emails.get(i, "") for i in ids})

    results = []
    for external_id in ids:
        pk = customers.get(external_id)
        found = pk is not None
        c = counts.get(pk, {}) if found else {}
        result = ErasureResult(id_hash=customer_id_hash(shop=shop, external_id=external_id), found=found,
                               orders=c.get("orders", 0), order_lines=c.get("order_lines", 0),
                               events=c.get("events", 0), scores=c.get("scores", 0),
                               interests=c.get("interests", 0), recommendations=c.get("recommendations", 0),
                               export_files_rewritten=rewritten.get(external_id, 0),
                               import_files_rewritten=import_files.get(external_id, 0))
        details = asdict(result)
        details.pop("id_hash")
        AuditLog.objects.create(shop=shop, user=actor if actor is not None and actor.pk else None,
                                action="customer.erase", target=result.id_hash, details=details)
        results.append(result)
    return results


def _grouped(queryset, field: str) -> list[tuple[int, int]]:
    return list(queryset.values(field).annotate(n=Count("pk")).values_list(field, "n"))


def _exports_scrub(*, shop: Shop, customers: dict[str, int], external_ids: Iterable[str]) -> dict[str, int]:
    """Take the erased customers (external id -> pk) out of recorded exports (their id lists), and every id in
    `external_ids` out of kept export files (rows whose customer_id, the first column, is theirs; pseudonymised
    files too). Returns, per external id, how many files were rewritten without them."""
    pks, external_ids = set(customers.values()), set(external_ids)
    rewritten: dict[str, int] = {}
    for export in SegmentExport.objects.filter(shop=shop):
        targeted = [i for i in export.targeted_customer_ids if i not in pks]
        control = [i for i in export.control_customer_ids if i not in pks]
        changed = (len(targeted), len(control)) != (len(export.targeted_customer_ids),
                                                    len(export.control_customer_ids))
        removed_rows, named = 0, set()
        if export.file_path and os.path.isfile(export.file_path):
            removed_rows, named = _file_scrub(export.file_path, external_ids, file_format(export.preset))
        for external_id in named:
            rewritten[external_id] = rewritten.get(external_id, 0) + 1
        if changed or removed_rows:
            export.targeted_customer_ids, export.control_customer_ids = targeted, control
            export.rows = max(0, export.rows - removed_rows)
            export.save(update_fields=["targeted_customer_ids", "control_customer_ids", "rows"])
    return rewritten


def _file_scrub(path: str, external_ids: set[str], fmt: FileFormat) -> tuple[int, set[str]]:
    """Rewrite the export file at `path`, written in `fmt` (its preset's encoding and delimiter), without the
    rows whose first column is in `external_ids` (atomically: a temporary file renamed over it, in the same
    format). Returns (rows removed, the ids found). The cell is compared as the export wrote it: an id starting
    with = + - @ is written with a leading quote (csvsafe.neutralise)."""
    rows = fmt.rows_read(path)
    if not rows:
        return 0, set()
    written = {neutralise(external_id): external_id for external_id in external_ids}
    kept = [rows[0]] + [row for row in rows[1:] if not row or row[0] not in written]
    named = {written[row[0]] for row in rows[1:] if row and row[0] in written}
    if not named:
        return 0, set()
    fmt.rows_replace(path, kept)
    return len(rows) - len(kept), named


# ---- access requests ------------------------------------------------------------------------------------


def customer_data_export(*, shop: Shop, external_id: str) -> dict:
    """Every stored fact about one customer of `shop`, JSON-ready: profile (with email, name and consent),
    orders with their lines, events, reviews, scores, interest profile, recommendations, offers assigned, flags and
    the recorded exports that targeted them.
    Raises UserError (code not_found) for an unknown customer."""
    customer = Customer.objects.filter(shop=shop, external_id=external_id).first() \
        if "\x00" not in external_id else None
    if customer is None:
        raise CustomerNotFound(f"No customer '{external_id[:100]}' in shop '{shop.slug}'.", field="id")
    orders = list(Order.objects.filter(customer=customer).order_by("placed_at", "pk").values(
        "pk", "external_id", "placed_at", "total", "currency", "status", "item_count"))
    lines: dict[int, list] = {}
    for line in OrderLine.objects.filter(order__customer=customer).values(
            "order_id", "product__external_id", "quantity", "unit_price"):
        lines.setdefault(line.pop("order_id"), []).append(
            {"product_id": line["product__external_id"], "quantity": line["quantity"],
             "unit_price": line["unit_price"]})
    events = list(Event.objects.filter(shop=shop, customer=customer).order_by("occurred_at", "pk").values(
        "type", "product__external_id", "occurred_at", "session_id", "properties"))
    scores = list(CustomerScore.objects.filter(customer=customer).order_by("scored_at", "pk").values(
        "task", "probability", "risk_band", "decile", "reasons", "expected_orders", "p_alive", "spend_12m",
        "revenue_at_risk", "scored_at", "scoring_run_id"))
    interests = list(CustomerInterest.objects.filter(customer=customer).order_by("scoring_run_id", "kind", "-share")
                     .values("scoring_run_id", "kind", "category__path", "brand", "share"))
    # Every build's rows: a build being written holds its own rows beside the active one's until it activates.
    recommendations = list(Recommendation.objects.filter(shop=shop, customer=customer)
                           .order_by("version_id", "rank").values(
                               "version_id", "product__external_id", "rank", "score", "source", "reason"))
    reviews = list(Review.objects.filter(shop=shop, customer=customer).order_by("created_at", "pk").values(
        "external_id", "product__external_id", "rating", "title", "text", "created_at", "language", "sentiment",
        "aspects"))
    assignments = list(Assignment.objects.filter(shop=shop, customer=customer).order_by("assigned_at", "pk").values(
        "external_id", "offer__external_id", "assigned_at", "propensity", "context", "is_control", "channel"))
    flags = list(CustomerFlag.objects.filter(shop=shop, customer=customer).values("kind", "reason", "created_at"))
    exports = list(SegmentExport.objects.filter(shop=shop).filter(
        Q(targeted_customer_ids__contains=[customer.pk]) | Q(control_customer_ids__contains=[customer.pk]))
        .values("pk", "created_at", "control_customer_ids"))
    return {
        "shop": shop.slug,
        "customer": {
            "id": customer.external_id, "email": customer.email, "name": customer.name,
            "country": customer.country, "signup_at": customer.signup_at,
            "marketing_consent": customer.marketing_consent, "attributes": customer.attributes,
            "is_stub": customer.is_stub, "created_at": customer.created_at,
        },
        "orders": [{"id": o["external_id"], "placed_at": o["placed_at"], "total": o["total"],
                    "currency": o["currency"], "status": o["status"], "item_count": o["item_count"],
                    "lines": lines.get(o["pk"], [])} for o in orders],
        "events": [{"type": e["type"], "product_id": e["product__external_id"], "occurred_at": e["occurred_at"],
                    "session_id": e["session_id"], "properties": e["properties"]} for e in events],
        "reviews": [{"id": r.pop("external_id"), "product_id": r.pop("product__external_id"), **r} for r in reviews],
        "offer_assignments": [{"id": a.pop("external_id"), "offer_id": a.pop("offer__external_id"), **a}
                              for a in assignments],
        "flags": flags,
        "scores": scores,
        "interests": [{"scoring_run_id": i["scoring_run_id"], "kind": i["kind"], "category": i["category__path"],
                       "brand": i["brand"], "share": i["share"]} for i in interests],
        "recommendations": [{"recommender_version": r["version_id"], "product_id": r["product__external_id"],
                             "rank": r["rank"], "score": r["score"], "source": r["source"], "reason": r["reason"]}
                            for r in recommendations],
        "segment_exports": [{"export_id": x["pk"], "created_at": x["created_at"],
                             "held_back_as_control": customer.pk in x["control_customer_ids"]} for x in exports],
    }


class CustomerNotFound(UserError):
    code = "not_found"
