"""What both writers share: the per-batch result and the category tree."""

from __future__ import annotations

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


def categories_ensure(*, shop_id: int, paths: set[str]) -> None:
    """Create the categories named by `paths` ("Home > Kitchen") and every ancestor, linked to its parent.

    Few distinct paths per batch, so the ORM is fine here."""
    wanted: set[str] = set()
    for path in paths:
        parts = path.split(" > ")
        wanted.update(" > ".join(parts[: i + 1]) for i in range(len(parts)))
    if not wanted:
        return
    known = dict(Category.objects.filter(shop_id=shop_id, path__in=wanted).values_list("path", "id"))
    for path in sorted(wanted - known.keys(), key=lambda p: p.count(" > ")):
        parent, _, name = path.rpartition(" > ")
        known[path] = Category.objects.create(shop_id=shop_id, path=path, name=name[:200],
                                              parent_id=known.get(parent) if parent else None).id
