"""Drill 7: hostile and odd uploads to the analyst's import page each get a clear answer, never a 500,
with bounded memory; the stored file stays under IMPORT_DIR whatever name it came with."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import MULTIPART_CONTENT, encode_multipart

CSV = "customer_id,email,name\nC1,a@example.com,Ann\nC2,b@example.com,Bob\n"


@pytest.fixture
def analyst(world, client):
    client.force_login(world["users"]["analyst"])
    return client


def _upload(client, name: str, content: bytes, **extra):
    return client.post("/imports/", {"kind": "customers", "file": SimpleUploadedFile(name, content)}, **extra)


def _pending():
    from behavior.models import PendingUpload

    return PendingUpload.objects.get()


def _stored_files(settings) -> list[Path]:
    root = Path(settings.IMPORT_DIR)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_body_claiming_2_gb_is_refused_with_413_before_it_is_read(analyst, settings):
    payload = encode_multipart("BoUnDaRy", {"kind": "customers", "file": SimpleUploadedFile("big.csv", CSV.encode())})
    tracemalloc.start()
    try:
        response = analyst.post("/imports/", payload, content_type="multipart/form-data; boundary=BoUnDaRy",
                                CONTENT_LENGTH=str(2 * 1024 ** 3))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert "too large" in response.content.decode().lower()
    assert peak < 20 * 1024 ** 2
    assert _stored_files(settings) == []


def test_file_over_the_configured_limit_is_refused_with_its_size_and_the_limit(analyst, settings):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1024
    response = _upload(analyst, "big.csv", (CSV * 200).encode())
    assert response.status_code in (400, 413)
    html = response.content.decode()
    assert "limited to 1 KB" in html or "too large" in html.lower()
    assert _stored_files(settings) == []


def test_body_far_over_the_configured_limit_is_413(analyst, settings):
    settings.IMPORT_UPLOAD_MAX_BYTES = 1024
    response = _upload(analyst, "big.csv", b"customer_id\n" + b"C1\n" * 100_000)
    assert response.status_code == 413


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("customers.csv", b"0" * (20 * 1024 ** 2))  # 20 MB of zeros, ~20 KB zipped
    return buffer.getvalue()


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.mark.parametrize("name,content", [("customers.csv", _zip_bomb()), ("photo.csv", PNG),
                                          ("nul.csv", b"customer_id\x00,email\n")])
def test_binary_files_named_csv_are_refused_with_a_message_and_not_kept(analyst, settings, name, content):
    response = _upload(analyst, name, content)
    assert response.status_code == 400
    html = response.content.decode()
    assert "binary" in html.lower() or "utf-8" in html.lower() or "not a csv" in html.lower()
    assert _stored_files(settings) == []


def test_path_traversal_file_name_is_stored_under_import_dir_and_shown_sanitised(analyst, settings):
    response = _upload(analyst, "../../etc/passwd", CSV.encode())
    assert response.status_code == 302
    stored = _stored_files(settings)
    assert len(stored) == 1
    root = Path(settings.IMPORT_DIR).resolve()
    assert stored[0].resolve().is_relative_to(root) and stored[0].suffix == ".csv"
    page = analyst.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "../" not in html and "etc/passwd" not in html
    pending = _pending()
    assert "/" not in pending.name and "\\" not in pending.name


def test_html_in_a_file_name_is_escaped(analyst):
    response = _upload(analyst, "<img src=x onerror=alert(1)>.csv", CSV.encode())
    page = analyst.get(response["Location"])
    assert "<img src=x" not in page.content.decode()


@pytest.mark.parametrize("label,content", [
    ("utf-8 BOM", b"\xef\xbb\xbf" + CSV.encode()),
    ("utf-16 BOM", CSV.encode("utf-16")),
    ("CRLF", CSV.replace("\n", "\r\n").encode()),
    ("semicolons", CSV.replace(",", ";").encode()),
])
def test_common_encodings_and_separators_reach_the_mapping_step_with_a_clean_header(analyst, label, content):
    response = _upload(analyst, "x.csv", content)
    assert response.status_code == 302, label
    pending = _pending()
    assert pending.header == ["customer_id", "email", "name"], label


def test_latin1_file_gets_a_clear_encoding_message_not_a_500(analyst, settings):
    content = "customer_id,name\nC1,Jos\xe9 M\xfcller\n".encode("latin-1")
    response = _upload(analyst, "latin.csv", content)
    if response.status_code == 302:  # accepted (decoded as Latin-1): the header must be right
        pending = _pending()
        assert pending.header == ["customer_id", "name"]
    else:
        assert response.status_code == 400
        assert "utf-8" in response.content.decode().lower()
        assert _stored_files(settings) == []


@pytest.mark.parametrize("body", [b"", b"not multipart at all", b"--BoUnDaRy\r\nbroken"])
def test_malformed_multipart_bodies_get_400_not_500(analyst, body):
    response = analyst.post("/imports/", body, content_type="multipart/form-data; boundary=BoUnDaRy")
    assert response.status_code == 400


def test_missing_boundary_is_400(analyst):
    response = analyst.post("/imports/", b"x", content_type=MULTIPART_CONTENT.split(";")[0])
    assert response.status_code == 400


def test_api_body_over_the_memory_limit_is_413_not_500(world, settings):
    from rest_framework.test import APIClient

    from accounts.tokens import api_token_create

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + api_token_create(
        user=world["users"]["admin"], shop=world["acme"].shop, name="big").plain)
    response = client.post("/api/v1/segments/", {"name": "x" * 4000, "filters": {}}, format="json")
    assert response.status_code == 413
