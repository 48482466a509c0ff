"""The upload and mapping steps as an analyst meets them (issue 18 §5): sample values before confirming,
headers as written, a pending upload that outlives the session, decimal commas through the web."""

import html
import os
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from behavior.ingest.formats import file_preview
from behavior.models import Customer, ImportJob, Order, PendingUpload
from behavior.services import import_files_expire
from tests.accounts.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("import_dir")]

PASSWORD = "Pa55word-for-tests!"


@pytest.fixture
def analyst(shop):
    user = UserFactory(role="analyst", shops=[shop])
    user.set_password(PASSWORD)
    user.save()
    return user


def upload(client, content: bytes, *, name="customers.csv", kind="customers"):
    response = client.post("/imports/", {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def test_mapping_page_shows_each_column_as_written_with_its_first_five_values(client, analyst):
    client.force_login(analyst)
    rows = "".join(f"K{i};;{'' if i % 2 else f'{i},50'}\n" for i in range(1, 12))
    url = upload(client, f"Kundennummer;Leer;Preis\n{rows}".encode(), name="kunden.csv")
    page = client.get(url).content.decode()
    preview = page.split('id="preview-title"', 1)[1].split("</section>", 1)[0]
    # As written (not "kundennummer"), first five non-empty values only, an empty column said in words.
    assert re.search(r"<strong>Kundennummer</strong></td>\s*<td><code>K1</code> · <code>K2</code> · "
                     r"<code>K3</code> · <code>K4</code> · <code>K5</code></td>", preview)
    assert "<code>K6</code>" not in preview
    assert re.search(r"<strong>Preis</strong></td>\s*<td><code>2,50</code> · <code>4,50</code>", preview)
    assert re.search(r"<strong>Leer</strong></td>\s*<td><span class=\"muted\">empty in the first rows", preview)
    # The selects name the columns as written too, with a few values beside each.
    assert "<option value=\"Kundennummer\">Kundennummer: K1 · K2 · K3</option>" in page


def test_a_header_in_capitals_is_matched_and_imported(client, analyst, shop, django_capture_on_commit_callbacks):
    client.force_login(analyst)
    url = upload(client, b"Customer_ID,Email,COUNTRY\nA1,a@example.com,DE\n")
    page = client.get(url).content.decode()
    assert '<option value="Customer_ID" selected>' in page and '<option value="COUNTRY" selected>' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"kind": "customers", "map_customer_id": "Customer_ID", "map_email": "Email",
                                     "map_country": "COUNTRY", "create_missing": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Customer.objects.get(shop=shop, external_id="A1").country == "DE"


def test_a_pending_upload_survives_logging_out_and_in_again(client, analyst, shop,
                                                            django_capture_on_commit_callbacks):
    # Found in use: the upload was kept in the session, so a new login lost the mapping step.
    assert client.login(username=analyst.username, password=PASSWORD)
    url = upload(client, b"customer_id\nA1\nA2\n")
    client.logout()
    assert client.get(url).status_code == 302  # to the login page: nothing shown without a login
    assert client.login(username=analyst.username, password=PASSWORD)
    assert client.get(url).status_code == 200
    imports = client.get("/imports/").content.decode()
    assert "Waiting for their columns" in imports and f'href="{url}"' in imports
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"kind": "customers", "map_customer_id": "customer_id", "create_missing": "on"})
    assert response.status_code == 302
    assert ImportJob.objects.get(shop=shop).inserted == 2
    assert not PendingUpload.objects.exists()
    assert "Waiting for their columns" not in client.get("/imports/").content.decode()


def test_another_user_of_the_same_shop_cannot_open_someone_elses_pending_upload(client, analyst, shop):
    client.force_login(analyst)
    url = upload(client, b"customer_id\nA1\n")
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    assert client.get(url).status_code == 404
    assert "Waiting for their columns" not in client.get("/imports/").content.decode()


def test_an_expired_upload_is_removed_with_its_file(client, analyst):
    client.force_login(analyst)
    url = upload(client, b"customer_id\nA1\n")
    pending = PendingUpload.objects.get()
    old = time.time() - 40 * 86400
    os.utime(pending.path, (old, old))
    removed = import_files_expire(before=time.time() - 30 * 86400)
    assert removed.files == 1 and not Path(pending.path).exists()
    assert not PendingUpload.objects.exists()
    assert client.get(url).status_code == 404


def test_a_recent_upload_is_kept_by_the_retention_sweep(client, analyst):
    client.force_login(analyst)
    url = upload(client, b"customer_id\nA1\n")
    import_files_expire(before=time.time() - 30 * 86400)
    assert client.get(url).status_code == 200


def test_decimal_commas_through_the_upload_pages(client, analyst, shop, django_capture_on_commit_callbacks):
    client.force_login(analyst)
    url = upload(client, b"Bestellung;Kunde;Datum;Summe\nB1;K1;2024-03-01;19,99\nB2;K1;2024-03-02;1.299,00\n",
                 name="bestellungen.csv", kind="orders")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"kind": "orders", "map_order_id": "Bestellung", "map_customer_id": "Kunde",
                                     "map_placed_at": "Datum", "map_total": "Summe", "create_missing": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert dict(Order.objects.filter(shop=shop).values_list("external_id", "total")) == {
        "B1": Decimal("19.99"), "B2": Decimal("1299.00")}


def test_file_preview_cuts_long_values_and_reads_only_the_first_rows(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Id,Note\n" + "".join(f"{i},{'x' * 200 if i == 0 else ''}\n" for i in range(5000)))
    preview = file_preview(path, values=3, max_rows=100)
    assert preview.header == ("Id", "Note")
    assert preview.samples[0] == ("0", "1", "2")
    assert len(preview.samples[1]) == 1 and len(preview.samples[1][0]) == 80 and preview.samples[1][0].endswith("…")


def test_starting_the_same_upload_twice_starts_one_import(client, analyst, shop):
    from behavior.services import pending_upload_start
    from ecomsight.errors import UserError

    client.force_login(analyst)
    upload(client, b"customer_id\nA1\n")
    # Two requests (a double click) each load the upload before either starts it.
    first, second = PendingUpload.objects.get(), PendingUpload.objects.get()
    pending_upload_start(pending=first, kind="customers", column_map={}, create_missing=True, dry_run=False)
    with pytest.raises(UserError, match="started already"):
        pending_upload_start(pending=second, kind="customers", column_map={}, create_missing=True, dry_run=False)
    assert ImportJob.objects.filter(shop=shop).count() == 1


def test_an_orders_file_uploaded_as_customers_is_said_to_look_like_orders(client, analyst):
    """Session 16's browser review: an orders file uploaded under the page's default kind (customers) ran as a
    customers import and said "Succeeded … 0 new"."""
    client.force_login(analyst)
    url = upload(client, b"order_id,customer_id,placed_at,total,currency,status,item_count\nO1,C1,2024-02-01,10,EUR,"
                         b"placed,1\n", name="orders.csv", kind="customers")
    page = client.get(url).content.decode()
    assert "These columns look like <strong>orders</strong>, not customers" in page and "?kind=orders" in page
    assert "look like" not in client.get(url + "?kind=orders").content.decode()
    customers = upload(client, b"customer_id,email\nC1,c1@example.com\n")
    assert "look like" not in client.get(customers).content.decode()


@pytest.mark.parametrize("content", [b'{"order_id": "J1", "customer_id": "C1"}\n',
                                     b'[{"order_id": "J1", "customer_id": "C1", "placed_at": "2024-02-01"}]\n'])
def test_a_json_file_uploaded_on_the_web_is_refused_as_the_command_refuses_it(client, analyst, shop, content):
    """A browser review: a JSON-lines file went to the mapping step with `{"order_id": "J1"` as a column, and its
    import "Succeeded" with 0 rows, where `import_data` refuses it with how to convert it."""
    client.force_login(analyst)
    response = client.post("/imports/", {"kind": "orders",
                                         "file": SimpleUploadedFile("orders.json", content, "application/json")})
    page = response.content.decode()
    assert response.status_code == 400 and not PendingUpload.objects.exists()
    assert "looks like JSON" in page and "Imports read CSV files" in page


@pytest.mark.parametrize(("content", "shape"), [
    (b'[{"order_id": "J1", "customer_id": "C1", "placed_at": "2024-02-01"}]\n', "a JSON array of records"),
    (b'{"order_id": "J1", "customer_id": "C1"}\n', "JSON lines (one record in braces per line)")])
def test_a_json_upload_is_named_as_uploaded_and_told_in_plain_words_what_to_do(client, analyst, shop, content, shape):
    """A new user's review: the error named the server's file (`559f7e….csv`) instead of `orders.json`, and told a
    JSON array's uploader to use pandas' `lines=True` (for JSON lines, and a programmer's term)."""
    client.force_login(analyst)
    response = client.post("/imports/", {"kind": "orders",
                                         "file": SimpleUploadedFile("orders.json", content, "application/json")})
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert re.search(r"“orders\.json” looks like JSON, not CSV: it begins with '.', as " + re.escape(shape), page)
    assert not re.search(r"[0-9a-f]{32}\.csv", page)
    assert "lines=True" not in page and "pandas" not in page
    assert "Export the data from your shop or tool as CSV" in page


def test_a_rejected_value_shows_on_the_page_as_written_and_stays_inert_in_the_download(
        client, analyst, shop, django_capture_on_commit_callbacks):
    """A new user's review: the Imports page showed a rejected total as `'-25.00`, the formula guard of the
    downloaded report (right there: a spreadsheet would read -25.00 as a formula) leaking onto an HTML page."""
    client.force_login(analyst)
    url = upload(client, b"order_id,customer_id,placed_at,total\nO1,C1,2024-02-01,10.00\nO2,C1,2024-02-02,-25.00\n"
                         b"O3,C1,2024-02-03,=1+1\n", name="orders.csv", kind="orders")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"kind": "orders", "map_order_id": "order_id", "map_customer_id": "customer_id",
                                     "map_placed_at": "placed_at", "map_total": "total", "create_missing": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    page = client.get(response["Location"]).content.decode()
    preview = page.split('class="table table-compact rows-as-cards report-preview"', 1)[1].split("</table>", 1)[0]
    assert '<td data-label="Value">-25.00</td>' in preview and '<td data-label="Value">=1+1</td>' in preview
    assert "&#x27;-25.00" not in preview and "&#x27;=1+1" not in preview
    job = ImportJob.objects.get(shop=shop)
    report = b"".join(client.get(f"/imports/{job.pk}/report.csv").streaming_content).decode()
    assert "'-25.00" in report and "'=1+1" in report
