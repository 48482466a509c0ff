"""Training, backtesting and scoring: cutoffs, stacked training sets, model fitting, champion choice.

Time layout for a training run as of A with horizon H (rolling origin):

    ... train cutoff T_k = A - 2H - k*step ... | T_val = A - H |  A
    labels of T_k end by T_val               labels of T_val end at A

The frames are truncated to A before anything else, and the training rows are built from frames
truncated to T_val, so no training label can see the validation period and nothing after A is
ever read. `backtest` runs the same training as of a past cutoff and then compares its predictions
with what really happened after it.

Models plug in through `model_factories` (name -> zero-argument callable returning a `Model`);
the ensemble's factory takes `members=[fitted models]` instead.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from predictions.ml.base import EventSequences, Model, ModelInput, ShopFrames
from predictions.ml.eventseq import DEFAULT_STEPS, build_event_sequences, empty_sequences
from predictions.ml.features import (
    SEQUENCE_CHANNELS,
    FeatureConfig,
    as_utc,
    build_features,
    days_before,
    eligible_customers,
    feature_names,
)
from predictions.ml.labels import (
    SUPERVISED_ALGORITHMS,
    Sufficiency,
    SufficiencyThresholds,
    build_labels,
    data_end,
    data_start,
    default_step_days,
    history_sufficiency,
)
from predictions.ml.metrics import evaluate

Progress = Callable[[float, str], None]
ModelFactory = Callable[..., Model]
# Ensemble members, in order, when they were trained in the same run. Pareto/NBD and the RFM regression see the
# history differently from the learned models; validation log loss sets their weights (often 0).
ENSEMBLE_MEMBERS = ("lgbm", "lstm", "paretonbd", "rfm_logreg")
ENSEMBLE_CORE = ("lgbm", "lstm")
# Algorithms that read ModelInput.events (each customer's last individual events and orders).
EVENT_ALGORITHMS = ("event_gru",)
# Risk bands by calibrated probability: "high" means at least 60 % likely.
HIGH_RISK = 0.6
# A backtest's threshold for precision, recall and F1 where no validation window gave one (probabilities are
# calibrated: flagged when more likely than not).
DEFAULT_THRESHOLD = 0.5
MEDIUM_RISK = 0.3
# Two validation PR AUCs closer than this are a tie, decided by the lower log loss.
CHAMPION_TIE = 0.005


@dataclass(frozen=True)
class TrainConfig:
    """One training run: task ("churn" / "purchase"), horizon, the as-of date and the algorithms."""

    task: str
    horizon_days: int
    as_of: pd.Timestamp
    algorithms: tuple[str, ...] = ("recency", "rfm_logreg", "bgnbd")
    lookback_days: int = 365
    n_train_cutoffs: int = 4
    # None: max(7, horizon_days // 2), see labels.default_step_days.
    cutoff_step_days: int | None = None
    seed: int = 0
    feature_config: FeatureConfig = FeatureConfig()
    # Steps per customer of the event-level sequences, built only when an algorithm in EVENT_ALGORITHMS is asked.
    event_steps: int = DEFAULT_STEPS
    # LightGBM's bounded hyperparameter search on the validation split (gbm.py, tuning.py): trials in all
    # (0: the fixed grid gbm.PARAM_CANDIDATES) and a wall-clock guard per fit.
    tune_trials: int = 0
    tune_seconds: float = 300.0

    @property
    def needs_events(self) -> bool:
        """Whether ModelInput.events must be built (an event-level algorithm is requested)."""
        return any(a in EVENT_ALGORITHMS for a in self.algorithms)

    @property
    def step_days(self) -> int:
        """Days between stacked training cutoffs."""
        return self.cutoff_step_days or default_step_days(self.horizon_days)


@dataclass(frozen=True)
class Cutoffs:
    """Training cutoffs (oldest first) and the validation cutoff."""

    train: tuple[pd.Timestamp, ...]
    valid: pd.Timestamp


@dataclass(frozen=True)
class TrainResult:
    """Fitted models, their validation metrics and the champion the validation chose."""

    models: dict[str, Model]
    metrics: dict[str, dict[str, Any] | None]
    champion: str | None
    train_rows: int
    valid_rows: int
    cutoffs: Cutoffs
    sufficiency: Sufficiency
    features: list[str]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BacktestResult:
    """Models trained as of `cutoff`, judged on what happened in (cutoff, cutoff + H]."""

    cutoff: pd.Timestamp
    task: str
    horizon_days: int
    metrics: dict[str, dict[str, Any]]
    champion: str | None
    customers: int
    base_rate: float | None
    oracle: dict[str, Any] | None
    train_result: TrainResult


@dataclass(frozen=True)
class ScoreFrame:
    """Scores of the eligible customers: probability, decile (1 = most likely) and risk band."""

    customer_ids: np.ndarray
    probability: np.ndarray
    decile: np.ndarray
    risk_band: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """The same as a DataFrame indexed by customer_id."""
        return pd.DataFrame(
            {"probability": self.probability, "decile": self.decile, "risk_band": self.risk_band},
            index=pd.Index(self.customer_ids, name="customer_id"),
        )


# ----------------------------------------------------------------------------------------- cutoffs
def make_cutoffs(
    *,
    as_of: pd.Timestamp,
    horizon_days: int,
    n_train_cutoffs: int,
    step_days: int,
    earliest: pd.Timestamp | None = None,
) -> Cutoffs:
    """Validation at as_of - H; training at as_of - 2H - k*step (k = 0..n-1), none before `earliest`."""
    as_of = as_utc(as_of)
    horizon = pd.Timedelta(days=horizon_days)
    valid = as_of - horizon
    train = [valid - horizon - pd.Timedelta(days=k * step_days) for k in range(n_train_cutoffs)]
    if earliest is not None:
        train = [t for t in train if t >= as_utc(earliest)]
    return Cutoffs(train=tuple(sorted(train)), valid=valid)


def truncate_frames(frames: ShopFrames, cutoff: pd.Timestamp) -> ShopFrames:
    """The shop as it was at `cutoff`: rows stamped after it are dropped (customers signed up later too)."""
    cutoff = as_utc(cutoff)

    def upto(frame: pd.DataFrame, column: str, keep_missing: bool = False) -> pd.DataFrame:
        if len(frame) == 0:
            return frame
        age = days_before(frame[column], cutoff)
        keep = (age >= 0) | (np.isnan(age) if keep_missing else False)
        return frame[keep].reset_index(drop=True)

    return ShopFrames(
        customers=upto(frames.customers, "signup_at", keep_missing=True),
        orders=upto(frames.orders, "placed_at"),
        order_lines=upto(frames.order_lines, "placed_at"),
        events=upto(frames.events, "occurred_at"),
        reviews=None if frames.reviews is None else upto(frames.reviews, "created_at"),
    )


# ------------------------------------------------------------------------------------------ inputs
def build_model_input(
    frames: ShopFrames,
    *,
    cutoff: pd.Timestamp,
    horizon_days: int | None,
    task: str,
    config: TrainConfig,
    labels_until: pd.Timestamp | None = None,
) -> ModelInput:
    """Features of the customers eligible for `task` at `cutoff`, with labels when they are known.

    Labels are attached when `horizon_days` is given and (cutoff, cutoff + H] ends by
    `labels_until` (default: the last timestamp in the frames).
    """
    cutoff = as_utc(cutoff)
    ids = eligible_customers(frames, cutoff=cutoff, task=task, lookback_days=config.lookback_days)
    features = build_features(frames, cutoff=cutoff, config=config.feature_config, customer_ids=ids)
    y = None
    if horizon_days is not None:
        until = labels_until if labels_until is not None else data_end(frames)
        if until is not None and cutoff + pd.Timedelta(days=horizon_days) <= as_utc(until):
            y = build_labels(frames, cutoff=cutoff, horizon_days=horizon_days, task=task, customer_ids=ids)
    events = (build_event_sequences(frames, cutoff=cutoff, customer_ids=features.customer_ids,
                                    steps=config.event_steps) if config.needs_events else None)
    return ModelInput(customer_ids=features.customer_ids, X=features.X, sequences=features.sequences, y=y,
                      events=events)


def stack_inputs(inputs: list[ModelInput], columns: list[str], bins: int, channels: int,
                 event_steps: int | None = None) -> ModelInput:
    """Rows of several cutoffs in one ModelInput (a customer appears once per cutoff). `event_steps`: the
    events' step count when the inputs carry events (for the empty case)."""
    if not inputs:
        return ModelInput(
            customer_ids=np.zeros(0, dtype=np.int64),
            X=pd.DataFrame({c: np.zeros(0, dtype=np.float32) for c in columns}),
            sequences=np.zeros((0, bins, channels), dtype=np.float32),
            y=np.zeros(0, dtype=np.int8),
            events=empty_sequences(0, event_steps) if event_steps else None,
        )
    with_events = all(i.events is not None for i in inputs)
    return ModelInput(
        customer_ids=np.concatenate([i.customer_ids for i in inputs]),
        X=pd.concat([i.X for i in inputs], ignore_index=True),
        sequences=np.concatenate([i.sequences for i in inputs]),
        y=np.concatenate([i.y for i in inputs]),
        events=EventSequences.concat([i.events for i in inputs]) if with_events else None,
    )


# ------------------------------------------------------------------------------------------- train
def default_model_factories(task: str, horizon_days: int, seed: int = 0, *, tune_trials: int = 0,
                            tune_seconds: float = 300.0) -> dict[str, ModelFactory]:
    """Factories for every algorithm whose module is installed; gbm / lstm / ensemble import lazily.
    `tune_trials` / `tune_seconds`: LightGBM's hyperparameter search (TrainConfig's fields of the same names)."""
    from predictions.ml.baselines import RecencyModel, RfmLogReg
    from predictions.ml.bgnbd import BgNbdModel
    from predictions.ml.paretonbd import ParetoNbdModel

    factories: dict[str, ModelFactory] = {
        "recency": lambda: RecencyModel(task),
        "rfm_logreg": lambda: RfmLogReg(task),
        "bgnbd": lambda: BgNbdModel(task, horizon_days),
        "paretonbd": lambda: ParetoNbdModel(task, horizon_days),
    }

    def available(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ImportError:
            return False

    if available("predictions.ml.gbm"):

        def lgbm() -> Model:
            from predictions.ml.gbm import LightGbmModel

            return LightGbmModel(task, seed=seed, tune_trials=tune_trials, tune_seconds=tune_seconds)

        factories["lgbm"] = lgbm
    if available("predictions.ml.lstm"):

        def lstm() -> Model:
            from predictions.ml.lstm import LstmModel

            return LstmModel(task, seed=seed)

        factories["lstm"] = lstm
    if available("predictions.ml.eventgru"):

        def event_gru() -> Model:
            from predictions.ml.eventgru import EventGruModel

            return EventGruModel(task, seed=seed)

        factories["event_gru"] = event_gru
    if available("predictions.ml.ensemble"):

        def ensemble(*, members: list[Model]) -> Model:
            from predictions.ml.ensemble import EnsembleModel

            return EnsembleModel(members=members)

        factories["ensemble"] = ensemble
    return factories


def choose_champion(metrics: Mapping[str, dict[str, Any] | None]) -> str | None:
    """The algorithm with the best validation PR AUC; within CHAMPION_TIE, the lower log loss wins.

    PR AUC because marketers act on the top of the list, where the positive class is what matters,
    and it is not flattered by the many easy negatives that lift ROC AUC for rare events.
    """
    scored = [(name, m) for name, m in metrics.items() if m and m.get("pr_auc") is not None]
    if not scored:
        return None
    best_pr = max(m["pr_auc"] for _, m in scored)
    close = [(name, m) for name, m in scored if m["pr_auc"] >= best_pr - CHAMPION_TIE]
    return min(close, key=lambda item: item[1]["log_loss"] if item[1]["log_loss"] is not None else math.inf)[0]


def train(
    frames: ShopFrames,
    config: TrainConfig,
    *,
    model_factories: Mapping[str, ModelFactory],
    progress: Progress | None = None,
    thresholds: SufficiencyThresholds | None = None,
) -> TrainResult:
    """Build the stacked training set and the validation set, fit each algorithm, pick the champion.

    An algorithm that fails (too little data, a missing library) is recorded in `errors` and the
    others go on. A supervised algorithm the history does not allow (`history_sufficiency`) is not trained, nor
    announced: its error is the history's reason ("not trained: ..."), so it can never be the champion. The rule
    is enforced, not only said: with 150 validation customers LightGBM, the LSTM and the ensemble were trained
    against "LightGBM needs 200 validation customers" and one of them crowned on noise (an outside analyst's B2B
    shop). A label-free model (BG/NBD, Pareto/NBD) the history rules out is still tried, as the last resort of a
    shop nothing else can serve; if it fails, its error is the history's reason. When the history is shorter than
    the horizon there are no labels: label-free models are fitted on the features as of `as_of` and no champion
    is chosen by metrics; BG/NBD is then the champion if it was fitted.
    """

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    th = thresholds or SufficiencyThresholds()
    as_of = as_utc(config.as_of)
    frames = truncate_frames(frames, as_of)
    sufficiency = history_sufficiency(
        frames,
        as_of=as_of,
        horizon_days=config.horizon_days,
        lookback_days=config.lookback_days,
        task=config.task,
        n_train_cutoffs=config.n_train_cutoffs,
        step_days=config.step_days,
        thresholds=th,
    )
    start = data_start(frames)
    earliest = start + pd.Timedelta(days=th.min_feature_history_days) if start is not None else None
    cutoffs = make_cutoffs(
        as_of=as_of,
        horizon_days=config.horizon_days,
        n_train_cutoffs=config.n_train_cutoffs,
        step_days=config.step_days,
        earliest=earliest,
    )
    report(0.05, "building validation features")
    valid = None
    if earliest is None or cutoffs.valid >= earliest:
        valid = build_model_input(
            frames,
            cutoff=cutoffs.valid,
            horizon_days=config.horizon_days,
            task=config.task,
            config=config,
            labels_until=as_of,
        )
    if valid is None or len(valid.customer_ids) == 0 or valid.y is None:
        # No labelled window with the feature history history_sufficiency asks for (the history is shorter than
        # the horizon plus min_feature_history_days): label-free models are fitted on today's features, not on
        # a window of a few days (where a shop had no repeat buyer yet, and their calibration was that window's).
        valid = build_model_input(frames, cutoff=as_of, horizon_days=None, task=config.task, config=config)
    # Training rows come from the shop as it was at the validation cutoff: their labels cannot
    # reach into the validation period.
    before_valid = truncate_frames(frames, cutoffs.valid)
    train_inputs = []
    for i, cutoff in enumerate(cutoffs.train):
        report(0.05 + 0.25 * i / max(1, len(cutoffs.train)), f"building training features as of {cutoff.date()}")
        item = build_model_input(
            before_valid,
            cutoff=cutoff,
            horizon_days=config.horizon_days,
            task=config.task,
            config=config,
            labels_until=cutoffs.valid,
        )
        if item.y is not None and len(item.customer_ids):
            train_inputs.append(item)
    columns = feature_names(config.feature_config)
    train_set = stack_inputs(train_inputs, columns, config.feature_config.seq_bins, len(SEQUENCE_CHANNELS),
                             event_steps=config.event_steps if config.needs_events else None)

    models: dict[str, Model] = {}
    metrics: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}
    ordered = [a for a in config.algorithms if a != "ensemble"] + [a for a in config.algorithms if a == "ensemble"]
    for i, name in enumerate(ordered):
        factory = model_factories.get(name)
        if factory is None:
            errors[name] = "not available in this installation"
            continue
        refusal = sufficiency.refusal(name)
        if refusal and name in SUPERVISED_ALGORITHMS:
            # What the history rules out is not trained (and so never champion): the output says what was done.
            errors[name] = refusal
            continue
        report(0.3 + 0.65 * i / max(1, len(ordered)), f"training {name}")
        try:
            if name == "ensemble":
                members = [models[m] for m in ENSEMBLE_MEMBERS if m in models]
                if not any(m in models for m in ENSEMBLE_CORE):
                    raise ValueError("the ensemble needs at least one trained member (lgbm, lstm)")
                model = factory(members=members)
            else:
                model = factory()
            model.fit(train_set, valid)
            models[name] = model
            metrics[name] = evaluate(valid.y, model.predict_proba(valid)) if valid.y is not None else None
        except Exception as error:  # noqa: BLE001 - one failing algorithm must not stop the others
            # one the history did not allow: the history's reason rather than the library's
            errors[name] = refusal or f"{type(error).__name__}: {error}"
    champion = choose_champion(metrics)
    if champion is None:
        champion = label_free_champion(frames, as_of=as_of, horizon_days=config.horizon_days, task=config.task,
                                       lookback_days=config.lookback_days, fitted=models,
                                       feature_config=config.feature_config)
    if champion in LABEL_FREE and valid.y is None:
        report(0.96, "training a shorter horizon for the long one")
        try:
            long_model = long_horizon_model(frames, config, label_free=models[champion], current=valid, thresholds=th)
        except Exception as error:  # noqa: BLE001 - the label-free champion still serves
            errors["long_horizon"] = f"{type(error).__name__}: {error}"
            long_model = None
        if long_model is not None:
            models["long_horizon"], metrics["long_horizon"], champion = long_model, None, "long_horizon"
    report(1.0, "done")
    return TrainResult(
        models=models,
        metrics=metrics,
        champion=champion,
        train_rows=len(train_set.customer_ids),
        valid_rows=len(valid.customer_ids) if valid.y is not None else 0,
        cutoffs=cutoffs,
        sufficiency=sufficiency,
        features=columns,
        errors=errors,
    )


LABEL_FREE = ("paretonbd", "bgnbd")
LABEL_FREE_TIE = 1e-3
# Supervised algorithms trained on a shorter horizon when the shop's own cannot be labelled.
PROXY_ALGORITHMS = ("rfm_logreg", "lgbm")
MIN_PROXY_HORIZON = 14


def proxy_horizon(frames: ShopFrames, *, as_of: pd.Timestamp, horizon_days: int,
                  thresholds: SufficiencyThresholds | None = None) -> int | None:
    """The longest horizon h < `horizon_days` with a labelled training and validation window before `as_of`
    (validation at as_of - h, training at as_of - 2h, after the feature history the thresholds ask for)."""
    th = thresholds or SufficiencyThresholds()
    start = data_start(frames)
    if start is None:
        return None
    earliest = start + pd.Timedelta(days=th.min_feature_history_days)
    h = min(horizon_days - 1, int((as_utc(as_of) - earliest).days // 2))
    return h if h >= MIN_PROXY_HORIZON else None


def long_horizon_model(
    frames: ShopFrames, config: TrainConfig, *, label_free: Model, current: ModelInput,
    thresholds: SufficiencyThresholds | None = None,
) -> Model | None:
    """When no window of the horizon can be labelled: the supervised champion of the longest horizon that can
    (among PROXY_ALGORITHMS requested), blended with the fitted label-free model (see longhorizon.py); None when
    nothing supervised could be trained. `current` holds the features as of `config.as_of`."""
    from predictions.ml.longhorizon import LongHorizonModel

    wanted = tuple(a for a in config.algorithms if a in PROXY_ALGORITHMS)
    h = proxy_horizon(frames, as_of=config.as_of, horizon_days=config.horizon_days, thresholds=thresholds)
    if not wanted or h is None or len(current.customer_ids) == 0:
        return None
    proxy = train(frames, replace(config, horizon_days=h, algorithms=wanted),
                  model_factories=default_model_factories(config.task, h, config.seed, tune_trials=config.tune_trials,
                                                         tune_seconds=config.tune_seconds),
                  thresholds=thresholds)
    if proxy.champion not in wanted:
        return None
    model = LongHorizonModel(label_free=label_free, proxy=proxy.models[proxy.champion], proxy_horizon=h,
                             task=config.task)
    model.fit(current, current)
    return model


def label_free_champion(
    frames: ShopFrames, *, as_of: pd.Timestamp, horizon_days: int, task: str, lookback_days: int,
    fitted: Mapping[str, Model], feature_config: FeatureConfig | None = None,
) -> str | None:
    """Without labels of the horizon: the label-free model (Pareto/NBD or BG/NBD) that fits a holdout best.

    The holdout is the last h = min(H, a third of the history) days: both models are refitted on the shop as it
    was at as_of - h and predict purchase in (as_of - h, as_of]; the lower log loss wins (Pareto/NBD within
    LABEL_FREE_TIE, or when the holdout cannot decide: it has no special case for one-time buyers)."""
    from predictions.ml.bgnbd import fit_bgnbd
    from predictions.ml.bgnbd import p_purchase_in as bg_p
    from predictions.ml.bgnbd import summary_from_features as summary
    from predictions.ml.paretonbd import fit_paretonbd, holdout_log_loss
    from predictions.ml.paretonbd import p_purchase_in as pn_p

    names = [name for name in LABEL_FREE if name in fitted]
    if len(names) < 2:
        return names[0] if names else None
    start, end = data_start(frames), as_utc(as_of)
    if start is None:
        return names[0]
    h = int(min(horizon_days, (end - start).days // 3))
    if h < 7:
        return names[0]
    cut = end - pd.Timedelta(days=h)
    past = truncate_frames(frames, cut)
    ids = eligible_customers(past, cutoff=cut, task="purchase", lookback_days=lookback_days)
    X = build_features(past, cutoff=cut, config=feature_config or FeatureConfig(), customer_ids=ids).X
    y = build_labels(frames, cutoff=cut, horizon_days=h, task="purchase", customer_ids=ids)
    if len(y) == 0 or y.min() == y.max():
        return names[0]
    x, t_x, T = summary(X)
    raw = (X["bgnbd_x"], X["bgnbd_t_x"], X["bgnbd_T"])
    try:
        losses = {"paretonbd": holdout_log_loss(pn_p(fit_paretonbd(*raw), h, x, t_x, T), y),
                  "bgnbd": holdout_log_loss(bg_p(fit_bgnbd(*raw), h, x, t_x, T), y)}
    except ValueError:
        return names[0]
    best = min(losses.values())
    # within LABEL_FREE_TIE of the best counts as a tie, which goes to the first of LABEL_FREE
    return next(name for name in LABEL_FREE if name in names and losses[name] <= best + LABEL_FREE_TIE)


# ---------------------------------------------------------------------------------------- backtest
def _oracle_probability(truth: pd.DataFrame, ids: np.ndarray, task: str, horizon_days: int) -> np.ndarray | None:
    column = f"p_purchase_{horizon_days}"
    if column not in truth.columns:
        return None
    p = truth.drop_duplicates("customer_id").set_index("customer_id")[column].reindex(ids).to_numpy(dtype=np.float64)
    return p if task == "purchase" else 1.0 - p


def backtest(
    frames: ShopFrames,
    config: TrainConfig,
    *,
    cutoff: pd.Timestamp,
    truth: pd.DataFrame | None = None,
    model_factories: Mapping[str, ModelFactory] | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Train as if today were `cutoff`, then score what really happened in (cutoff, cutoff + H].

    Training sees only frames truncated at the cutoff. Each algorithm is evaluated at the F1
    threshold its validation chose. With `truth` (customer_id, p_purchase_30, p_purchase_90, alive;
    a simulator's true probabilities) an "oracle" row gives the metrics of the true probabilities
    on the same customers and outcomes - the ceiling any model could reach.
    """
    cutoff = as_utc(cutoff)
    end = data_end(frames)
    # Compared by day: data that reaches the horizon's last day covers it (orders that day may be early).
    if end is None or end.normalize() < (cutoff + pd.Timedelta(days=config.horizon_days)).normalize():
        raise ValueError(f"a backtest at {cutoff.date()} needs {config.horizon_days} days of data after it")
    config = replace(config, as_of=cutoff)
    factories = model_factories or default_model_factories(config.task, config.horizon_days, config.seed,
                                                           tune_trials=config.tune_trials,
                                                           tune_seconds=config.tune_seconds)
    past = truncate_frames(frames, cutoff)
    result = train(past, config, model_factories=factories, progress=progress)
    current = build_model_input(past, cutoff=cutoff, horizon_days=None, task=config.task, config=config)
    y = build_labels(
        frames, cutoff=cutoff, horizon_days=config.horizon_days, task=config.task, customer_ids=current.customer_ids
    )
    metrics = {}
    for name, model in result.models.items():
        valid_metrics = result.metrics.get(name)
        # The validation window's F1 threshold; without one (a long horizon that no labelled window fits, a model
        # not measured there), 0.5 — flagged when more likely than not — never one tuned on the test's own labels
        # (an outside analyst found precision, recall and F1 of long-horizon backtests tuned so).
        threshold = valid_metrics["threshold"] if valid_metrics and valid_metrics.get("threshold") is not None \
            else DEFAULT_THRESHOLD
        metrics[name] = evaluate(y, model.predict_proba(current), threshold=threshold)
    oracle = None
    if truth is not None:
        p_true = _oracle_probability(truth, current.customer_ids, config.task, config.horizon_days)
        if p_true is not None:
            known = np.isfinite(p_true)
            oracle = evaluate(y[known], p_true[known]) if known.any() else None
    return BacktestResult(
        cutoff=cutoff,
        task=config.task,
        horizon_days=config.horizon_days,
        metrics=metrics,
        champion=result.champion,
        customers=len(y),
        base_rate=float(y.mean()) if len(y) else None,
        oracle=oracle,
        train_result=result,
    )


# ------------------------------------------------------------------------------------------- score
def risk_bands(probability: np.ndarray, *, high: float = HIGH_RISK, medium: float = MEDIUM_RISK) -> np.ndarray:
    """Risk band per calibrated probability: high from `high` (0.6), medium from `medium` (0.3), else low."""
    p = np.asarray(probability, dtype=np.float64)
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low")).astype(object)


def deciles(probability: np.ndarray) -> np.ndarray:
    """1 for the 10 % most likely customers ... 10 for the least likely (ties keep input order)."""
    p = np.asarray(probability, dtype=np.float64)
    n = len(p)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-p, kind="stable")] = np.arange(n)
    return (rank * 10 // max(n, 1) + 1).astype(np.int16)


def decile_lows(probability: np.ndarray) -> list[float]:
    """The lowest probability of each of `deciles`' ten deciles (1 first); none for fewer than ten values."""
    p = np.sort(np.asarray(probability, dtype=np.float64))[::-1]
    if len(p) < 10:
        return []
    d = deciles(p)
    return [float(p[d == k][-1]) for k in range(1, 11)]


def decile_place(probability: np.ndarray, lows: list[float]) -> np.ndarray:
    """Each probability's decile against `lows` (the lowest probability of deciles 1, 2, ...): the first decile
    whose low it reaches; below every one, 10. What predictions.services.score_columns places in SQL."""
    p = np.asarray(probability, dtype=np.float64)
    below = (p[:, None] < np.asarray(lows, dtype=np.float64)[None, :]).sum(axis=1)
    return np.minimum(below + 1, 10).astype(np.int16)


def score(frames: ShopFrames, *, cutoff: pd.Timestamp, task: str, model: Model, config: TrainConfig) -> ScoreFrame:
    """Probabilities, deciles and risk bands of every customer eligible for `task` at `cutoff`."""
    cutoff = as_utc(cutoff)
    data = build_model_input(
        truncate_frames(frames, cutoff), cutoff=cutoff, horizon_days=None, task=task, config=config
    )
    p = np.asarray(model.predict_proba(data), dtype=np.float64) if len(data.customer_ids) else np.zeros(0)
    return ScoreFrame(customer_ids=data.customer_ids, probability=p, decile=deciles(p), risk_band=risk_bands(p))
