import csv
import io

import pytest

from accounts.models import AuditLog
from predictions.filters import AtRiskFilter
from predictions.models import Segment, SegmentExport
from predictions.services.exports import csv_lines, export_rows, neutralise, pseudonym
from predictions.services.segments import (
    SegmentNameTaken,
    export_create,
    segment_create,
    segment_delete,
    segment_rename,
)
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ProductFactory, ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db

EVIL = "=cmd|' /C calc'!A0"


@pytest.fixture
def data(shop, other_shop):
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [
        {"external_id": EVIL, "p": 0.9, "buy": 0.2, "spend": 200, "name": "+Evil", "reasons": ["-1 orders", "@home"]},
        {"external_id": "B", "p": 0.7, "buy": 0.5, "spend": 100},
        {"external_id": "C", "p": 0.1, "buy": 0.9, "spend": 100},
    ])
    other_run = ScoringRunFactory(shop=other_shop)
    scored_customers(other_shop, other_run, [{"external_id": "OTHER", "p": 0.99, "spend": 5000}])
    version = RecommenderVersion.objects.create(shop=shop, status="active")
    products = [ProductFactory(shop=shop, title=t) for t in ("Kettle", "=HYPERLINK(1)", "Mug", "Plate")]
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer=cs["B"], product=p, rank=i + 1, score=1, source="x",
                       reason="r")
        for i, p in enumerate(products)
    ])
    segment = SegmentFactory(shop=shop, filters={"churn_min": 50})
    return {"segment": segment, "customers": cs}


def rows_of(plan):
    text = "".join(csv_lines(export_rows(plan=plan)))
    return list(csv.DictReader(io.StringIO(text)))


def test_export_rows_are_exactly_the_segments_members_in_order(shop, data):
    admin = UserFactory(role="admin", shops=[shop])
    rows = rows_of(export_create(shop=shop, segment=data["segment"], user=admin))
    assert [r["customer_id"] for r in rows] == ["'" + EVIL, "B"]
    assert rows[1]["churn_probability"] == "0.7" and rows[1]["purchase_probability"] == "0.5"
    assert rows[1]["revenue_at_risk"] == "70.0"
    assert [rows[1]["rec_1"], rows[1]["rec_2"], rows[1]["rec_3"]] == ["Kettle", "'=HYPERLINK(1)", "Mug"]


def test_formula_injection_is_neutralised_in_every_text_cell(shop, data):
    admin = UserFactory(role="admin", shops=[shop])
    rows = rows_of(export_create(shop=shop, segment=data["segment"], user=admin))
    live = [v for r in rows for v in r.values() if v and v[0] in "=+-@\t\r"]
    assert live == []
    assert rows[0]["name"] == "'+Evil"
    assert rows[0]["reasons"] == "'-1 orders; @home"


def test_neutralise_leaves_numbers_numbers():
    assert neutralise(-3.5) == -3.5
    assert neutralise("-3") == "'-3"
    assert neutralise("\tx") == "'\tx"
    assert neutralise("fine") == "fine"


def test_marketer_without_personal_data_permission_gets_pseudonyms_only(shop, data):
    marketer = UserFactory(role="marketer", shops=[shop])
    plan = export_create(shop=shop, segment=data["segment"], user=marketer, pseudonymise=False)
    rows = rows_of(plan)
    assert plan.pseudonymised and plan.export.pseudonymised
    assert rows[1]["pseudonym"] == pseudonym(shop_id=shop.pk, email="B@example.com")
    assert rows[1]["pseudonym"].startswith("anon-")
    # No column a campaign tool would map to an email (Klaviyo takes `email` as the address), and no name.
    assert "email" not in rows[1] and "name" not in rows[1]
    assert all("@example.com" not in v for r in rows for v in r.values())


def test_admin_sees_email_unless_they_ask_for_pseudonyms(shop, data):
    admin = UserFactory(role="admin", shops=[shop])
    assert rows_of(export_create(shop=shop, segment=data["segment"], user=admin))[1]["email"] == "B@example.com"
    rows = rows_of(export_create(shop=shop, segment=data["segment"], user=admin, pseudonymise=True))
    assert rows[1]["pseudonym"].startswith("anon-") and "email" not in rows[1]


def test_pseudonym_is_stable_and_differs_between_shops():
    assert pseudonym(shop_id=1, email="A@x.org") == pseudonym(shop_id=1, email="a@x.org ")
    assert pseudonym(shop_id=1, email="a@x.org") != pseudonym(shop_id=2, email="a@x.org")
    assert pseudonym(shop_id=1, email="") == ""


def test_export_writes_segment_export_and_audit_log(shop, data):
    marketer = UserFactory(role="marketer", shops=[shop])
    plan = export_create(shop=shop, segment=data["segment"], user=marketer)
    export = SegmentExport.objects.get()
    assert export.rows == 2 and export.created_by == marketer and export.segment == data["segment"]
    log = AuditLog.objects.get(action="segment.export")
    assert log.target == data["segment"].name and log.user == marketer and log.shop == shop
    assert log.details["rows"] == 2 and log.details["user"] == marketer.username
    assert plan.export == export


def test_control_group_is_held_out_of_the_file_and_recorded(shop):
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": f"K{i:02d}", "p": 0.5} for i in range(40)])
    segment = SegmentFactory(shop=shop, filters={})
    plan = export_create(shop=shop, segment=segment, user=UserFactory(role="marketer", shops=[shop]),
                         control_pct=25)
    rows = rows_of(plan)
    control = set(plan.export.control_customer_ids)
    assert len(control) == 10 and len(rows) == 30 == plan.export.rows
    written = {r["customer_id"] for r in rows}
    from behavior.models import Customer
    control_ext = set(Customer.objects.filter(pk__in=control).values_list("external_id", flat=True))
    assert not written & control_ext
    assert set(plan.export.targeted_customer_ids).isdisjoint(control)


def test_the_control_group_is_the_same_on_every_export_of_a_segment(shop):
    """An outside review: downloading a segment twice held back other customers each time, so 109 of the first
    file's 136 held back were in the second file, and the campaign reached its own control group."""
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": f"K{i:03d}", "p": i / 200} for i in range(200)])
    segment = SegmentFactory(shop=shop, filters={})
    marketer = UserFactory(role="marketer", shops=[shop])
    first, second = (set(export_create(shop=shop, segment=segment, user=marketer, control_pct=20)
                         .export.control_customer_ids) for _ in range(2))
    assert len(first) == 40 and first == second
    smaller = set(export_create(shop=shop, segment=segment, user=marketer, control_pct=10).export.control_customer_ids)
    assert len(smaller) == 20 and smaller < first
    other = set(export_create(shop=shop, segment=SegmentFactory(shop=shop, filters={}), user=marketer,
                              control_pct=20).export.control_customer_ids)
    assert len(other) == 40 and len(other & first) < 25  # another segment draws its own


def test_another_shops_customers_never_reach_the_file(shop, data):
    rows = rows_of(export_create(shop=shop, segment=SegmentFactory(shop=shop, filters={}),
                                 user=UserFactory(role="admin", shops=[shop])))
    assert "OTHER" not in {r["customer_id"] for r in rows}
    assert len(rows) == 3


def test_segment_names_are_unique_per_shop_case_insensitively(shop, other_shop):
    segment_create(shop=shop, user=None, name="Win back", flt=AtRiskFilter(bands=("high",)))
    with pytest.raises(SegmentNameTaken):
        segment_create(shop=shop, user=None, name="  win   BACK ", flt=AtRiskFilter())
    segment_create(shop=other_shop, user=None, name="Win back", flt=AtRiskFilter())
    assert Segment.objects.get(shop=shop).filters == {"bands": ["high"]}


def test_rename_refuses_a_taken_name_and_delete_is_audited(shop):
    a = segment_create(shop=shop, user=None, name="A", flt=AtRiskFilter())
    segment_create(shop=shop, user=None, name="B", flt=AtRiskFilter())
    with pytest.raises(SegmentNameTaken):
        segment_rename(shop=shop, segment=a, user=None, name="b")
    segment_rename(shop=shop, segment=a, user=None, name="A2")
    assert Segment.objects.get(pk=a.pk).name == "A2"
    segment_delete(shop=shop, segment=a, user=None)
    assert not Segment.objects.filter(pk=a.pk).exists()
    assert AuditLog.objects.filter(action="segment.delete", target="A2").exists()


# ---- large exports: written to a file by a background job ---------------------------------------


@pytest.fixture
def big(shop, settings, tmp_path):
    """A segment of 25 customers (one with formula-like text) and a streaming threshold of 10 rows."""
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.EXPORT_STREAM_MAX_ROWS = 10
    run = ScoringRunFactory(shop=shop)
    specs = [{"external_id": f"K{i:02d}", "p": round(0.9 - i / 50, 2), "buy": 0.3} for i in range(24)]
    specs.append({"external_id": "=1+1", "p": 0.05, "name": "@SUM(A1)", "reasons": ["-cmd"]})
    scored_customers(shop, run, specs)
    return SegmentFactory(shop=shop, name="Everyone", filters={})


def file_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_large_export_file_has_exactly_the_rows_the_stream_would_have(shop, big, django_capture_on_commit_callbacks):
    from django.conf import settings

    admin = UserFactory(role="admin", shops=[shop])
    with django_capture_on_commit_callbacks(execute=True):
        plan = export_create(shop=shop, segment=big, user=admin, stream_max_rows=settings.EXPORT_STREAM_MAX_ROWS)
    assert plan.job is not None and plan.job.kind == "export"
    export = SegmentExport.objects.get(pk=plan.export.pk)
    streamed = rows_of(export_create(shop=shop, segment=big, user=admin))
    written = file_rows(export.file_path)
    assert written == streamed and len(written) == 25 == export.rows
    assert export.file_path == str(settings.EXPORT_DIR / shop.slug / f"{export.pk}.csv")
    plan.job.refresh_from_db()
    assert plan.job.status == "succeeded" and plan.job.result["file_path"] == export.file_path
    assert plan.job.progress_done == plan.job.progress_total == 25  # the bar ends full, not at the last chunk
    assert AuditLog.objects.filter(action="segment.export", details__background=True).count() == 1


def test_large_export_file_neutralises_formulas_and_pseudonymises_like_the_stream(
        shop, big, django_capture_on_commit_callbacks):
    marketer = UserFactory(role="marketer", shops=[shop])
    with django_capture_on_commit_callbacks(execute=True):
        plan = export_create(shop=shop, segment=big, user=marketer, stream_max_rows=10)
    rows = file_rows(SegmentExport.objects.get(pk=plan.export.pk).file_path)
    evil = next(r for r in rows if r["customer_id"] == "'=1+1")
    assert evil["reasons"] == "'-cmd" and "name" not in evil  # pseudonymised: no name at all
    assert [v for r in rows for v in r.values() if v and v[0] in "=+-@\t\r"] == []
    assert all(r["pseudonym"].startswith("anon-") for r in rows)


def test_large_export_progress_is_reported_chunk_by_chunk(shop, big, monkeypatch, django_capture_on_commit_callbacks):
    from accounts import jobs
    from predictions.services import exports

    monkeypatch.setattr(exports, "CHUNK", 10)
    seen = []
    real = jobs.job_progress
    monkeypatch.setattr(exports, "job_progress", lambda **kw: (seen.append(kw.get("done")), real(**kw)))
    with django_capture_on_commit_callbacks(execute=True):
        export_create(shop=shop, segment=big, user=UserFactory(role="marketer", shops=[shop]), stream_max_rows=10)
    assert seen == [0, 10, 20, 25]


def test_large_export_writes_the_members_recorded_at_export_time_not_later_ones(
        shop, big, django_capture_on_commit_callbacks):
    from predictions.tasks import segment_export_task

    with django_capture_on_commit_callbacks(execute=False):  # the worker has not picked it up yet
        plan = export_create(shop=shop, segment=big, user=UserFactory(role="marketer", shops=[shop]),
                             control_pct=20, stream_max_rows=10)
    targeted = list(plan.export.targeted_customer_ids)
    big.filters = {"churn_min": 80}  # the segment is edited before the worker runs
    big.save()
    segment_export_task(plan.export.pk, plan.job.pk)
    export = SegmentExport.objects.get(pk=plan.export.pk)
    from behavior.models import Customer

    expected = list(Customer.objects.filter(pk__in=targeted).values_list("external_id", flat=True))
    written = [r["customer_id"] for r in file_rows(export.file_path)]
    assert sorted(written) == sorted(neutralise(e) for e in expected) and len(written) == 20
    assert not set(export.control_customer_ids) & set(targeted) and len(export.control_customer_ids) == 5


def test_small_export_streams_without_a_job(shop, big, django_capture_on_commit_callbacks):
    from accounts.models import Job

    marketer = UserFactory(role="marketer", shops=[shop])
    with django_capture_on_commit_callbacks(execute=True):
        plan = export_create(shop=shop, segment=big, user=marketer, stream_max_rows=25)
    assert plan.job is None and not Job.objects.exists()
    assert plan.export.targeted_customer_ids == [] and plan.export.file_path == ""


def test_export_task_goes_to_the_default_queue_not_the_ml_queue():
    from ecomsight.celery import app
    from predictions.tasks import segment_export_task

    options = app.amqp.router.route(segment_export_task._get_exec_options(), segment_export_task.name)
    assert options["queue"].name == "default"


def test_a_shop_that_requires_opt_in_leaves_unknown_consent_out_of_every_campaign(shop, client):
    """An outside review: 2,994 of 3,000 customers had no consent column, and all of them were exported as if they
    had opted in; the segment page spoke only of the 4 who refused."""
    from behavior.models import Customer
    from predictions.selectors.segments import consent_refused_ids, segment_detail, segment_member_ids

    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [{"external_id": f"K{i}", "p": 0.5} for i in range(4)])
    Customer.objects.filter(pk=cs["K0"].pk).update(marketing_consent=True)
    Customer.objects.filter(pk=cs["K1"].pk).update(marketing_consent=False)
    segment = SegmentFactory(shop=shop, filters={})
    built_on = SegmentFactory(shop=shop, filters={"segment": segment.pk})
    admin = UserFactory(role="admin", shops=[shop])
    client.force_login(admin)
    assert len(segment_member_ids(shop=shop, segment=segment)) == 3  # unknown consent kept by default
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "2 of the members have no recorded marketing consent. They are included" in page
    # Where to turn it on, in words a shop admin knows, linked (a browser review read "Django admin → Shops").
    assert "Django admin" not in page
    assert f'<a href="/admin/accounts/shop/{shop.pk}/change/">the shop\'s settings</a>' in page
    assert client.get(f"/admin/accounts/shop/{shop.pk}/change/").status_code == 200  # a shop admin may open it
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "the shop's settings (one of the shop's admins can)" in page and "/admin/" not in page
    client.force_login(admin)
    shop.marketing_consent_required = True
    shop.save()
    for s in (segment, built_on):
        assert segment_member_ids(shop=shop, segment=s) == [cs["K0"].pk]
    rows = rows_of(export_create(shop=shop, segment=segment, user=admin))
    assert [r["customer_id"] for r in rows] == ["K0"]
    assert consent_refused_ids(shop=shop, customer_ids=[c.pk for c in cs.values()]) == {
        cs["K1"].pk, cs["K2"].pk, cs["K3"].pk}  # what a delivery's batch checks again when it is sent
    assert segment_detail(shop=shop, segment_id=segment.pk).left_out_no_consent == 3
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "3 customers matching this filter are left out: they did not opt in to marketing" in page
