"""Old files go: uploads, rejected-rows reports and export files past FILE_RETENTION_DAYS are removed (by the
nightly task or `manage.py expire_files`), files still in use and files outside our folders never are, and
the pages then say the file is gone instead of failing."""

import io
import json
import os
import time

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Job
from behavior.models import ImportJob
from predictions.models import SegmentExport
from predictions.retention import files_expire
from predictions.tasks import files_expire_task
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = 86_400


@pytest.fixture
def dirs(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path / "imports"
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.FILE_RETENTION_DAYS = 30
    return settings


def _file(path, *, age_days: float, content: bytes = b"x" * 100):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


def test_old_uploads_reports_and_exports_go_young_ones_and_files_in_use_stay(shop, dirs, tmp_path):
    imports, exports = dirs.IMPORT_DIR, dirs.EXPORT_DIR
    old_upload = _file(imports / shop.slug / "a.csv", age_days=31)
    old_report = _file(imports / "import-1-rejected.csv", age_days=40)
    young_upload = _file(imports / shop.slug / "b.csv", age_days=29)
    running_upload = _file(imports / shop.slug / "running.csv", age_days=90)
    ImportJob.objects.create(shop=shop, kind="events", file_path=str(running_upload),
                             status=ImportJob.Status.RUNNING)
    old_export = _file(exports / shop.slug / "1.csv", age_days=31)
    writing = _file(exports / shop.slug / "2.csv", age_days=31)
    job = Job.objects.create(shop=shop, kind="export", status=Job.Status.RUNNING)
    SegmentExport.objects.create(shop=shop, job=job, file_path=str(writing))
    # A file named on the command line (`import_data --file`) lives elsewhere: never ours to remove.
    outside = _file(tmp_path / "elsewhere" / "events.csv", age_days=400)
    ImportJob.objects.create(shop=shop, kind="events", file_path=str(outside), status=ImportJob.Status.SUCCEEDED)
    (imports / "link.csv").symlink_to(outside)

    dry = files_expire(dry_run=True)
    assert dry == {"days": 30, "dry_run": True, "import_files": 2, "export_files": 1, "bytes": 300}
    assert old_upload.exists() and old_report.exists() and old_export.exists()

    assert files_expire() == {**dry, "dry_run": False}
    assert not old_upload.exists() and not old_report.exists() and not old_export.exists()
    assert young_upload.exists() and running_upload.exists() and writing.exists()
    assert outside.exists() and (imports / "link.csv").is_symlink()
    assert files_expire()["import_files"] == 0  # nothing left to remove


def test_zero_days_keeps_everything_and_negative_days_is_a_clear_error(shop, dirs):
    old = _file(dirs.IMPORT_DIR / "old.csv", age_days=1000)
    dirs.FILE_RETENTION_DAYS = 0
    assert files_expire_task() == {"days": 0, "dry_run": False, "import_files": 0, "export_files": 0, "bytes": 0}
    assert old.exists()
    with pytest.raises(CommandError, match="--days must be 0"):
        call_command("expire_files", "--days", "-1")


def test_command_prints_one_json_line_and_honours_days(shop, dirs):
    _file(dirs.EXPORT_DIR / shop.slug / "9.csv", age_days=8)
    out = io.StringIO()
    call_command("expire_files", "--days", "7", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == {
        "days": 7, "dry_run": False, "import_files": 0, "export_files": 1, "bytes": 100}


def test_pages_say_the_files_are_gone(shop, dirs, client, tmp_path):
    from behavior.services import data_import

    source = tmp_path / "customers.csv"
    source.write_bytes(b"customer_id,email\nA1,a1@example.com\n,missing-id@example.com\n")
    result = data_import(shop=shop, kind="customers", path=source)
    job = ImportJob.objects.get(pk=result.import_job_id)
    export_file = _file(dirs.EXPORT_DIR / shop.slug / "1.csv", age_days=31)
    done = Job.objects.create(shop=shop, kind="export", status=Job.Status.SUCCEEDED)
    export = SegmentExport.objects.create(shop=shop, job=done, file_path=str(export_file), rows=1, pseudonymised=True)
    client.force_login(UserFactory(role="admin", shops=[shop]))
    assert client.get(f"/imports/{job.pk}/report.csv").status_code == 200
    assert client.get(f"/segments/exports/{export.pk}/download.csv").status_code == 200

    then = time.time() - 31 * DAY
    os.utime(job.report_path, (then, then))
    removed = files_expire()
    assert (removed["import_files"], removed["export_files"]) == (1, 1)

    html = client.get(f"/imports/{job.pk}/").content.decode()
    assert "report was removed" in html and "Download rejected rows" not in html
    assert client.get(f"/imports/{job.pk}/report.csv").status_code == 404
    page = client.get(f"/segments/exports/{export.pk}/")
    assert page.status_code == 200 and "no longer available" in page.content.decode()
    assert client.get(f"/segments/exports/{export.pk}/download.csv").status_code == 404
    assert source.exists()  # the command line's own file stays


def test_every_nightly_beat_entry_names_a_registered_task(settings):
    from ecomsight.celery import app

    app.loader.import_default_modules()
    assert "predictions.tasks.files_expire_task" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] not in app.tasks] == []
