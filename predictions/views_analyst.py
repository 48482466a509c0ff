"""The analyst's model and job pages: versions and their quality, promote, train now, score now; background jobs.

Thin views: training and scoring are `predictions.services`, jobs are `accounts.jobs`. The shop always comes
from `shop_for_request` (never from the URL), so another shop's version or job answers 404.
Charts are server-side SVG built here from the metrics stored with each version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.jobs import job_create
from accounts.models import Job
from accounts.permissions import role_required
from accounts.selectors import shop_for_request
from ecomsight.errors import UserError
from ecomsight.query import known_parameters
from predictions.forms import ALGORITHM_LABELS, TrainForm
from predictions.ml.metrics import top_decile_reference
from predictions.models import ModelVersion
from predictions.selectors.analyst import (
    JOBS_RUNNING,
    import_job_of,
    job_get,
    jobs_page_get,
    jobs_recent_progress,
    model_jobs_running,
    model_version_champion,
    model_version_get,
    model_versions_of_run,
    model_versions_recent,
    scoring_run_latest,
    training_sufficiency,
)
from predictions.services.scoring import scoring_run_create
from predictions.services.training import TASKS, model_version_promote

logger = logging.getLogger("ecomsight.views")

TASK_LABELS = {"churn": "Churn: who will leave", "purchase": "Purchase: who will buy"}
VERSIONS_PER_TASK = 12
RUNNING = JOBS_RUNNING


# ---- charts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """A square chart's geometry: the curve, its points, the reference diagonal and axis ticks (SVG units)."""

    size: int
    pad: int
    points: str
    dots: list[tuple[float, float, str]]
    ticks: list[tuple[float, str]]
    diagonal: str
    x_label: str
    y_label: str

    @property
    def end(self) -> int:
        """Where the axes end (the plot is square)."""
        return self.size - self.pad

    @property
    def tick_y(self) -> int:
        return self.size - self.pad + 14


CHART_SIZE, CHART_PAD = 300, 36


def _scale(value: float, top: float) -> float:
    return CHART_PAD + (CHART_SIZE - 2 * CHART_PAD) * (value / top if top else 0)


def _chart(pairs: list[tuple[float, float, str]], *, top: float, x_label: str, y_label: str) -> Chart:
    def xy(x: float, y: float) -> tuple[float, float]:
        return round(_scale(x, top), 1), round(CHART_SIZE - _scale(y, top), 1)

    dots = [(*xy(x, y), tip) for x, y, tip in pairs]
    ticks = [(round(_scale(top * f, top), 1), _pct(top * f)) for f in (0, 0.5, 1)]
    (x0, y0), (x1, y1) = xy(0, 0), xy(top, top)
    return Chart(size=CHART_SIZE, pad=CHART_PAD, points=" ".join(f"{x},{y}" for x, y, _ in dots), dots=dots,
                 ticks=ticks, diagonal=f"{x0},{y0} {x1},{y1}", x_label=x_label, y_label=y_label)


def calibration_chart(calibration: list[dict] | None) -> Chart | None:
    """Mean predicted probability against the observed rate per bin; a calibrated model follows the diagonal.

    The axes stop at the largest value (rounded up to 10 %) so that rare events are not squeezed into a corner."""
    bins = [b for b in calibration or [] if b.get("mean_predicted") is not None and b.get("observed_rate") is not None]
    if len(bins) < 2:
        return None
    top = max(max(b["mean_predicted"], b["observed_rate"]) for b in bins)
    top = min(1.0, max(0.1, -(-top * 10 // 1) / 10))
    pairs = [(b["mean_predicted"], b["observed_rate"], f"said {_pct(b['mean_predicted'])}, happened "
              f"{_pct(b['observed_rate'])} ({b.get('count', 0):,} customers)") for b in bins]
    return _chart(pairs, top=top, x_label="Predicted chance", y_label="Observed share")


def capture_chart(calibration: list[dict] | None) -> Chart | None:
    """Cumulative share of the positives captured when targeting customers from the highest probability down.

    Built from the calibration bins (equal-count quantile bins), so its resolution is one bin; the diagonal is
    what random targeting would capture."""
    bins = [b for b in calibration or [] if b.get("observed_rate") is not None and b.get("count")]
    total_n = sum(b["count"] for b in bins)
    total_pos = sum(b["observed_rate"] * b["count"] for b in bins)
    if len(bins) < 2 or not total_n or not total_pos:
        return None
    pairs = [(0.0, 0.0, "nobody targeted")]
    n = pos = 0.0
    for b in sorted(bins, key=lambda b: b.get("mean_predicted") or 0, reverse=True):
        n += b["count"]
        pos += b["observed_rate"] * b["count"]
        pairs.append((n / total_n, pos / total_pos,
                      f"top {_pct(n / total_n)} of customers hold {_pct(pos / total_pos)} of the positives"))
    return _chart(pairs, top=1.0, x_label="Customers targeted, most likely first", y_label="Positives captured")


# ---- reads for the pages -----------------------------------------------------------------------------


def _num(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.0f} %"


@dataclass(frozen=True)
class MetricRow:
    """One algorithm's validation figures, formatted for a table."""

    algorithm: str
    label: str
    roc_auc: str
    pr_auc: str
    brier: str
    lift: str
    captured: str
    version: ModelVersion | None
    pr_auc_value: float | None


def metric_row(algorithm: str, metrics: dict | None, version: ModelVersion | None = None) -> MetricRow:
    m = metrics or {}
    lift = m.get("lift_top_decile")
    captured = _pct(m.get("captured_top_decile"))
    reference = top_decile_reference(n=m.get("n"), positives=m.get("positives"), base_rate=m.get("base_rate"))
    if reference is not None and m.get("captured_top_decile") is not None and reference.best_captured < 1:
        # With many positives even a perfect list's top 10 % holds few of them: say the ceiling, or every model
        # reads alike ("20 %" for all on a shop where half the customers leave).
        captured += f" of at most {_pct(reference.best_captured)}"
    return MetricRow(algorithm=algorithm, label=ALGORITHM_LABELS.get(algorithm, algorithm),
                     roc_auc=_num(m.get("roc_auc")), pr_auc=_num(m.get("pr_auc")), brier=_num(m.get("brier")),
                     lift="—" if lift is None else f"{lift:.1f}×", captured=captured,
                     version=version, pr_auc_value=m.get("pr_auc"))


@dataclass(frozen=True)
class VersionView:
    """A version with what its section shows: headline in words, comparison of its run, both charts."""

    version: ModelVersion
    metrics: MetricRow
    captured_words: str | None
    comparison: list[MetricRow]
    calibration: Chart | None
    capture: Chart | None
    threshold: str
    base_rate: str
    n: int | None
    hyperparameters: list[tuple[str, str]] = field(default_factory=list)
    chosen_by: str | None = None


def hyperparameter_rows(described: dict | None) -> tuple[list[tuple[str, str]], str | None]:
    """(name, value) pairs of the stored hyperparameters and how they were chosen, in words."""
    if not described:
        return [], None
    rows = [(name, f"{value:.4g}" if isinstance(value, float) else _param_words(value))
            for name, value in (described.get("params") or {}).items()]
    if described.get("best_iteration"):
        rows.append(("rounds (early stopping)", str(described["best_iteration"])))
    search = described.get("search")
    if search:
        words = (f"a search of {search['trials_run']} trials on the validation cutoff ({search['seconds']:.0f} s"
                 f"{', stopped by its time guard' if search.get('stopped_by_time') else ''}); "
                 f"setting chosen: {described.get('settings')}")
    else:
        words = f"the fixed settings compared on the validation cutoff; chosen: {described.get('settings')}"
        if described.get("search_skipped"):
            words += f" (no search: {described['search_skipped']})"
    return rows, words


def version_view(version: ModelVersion) -> VersionView:
    m = version.metrics or {}
    hyperparameters, chosen_by = hyperparameter_rows(m.get("hyperparameters"))
    captured = m.get("captured_top_decile")
    positives = "customers who left" if version.task == "churn" else "customers who bought"
    words = (f"The 10 % of customers this model ranks highest hold {_pct(captured)} of the {positives} "
             f"(random picking would hold 10 %).") if captured is not None else None
    siblings = model_versions_of_run(version=version)
    rows = [metric_row(algo, metrics, siblings.get(algo)) for algo, metrics in (version.comparison or {}).items()]
    rows.sort(key=lambda r: -1 if r.pr_auc_value is None else r.pr_auc_value, reverse=True)
    return VersionView(version=version, metrics=metric_row(version.algorithm, m, version), captured_words=words,
                       comparison=rows, calibration=calibration_chart(m.get("calibration")),
                       capture=capture_chart(m.get("calibration")), threshold=_pct(m.get("threshold")),
                       base_rate=_pct(m.get("base_rate")), n=m.get("n"), hyperparameters=hyperparameters,
                       chosen_by=chosen_by)


def _job_percent(job: Job) -> int:
    if job.status == Job.Status.SUCCEEDED:
        return 100
    return max(0, min(100, int(100 * job.progress)))


def error_text(error: str) -> str:
    """The readable part of a stored error: a traceback is reduced to its last line (the exception itself)."""
    if not error:
        return ""
    if "Traceback (most recent call last)" in error:
        lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""
    return error.strip()


# ---- models pages ----------------------------------------------------------------------------------


@role_required("analyst")
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    """Versions per task with their validation metrics; the champion's comparison and charts; train and score."""
    shop = shop_for_request(request)
    sections = []
    for task in TASKS[::-1]:  # churn first: it is what the marketers open the app for
        versions = model_versions_recent(shop=shop, task=task, limit=VERSIONS_PER_TASK)
        champion = next((v for v in versions if v.status == ModelVersion.Status.CHAMPION and
                         v.horizon_days == shop.horizon_days), None)
        champion = champion or model_version_champion(shop=shop, task=task, horizon_days=shop.horizon_days)
        focus = champion or (versions[0] if versions else None)
        champion_label = ALGORITHM_LABELS.get(champion.algorithm, champion.algorithm) if champion else ""
        sections.append({"task": task, "label": TASK_LABELS[task], "champion": champion,
                         "champion_label": champion_label,
                         "rows": [metric_row(v.algorithm, v.metrics, v) for v in versions],
                         "focus": version_view(focus) if focus else None})
    running = model_jobs_running(shop=shop)
    last_run = scoring_run_latest(shop=shop)
    return render(request, "predictions/analyst_models.html", {
        "shop": shop, "sections": sections, "train_form": TrainForm(initial={"horizon": shop.horizon_days}),
        "sufficiency": training_sufficiency(shop=shop), "running": running, "last_run": last_run,
        "has_champion": any(s["champion"] for s in sections),
    })


@role_required("analyst")
@require_GET
def version_page(request: HttpRequest, version_id: int) -> HttpResponse:
    """One model version: its figures, the algorithms of its run side by side, calibration and capture charts."""
    shop = shop_for_request(request)
    version = model_version_get(shop=shop, version_id=version_id)
    return render(request, "predictions/analyst_version.html", {
        "shop": shop, "v": version_view(version), "task_label": TASK_LABELS.get(version.task, version.task),
        "algorithm_label": ALGORITHM_LABELS.get(version.algorithm, version.algorithm),
    })


@role_required("analyst")
@require_POST
def version_promote(request: HttpRequest, version_id: int) -> HttpResponse:
    """Make this version the champion of its task and horizon (the previous one is retired; audited)."""
    shop = shop_for_request(request)
    version = model_version_get(shop=shop, version_id=version_id)
    if version.status == ModelVersion.Status.CHAMPION:
        messages.info(request, "This version is already the champion.")
    else:
        model_version_promote(version=version, user=request.user, reason="promoted by hand")
        messages.success(request, f"{ALGORITHM_LABELS.get(version.algorithm, version.algorithm)} (version "
                                  f"{version.pk}) is now the {version.task} champion. Score now to use it.")
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("analyst:models")


@role_required("analyst")
@require_POST
def train_now(request: HttpRequest) -> HttpResponse:
    """Start training in the background: one job per task; the Jobs page follows it."""
    shop = shop_for_request(request)
    form = TrainForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{form.fields[name].label if name in form.fields else name}: {' '.join(errs)}"
                             for name, errs in form.errors.items())
        messages.error(request, f"Training was not started. {problems}")
        return redirect("analyst:models")
    tasks = list(TASKS[::-1]) if form.cleaned_data["task"] == "both" else [form.cleaned_data["task"]]
    horizon = form.cleaned_data["horizon"]
    algorithms = list(form.cleaned_data["algorithms"])
    from predictions.tasks import model_train_task

    jobs = []
    with transaction.atomic():
        for task in tasks:
            job = job_create(shop=shop, kind=Job.Kind.TRAIN, user=request.user,
                             params={"task": task, "horizon_days": horizon, "algorithms": algorithms},
                             message=f"training {task} at {horizon} days: waiting for a worker")
            jobs.append(job)
            # robust: without a broker the task runs right here; its failure is on the job row, not a 500.
            transaction.on_commit(
                lambda task=task, job=job: model_train_task.delay(shop.pk, task, horizon, None, algorithms, job.pk),
                robust=True)
    messages.success(request, f"Training started ({', '.join(tasks)}, {horizon} days). The page below follows it.")
    return redirect("analyst:job", job_id=jobs[0].pk) if len(jobs) == 1 else redirect("analyst:jobs")


@role_required("analyst")
@require_POST
def score_now(request: HttpRequest) -> HttpResponse:
    """Score every customer with the current champions, in the background."""
    shop = shop_for_request(request)
    try:
        run = scoring_run_create(shop=shop, user=request.user, enqueue=True)
    except UserError as exc:
        messages.error(request, exc.message)
        return redirect("analyst:models")
    except Exception:  # without a broker the chunks run in this request; the run and its job record the failure
        logger.exception("scoring failed for shop %s", shop.slug)
        run = scoring_run_latest(shop=shop)
        messages.error(request, "Scoring failed. The job below says why.")
        return redirect("analyst:job", job_id=run.job_id) if run and run.job_id else redirect("analyst:jobs")
    messages.success(request, f"Scoring started for {run.customers_total:,} customers.")
    return redirect("analyst:job", job_id=run.job_id) if run.job_id else redirect("analyst:jobs")


# ---- jobs ---------------------------------------------------------------------------------------------


RECENT_JOBS = 50


def _job_row(job: Job) -> dict:
    return {"job": job, "percent": _job_percent(job), "error": error_text(job.error),
            "running": job.status in RUNNING}


@role_required("analyst")
@require_GET
@known_parameters("page")
def jobs_page(request: HttpRequest) -> HttpResponse:
    """Every job of the shop, newest first, RECENT_JOBS a page; the page follows those still running."""
    shop = shop_for_request(request)
    page = jobs_page_get(shop=shop, page=request.GET.get("page"), per_page=RECENT_JOBS)
    rows = [_job_row(j) for j in page]
    return render(request, "predictions/analyst_jobs.html", {
        "shop": shop, "rows": rows, "any_running": any(r["running"] for r in rows), "page": page,
    })


@role_required("analyst")
@require_GET
def jobs_status(request: HttpRequest) -> JsonResponse:
    """The poller's view of the last jobs: each one's status, message and progress."""
    shop = shop_for_request(request)
    fields, bars, running = {}, {}, False
    for job in jobs_recent_progress(shop=shop, limit=RECENT_JOBS):
        running = running or job.status in RUNNING
        fields[f"job-{job.pk}-status"] = job.get_status_display()
        fields[f"job-{job.pk}-message"] = job.message
        bars[f"job-{job.pk}"] = _job_percent(job)
    return JsonResponse({"done": not running, "fields": fields, "bars": bars})


def _job_get(request: HttpRequest, job_id: int) -> tuple[object, Job]:
    shop = shop_for_request(request)
    return shop, job_get(shop=shop, job_id=job_id)


def _duration_words(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _param_words(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@role_required("analyst")
@require_GET
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """One job: status, progress, message, error (text only), times, who, and what it produced."""
    shop, job = _job_get(request, job_id)
    import_job = import_job_of(shop=shop, job=job)
    duration = _duration_words((job.finished_at - job.started_at).total_seconds()) \
        if job.finished_at and job.started_at else None
    result = job.result or {}
    trained = [{"algorithm": algo, "label": ALGORITHM_LABELS.get(algo, algo), **(info or {})}
               for algo, info in (result.get("models") or {}).items()] if job.kind == Job.Kind.TRAIN else []
    return render(request, "predictions/analyst_job.html", {
        "shop": shop, "job": job, "row": _job_row(job), "import_job": import_job, "duration": duration,
        "params": [(key.replace("_", " "), _param_words(value))
                   for key, value in sorted((job.params or {}).items())], "trained": trained, "result": result,
        # under "Not trained:", the history's reasons without their own "not trained: "
        "errors": sorted((algo, why.removeprefix("not trained: "))
                         for algo, why in (result.get("errors") or {}).items()),
    })


@role_required("analyst")
@require_GET
def job_status(request: HttpRequest, job_id: int) -> JsonResponse:
    """The poller's view of one job."""
    _, job = _job_get(request, job_id)
    return JsonResponse({"status": job.status, "done": job.status not in RUNNING,
                         "fields": {"status": job.get_status_display(), "message": job.message,
                                    "percent": f"{_job_percent(job)} %"},
                         "bars": {"job": _job_percent(job)}})
