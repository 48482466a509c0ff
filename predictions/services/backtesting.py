"""Backtests: train as if it were a past date, then judge the models on what really happened after it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from django.conf import settings

from accounts.models import Shop
from behavior.models import Customer
from ecomsight.errors import UserError

from ..ml import pipeline
from ..ml.metrics import UNCERTAIN_HALF_WIDTH, roc_auc_interval, roc_auc_uncertain
from ..selectors.frames import data_date_range, shop_frames
from .training import TASKS, _headline, parse_algorithms

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "captured_top_decile",
               "precision", "recall", "f1", "threshold")
# A test window where this share of the customers (or more) has the one outcome: flagging everyone scores precision
# and a PR AUC at about that share, recall 1 and a lift of at most 1 / share, whatever the model, so those figures
# say nothing; the ROC AUC, which weighs both outcomes alike, still does (an outside analyst's marketplace: 99 %
# left, every model at precision = base rate, recall 1.0, PR AUC 0.998, and no word).
DOMINANT_OUTCOME_SHARE = 0.9
# The outcome's share moving this much (relative) between the validation and the test window: said in the note.
BASE_RATE_SHIFT = 0.25
UNINFORMATIVE_METRICS = ("pr_auc", "precision", "recall", "f1", "lift_top_decile", "captured_top_decile")


def truth_read(*, shop: Shop, path: str | Path) -> pd.DataFrame:
    """The simulator's truth.csv with its external customer ids mapped to this shop's ids."""
    try:
        truth = pd.read_csv(path, dtype={"customer_id": str})
    except FileNotFoundError:
        raise UserError(f"No truth file at {path}.", field="truth") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{path} is not a readable truth CSV ({exc}).", field="truth") from None
    if "customer_id" not in truth.columns:
        raise UserError(f"{path} has no customer_id column.", field="truth")
    ids = dict(Customer.objects.filter(shop=shop).values_list("external_id", "id"))
    truth["customer_id"] = truth["customer_id"].map(ids)
    return truth.dropna(subset=["customer_id"]).astype({"customer_id": "int64"})


def model_backtest(
    *,
    shop: Shop,
    task: str,
    cutoff: dt.date,
    horizon_days: int,
    truth_path: str | None = None,
    algorithms: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Metrics of every algorithm (and the oracle, with a truth file) on (cutoff, cutoff + H]."""
    if task not in TASKS:
        raise UserError(f"Unknown task '{task}': choose purchase or churn.", field="task")
    if horizon_days < 1:
        raise UserError("The horizon must be at least 1 day.", field="horizon")
    first, last = data_date_range(shop_id=shop.pk)
    if last is None:
        raise UserError(f"Shop '{shop.slug}' has no orders yet: import orders first.")
    if not first.date() < cutoff <= last.date():
        raise UserError(f"The cutoff {cutoff} is outside the shop's data ({first.date()} to {last.date()}).",
                        field="cutoff")
    latest_cutoff = last.date() - dt.timedelta(days=horizon_days)
    if cutoff + dt.timedelta(days=horizon_days) > last.date() and latest_cutoff <= first.date():
        span = (last.date() - first.date()).days
        raise UserError(
            f"The shop's data spans {span} days ({first.date()} to {last.date()}): a {horizon_days}-day horizon "
            f"leaves no history before a cutoff; choose a horizon under {span} days.", field="horizon")
    if cutoff + dt.timedelta(days=horizon_days) > last.date():
        raise UserError(
            f"A {horizon_days}-day horizon after {cutoff} ends after the data does ({last.date()}): "
            f"choose a cutoff on or before {last.date() - dt.timedelta(days=horizon_days)}.", field="cutoff")
    truth = truth_read(shop=shop, path=truth_path) if truth_path else None
    cutoff_ts = pd.Timestamp(cutoff, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    if progress:
        progress(f"reading {shop.slug}'s history")
    frames = shop_frames(shop_id=shop.pk)
    config = pipeline.TrainConfig(task=task, horizon_days=horizon_days, as_of=cutoff_ts,
                                  algorithms=parse_algorithms(algorithms), lookback_days=shop.churn_lookback_days,
                                  tune_trials=settings.TUNE_TRIALS, tune_seconds=settings.TUNE_SECONDS)
    result = pipeline.backtest(frames, config, cutoff=cutoff_ts, truth=truth,
                               progress=(lambda f, m: progress(f"{task}: {m}")) if progress else None)
    if not result.metrics:
        why = [*result.train_result.sufficiency.messages,
               *(f"{name}: {error}" for name, error in result.train_result.errors.items())]
        raise UserError("No model could be trained as of the cutoff: " + "; ".join(why) + ".")
    rows = {name: _headline(m) for name, m in result.metrics.items()}
    if result.oracle is not None:
        rows["oracle"] = _headline(result.oracle)
    s = result.train_result.sufficiency
    return {
        # Each algorithm's metrics also sit at the top level under its name, for tools that read them so.
        **rows,
        "task": task, "cutoff": cutoff.isoformat(), "horizon_days": horizon_days,
        "customers": result.customers, "base_rate": result.base_rate, "champion": result.champion,
        # False where no validation window could rank the models (too short a history, a window of one outcome):
        # the champion is then the label-free model that fits the history best (with a long horizon, blended).
        "validation_ranked": result.train_result.metrics.get(result.champion or "") is not None,
        "algorithms": rows, "errors": _errors_explained(result.train_result.errors, champion=result.champion),
        "sufficiency": {"customers": s.customers, "buyers": s.buyers, "repeat_buyers": s.repeat_buyers,
                        "history_days": s.history_days, "algorithms_allowed": list(s.algorithms_allowed),
                        "messages": list(s.messages)},
        "uncertainty": _uncertainty(task=task, customers=result.customers, base_rate=result.base_rate,
                                    champion_roc_auc=(rows.get(result.champion or "") or {}).get("roc_auc"),
                                    valid_base_rate=(result.train_result.metrics.get(result.champion or "")
                                                     or {}).get("base_rate")),
    }


def _uncertainty(*, task: str, customers: int, base_rate: float | None, champion_roc_auc: float | None,
                 valid_base_rate: float | None = None) -> dict:
    """How far the test window's figures could move with another sample of customers, and what they can say: the
    outcomes' counts and the champion's ROC AUC with its analytic 95 % interval; `uncertain` and a note where the
    interval is wide (an outside analyst read ROC AUCs of 0.58-0.78 on 150 test customers as a ranking of the models)
    or holds 0.5 (no better than chance: a Pareto/NBD at 0.512, [0.486, 0.538], went without a word). Where one
    outcome holds DOMINANT_OUTCOME_SHARE of the window, `uninformative_metrics` names the figures that say nothing
    there and the note says to read the ROC AUC; `uncertain` stays about the ROC AUC, which still ranks. Where the
    share of the outcome moved between the validation window (`validation_base_rate`, whose probabilities the models
    were calibrated on) and the test window by more than BASE_RATE_SHIFT (relative, and 0.05 at least), the note says
    the Brier score and log loss measure the shift (an outside analyst: with a promotion inside the horizon every
    churn model scored a worse Brier than a constant at the test's rate, and nothing said why)."""
    positives = round((base_rate or 0.0) * customers)
    negatives = customers - positives
    interval = roc_auc_interval(champion_roc_auc, positives=positives, negatives=negatives)
    out = {"test_customers": customers, "positives": positives, "negatives": negatives,
           "champion_roc_auc": champion_roc_auc, "roc_auc_se": interval.se if interval else None,
           "roc_auc_95": [interval.low, interval.high] if interval else None,
           "method": "analytic standard error of the ROC AUC (Hanley & McNeil, 1982)",
           "uncertain": None, "note": None, "uninformative_metrics": [], "validation_base_rate": valid_base_rate}
    yes, no = ("bought", "did not buy") if task == "purchase" else ("left", "stayed")
    notes = []
    if interval is not None:
        half = 1.96 * interval.se
        chance = interval.low <= 0.5 <= interval.high
        out["uncertain"] = roc_auc_uncertain(interval)
        if chance:
            notes.append(f"The champion ranks the customers no better than chance: its ROC AUC {champion_roc_auc:.3f} "
                         f"has a 95 % interval of {interval.low:.3f}-{interval.high:.3f}, which holds 0.5 (a coin "
                         "toss); its scores do not tell who will leave from who will stay." if task == "churn" else
                         f"The champion ranks the customers no better than chance: its ROC AUC {champion_roc_auc:.3f} "
                         f"has a 95 % interval of {interval.low:.3f}-{interval.high:.3f}, which holds 0.5 (a coin "
                         "toss); its scores do not tell who will buy from who will not.")
        if half > UNCERTAIN_HALF_WIDTH:
            notes.append(f"The figures are uncertain: with {customers:,} test customers ({positives:,} {yes}, "
                         f"{negatives:,} {no}) the champion's ROC AUC could move by about ±{half:.2f} with another "
                         "sample of customers, and differences between the models of a few hundredths are within "
                         "that noise.")
    if negatives > 0 and positives >= DOMINANT_OUTCOME_SHARE * customers:  # one outcome only: the command says it
        out["uninformative_metrics"] = list(UNINFORMATIVE_METRICS)
        share = positives / customers
        notes.append(f"With {100 * share:.1f} % of the test customers {yes} ({positives:,} of {customers:,}), the PR "
                     f"AUC, precision, recall, F1 and lift say nothing: flagging every customer already scores a "
                     f"precision of {share:.3f}, a recall of 1 and a PR AUC near {share:.3f}, and the lift cannot "
                     f"pass {1 / share:.2f}. Read the ROC AUC to compare the models.")
    if valid_base_rate is not None and base_rate is not None and abs(base_rate - valid_base_rate) >= 0.05 \
            and abs(base_rate - valid_base_rate) > BASE_RATE_SHIFT * max(valid_base_rate, 1e-9):
        constant = base_rate * (1 - base_rate)
        notes.append(f"The share of customers who {yes} moved from {valid_base_rate:.3f} in the validation window to "
                     f"{base_rate:.3f} in the test window: the probabilities were calibrated on the former, so the "
                     f"Brier score and log loss measure that shift as much as the models (a constant at the test's "
                     f"rate scores a Brier of {constant:.3f}). Read the ROC and PR AUC to rank the models.")
    out["note"] = " ".join(notes) or None
    return out


def _errors_explained(errors: dict[str, str], *, champion: str | None = None) -> dict[str, str]:
    """Each failed algorithm's reason (the pipeline gives the history's for one the history did not allow). Beside a
    long-horizon champion, the models it trains on a shorter horizon say so (an analyst read "not trained" beside a
    champion that blends one of them)."""
    out = dict(errors)
    if champion == "long_horizon":
        for name in pipeline.PROXY_ALGORITHMS:
            if name in out:
                out[name] += (" (not for this horizon: the long-horizon champion trains it on the longest horizon that "
                              "fits, and blends it with the label-free model)")
    return out
