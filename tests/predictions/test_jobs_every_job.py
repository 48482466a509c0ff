"""The Jobs page lists every job, the command's and the demo's too, each under the id of the page it links to;
the Models page keeps its history verdict after a training that did not start on the web."""

import re

import pytest
from django.core.management import call_command

from accounts.models import Job
from behavior.models import ImportJob
from behavior.services import data_import
from predictions.services.training import model_train_recorded
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst_client(client, shop):
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    return client


def _links(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="(/(?:jobs|imports)/\d+/)"[^>]*>([^<]+)</a>', page)


def test_a_command_import_gets_a_job_row_listed_under_the_import_pages_id(analyst_client, shop, tmp_path):
    # Found in use: the demo's imports (the command's path) were missing from the Jobs page.
    path = tmp_path / "customers.csv"
    path.write_text("customer_id\nA1\nA2\n")
    result = data_import(shop=shop, kind="customers", path=path)
    imp = ImportJob.objects.get(pk=result.import_job_id)
    assert imp.job is not None and imp.job.kind == Job.Kind.IMPORT and imp.job.status == Job.Status.SUCCEEDED
    assert imp.job.started_at is not None and imp.job.finished_at is not None
    page = analyst_client.get("/jobs/").content.decode()
    assert (f"/imports/{imp.pk}/", f"Import #{imp.pk}") in _links(page)
    # The id shown is the one the linked page uses.
    detail = analyst_client.get(f"/imports/{imp.pk}/").content.decode()
    assert f"Import #{imp.pk}" in detail
    assert f"Import #{imp.pk}" in analyst_client.get(f"/jobs/{imp.job.pk}/").content.decode()


def test_every_link_on_the_jobs_page_names_the_id_in_its_url(analyst_client, shop, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer_id\nA1\n")
    data_import(shop=shop, kind="customers", path=path)
    Job.objects.create(shop=shop, kind=Job.Kind.SCORE, status=Job.Status.SUCCEEDED)
    Job.objects.create(shop=shop, kind=Job.Kind.EXPORT, status=Job.Status.RUNNING)
    links = _links(analyst_client.get("/jobs/").content.decode())
    assert len(links) == 3
    for url, text in links:
        assert text.endswith(f"#{url.rstrip('/').rsplit('/', 1)[1]}"), (url, text)
        assert analyst_client.get(url).status_code == 200


def test_a_web_upload_makes_one_job_not_two(analyst_client, shop, django_capture_on_commit_callbacks):
    from io import BytesIO

    upload = BytesIO(b"customer_id\nA1\n")
    upload.name = "customers.csv"
    response = analyst_client.post("/imports/", {"kind": "customers", "file": upload})
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(response["Location"], {"map_customer_id": "customer_id",
                                                              "create_missing": "on"})
    assert response.status_code == 302
    assert Job.objects.filter(shop=shop, kind=Job.Kind.IMPORT).count() == 1
    imp = ImportJob.objects.get(shop=shop)
    assert imp.job.created_by is not None and imp.job.status == Job.Status.SUCCEEDED


def test_training_outside_the_web_shows_on_jobs_and_keeps_the_history_verdict(client, simulated_shop):
    # Found in use: after `manage.py demo` trained, "Is there enough history?" still said "Shown after the
    # first training": the verdict is read from the last training job, and the demo's training made none.
    client.force_login(UserFactory(role="analyst", shops=[simulated_shop]))
    outcome = model_train_recorded(shop=simulated_shop, task="churn", horizon_days=60, algorithms=["recency"])
    job = Job.objects.get(shop=simulated_shop, kind=Job.Kind.TRAIN)
    assert job.status == Job.Status.SUCCEEDED and job.result["sufficiency"] == outcome.sufficiency
    models = client.get("/models/").content.decode()
    assert "Shown after the first training" not in models
    assert f"{outcome.sufficiency['customers']:,} customers" in models
    assert (f"/jobs/{job.pk}/", f"Train #{job.pk}") in _links(client.get("/jobs/").content.decode())


def test_the_train_command_records_its_job(simulated_shop):
    call_command("train", "--shop", "sim", "--task", "purchase", "--horizon", "60", "--algorithms", "recency",
                 "--json", stdout=open("/dev/null", "w"))
    job = Job.objects.get(shop=simulated_shop, kind=Job.Kind.TRAIN)
    assert job.status == Job.Status.SUCCEEDED and job.result["task"] == "purchase"
    assert job.params["horizon_days"] == 60


def test_an_import_whose_process_is_gone_fails_on_the_jobs_page_too(analyst_client, shop, tmp_path, settings):
    from datetime import timedelta

    from django.utils import timezone

    from behavior.ingest.services import import_job_create

    settings.IMPORT_HEARTBEAT_STALE_SECONDS = 600
    path = tmp_path / "events.csv"
    path.write_text("customer_id,type,occurred_at\nC1,view,2024-03-01\n")
    imp = import_job_create(shop=shop, kind="events", path=path)
    ImportJob.objects.filter(pk=imp.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(hours=1))
    Job.objects.filter(pk=imp.job_id).update(status=Job.Status.RUNNING)
    analyst_client.get("/imports/")  # the import pages mark lost imports failed
    job = Job.objects.get(pk=imp.job_id)
    assert job.status == Job.Status.FAILED and "its process is gone" in job.error
    assert "its process is gone" in analyst_client.get("/jobs/").content.decode()


def test_older_jobs_are_on_the_next_pages_not_dropped(analyst_client, shop):
    # A month of nightly scoring and recommendations is more than one page: the oldest must stay reachable.
    oldest = Job.objects.create(shop=shop, kind=Job.Kind.SCORE, status=Job.Status.SUCCEEDED)
    for _ in range(59):
        Job.objects.create(shop=shop, kind=Job.Kind.RECOMMEND, status=Job.Status.SUCCEEDED)
    first = analyst_client.get("/jobs/").content.decode()
    assert len(_links(first)) == 50 and f"/jobs/{oldest.pk}/" not in first
    assert "Jobs 1–50 of 60" in first and 'href="?page=2"' in first
    second = analyst_client.get("/jobs/?page=2").content.decode()
    assert len(_links(second)) == 10 and (f"/jobs/{oldest.pk}/", f"Score #{oldest.pk}") in _links(second)
