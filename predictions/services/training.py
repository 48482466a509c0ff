"""Training: read the shop's history in bulk, run `ml.pipeline.train`, register every model, and
promote the validation champion only when it beats the current champion on the same validation data."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.jobs import job_create, job_finish, job_progress, job_running
from accounts.models import AuditLog, Job, Shop
from ecomsight.errors import UserError

from ..ml import pipeline
from ..ml.base import ShopFrames
from ..ml.labels import SUPERVISED_ALGORITHMS, Sufficiency
from ..ml.metrics import evaluate
from ..models import ModelVersion
from ..selectors.frames import customer_count, data_date_range, shop_frames
from .registry import artifact_save, model_load

logger = logging.getLogger("ecomsight.training")

ALGORITHMS = ("recency", "rfm_logreg", "bgnbd", "paretonbd", "lgbm", "lstm", "ensemble", "event_gru")
# What `train` / `backtest` run without --algorithms: event_gru is opt-in (its cost, see the README).
DEFAULT_ALGORITHMS = ("recency", "rfm_logreg", "bgnbd", "paretonbd", "lgbm", "lstm", "ensemble")
TASKS = ("purchase", "churn")


@dataclass(frozen=True)
class TrainOutcome:
    task: str
    horizon_days: int
    as_of: dt.date
    versions: list[ModelVersion]
    champion: ModelVersion | None
    promoted: bool
    previous_champion_metrics: dict | None
    sufficiency: dict
    errors: dict[str, str] = field(default_factory=dict)
    train_rows: int = 0
    valid_rows: int = 0

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "horizon_days": self.horizon_days,
            "as_of": self.as_of.isoformat(),
            "champion": self.champion.algorithm if self.champion else None,
            "champion_version": self.champion.pk if self.champion else None,
            "promoted": self.promoted,
            # False when this run's validation window could rank no model (one outcome only, or no labels)
            "validation_ranked": any((v.metrics or {}).get("pr_auc") is not None for v in self.versions),
            "train_rows": self.train_rows,
            "valid_rows": self.valid_rows,
            "sufficiency": self.sufficiency,
            "previous_champion": self.previous_champion_metrics,
            "models": {
                v.algorithm: {"version": v.pk, "status": v.status, "metrics": _headline(v.metrics)}
                for v in self.versions
            },
            "errors": self.errors,
        }


def _with_hyperparameters(metrics: dict | None, model) -> dict:
    """The validation metrics, with the hyperparameters the model chose and how (models that say: LightGBM's
    `describe`) under "hyperparameters", for the model's page and the API."""
    describe = getattr(model, "describe", None)
    out = dict(metrics or {})
    if callable(describe):
        out["hyperparameters"] = describe()
    return out


def _headline(metrics: dict | None) -> dict | None:
    if not metrics:
        return None
    keys = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "captured_top_decile",
            "precision", "recall", "f1", "threshold", "base_rate", "n")
    return {k: metrics.get(k) for k in keys}


def parse_algorithms(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """`"lgbm,lstm"` → ("lgbm", "lstm"); unknown names are a clear error."""
    if not text:
        return DEFAULT_ALGORITHMS
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise UserError(f"Unknown algorithm(s): {', '.join(unknown)}. Choose from {', '.join(ALGORITHMS)}.",
                        field="algorithms")
    return tuple(names)


def resolve_as_of(*, shop: Shop, as_of: dt.date | None) -> pd.Timestamp:
    """The end of the day `as_of`, defaulting to the last order's day; refused outside the data."""
    first, last = data_date_range(shop_id=shop.pk)
    if last is None:
        raise UserError(f"Shop '{shop.slug}' has no orders yet: import orders first.")
    if as_of is None:
        as_of = last.date()
    if as_of < first.date():
        raise UserError(f"--as-of {as_of} is before the shop's first order ({first.date()}).", field="as_of")
    if as_of > last.date():
        raise UserError(f"--as-of {as_of} is after the shop's last order ({last.date()}).", field="as_of")
    return pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)


def model_train(
    *,
    shop: Shop,
    task: str,
    horizon_days: int | None = None,
    as_of: dt.date | None = None,
    algorithms: Sequence[str] | None = None,
    job_id: int | None = None,
    frames: ShopFrames | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainOutcome:
    """Train every requested algorithm the history allows, register them, maybe promote a champion."""
    if task not in TASKS:
        raise UserError(f"Unknown task '{task}': choose purchase or churn.", field="task")
    horizon = int(horizon_days or shop.horizon_days)
    if horizon < 1:
        raise UserError("The horizon must be at least 1 day.", field="horizon")
    as_of_ts = resolve_as_of(shop=shop, as_of=as_of)
    requested = tuple(algorithms or DEFAULT_ALGORITHMS)

    def say(message: str) -> None:
        if progress:
            progress(message)
        if job_id:
            job_progress(job_id=job_id, message=message)

    sample_share = None
    if frames is None:
        total = customer_count(shop_id=shop.pk)
        cap = settings.TRAIN_SAMPLE_CUSTOMERS
        if cap and total > cap:
            sample_share = cap / total
            say(f"reading a sample of about {cap:,} of {shop.slug}'s {total:,} customers up to {as_of_ts.date()}")
        else:
            say(f"reading {shop.slug}'s history up to {as_of_ts.date()}")
        frames = shop_frames(shop_id=shop.pk, until=as_of_ts.to_pydatetime(), sample_share=sample_share)
    config = pipeline.TrainConfig(task=task, horizon_days=horizon, as_of=as_of_ts, algorithms=requested,
                                  lookback_days=shop.churn_lookback_days, tune_trials=settings.TUNE_TRIALS,
                                  tune_seconds=settings.TUNE_SECONDS)
    factories = pipeline.default_model_factories(task, horizon, config.seed, tune_trials=config.tune_trials,
                                                 tune_seconds=config.tune_seconds)

    def step(fraction: float, message: str) -> None:
        say(f"{task}: {message}")
        if job_id:
            job_progress(job_id=job_id, done=int(fraction * 100), total=100)

    result = pipeline.train(frames, config, model_factories=factories, progress=step)
    sufficiency = {
        "customers": result.sufficiency.customers,
        "buyers": result.sufficiency.buyers,
        "repeat_buyers": result.sufficiency.repeat_buyers,
        "history_days": result.sufficiency.history_days,
        "horizon_days": result.sufficiency.horizon_days,
        "algorithms_allowed": list(result.sufficiency.algorithms_allowed),
        "messages": list(result.sufficiency.messages),
        "sample_share": round(sample_share, 4) if sample_share else None,
    }
    if not result.models:
        details = "; ".join(f"{k}: {v}" for k, v in result.errors.items())
        raise UserError(
            f"No model could be trained for {task} at {horizon} days. "
            + " ".join(result.sufficiency.messages) + (f" ({details})" if details else "")
        )
    # Unique per training run: two runs in the same second (a retry, two tasks) must not share a folder.
    run_key = f"{timezone.now():%Y%m%dT%H%M%S}-{job_id or 'cli'}-{uuid.uuid4().hex[:8]}"
    saved = {name: artifact_save(model=model, shop_slug=shop.slug, task=task, horizon_days=horizon, run_key=run_key)
             for name, model in result.models.items()}
    comparison = {name: _headline(m) for name, m in result.metrics.items()}
    with transaction.atomic():
        versions = [
            ModelVersion.objects.create(
                shop=shop, task=task, algorithm=name, horizon_days=horizon, as_of=as_of_ts.date(),
                train_cutoffs=[c.date().isoformat() for c in result.cutoffs.train],
                validation_cutoff=result.cutoffs.valid.date(), features=result.features,
                metrics=_with_hyperparameters(result.metrics.get(name), result.models[name]), comparison=comparison,
                artifact_path=str(path), job_id=job_id,
            )
            for name, path in saved.items()
        ]
    new = next((v for v in versions if v.algorithm == result.champion), None)
    promoted, previous = False, None
    if new is not None:
        promoted, previous = _promote_if_better(shop=shop, candidate=new, frames=frames, config=config,
                                                valid_cutoff=result.cutoffs.valid, sufficiency=result.sufficiency)
    say(f"{task}: champion {'promoted' if promoted else 'kept'}")
    return TrainOutcome(
        task=task, horizon_days=horizon, as_of=as_of_ts.date(), versions=versions,
        champion=new if promoted else ModelVersion.objects.filter(
            shop=shop, task=task, horizon_days=horizon, status=ModelVersion.Status.CHAMPION).first(),
        promoted=promoted, previous_champion_metrics=previous, sufficiency=sufficiency,
        errors=result.errors, train_rows=result.train_rows, valid_rows=result.valid_rows,
    )


def model_train_recorded(*, shop: Shop, task: str, user=None, **options) -> TrainOutcome:
    """`model_train` with a Job row, for the callers that have none (the `train` command, `manage.py demo`):
    their training shows on the Jobs page, and its history verdict on the Models page, like the web's."""
    horizon = int(options.get("horizon_days") or shop.horizon_days)
    job = job_create(shop=shop, kind=Job.Kind.TRAIN, user=user, message=f"training {task} at {horizon} days",
                     params={"task": task, "horizon_days": horizon,
                             "algorithms": list(options.get("algorithms") or DEFAULT_ALGORITHMS)})
    with job_running(job.pk):
        outcome = model_train(shop=shop, task=task, job_id=job.pk, **options)
        job_finish(job_id=job.pk, result=outcome.to_dict(), message="training finished")
    return outcome


def _promote_if_better(*, shop, candidate: ModelVersion, frames, config, valid_cutoff,
                       sufficiency: Sufficiency | None = None) -> tuple[bool, dict | None]:
    """Compare the candidate with the current champion on the candidate's validation data. A current champion of
    an algorithm this run's history rules out (`sufficiency`) gives way to a candidate measured on validation without
    a contest: this run would not train it, so it cannot stay champion beside "not trained: …" (one trained before
    the rule was enforced). A run whose validation ranks nothing (one outcome only) keeps a measured champion, as
    below, whatever the history now rules out."""
    current = ModelVersion.objects.filter(shop=shop, task=candidate.task, horizon_days=candidate.horizon_days,
                                          status=ModelVersion.Status.CHAMPION).first()
    previous = None
    refusal = sufficiency.refusal(current.algorithm) if sufficiency is not None and current is not None else None
    if refusal and current.algorithm in SUPERVISED_ALGORITHMS and (candidate.metrics or {}).get("pr_auc") is not None:
        model_version_promote(version=candidate,
                              reason=f"the history now rules out the current champion ({current.algorithm}): {refusal}")
        return True, _headline(current.metrics)
    if (current is not None and (candidate.metrics or {}).get("pr_auc") is None
            and (current.metrics or {}).get("pr_auc") is not None):
        # This run's validation window could not rank anything (it holds one outcome only: nobody left, or
        # everybody bought; or the history is shorter than the horizon): nothing shows the candidate is better,
        # so a champion that was measured stays. One whose artifact is gone cannot serve and is replaced; one that
        # was not measured either (an earlier fallback) gives way to this run's, fitted on more data.
        try:
            model_load(version=current)
        except UserError as exc:
            logger.warning("current champion %s cannot be loaded: %s", current.pk, exc.message)
        else:
            return False, _headline(current.metrics)
    if current is not None and candidate.metrics:
        try:
            model = model_load(version=current)
            # the current champion may read inputs this run's algorithms do not (event_gru's events)
            config = replace(config, algorithms=(*config.algorithms, current.algorithm))
            valid = pipeline.build_model_input(
                frames, cutoff=valid_cutoff, horizon_days=config.horizon_days, task=config.task, config=config,
                labels_until=config.as_of,
            )
            previous = _headline(evaluate(valid.y, model.predict_proba(valid)))
        except UserError as exc:  # artifact gone or built for other features: it cannot compete
            logger.warning("current champion %s cannot be evaluated: %s", current.pk, exc.message)
        contest = {"current": previous, "new": candidate.metrics}
        if previous is not None and pipeline.choose_champion(contest) == "current":
            return False, previous
    model_version_promote(version=candidate, reason="beat the current champion on validation"
                          if current else "first champion")
    return True, previous


@transaction.atomic
def model_version_promote(*, version: ModelVersion, user=None, reason: str = "promoted by hand") -> ModelVersion:
    """Make `version` the champion of its shop, task and horizon; the old one is retired. Audited."""
    ModelVersion.objects.filter(shop=version.shop, task=version.task, horizon_days=version.horizon_days,
                                status=ModelVersion.Status.CHAMPION).exclude(pk=version.pk).update(
        status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.CHAMPION
    version.promoted_at = timezone.now()
    version.save(update_fields=["status", "promoted_at"])
    AuditLog.objects.create(shop=version.shop, user=user, action="model.promote",
                            target=f"{version.task}/{version.algorithm} v{version.pk}",
                            details={"reason": reason, "horizon_days": version.horizon_days,
                                     "pr_auc": (version.metrics or {}).get("pr_auc")})
    return version
