"""A new user's finding (MEDIUM): the export for spreadsheets was UTF-8 without a byte-order mark (Excel on Windows
garbled "Pfötchen … Hähnchen – 2 kg"), comma-separated (a German Excel put each row in one column) and wrote 0-1
fractions with point decimals where the pages show percents. The "Spreadsheet (Excel)" preset writes what Excel
saves as Unicode Text (UTF-16LE with a byte-order mark, tabs) with whole numbers; the generic file keeps its bytes
(integrators read them); erasure, downloads and S3 deliveries handle either."""

import csv
import io
import json

import pytest

from behavior.models import Customer
from catalog.models import Product
from deliveries.models import Delivery, DeliveryRun
from deliveries.services import webhook_body
from predictions.models import SegmentExport
from predictions.services.export_presets import preset_choices
from predictions.services.exports import export_stream
from predictions.services.segments import export_create
from privacy.services import customer_erase
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ProductFactory, ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db

TITLE = "Pfötchen … Hähnchen – 2 kg"


@pytest.fixture
def everyone(shop, settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [
        {"external_id": "C1", "p": 0.9, "buy": 0.2, "spend": 200.5, "name": "Jörg Müller",
         "email": "joerg@example.com", "reasons": ["Kauft seltener – zuletzt Hähnchen"]},
        {"external_id": "+4915550001", "p": 0.996, "buy": 0.004, "spend": 100, "name": "Zoë Ünal"},
        {"external_id": "C3", "p": 0.605, "buy": None, "spend": 3.0, "lapsed": True},
    ])
    version = RecommenderVersion.objects.create(shop=shop, status="active")
    product = ProductFactory(shop=shop, external_id="SKU-1", title=TITLE, url="https://shop.example/p/pfoetchen",
                             image_url="")
    Recommendation.objects.create(shop=shop, version=version, customer=cs["C1"], product=product, rank=1, score=1,
                                  source="x", reason="r")
    return SegmentFactory(shop=shop, name="Everyone", filters={})


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xff\xfe")  # UTF-16 little-endian's byte-order mark
    return list(csv.reader(io.StringIO(data.decode("utf-16")), delimiter="\t"))


def test_the_spreadsheet_file_is_utf16_with_tabs_and_whole_numbers(shop, everyone, client):
    client.force_login(UserFactory(role="admin", shops=[shop]))
    response = client.get(f"/segments/{everyone.pk}/export.csv", {"preset": "spreadsheet"})
    sent = b"".join(response.streaming_content)
    assert response["Content-Type"] == "text/csv; charset=utf-16"
    header, *rows = _rows(sent)
    assert header[:9] == ["Customer ID", "Email", "Name", "Chance of leaving (%)", "Chance of buying (%)",
                          "Risk band", "Revenue at risk", "Reasons", "Rec 1 Product ID"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    ann = by_id["C1"]
    assert (ann["Name"], ann["Rec 1 Title"], ann["Reasons"]) == ("Jörg Müller", TITLE,
                                                                 "Kauft seltener – zuletzt Hähnchen")
    # The percents and whole amounts the pages show; no decimal separator for a locale to misread.
    assert (ann["Chance of leaving (%)"], ann["Chance of buying (%)"], ann["Revenue at risk"]) == ("90", "20", "180")
    assert ann["Lapsed"] == "no" and by_id["C3"]["Lapsed"] == "yes"
    assert by_id["C3"]["Revenue at risk"] == "2" and by_id["C3"]["Chance of buying (%)"] == ""
    # ">99 %" and "<1 %" on the pages: 99 and 1, not 100 and 0; the formula guard still holds.
    assert (by_id["'+4915550001"]["Chance of leaving (%)"], by_id["'+4915550001"]["Chance of buying (%)"]) == ("99",
                                                                                                             "1")
    assert "\t" in sent.decode("utf-16") and "," not in sent.decode("utf-16").splitlines()[0]

    export = SegmentExport.objects.get()  # the kept file and a later download hold the bytes sent
    assert open(export.file_path, "rb").read() == sent
    again = client.get(f"/segments/exports/{export.pk}/download.csv")
    assert b"".join(again.streaming_content) == sent and again["Content-Type"] == "text/csv; charset=utf-16"


def test_a_background_spreadsheet_file_holds_the_bytes_a_stream_would(shop, everyone,
                                                                     django_capture_on_commit_callbacks):
    admin = UserFactory(role="admin", shops=[shop])
    with django_capture_on_commit_callbacks(execute=True):
        background = export_create(shop=shop, segment=everyone, user=admin, preset="spreadsheet", stream_max_rows=1)
    assert background.job is not None
    streamed = b"".join(export_stream(plan=export_create(shop=shop, segment=everyone, user=admin,
                                                         preset="spreadsheet")))
    written = open(SegmentExport.objects.get(pk=background.export.pk).file_path, "rb").read()
    assert written == streamed and len(_rows(written)) == 4


def test_erasure_rewrites_a_spreadsheet_file_in_its_own_encoding(shop, everyone):
    plan = export_create(shop=shop, segment=everyone, user=UserFactory(role="admin", shops=[shop]),
                         preset="spreadsheet")
    b"".join(export_stream(plan=plan))
    path = SegmentExport.objects.get().file_path

    [c1, phone] = customer_erase(shop=shop, external_ids=["C1", "+4915550001"])

    assert (c1.export_files_rewritten, phone.export_files_rewritten) == (1, 1)
    data = open(path, "rb").read()
    header, *rows = _rows(data)  # still UTF-16 with its mark and tabs: Excel opens it as before
    assert header[0] == "Customer ID" and [r[0] for r in rows] == ["C3"]
    assert "Jörg" not in data.decode("utf-16") and SegmentExport.objects.get().rows == 1


GENERIC = (  # the generic file as the parent commit wrote it: integrators read these bytes
    "customer_id,email,name,churn_probability,purchase_probability,risk_band,revenue_at_risk,reasons,"
    "rec_1_product_id,rec_1,rec_1_url,rec_1_image_url,rec_2_product_id,rec_2,rec_2_url,rec_2_image_url,"
    "rec_3_product_id,rec_3,rec_3_url,rec_3_image_url,offer_id,lapsed\r\n"
    "C1,joerg@example.com,Jörg Müller,0.9,0.2,high,180.45,Kauft seltener – zuletzt Hähnchen,SKU-1,"
    "Pfötchen … Hähnchen – 2 kg,https://shop.example/p/pfoetchen,,,,,,,,,,,false\r\n"
    "'+4915550001,'+4915550001@example.com,Zoë Ünal,0.996,0.004,high,99.6,reason of +4915550001,,,,,,,,,,,,,,"
    "false\r\n"
    "C3,C3@example.com,Name C3,0.605,,high,1.81,reason of C3,,,,,,,,,,,,,,true\r\n"
).encode()


def test_the_generic_file_keeps_its_bytes(shop, everyone):
    plan = export_create(shop=shop, segment=everyone, user=UserFactory(role="admin", shops=[shop]))
    sent = b"".join(export_stream(plan=plan))
    assert sent == GENERIC and open(SegmentExport.objects.get().file_path, "rb").read() == GENERIC

    customer_erase(shop=shop, external_ids=["C3"])  # erasure rewrites it in UTF-8 and commas, as before
    assert open(SegmentExport.objects.get().file_path, "rb").read() == GENERIC[:GENERIC.index(b"C3,C3@")]


def test_the_presets_are_labelled_for_what_they_are_for(shop):
    labels = dict(preset_choices(personal_data=True))
    assert labels["generic"] == "Generic CSV (any tool)" and labels["spreadsheet"] == "Spreadsheet (Excel)"
    assert "spreadsheet" in dict(preset_choices(personal_data=False))  # pseudonymised files too


def test_a_webhook_of_the_spreadsheet_preset_sends_what_its_columns_say(shop, everyone):
    delivery = Delivery.objects.create(shop=shop, segment=everyone, kind="webhook", url="https://hooks.example/x",
                                       preset="spreadsheet", pseudonymised=False)
    plan = export_create(shop=shop, segment=everyone, user=None, preset="spreadsheet")
    run = DeliveryRun.objects.create(shop=shop, delivery=delivery, export=plan.export, batches=1,
                                     scoring_run_id=plan.run.pk)
    ids = list(Customer.objects.filter(shop=shop, external_id="C1").values_list("pk", flat=True))
    body, count = webhook_body(run=run, batch=1, customer_ids=ids)
    [c1] = json.loads(body)["customers"]
    assert count == 1 and c1["Chance of leaving (%)"] == 90 and c1["Revenue at risk"] == 180 and c1["Lapsed"] is False
    assert Product.objects.get().title == c1["Rec 1 Title"]
