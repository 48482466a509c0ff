"""What the writers share (the COPY writer and other apps' kind writers): the per-batch result, the id cache and
the category tree."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from catalog.models import Category

from .formats import Reject


@dataclass
class BatchResult:
    """What one batch did to the database (rejects: rows the writer refused, e.g. unknown ids)."""

    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    rejects: list[Reject] = field(default_factory=list)
    stubs: int = 0
    stub_customers: int = 0  # of `stubs`: customers, then products (the import's page says each)
    stub_products: int = 0
    # The first STUB_IDS_KEPT ids of each ("customers", "products"), sorted: the import's page names them (a typo
    # id C00001 made "1 stand-in" that nobody could find).
    stub_ids: dict[str, list[str]] = field(default_factory=dict)
    # Customers whose orders or events this batch stored or changed (sent as behavior.signals.customers_changed).
    customers_changed: set[int] = field(default_factory=set)
    # Orders: the batch's rows written as guest checkouts (behavior.models.GUEST_CUSTOMER_ID), rejected ones not.
    guests: int = 0


# How many stand-in ids of each kind an import keeps to name on its page.
STUB_IDS_KEPT = 3


def stubs_count(result: BatchResult, *, table: str, created: list[str]) -> None:
    """Count stand-ins just created in `table` (behavior_customer or catalog_product), by their ids, on `result`."""
    result.stubs += len(created)
    what = "customers" if table == "behavior_customer" else "products"
    if what == "customers":
        result.stub_customers += len(created)
    else:
        result.stub_products += len(created)
    if created:
        result.stub_ids[what] = stub_ids_merged(result.stub_ids.get(what, []), created)


def stub_ids_merged(kept: list[str], created) -> list[str]:
    """The first STUB_IDS_KEPT of `kept` and `created` together, sorted (without repeats)."""
    return sorted(set(kept) | set(heapq.nsmallest(STUB_IDS_KEPT, created)))[:STUB_IDS_KEPT]


def categories_ensure(*, shop_id: int, paths: set[str]) -> None:
    """Create the categories named by `paths` ("Home > Kitchen") and every ancestor, linked to its parent.

    Level by level (parents first): INSERT ... ON CONFLICT DO NOTHING, then the level's ids read back, so
    two imports creating the same new categories at once both succeed (before, one lost its batch to an
    IntegrityError). Few distinct paths per batch, so the ORM is fine here."""
    wanted: set[str] = set()
    for path in paths:
        parts = path.split(" > ")
        wanted.update(" > ".join(parts[: i + 1]) for i in range(len(parts)))
    if not wanted:
        return
    known = dict(Category.objects.filter(shop_id=shop_id, path__in=wanted).values_list("path", "id"))
    missing = wanted - known.keys()
    for depth in sorted({p.count(" > ") for p in missing}):
        level = sorted(p for p in missing if p.count(" > ") == depth)
        rows = []
        for path in level:
            parent, _, name = path.rpartition(" > ")
            rows.append(Category(shop_id=shop_id, path=path, name=name[:200],
                                 parent_id=known.get(parent) if parent else None))
        Category.objects.bulk_create(rows, ignore_conflicts=True)
        known.update(Category.objects.filter(shop_id=shop_id, path__in=level).values_list("path", "id"))


class IdCache:
    """external_id → id maps of one shop's customers and products, kept across the batches of one import.

    Ids learned in a batch stay *pending* until the caller says that batch committed (`commit`); a batch
    that rolled back (a failure, a dry run) throws them away with `rollback`, because stand-ins created
    in it no longer exist. Bounded: a map past `limit` entries starts over (a lookup is only a query)."""

    def __init__(self, *, limit: int = 2_000_000):
        self.limit = limit
        self._known: dict[str, dict[str, int]] = {}
        self._pending: dict[str, dict[str, int]] = {}

    def get(self, table: str) -> dict[str, int]:
        """The committed map for `table` (read-only for callers)."""
        return self._known.setdefault(table, {})

    def lookup(self, table: str, key: str) -> int | None:
        """The id of `key`, committed or learned in the current batch."""
        found = self._known.get(table, {}).get(key)
        return found if found is not None else self._pending.get(table, {}).get(key)

    def learn(self, table: str, found: dict[str, int]) -> None:
        """Remember ids read or created in the current batch (kept only if the batch commits)."""
        self._pending.setdefault(table, {}).update(found)

    def commit(self) -> None:
        """The current batch committed: its ids are now safe to reuse."""
        for table, found in self._pending.items():
            known = self._known.setdefault(table, {})
            if len(known) + len(found) > self.limit:
                known.clear()
            known.update(found)
        self._pending.clear()

    def rollback(self) -> None:
        """The current batch rolled back: forget what it learned, and (to be safe) everything else too."""
        self._pending.clear()
        self._known.clear()
