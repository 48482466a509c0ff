"""Reads of the interest profile (predictions.models.CustomerInterest): one customer's top categories and brands in
a scoring run, for the customer page and the API."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Shop
from behavior.models import Customer

from ..models import CustomerInterest, ScoringRun
from .at_risk import scoring_run_current

TOP_INTERESTS = 5  # per kind, on the customer page and in the API


@dataclass(frozen=True)
class CategoryInterest:
    category_id: int
    path: str
    share: float  # 0 to 1: of what they bought and viewed (time-decayed), the part in this category or below it


@dataclass(frozen=True)
class BrandInterest:
    brand: str
    share: float  # 0 to 1: of what they bought and viewed with a brand (time-decayed), the part of this brand


@dataclass(frozen=True)
class InterestProfile:
    categories: tuple[CategoryInterest, ...] = ()
    brands: tuple[BrandInterest, ...] = ()
    run: ScoringRun | None = None  # the scoring run the profile was computed in

    @property
    def is_empty(self) -> bool:
        return not self.categories and not self.brands


def customer_interests(*, run: ScoringRun | None, customer_id: int, top: int = TOP_INTERESTS) -> InterestProfile:
    """The customer's strongest category and brand interests in `run` (one query; empty without a run, for a
    customer with no purchase lines or product events, and in shops whose products have no category or brand).
    Categories by share, then deeper ones first ("Home > Kitchen" before "Home" when they tie)."""
    if run is None:
        return InterestProfile()
    rows = list(CustomerInterest.objects.filter(scoring_run_id=run.pk, customer_id=customer_id)
                .values_list("kind", "category_id", "category__path", "brand", "share"))
    categories = sorted((CategoryInterest(category_id=c, path=path or "", share=share)
                         for kind, c, path, _, share in rows if kind == CustomerInterest.Kind.CATEGORY),
                        key=lambda i: (-i.share, -i.path.count(" > "), i.path))
    brands = sorted((BrandInterest(brand=brand, share=share)
                     for kind, _, _, brand, share in rows if kind == CustomerInterest.Kind.BRAND),
                    key=lambda i: (-i.share, i.brand))
    return InterestProfile(categories=tuple(categories[:top]), brands=tuple(brands[:top]), run=run)


def customer_interests_current(*, shop: Shop, external_id: str) -> InterestProfile | None:
    """The interest profile of the shop's customer `external_id` in its current scoring run (None for a customer
    the shop does not have): what the API shows."""
    customer_id = Customer.objects.filter(shop=shop, external_id=external_id).values_list("pk", flat=True).first()
    if customer_id is None:
        return None
    return customer_interests(run=scoring_run_current(shop=shop), customer_id=customer_id)
