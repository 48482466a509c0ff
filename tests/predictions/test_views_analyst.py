"""The analyst's model and job pages: wiring, permissions, tenant isolation, promote / train / score."""

import re

import pytest

from accounts.models import AuditLog, Job
from predictions.models import ModelVersion, ScoringRun
from predictions.views_analyst import calibration_chart, capture_chart, error_text
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ModelVersionFactory, OrderFactory

pytestmark = pytest.mark.django_db

CALIBRATION = [{"bin": i + 1, "mean_predicted": (i + 0.5) / 10, "observed_rate": (i + 0.5) / 10, "count": 100}
               for i in range(10)]


@pytest.fixture
def analyst(shop):
    return UserFactory(role="analyst", shops=[shop])


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def lgbm_run(shop, **extra):
    """Two versions of one training run (same job), the LightGBM one champion."""
    job = Job.objects.create(shop=shop, kind=Job.Kind.TRAIN, status=Job.Status.SUCCEEDED)
    comparison = {"lgbm": {"roc_auc": 0.81, "pr_auc": 0.52, "brier": 0.12, "lift_top_decile": 3.4,
                           "captured_top_decile": 0.38},
                  "recency": {"roc_auc": 0.7, "pr_auc": 0.31, "brier": 0.18, "lift_top_decile": 2.1,
                              "captured_top_decile": 0.21}}
    champion = ModelVersionFactory(shop=shop, algorithm="lgbm", job=job, comparison=comparison, metrics={
        **comparison["lgbm"], "calibration": CALIBRATION, "base_rate": 0.2, "n": 1000}, **extra)
    candidate = ModelVersionFactory(shop=shop, algorithm="recency", job=job, comparison=comparison,
                                    status=ModelVersion.Status.CANDIDATE, metrics=comparison["recency"])
    return champion, candidate


ANALYST_GETS = ["/models/", "/jobs/", "/jobs/status.json"]


@pytest.mark.parametrize("url", ANALYST_GETS + ["/models/{version}/", "/jobs/{job}/", "/jobs/{job}/status.json"])
def test_marketer_gets_403_on_every_analyst_page(client, shop, url):
    champion, _ = lgbm_run(shop)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert client.get(url.format(version=champion.pk, job=champion.job_id)).status_code == 403


@pytest.mark.parametrize("url", ["/models/train/", "/models/score/", "/models/{candidate}/promote/"])
def test_marketer_cannot_train_score_or_promote(client, shop, url):
    champion, candidate = lgbm_run(shop)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    response = client.post(url.format(candidate=candidate.pk), {"task": "churn", "horizon": 90,
                                                                "algorithms": ["recency"]})
    assert response.status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == "candidate" and not ScoringRun.objects.exists()
    assert Job.objects.filter(kind="train").count() == 1  # only the fixture's


@pytest.mark.parametrize("url", ANALYST_GETS)
def test_anonymous_user_is_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_models_page_shows_metrics_comparison_and_both_charts(analyst_client, shop):
    champion, candidate = lgbm_run(shop)
    page = analyst_client.get("/models/").content.decode()
    assert "hold 38 % of the customers who left" in page
    assert "0.810" in page and "0.520" in page and "3.4×" in page  # ROC AUC, PR AUC, lift
    assert page.count('class="chart chart-square"') == 2  # calibration and capture
    assert "chart-diagonal" in page
    # The comparison lists both algorithms of the run, the better PR AUC first, each linking to its version.
    table = page[page.index("Algorithms trained in the same run"):]
    assert table.index("LightGBM") < table.index("Recency alone")
    assert f'href="/models/{candidate.pk}/"' in table
    assert f'action="/models/{candidate.pk}/promote/"' in page
    assert f'action="/models/{champion.pk}/promote/"' not in page  # the champion has nothing to promote


def test_models_page_without_models_says_how_to_start(analyst_client):
    page = analyst_client.get("/models/").content.decode()
    assert "No churn model yet" in page and 'action="/models/train/"' in page
    assert re.search(r'<button type="submit" class="btn btn-primary" disabled[^>]*>Score now', page)


def test_version_page_shows_its_own_figures(analyst_client, shop):
    _, candidate = lgbm_run(shop)
    page = analyst_client.get(f"/models/{candidate.pk}/").content.decode()
    assert "Recency alone (baseline)" in page and "0.700" in page
    assert "Promote to champion" in page


def test_another_shops_version_and_job_are_not_found(analyst_client, other_shop):
    theirs, _ = lgbm_run(other_shop)
    for url in (f"/models/{theirs.pk}/", f"/jobs/{theirs.job_id}/", f"/jobs/{theirs.job_id}/status.json"):
        assert analyst_client.get(url).status_code == 404, url
    assert analyst_client.post(f"/models/{theirs.pk}/promote/").status_code == 404


def test_promote_makes_the_version_champion_retires_the_old_one_and_audits(analyst_client, shop, analyst):
    champion, candidate = lgbm_run(shop)
    response = analyst_client.post(f"/models/{candidate.pk}/promote/")
    assert response.status_code == 302 and response["Location"] == "/models/"
    candidate.refresh_from_db()
    champion.refresh_from_db()
    assert candidate.status == "champion" and champion.status == "retired"
    log = AuditLog.objects.get(action="model.promote")
    assert log.user == analyst and log.details["reason"] == "promoted by hand"
    assert "is now the churn champion" in analyst_client.get("/models/").content.decode()


def test_promote_never_redirects_off_site(analyst_client, shop):
    _, candidate = lgbm_run(shop)
    response = analyst_client.post(f"/models/{candidate.pk}/promote/", {"next": "https://evil.example/"})
    assert response["Location"] == "/models/"


def test_train_now_creates_one_job_per_task_and_enqueues_after_commit(
        analyst_client, shop, analyst, django_capture_on_commit_callbacks, monkeypatch):
    from predictions import tasks

    sent = []
    monkeypatch.setattr(tasks.model_train_task, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = analyst_client.post("/models/train/", {"task": "both", "horizon": 30,
                                                          "algorithms": ["recency", "lgbm"]})
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    jobs = list(Job.objects.filter(shop=shop, kind="train").order_by("pk"))
    assert [j.params["task"] for j in jobs] == ["churn", "purchase"]
    assert all(j.status == "pending" and j.created_by == analyst and j.params["horizon_days"] == 30 for j in jobs)
    assert len(callbacks) == 2 and not sent  # nothing is sent before the transaction commits
    for callback in callbacks:
        callback()
    assert sent == [(shop.pk, "churn", 30, None, ["recency", "lgbm"], jobs[0].pk),
                    (shop.pk, "purchase", 30, None, ["recency", "lgbm"], jobs[1].pk)]


def test_train_now_with_one_task_opens_its_job(analyst_client, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = analyst_client.post("/models/train/", {"task": "churn", "horizon": 90, "algorithms": ["recency"]})
    job = Job.objects.get(shop=shop, kind="train")
    assert response["Location"] == f"/jobs/{job.pk}/"


def test_train_now_with_bad_input_starts_nothing_and_says_why(analyst_client, shop):
    response = analyst_client.post("/models/train/", {"task": "churn", "horizon": 0, "algorithms": ["recency"]},
                                   follow=True)
    assert "Training was not started. Horizon (days)" in response.content.decode()
    assert not Job.objects.filter(kind="train").exists()


def test_score_now_without_a_champion_shows_the_message(analyst_client, shop):
    response = analyst_client.post("/models/score/", follow=True)
    assert "has no champion model at 90 days yet" in response.content.decode()
    assert not ScoringRun.objects.exists()


def test_score_now_creates_a_run_and_enqueues_its_chunks(analyst_client, shop, django_capture_on_commit_callbacks):
    lgbm_run(shop)
    OrderFactory(customer__shop=shop)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = analyst_client.post("/models/score/")
    run = ScoringRun.objects.get(shop=shop)
    assert response["Location"] == f"/jobs/{run.job_id}/"
    assert run.customers_total == 1 and len(callbacks) == run.chunks_total == 1


def test_jobs_page_shows_status_progress_and_the_error_text_only(analyst_client, shop, analyst, other_shop):
    Job.objects.create(shop=shop, kind="score", status="running", progress_done=1, progress_total=4,
                       message="scored chunk 1/4", created_by=analyst)
    failed = Job.objects.create(shop=shop, kind="train", status="failed", error=(
        'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: too few buyers'))
    Job.objects.create(shop=other_shop, kind="export", message="theirs")
    page = analyst_client.get("/jobs/").content.decode()
    assert "Running" in page and 'style="width: 25%"' in page and "scored chunk 1/4" in page
    assert "ValueError: too few buyers" in page and "Traceback" not in page and "x.py" not in page
    assert "theirs" not in page
    assert 'data-poll-url="/jobs/status.json"' in page  # follows the running job
    detail = analyst_client.get(f"/jobs/{failed.pk}/").content.decode()
    assert "What went wrong" in detail and "ValueError: too few buyers" in detail and "Traceback" not in detail


def test_jobs_status_json_says_done_only_when_nothing_runs(analyst_client, shop):
    job = Job.objects.create(shop=shop, kind="score", status="running", progress_done=2, progress_total=4)
    status = analyst_client.get("/jobs/status.json").json()
    assert status["done"] is False and status["bars"][f"job-{job.pk}"] == 50
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    status = analyst_client.get("/jobs/status.json").json()
    assert status["done"] is True and status["bars"][f"job-{job.pk}"] == 100
    assert analyst_client.get(f"/jobs/{job.pk}/status.json").json()["fields"]["status"] == "Succeeded"


def test_calibration_chart_zooms_to_rare_events_and_draws_the_diagonal():
    rare = [{"mean_predicted": 0.01, "observed_rate": 0.0, "count": 10},
            {"mean_predicted": 0.12, "observed_rate": 0.15, "count": 10}]
    chart = calibration_chart(rare)
    assert chart.ticks[-1][1] == "20 %"  # axes stop at 20 %, not 100 %
    assert chart.diagonal == "36.0,264.0 264.0,36.0"
    assert calibration_chart(rare[:1]) is None and calibration_chart(None) is None


def test_capture_chart_accumulates_positives_from_the_most_likely_bin():
    bins = [{"mean_predicted": 0.1, "observed_rate": 0.0, "count": 50},
            {"mean_predicted": 0.9, "observed_rate": 1.0, "count": 50}]
    chart = capture_chart(bins)
    # Targeting the top half captures every positive.
    assert "top 50 % of customers hold 100 % of the positives" in [tip for _, _, tip in chart.dots]
    assert capture_chart([{"mean_predicted": 0.1, "observed_rate": 0.0, "count": 5}] * 2) is None


def test_error_text_keeps_plain_messages_and_cuts_tracebacks():
    assert error_text("Shop has no orders yet: import orders first.") == "Shop has no orders yet: import orders first."
    assert error_text("Traceback (most recent call last):\n  File \"a\"\nKeyError: 'x'\n") == "KeyError: 'x'"


def test_the_top_decile_share_says_its_ceiling_when_even_a_perfect_list_holds_little():
    """Session 16's review: "20 %" for every algorithm on the demo, where half the customers leave."""
    from predictions.views_analyst import metric_row

    saturated = metric_row("lgbm", {"captured_top_decile": 0.2, "base_rate": 0.5, "n": 1000, "positives": 500})
    assert saturated.captured == "20 % of at most 20 %"
    assert metric_row("lgbm", {"captured_top_decile": 0.38, "base_rate": 0.05}).captured == "38 %"
