"""The API lists' current scoring run, kept in the process (predictions.current_run): one query fewer
per page, and a run that succeeds (or a change made in another process) is listed on the next call."""

from datetime import timedelta

import pytest

from ecomsight.api import shared
from ecomsight.api.rediscache import generation_bump
from predictions import current_run
from predictions.api import selectors as api_selectors
from predictions.models import ScoringRun
from predictions.services.scoring import scoring_run_fail, scoring_run_resume
from tests.conftest import calls_counted
from tests.predictions.factories import ScoringRunFactory, scored_customers

AT_RISK = "/api/v1/at-risk/"


def _listed(client) -> tuple[int, list[str]]:
    body = client.get(AT_RISK).json()
    return body["scoring_run"]["id"], [row["customer_id"] for row in body["results"]]


@pytest.fixture
def run_reads(monkeypatch):
    """Each time the lists read a run from the database (the real read, counted)."""
    return calls_counted(monkeypatch, api_selectors, "_run_read")


def _reads(client, run_reads) -> int:
    before = len(run_reads)
    assert client.get(AT_RISK).status_code == 200
    return len(run_reads) - before


def test_the_current_run_is_read_once_then_kept(clients, scored, synced_by_hand, run_reads):
    client = clients["marketer"]
    assert _reads(client, run_reads) == 1
    assert _reads(client, run_reads) == 0
    assert _listed(client)[0] == scored["run"].pk


def test_a_run_that_succeeds_is_listed_on_the_next_call(clients, shop, scored, synced_by_hand):
    client = clients["marketer"]
    assert _listed(client)[0] == scored["run"].pk
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=1),
                              status=ScoringRun.Status.RUNNING)
    scored_customers(shop, newer, [{"external_id": "N1", "p": 0.99}])
    assert _listed(client)[0] == scored["run"].pk  # still running: not listed
    newer.status = ScoringRun.Status.SUCCEEDED
    newer.save(update_fields=["status"])
    assert _listed(client) == (newer.pk, ["N1"])


def test_a_change_another_process_published_is_seen_at_the_next_sync(clients, shop, scored, synced_by_hand):
    client = clients["marketer"]
    assert _listed(client)[0] == scored["run"].pk
    newer = ScoringRunFactory(shop=shop, as_of=scored["run"].as_of + timedelta(days=1),
                              status=ScoringRun.Status.RUNNING)
    assert _listed(client)[0] == scored["run"].pk  # kept again after the new row's change
    # Another process finishes the run: its own signal clears its own memory and replaces the shared
    # generation. Here, only the database and the generation change (update() sends no signal).
    ScoringRun.objects.filter(pk=newer.pk).update(status=ScoringRun.Status.SUCCEEDED)
    assert _listed(client)[0] == scored["run"].pk  # nothing published yet: the kept run
    generation_bump(current_run.GENERATION_KEY)
    assert _listed(client)[0] == scored["run"].pk  # not synced yet: the kept run, for up to API_SYNC_SECONDS
    shared.sync(force=True)
    assert _listed(client)[0] == newer.pk


@pytest.mark.parametrize("change", ["fail", "resume"])
def test_the_scoring_services_updates_publish_a_change(clients, shop, scored, change, synced_by_hand, run_reads):
    client = clients["marketer"]
    assert _reads(client, run_reads) == 1 and _reads(client, run_reads) == 0
    if change == "fail":
        scoring_run_fail(run_id=scored["run"].pk, error="boom")
        body = client.get(AT_RISK).json()
        assert body["scoring_run"] is None and body["results"] == []
    else:
        failed = ScoringRunFactory(shop=shop, status=ScoringRun.Status.FAILED, summary={"chunks": [], "done": []})
        assert _reads(client, run_reads) == 0  # a run that is not succeeded changes no list
        scoring_run_resume(run_id=failed.pk, enqueue=False)
        assert _reads(client, run_reads) == 1


def test_the_kept_run_expires_even_without_a_change(clients, scored, monkeypatch, synced_by_hand, run_reads):
    client = clients["marketer"]
    assert _reads(client, run_reads) == 1
    monkeypatch.setattr(current_run, "CURRENT_RUN_SECONDS", -1.0)
    assert _reads(client, run_reads) == 1


def test_without_a_shared_cache_every_call_reads_the_database(clients, scored, settings, run_reads):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client = clients["marketer"]
    assert _reads(client, run_reads) == 1 and _reads(client, run_reads) == 1
