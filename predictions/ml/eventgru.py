"""An event-level GRU: each customer's last individual events and orders (eventseq.py), beside the static features.

Per step the input is [type embedding (8), category embedding (8), standardised numeric channels (gap to the next
step, amount, age)]; one GRU layer reads the steps oldest first (padding first, so the last hidden state has just
read the customer's latest step) and its last hidden state is concatenated with the static features X; a two-layer
MLP head gives one logit. Where the weekly-bin LSTM (lstm.py) sees counts per week, this sees the order of events:
a 'cancel' after three views, the gap between a cart and the purchase.

Conventions copied from lstm.py: the same static transform (signed log, train medians, standardise, clip), seeds,
ONE intra-op thread and deterministic kernels while training, `pos_weight` for imbalance, `max_train_rows`
(every positive kept, negatives subsampled), early stopping on the validation loss with the best epoch restored,
calibration on validation, CPU by default and CUDA when available. Artifacts: `model.pt` (state_dict, loaded with
weights_only=True), `calibrator.json`, `metadata.json`.

Cost: a step costs what a weekly bin costs, so 64 steps are ~2.5x the LSTM's 26 bins per row and epoch;
`max_train_rows` is 100,000 by default (the LSTM's 300,000) so one epoch stays comparable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
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
from predictions.ml.base import EventSequences, ModelInput, training_labels
from predictions.ml.calibration import Calibrator, fit_calibrator
from predictions.ml.eventseq import CATEGORY_BUCKETS, N_TYPES, NUMERIC_CHANNELS
from predictions.ml.lstm import _CLIP, LstmModel

MODEL_FILE = "model.pt"
PREDICT_BATCH = 8192


@dataclass(frozen=True)
class EventGruConfig:
    """Hyperparameters (saved in metadata.json)."""

    hidden: int = 32
    embed: int = 8
    head_hidden: int = 32
    dropout: float = 0.1
    epochs: int = 30
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-5
    patience: int = 4
    max_train_rows: int = 100_000
    threads: int = 1


@dataclass(frozen=True)
class EventGruSummary:
    epochs_run: int
    best_epoch: int
    best_valid_loss: float
    seconds_per_epoch: float
    train_rows_used: int
    pos_weight: float
    calibration: str
    steps: int


class _Net(nn.Module):
    def __init__(self, *, static: int, numeric: int, hidden: int, embed: int, head_hidden: int,
                 dropout: float) -> None:
        super().__init__()
        self.types = nn.Embedding(N_TYPES, embed, padding_idx=0)
        self.categories = nn.Embedding(CATEGORY_BUCKETS + 1, embed, padding_idx=0)
        self.gru = nn.GRU(input_size=2 * embed + numeric, hidden_size=hidden, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + static, head_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(head_hidden, 1)
        )

    def forward(self, types: torch.Tensor, cats: torch.Tensor, numeric: torch.Tensor,
                static: torch.Tensor) -> torch.Tensor:
        steps = torch.cat([self.types(types), self.categories(cats), numeric], dim=2)
        _, h_n = self.gru(steps)
        return self.head(torch.cat([h_n[-1], static], dim=1)).squeeze(1)


class EventGruModel(LstmModel):
    """Model protocol implementation: GRU over `ModelInput.events` plus static `X`."""

    algorithm = "event_gru"

    def __init__(self, task: str, *, seed: int = 0, hidden: int = 32, epochs: int = 30, batch_size: int = 512,
                 lr: float = 2e-3, patience: int = 4, max_train_rows: int = 100_000,
                 device: str | None = None) -> None:
        super().__init__(task, seed=seed, device=device)
        self.config = EventGruConfig(hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                                     max_train_rows=max_train_rows)
        self.channels = list(NUMERIC_CHANNELS)
        self.steps = 0

    # ---------------------------------------------------------------------------- preprocessing
    def _fit_event_stats(self, X: np.ndarray, events: EventSequences) -> None:
        self._fit_stats(X, events.numeric)  # static stats + per-channel numeric stats (seq_mean / seq_std)
        real = events.types.reshape(-1) > 0  # numeric statistics over real steps, not padding
        flat = events.numeric.reshape(-1, events.numeric.shape[2]).astype(np.float64)[real]
        if len(flat):
            std = flat.std(axis=0)
            self.stats["seq_mean"] = flat.mean(axis=0).tolist()
            self.stats["seq_std"] = np.where(std > 1e-8, std, 1.0).tolist()

    def _tensors(self, events: EventSequences | None, n_rows: int) -> tuple[torch.Tensor, ...]:
        if events is None:
            raise ValueError("the event GRU needs ModelInput.events (build_model_input with event_gru requested)")
        if events.types.shape[0] != n_rows or events.numeric.shape[2] != len(self.channels):
            shape = list(events.numeric.shape)
            raise ValueError(f"events must be [{n_rows}, steps, {len(self.channels)}], got {shape}")
        mean = np.asarray(self.stats["seq_mean"], dtype=np.float32)
        std = np.asarray(self.stats["seq_std"], dtype=np.float32)
        pad = (events.types == 0)[:, :, None]
        numeric = np.where(pad, 0.0, np.clip((events.numeric - mean) / std, -_CLIP * 2, _CLIP * 2)).astype(np.float32)
        dev = self.device
        return (torch.from_numpy(np.ascontiguousarray(events.types)).to(dev),
                torch.from_numpy(np.ascontiguousarray(events.categories)).to(dev), torch.from_numpy(numeric).to(dev))

    def _new_net(self) -> _Net:
        cfg = self.config
        return _Net(static=len(self.features), numeric=len(self.channels), hidden=cfg.hidden, embed=cfg.embed,
                    head_hidden=cfg.head_hidden, dropout=cfg.dropout).to(self.device)

    # ----------------------------------------------------------------------------------- training
    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Train with early stopping on `valid` (restoring the best epoch), then calibrate on `valid`."""
        y_train, y_check = training_labels(train, valid)
        if train.events is None:
            raise ValueError("the event GRU needs ModelInput.events (build_model_input with event_gru requested)")
        self.features = [str(c) for c in train.X.columns]
        rng = np.random.default_rng(self.seed)
        rows = self._subsample(y_train, rng)
        events = train.events.take(rows)
        self.steps = int(events.types.shape[1])
        self._fit_event_stats(train.X[self.features].to_numpy(dtype=np.float64, na_value=np.nan)[rows], events)
        y = y_train[rows].astype(np.float32)
        n_pos = float(y.sum())
        pos_weight = (len(y) - n_pos) / n_pos

        dev = self.device
        tr = (*self._tensors(events, len(rows)), torch.from_numpy(self._static(train.X.iloc[rows])).to(dev))
        va = (*self._tensors(valid.events, len(valid.X)), torch.from_numpy(self._static(valid.X)).to(dev))
        tr_y, va_y = torch.from_numpy(y).to(dev), torch.from_numpy(y_check.astype(np.float32)).to(dev)

        best_loss, best_epoch, epochs_run, elapsed, raw_valid = self._train_net(tr, tr_y, va, va_y, pos_weight)
        self.calibrator = fit_calibrator(raw_valid, y_check.astype(np.float32))
        self.summary = EventGruSummary(
            epochs_run=epochs_run, best_epoch=best_epoch, best_valid_loss=best_loss,
            seconds_per_epoch=elapsed / max(epochs_run, 1), train_rows_used=len(rows), pos_weight=float(pos_weight),
            calibration=self.calibrator.method, steps=self.steps,
        )

    # ---------------------------------------------------------------------------------- inference
    def predict_raw(self, data: ModelInput) -> np.ndarray:
        """Uncalibrated sigmoid outputs for each row of `data`."""
        if self.net is None:
            raise RuntimeError("model is not fitted")
        if data.events is None:
            raise ValueError("the event GRU needs ModelInput.events (build_model_input with event_gru requested)")
        require_columns(data.X.columns, self.features)
        out = []
        for start in range(0, len(data.X), PREDICT_BATCH * 8):
            stop = start + PREDICT_BATCH * 8
            static = torch.from_numpy(self._static(data.X.iloc[start:stop])).to(self.device)
            part = data.events.take(slice(start, stop))
            out.append(torch.sigmoid(self._batched_logits((*self._tensors(part, len(static)), static))).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.empty(0)

    # ------------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        if self.net is None or self.calibrator is None:
            raise RuntimeError("model is not fitted")
        directory = Path(directory)
        config = {"seed": self.seed, "hyperparameters": asdict(self.config), "channels": self.channels,
                  "steps": self.steps, "stats": self.stats,
                  "summary": asdict(self.summary) if self.summary else None}
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config=config)
        torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, directory / MODEL_FILE)
        write_json(directory / CALIBRATOR_FILE, self.calibrator.to_dict())

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str], device: str | None = None) -> EventGruModel:
        directory = Path(directory)
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        config: dict[str, Any] = meta.config
        model = cls(meta.task, seed=int(config.get("seed", 0)), device=device)
        model.config = EventGruConfig(**config["hyperparameters"])
        model.features = list(meta.features)
        model.channels = list(config["channels"])
        model.steps = int(config["steps"])
        model.stats = {k: list(v) for k, v in config["stats"].items()}
        model.net = model._new_net()
        state = torch.load(directory / MODEL_FILE, map_location=model.device, weights_only=True)
        model.net.load_state_dict(state)
        model.calibrator = Calibrator.from_dict(read_json(directory / CALIBRATOR_FILE))
        if config.get("summary"):
            model.summary = EventGruSummary(**config["summary"])
        return model
