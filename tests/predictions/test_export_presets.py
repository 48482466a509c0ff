"""Issue 18 §2: exports a campaign tool takes as they are — column presets, recommendations with product id and
links, the row count with a control group, and a file that stays downloadable for FILE_RETENTION_DAYS."""

import csv
import io
import re
import time

import pytest

from accounts.models import AuditLog
from behavior.services import data_import
from catalog.models import Product
from ecomsight.errors import UserError
from forecasts.models import CustomerFlag
from predictions.models import SegmentExport
from predictions.retention import files_expire
from predictions.services.exports import csv_lines, export_rows, export_stream, pseudonym
from predictions.services.segments import export_create
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ProductFactory, ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(shop):
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [
        {"external_id": "C1", "p": 0.9, "buy": 0.2, "spend": 200, "name": "Ann Lee Smith", "email": "ann@example.com"},
        {"external_id": "C2", "p": 0.8, "buy": 0.4, "spend": 100, "name": "Bo", "email": "bo@example.com"},
    ])
    version = RecommenderVersion.objects.create(shop=shop, status="active")
    products = [
        ProductFactory(shop=shop, external_id="SKU-1", title="Kettle", url="https://shop.example/p/kettle",
                       image_url="https://cdn.example/kettle.jpg"),
        ProductFactory(shop=shop, external_id="SKU-2", title="", url=""),  # no title, no page: id, empty link
    ]
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer=cs["C1"], product=p, rank=i + 1, score=1, source="x",
                       reason="r") for i, p in enumerate(products)])
    return {"segment": SegmentFactory(shop=shop, filters={"churn_min": 50}), "customers": cs}


def rows_of(plan):
    return list(csv.reader(io.StringIO("".join(csv_lines(export_rows(plan=plan))))))


def export(shop, data, *, role="admin", **options):
    return export_create(shop=shop, segment=data["segment"], user=UserFactory(role=role, shops=[shop]), **options)


# The identifier columns each tool documents for its CSV import (see predictions/services/export_presets.py).
@pytest.mark.parametrize("preset, required", [
    ("klaviyo", ["External ID", "Email", "First Name", "Last Name"]),
    ("mailchimp", ["Customer ID", "Email Address", "First Name", "Last Name"]),
    ("braze", ["external_id", "email", "first_name", "last_name"]),
    ("generic", ["customer_id", "email", "name"]),
])
def test_each_preset_names_the_columns_its_tool_maps_by_itself(shop, data, preset, required):
    header, first, _ = rows_of(export(shop, data, preset=preset))
    assert set(required) <= set(header)
    row = dict(zip(header, first, strict=True))
    assert row[required[1]] == "ann@example.com"
    if preset != "generic":
        assert (row[required[2]], row[required[3]]) == ("Ann", "Lee Smith")  # name split for the tool's fields
    assert header[0] == required[0] and first[0] == "C1"  # erasure rewrites kept files by the first column


@pytest.mark.parametrize("preset, id_column, pseudonym_column", [
    ("klaviyo", "External ID", "Pseudonym"), ("braze", "external_id", "pseudonym"),
    ("generic", "customer_id", "pseudonym"),
])
def test_a_pseudonym_is_never_in_a_column_a_tool_reads_as_an_email(shop, data, preset, id_column, pseudonym_column):
    header, first, _ = rows_of(export(shop, data, role="marketer", preset=preset))  # marketers get pseudonyms
    row = dict(zip(header, first, strict=True))
    assert not {h for h in header if "mail" in h.lower() or "name" in h.lower()}
    assert row[id_column] == "C1"
    assert row[pseudonym_column] == pseudonym(shop_id=shop.pk, email="ann@example.com")


def test_mailchimp_refuses_a_pseudonymised_file_with_a_reason(shop, data, client):
    with pytest.raises(UserError, match="needs email addresses"):
        export(shop, data, role="marketer", preset="mailchimp")
    assert not SegmentExport.objects.exists()  # nothing recorded, nothing audited
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get(f"/segments/{data['segment'].pk}/export.csv", {"preset": "mailchimp"}, follow=True)
    assert "needs email addresses" in page.content.decode()


def preset_options(html: str) -> list[str]:
    select = re.search(r'<select name="preset"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


@pytest.mark.parametrize("role, offered", [
    ("marketer", ["generic", "spreadsheet", "klaviyo", "braze"]),  # may not see emails: Mailchimp would only refuse
    ("admin", ["generic", "spreadsheet", "klaviyo", "mailchimp", "braze"]),
])
def test_the_export_form_offers_mailchimp_only_to_a_role_that_may_see_emails(shop, data, client, role, offered):
    client.force_login(UserFactory(role=role, shops=[shop]))
    html = client.get(f"/segments/{data['segment'].pk}/").content.decode()
    assert preset_options(html) == offered
    assert ("Mailchimp is not offered" in html) == (role == "marketer")
    # A browser review: a marketer's "Klaviyo list CSV" had no email, and Klaviyo adds nobody to a list without one.
    klaviyo = re.search(r'<option value="klaviyo">([^<]*)</option>', html).group(1)
    assert klaviyo == ("Klaviyo list CSV" if role == "admin" else
                       "Klaviyo profile update CSV (by External ID: updates profiles already in Klaviyo; a list "
                       "import needs emails)")


def test_unknown_preset_is_refused(shop, data):
    with pytest.raises(UserError, match="Unknown column preset"):
        export(shop, data, preset="hubspot")


def test_recommendations_carry_product_id_title_page_and_picture(shop, data):
    header, first, second = rows_of(export(shop, data, preset="generic"))
    row = dict(zip(header, first, strict=True))
    assert (row["rec_1_product_id"], row["rec_1"], row["rec_1_url"], row["rec_1_image_url"]) == (
        "SKU-1", "Kettle", "https://shop.example/p/kettle", "https://cdn.example/kettle.jpg")
    assert (row["rec_2_product_id"], row["rec_2"], row["rec_2_url"]) == ("SKU-2", "SKU-2", "")
    assert row["rec_3_product_id"] == ""
    klaviyo = dict(zip(*rows_of(export(shop, data, preset="klaviyo"))[:2], strict=True))
    assert klaviyo["Rec 1 URL"] == "https://shop.example/p/kettle" and klaviyo["Rec 1 Product ID"] == "SKU-1"


def test_the_preset_is_recorded_and_audited(shop, data):
    plan = export(shop, data, preset="braze")
    assert SegmentExport.objects.get(pk=plan.export.pk).preset == "braze"
    assert AuditLog.objects.get(action="segment.export").details["preset"] == "braze"


def test_api_export_takes_a_preset_and_refuses_an_unknown_one(shop, data, client):
    client.force_login(UserFactory(role="admin", shops=[shop]))
    url = f"/api/v1/segments/{data['segment'].pk}/export/"
    response = client.get(url, {"preset": "braze", "format": "csv"})
    assert response.status_code == 200
    header = next(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert header[:4] == ["external_id", "email", "first_name", "last_name"]
    assert client.get(url, {"preset": "hubspot"}).status_code == 400


def test_product_import_takes_a_url_column(shop, tmp_path):
    source = tmp_path / "products.csv"
    source.write_text("product_id,title,url,image_url\nP1,Pan,https://shop.example/pan,https://cdn.example/pan.jpg\n"
                      "P2,Pot,,\n")
    data_import(shop=shop, kind="products", path=source)
    assert dict(Product.objects.filter(shop=shop).values_list("external_id", "url")) == {
        "P1": "https://shop.example/pan", "P2": ""}


# ---- the row count with a control group, and a file that stays -------------------------------------------

@pytest.fixture
def twenty(shop, settings, tmp_path):
    """20 members, one of them flagged (left out of campaign files)."""
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.IMPORT_DIR = tmp_path / "imports"  # files_expire sweeps both
    settings.FILE_RETENTION_DAYS = 30
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [{"external_id": f"K{i:02d}", "p": 0.9 - i / 100, "buy": 0.3} for i in range(20)])
    CustomerFlag.objects.create(shop=shop, customer=cs["K03"], kind="refund_abuse", reason="refunds")
    return SegmentFactory(shop=shop, name="Everyone", filters={})


def test_the_export_button_says_how_many_rows_the_file_will_hold(shop, twenty, client):
    client.force_login(UserFactory(role="admin", shops=[shop]))
    page = client.get(f"/segments/{twenty.pk}/").content.decode()
    # 19 exportable (one flagged); a 10 % control group holds back round(1.9) = 2: the file has 17.
    assert 'Download CSV (<span id="export-rows">19 customers</span>)' in page
    assert 'value="10" data-rows="17"' in page and "the file holds 17" in page
    assert f"/deliveries/?segment={twenty.pk}" in page  # sending it on a schedule is one click away
    response = client.get(f"/segments/{twenty.pk}/export.csv", {"control": 10})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 17


def test_a_streamed_export_stays_downloadable_until_file_retention_days(shop, twenty, client):
    """The bug: a streamed export kept no file, so its page said "no longer available" minutes later."""
    client.force_login(UserFactory(role="admin", shops=[shop]))
    response = client.get(f"/segments/{twenty.pk}/export.csv", {"control": 20, "preset": "klaviyo"})
    sent = b"".join(response.streaming_content)
    export = SegmentExport.objects.get()
    assert export.rows == 15 and export.file_path

    assert files_expire(now=time.time() + 4 * 60)["export_files"] == 0  # the nightly task, four minutes later
    page = client.get(f"/segments/exports/{export.pk}/").content.decode()
    assert "no longer available" not in page and "Download CSV" in page and "Klaviyo list CSV" in page
    assert f"/segments/exports/{export.pk}/" in client.get(f"/segments/{twenty.pk}/").content.decode()
    again = client.get(f"/segments/exports/{export.pk}/download.csv")
    assert again.status_code == 200 and b"".join(again.streaming_content) == sent
    assert AuditLog.objects.filter(action="segment.export.download").count() == 1

    assert files_expire(now=time.time() + 29 * 86_400)["export_files"] == 0
    assert files_expire(now=time.time() + 31 * 86_400)["export_files"] == 1
    assert "no longer available" in client.get(f"/segments/exports/{export.pk}/").content.decode()


def test_a_download_cut_short_leaves_no_file(shop, twenty, client, settings):
    plan = export_create(shop=shop, segment=twenty, user=UserFactory(role="admin", shops=[shop]))
    stream = export_stream(plan=plan)
    next(stream)
    stream.close()  # the browser went away after the header (Django closes the response's iterator)
    client.force_login(UserFactory(role="admin", shops=[shop]))
    export = SegmentExport.objects.get()
    assert export.file_path == "" and [p for p in settings.EXPORT_DIR.rglob("*") if p.is_file()] == []
    assert "no longer available" in client.get(f"/segments/exports/{export.pk}/").content.decode()
