"""Two shops full of data, users of every role, and helpers to walk every route of the project.

Shop "acme" is the caller's shop; shop "globex" is the other tenant. Every text of globex's records
carries MARK (and acme's ACME_MARK), so "did another shop's data leak into this response?" is a
substring search of the body."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiToken, Job, Shop
from behavior.models import Customer, Event, ImportJob, Order
from catalog.models import Product, ProductImage
from deliveries.models import Delivery, DeliveryAttempt, DeliveryRun
from forecasts.models import Alert, ForecastRun, ForecastValue
from predictions.models import CustomerScore, ModelVersion, ScoringRun, Segment, SegmentExport
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, scored_customers

PASSWORD = "correct-horse-battery"
MARK = "zqxglobex"  # in every text of the other shop's records
ACME_MARK = "zqxacme"  # in every text of the caller's shop's records
ROLES = ("marketer", "analyst", "admin")


@dataclass(frozen=True)
class ShopData:
    """The ids of one shop's records, by URL parameter name."""

    shop: Shop
    params: dict[str, object]


def _fill(shop: Shop, mark: str, tmp_path) -> ShopData:
    run = ScoringRunFactory(shop=shop, as_of=datetime(2026, 6, 30, tzinfo=UTC))
    specs = [{"external_id": f"{mark}-C{i}", "p": 0.9 - i * 0.2, "buy": 0.2, "spend": 100.0,
              "email": f"{mark}{i}@example.com", "name": f"{mark} name {i}", "reasons": [f"{mark} reason"]}
             for i in range(1, 4)]
    customers = scored_customers(shop, run, specs)
    first = customers[f"{mark}-C1"]
    Order.objects.create(shop=shop, customer=first, external_id=f"{mark}-O1", placed_at=run.as_of, total=10)
    Event.objects.create(shop=shop, customer=first, type="view", occurred_at=run.as_of,
                         idempotency_key=uuid.uuid4(), session_id=f"{mark}-S1")
    products = [Product.objects.create(shop=shop, external_id=f"{mark}-P{i}", title=f"{mark} product {i}")
                for i in range(1, 3)]
    version = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE)
    Recommendation.objects.create(shop=shop, version=version, customer=first, product=products[0], rank=1,
                                  score=1.0, source="popularity", reason=f"{mark} popular")
    segment = Segment.objects.create(shop=shop, name=f"{mark} segment", filters={})
    model = ModelVersion.objects.create(shop=shop, task="churn", algorithm="lgbm", horizon_days=90,
                                        as_of=run.as_of.date(), metrics={"roc_auc": 0.8},
                                        status=ModelVersion.Status.CANDIDATE)
    job = Job.objects.create(shop=shop, kind=Job.Kind.TRAIN, status=Job.Status.SUCCEEDED, message=f"{mark} job")
    report = tmp_path / f"{mark}-report.csv"
    report.write_text(f"line,column,value,reason\n2,customer_id,{mark},bad\n")
    imp = ImportJob.objects.create(shop=shop, kind="customers", source_name=f"{mark}.csv", status="succeeded",
                                   report_path=str(report), rejected=1)
    export_job = Job.objects.create(shop=shop, kind=Job.Kind.EXPORT, status=Job.Status.SUCCEEDED)
    export_file = tmp_path / f"{mark}-export.csv"
    export_file.write_text(f"customer_id\n{mark}-C1\n")
    export = SegmentExport.objects.create(shop=shop, segment=segment, job=export_job, rows=1,
                                          pseudonymised=True, file_path=str(export_file))
    # A stored picture of the first product, so that its picture route opens (and is checked for leaks).
    stored = default_storage.save(f"products/thumbs/{mark}.jpg", ContentFile(f"{mark} jpeg".encode()))
    ProductImage.objects.create(shop=shop, product=products[0], source=f"file:{mark}.jpg",
                                status=ProductImage.Status.STORED, path=stored, thumbnail=stored,
                                content_type="image/jpeg")
    forecast = ForecastRun.objects.create(shop=shop, cutoff=run.as_of.date(), horizon_days=91,
                                          status=ForecastRun.Status.DONE)
    ForecastValue.objects.create(run=forecast, level="country", key=f"{mark} land", measure="orders", freq="week",
                                 date=run.as_of.date(), model="naive", point=1.0)
    alert = Alert.objects.create(shop=shop, metric="orders", segment=f"{mark} shop", direction="down",
                                 start=run.as_of.date(), end=run.as_of.date(), expected=10, actual=0, score=5)
    delivery = Delivery.objects.create(shop=shop, segment=segment, kind=Delivery.Kind.WEBHOOK,
                                       url=f"https://{mark.lower()}.example/hook", secret=f"{mark} secret")
    DeliveryAttempt.objects.create(run=DeliveryRun.objects.create(shop=shop, delivery=delivery, export=export),
                                   error=f"{mark} delivery error")
    return ShopData(shop=shop, params={
        "delivery_id": delivery.pk, "export_id": export.pk, "external_id": first.external_id,
        "customer_id": first.external_id,
        "product_id": products[0].external_id,
        "segment_id": segment.pk, "import_id": imp.pk, "version_id": model.pk, "model_id": model.pk,
        "job_id": job.pk, "token": "0" * 32, "size": "thumb", "alert_id": alert.pk,
    })


@pytest.fixture
def world(db, tmp_path, settings):
    """acme (ours) and globex (the other tenant), both full; users of each role on acme, an outsider on globex."""
    settings.IMPORT_DIR = tmp_path / "imports"
    settings.MEDIA_ROOT = tmp_path / "media"
    acme = _fill(Shop.objects.create(slug="acme", name=f"Acme {ACME_MARK}"), ACME_MARK, tmp_path)
    globex = _fill(Shop.objects.create(slug="globex", name=f"Globex {MARK}"), MARK, tmp_path)
    users = {role: UserFactory(username=role, role=role, shops=[acme.shop]) for role in ROLES}
    users["outsider"] = UserFactory(username="outsider", role="admin", shops=[globex.shop])
    # As user_create_or_update makes them: the admin role opens Django's admin site.
    for user in (users["admin"], users["outsider"]):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return {"acme": acme, "globex": globex, "users": users}


# ---- routes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern of the project: its reversible name, parameter names and view module."""

    name: str
    params: tuple[str, ...]
    module: str
    route: str

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def is_analyst_page(self) -> bool:
        return self.module in ("behavior.views", "predictions.views_analyst")

    def url(self, values: dict[str, object]) -> str:
        return reverse(self.name, kwargs={p: values[p] for p in self.params})


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern) and p.name:
            converters = getattr(p.pattern, "converters", {})
            yield Route(name=namespace + p.name, params=tuple(converters), module=p.callback.__module__,
                        route=prefix + str(p.pattern))


def all_routes(*, include_admin: bool = False) -> list[Route]:
    """Every named route of the project (Django's admin site left out unless asked for)."""
    routes = list(_walk(get_resolver().url_patterns))
    if not include_admin:
        routes = [r for r in routes if not r.route.startswith("admin/")]
    return routes


# ---- state snapshot ----------------------------------------------------------------------------------

# AuditLog and SegmentExport are left out on purpose: downloading an export must be recorded (design:
# "every export is written to the audit log"); that record is the one write a GET may make.
SNAPSHOT_MODELS = (Shop, Job, ApiToken, Customer, Order, Event, ImportJob, Product, Segment, ModelVersion,
                   ScoringRun, CustomerScore, RecommenderVersion, Recommendation)


def snapshot() -> dict[str, object]:
    """Row counts of the main tables plus the fields a state change would touch."""
    from django.contrib.auth.models import User

    state: dict[str, object] = {m.__name__: m.objects.count() for m in SNAPSHOT_MODELS}
    state["segments"] = sorted(Segment.objects.values_list("pk", "name"))
    state["models"] = sorted(ModelVersion.objects.values_list("pk", "status"))
    state["tokens"] = sorted(ApiToken.objects.values_list("pk", "revoked_at"))
    state["users"] = sorted(User.objects.values_list("pk", "is_active", "is_staff", "is_superuser", "password"))
    return state


