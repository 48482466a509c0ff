"""A small PyTorch LSTM over the weekly activity sequence, beside the static features.

Architecture: one LSTM layer reads `sequences` [n, 26 weeks, 5 channels]; its last hidden state is
concatenated with the static features X and a two-layer MLP head gives one logit.

Why these choices:
- Static X may hold NaN (a customer with one order has no mean gap) and heavy tails (spend): it
  is passed through sign(x) * log1p(|x|), NaN is imputed with the train medians, then standardised
  with train mean / std and clipped to +-5; sequences are standardised per channel. All statistics
  come from the training split and are saved, so scoring applies exactly the training transform.
- Class imbalance: `pos_weight = negatives / positives` in BCEWithLogitsLoss. With many rows,
  negatives beyond `max_train_rows` are subsampled for speed and `pos_weight` is computed on the
  subsample; both distort raw probabilities, which is why they are re-calibrated on validation.
- Early stopping on the (same weighted) validation loss with `patience` epochs; the best weights
  are restored.
- Reproducible: torch / numpy seeds, a seeded generator for the batch order (a shuffled index
  tensor instead of a DataLoader: the data already sits in memory), deterministic algorithms, and
  ONE intra-op thread while training (the previous global settings are restored). One thread was
  measured 2-7x faster than two for these small matrices on a 2-core machine shared with
  PostgreSQL / Celery, where a second OpenMP thread mostly spins waiting for a core.
- CPU by default, CUDA when available (the `device` argument overrides).
- Speed: hidden 32 and batch 512 took 2.2 s (load 4) to 6.2 s (load 5.5) per 100k rows per epoch
  on the 2-core dev machine; `max_train_rows` = 300,000 bounds an epoch (7-19 s), so 30 epochs of
  a 400k-row shop stay inside the 10-minute training budget.

Artifacts: `model.pt` (state_dict of tensors only, loaded with weights_only=True), `calibrator.json`,
`metadata.json` (features, hyperparameters, channel names, imputation / scaling statistics).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from predictions.ml.artifacts import (
    CALIBRATOR_FILE,
    check_meta,
    read_json,
    read_metadata,
    require_columns,
    write_json,
    write_metadata,
)
from predictions.ml.base import ModelInput, training_labels
from predictions.ml.calibration import Calibrator, fit_calibrator

MODEL_FILE = "model.pt"
DEFAULT_CHANNELS = ("orders", "spend", "views", "carts", "sessions")
PREDICT_BATCH = 8192
_CLIP = 5.0


@dataclass(frozen=True)
class LstmConfig:
    """Hyperparameters (saved in metadata.json)."""

    hidden: int = 32
    head_hidden: int = 32
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-5
    patience: int = 4
    max_train_rows: int = 300_000
    threads: int = 1


@dataclass(frozen=True)
class LstmTrainingSummary:
    """What the fit did: epochs run, the best epoch, its validation loss and the time per epoch."""

    epochs_run: int
    best_epoch: int
    best_valid_loss: float
    seconds_per_epoch: float
    train_rows_used: int
    pos_weight: float
    calibration: str


class _Net(nn.Module):
    """LSTM over the sequence + MLP head over [last hidden state, static features]."""

    def __init__(self, *, channels: int, static: int, hidden: int, head_hidden: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=channels, hidden_size=hidden, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + static, head_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(head_hidden, 1),
        )

    def forward(self, seq: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(seq)
        return self.head(torch.cat([h_n[-1], static], dim=1)).squeeze(1)


@contextlib.contextmanager
def _reproducible(seed: int, threads: int) -> Iterator[None]:
    """Seed everything and force deterministic kernels, restoring the global torch settings after."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    old_cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.manual_seed(seed)
    np.random.seed(seed)  # legacy global seed, for any library code that still draws from it
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_deterministic)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old_cudnn


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


class LstmModel:
    """Model protocol implementation: LSTM over `sequences` plus static `X`; `task` is recorded only."""

    algorithm = "lstm"

    def __init__(
        self,
        task: str,
        *,
        seed: int = 0,
        hidden: int = 32,
        epochs: int = 30,
        batch_size: int = 512,
        lr: float = 2e-3,
        patience: int = 4,
        max_train_rows: int = 300_000,
        device: str | None = None,
    ) -> None:
        self.task = task
        self.seed = seed
        self.config = LstmConfig(
            hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, max_train_rows=max_train_rows
        )
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.features: list[str] = []
        self.channels: list[str] = list(DEFAULT_CHANNELS)
        self.stats: dict[str, list[float]] = {}
        self.net: _Net | None = None
        self.calibrator: Calibrator | None = None
        self.summary: LstmTrainingSummary | None = None

    # ---------------------------------------------------------------------------- preprocessing
    def _fit_stats(self, X: np.ndarray, seq: np.ndarray) -> None:
        logged = _signed_log(X)
        with np.errstate(all="ignore"), warnings.catch_warnings():  # an all-empty column's median is 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(logged, axis=0) if len(logged) else np.zeros(X.shape[1])
        median = np.where(np.isfinite(median), median, 0.0)
        filled = np.where(np.isnan(logged), median, logged)
        std = filled.std(axis=0)
        seq_flat = seq.reshape(-1, seq.shape[2]).astype(np.float64)
        seq_std = seq_flat.std(axis=0)
        self.stats = {
            "x_median": median.tolist(),
            "x_mean": filled.mean(axis=0).tolist(),
            "x_std": np.where(std > 1e-8, std, 1.0).tolist(),
            "seq_mean": seq_flat.mean(axis=0).tolist(),
            "seq_std": np.where(seq_std > 1e-8, seq_std, 1.0).tolist(),
        }

    def _static(self, X: pd.DataFrame) -> np.ndarray:
        require_columns(X.columns, self.features)
        raw = X[self.features].to_numpy(dtype=np.float64, na_value=np.nan)
        logged = _signed_log(raw)
        filled = np.where(np.isnan(logged), np.asarray(self.stats["x_median"]), logged)
        scaled = (filled - np.asarray(self.stats["x_mean"])) / np.asarray(self.stats["x_std"])
        return np.clip(scaled, -_CLIP, _CLIP).astype(np.float32)

    def _sequence(self, seq: np.ndarray | None, n_rows: int) -> np.ndarray:
        if seq is None:
            raise ValueError("the LSTM needs ModelInput.sequences")
        seq = np.asarray(seq, dtype=np.float32)
        if seq.ndim != 3 or seq.shape[0] != n_rows or seq.shape[2] != len(self.channels):
            raise ValueError(f"sequences must be [{n_rows}, bins, {len(self.channels)}], got {list(seq.shape)}")
        seq = np.nan_to_num(seq, nan=0.0)
        mean = np.asarray(self.stats["seq_mean"], dtype=np.float32)
        std = np.asarray(self.stats["seq_std"], dtype=np.float32)
        return np.clip((seq - mean) / std, -_CLIP * 2, _CLIP * 2).astype(np.float32)

    def _new_net(self) -> _Net:
        return _Net(
            channels=len(self.channels),
            static=len(self.features),
            hidden=self.config.hidden,
            head_hidden=self.config.head_hidden,
            dropout=self.config.dropout,
        ).to(self.device)

    # ----------------------------------------------------------------------------------- training
    def _subsample(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Row indices to train on: every positive, negatives subsampled to fit `max_train_rows`."""
        limit = self.config.max_train_rows
        if len(y) <= limit:
            return np.arange(len(y))
        pos = np.flatnonzero(y == 1)
        neg = np.flatnonzero(y == 0)
        if len(pos) >= limit // 2:  # positives are the majority: subsample both classes evenly
            return np.sort(rng.choice(len(y), size=limit, replace=False))
        keep_neg = rng.choice(neg, size=limit - len(pos), replace=False)
        return np.sort(np.concatenate([pos, keep_neg]))

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Train with early stopping on `valid` (restoring the best epoch), then calibrate on `valid`."""
        y_train, y_check = training_labels(train, valid)
        y_all, y_valid = y_train.astype(np.float32), y_check.astype(np.float32)
        self.features = [str(c) for c in train.X.columns]
        rng = np.random.default_rng(self.seed)
        rows = self._subsample(y_all.astype(np.int64), rng)
        X_raw = train.X[self.features].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
        seq_raw = (
            np.nan_to_num(np.asarray(train.sequences, dtype=np.float32)[rows]) if train.sequences is not None else None
        )
        if seq_raw is None:
            raise ValueError("the LSTM needs ModelInput.sequences")
        self.channels = (
            list(DEFAULT_CHANNELS)
            if seq_raw.shape[2] == len(DEFAULT_CHANNELS)
            else [f"channel_{i}" for i in range(seq_raw.shape[2])]
        )
        self._fit_stats(X_raw, seq_raw)
        y = y_all[rows]
        n_pos = float(y.sum())
        pos_weight = (len(y) - n_pos) / n_pos

        dev = self.device
        tr_static = torch.from_numpy(self._static(train.X.iloc[rows])).to(dev)
        tr_seq = torch.from_numpy(self._sequence(seq_raw, len(rows))).to(dev)
        tr_y = torch.from_numpy(y).to(dev)
        va_static = torch.from_numpy(self._static(valid.X)).to(dev)
        va_seq = torch.from_numpy(self._sequence(valid.sequences, len(valid.X))).to(dev)
        va_y = torch.from_numpy(y_valid).to(dev)

        best_loss, best_epoch, epochs_run, elapsed, raw_valid = self._train_net(
            (tr_seq, tr_static), tr_y, (va_seq, va_static), va_y, pos_weight)
        self.calibrator = fit_calibrator(raw_valid, y_valid)
        self.summary = LstmTrainingSummary(
            epochs_run=epochs_run,
            best_epoch=best_epoch,
            best_valid_loss=best_loss,
            seconds_per_epoch=elapsed / max(epochs_run, 1),
            train_rows_used=len(rows),
            pos_weight=float(pos_weight),
            calibration=self.calibrator.method,
        )

    def _train_net(self, train: tuple[torch.Tensor, ...], train_y: torch.Tensor, valid: tuple[torch.Tensor, ...],
                   valid_y: torch.Tensor, pos_weight: float) -> tuple[float, int, int, float, np.ndarray]:
        """The training loop this model and the event GRU share: a new net, Adam on the class-weighted loss over
        shuffled batches of `train` (the net's inputs, in its argument order), early stopping on `valid`'s loss,
        the best epoch's weights restored. Returns (best valid loss, best epoch, epochs run, seconds, raw valid
        probabilities)."""
        cfg, dev = self.config, self.device
        with _reproducible(self.seed, cfg.threads):
            self.net = self._new_net()
            loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=dev))
            optimiser = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            generator = torch.Generator().manual_seed(self.seed)
            best_loss, best_epoch, best_state, stale = float("inf"), 0, None, 0
            epochs_run, started = 0, time.perf_counter()
            for epoch in range(1, cfg.epochs + 1):
                epochs_run = epoch
                self.net.train()
                order = torch.randperm(len(train_y), generator=generator).to(dev)
                for start in range(0, len(order), cfg.batch_size):
                    idx = order[start : start + cfg.batch_size]
                    optimiser.zero_grad(set_to_none=True)
                    loss = loss_fn(self.net(*(t[idx] for t in train)), train_y[idx])
                    loss.backward()
                    nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)  # recurrent nets occasionally spike
                    optimiser.step()
                valid_loss = float(loss_fn(self._batched_logits(valid), valid_y))
                if valid_loss < best_loss - 1e-5:
                    best_loss, best_epoch, stale = valid_loss, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        break
            elapsed = time.perf_counter() - started
            if best_state is not None:
                self.net.load_state_dict(best_state)
            raw_valid = torch.sigmoid(self._batched_logits(valid)).cpu().numpy()
        return best_loss, best_epoch, epochs_run, elapsed, raw_valid

    # ---------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def _batched_logits(self, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Logits in batches of PREDICT_BATCH rows so memory stays bounded for any shop size; `tensors` are the
        net's inputs in its argument order, rows first."""
        assert self.net is not None
        self.net.eval()
        n = len(tensors[-1])
        parts = [self.net(*(t[start : start + PREDICT_BATCH] for t in tensors)) for start in range(0, n, PREDICT_BATCH)]
        return torch.cat(parts) if parts else torch.empty(0, device=self.device)

    def predict_raw(self, data: ModelInput) -> np.ndarray:
        """Uncalibrated sigmoid outputs (class-weighted scale) for each row of `data`."""
        if self.net is None:
            raise RuntimeError("model is not fitted")
        out = []
        # Convert per chunk so a 1M-row shop never holds a second full float copy on the device.
        for start in range(0, len(data.X), PREDICT_BATCH * 8):
            stop = start + PREDICT_BATCH * 8
            static = torch.from_numpy(self._static(data.X.iloc[start:stop])).to(self.device)
            seq_part = None if data.sequences is None else np.asarray(data.sequences)[start:stop]
            seq = torch.from_numpy(self._sequence(seq_part, len(static))).to(self.device)
            out.append(torch.sigmoid(self._batched_logits((seq, static))).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.empty(0)

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the positive class for each row of `data`."""
        raw = self.predict_raw(data)
        assert self.calibrator is not None
        return self.calibrator.apply(raw)

    # ------------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """Write `model.pt` (state_dict), `calibrator.json` and `metadata.json`."""
        if self.net is None or self.calibrator is None:
            raise RuntimeError("model is not fitted")
        directory = Path(directory)
        config = {
            "seed": self.seed,
            "hyperparameters": asdict(self.config),
            "channels": self.channels,
            "stats": self.stats,
            "summary": asdict(self.summary) if self.summary else None,
        }
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config=config)
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, directory / MODEL_FILE)
        write_json(directory / CALIBRATOR_FILE, self.calibrator.to_dict())

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str], device: str | None = None) -> LstmModel:
        """Rebuild the network from metadata and load its weights; `FeatureMismatch` on other features."""
        directory = Path(directory)
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        config: dict[str, Any] = meta.config
        hp = dict(config["hyperparameters"])
        model = cls(
            meta.task,
            seed=int(config.get("seed", 0)),
            hidden=int(hp["hidden"]),
            epochs=int(hp["epochs"]),
            batch_size=int(hp["batch_size"]),
            lr=float(hp["lr"]),
            patience=int(hp["patience"]),
            max_train_rows=int(hp["max_train_rows"]),
            device=device,
        )
        model.config = LstmConfig(**hp)
        model.features = list(meta.features)
        model.channels = list(config["channels"])
        model.stats = {k: list(v) for k, v in config["stats"].items()}
        model.net = model._new_net()
        state = torch.load(directory / MODEL_FILE, map_location=model.device, weights_only=True)
        model.net.load_state_dict(state)
        model.calibrator = Calibrator.from_dict(read_json(directory / CALIBRATOR_FILE))
        if config.get("summary"):
            model.summary = LstmTrainingSummary(**config["summary"])
        return model
