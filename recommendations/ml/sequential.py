"""A sequential deep recommender (GRU4Rec-style, PyTorch) over each customer's basket sequence.

Each basket is the mean of its products' embeddings; a one-layer GRU reads the customer's last
`seqrec_max_baskets` baskets in time order and, after each, predicts the products of the next basket (softmax over
products scored by the dot product of the hidden state with an output embedding, plus a bias; the loss is the mean
negative log-likelihood of the next basket's products). The customer's hidden state after their last basket scores
every product; the top `candidates` are kept, turned positive as exp(score - best), as ALS does.

What it sees that counting does not: order. A customer whose last basket held A, in a shop where B usually follows
A, gets B ranked high even if they never bought B. Personal frequency cannot rank what was never bought, and
ranks the customer's own products by counts whatever came last.

Cost and caps: above `seqrec_max_customers` customers or `seqrec_max_interactions` purchase lines it is not
fitted (scores nothing), so a build of a large shop keeps its time budget; training uses at most
`seqrec_train_customers` customers' sequences (a seeded sample), `seqrec_epochs` epochs and stops early after
`seqrec_time_budget_s` seconds (then the fit depends on the machine's speed). Seeds are fixed; on CPU a fit is
deterministic. Training runs on CUDA when it is available, else on one CPU thread: builds fork worker processes
afterwards, and an OpenMP thread pool started before a fork can hang in the child. Scoring uses numpy only (the
hidden states and embeddings are copied out of torch after the fit), so forked workers never call torch.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .data import InteractionData

# products scored per sub-block of customers: a dense (rows x products) float32 block stays below ~40 MB
SCORE_CHUNK_CELLS = 10_000_000
# with more products than this, each batch's softmax runs over the batch's target products and a seeded
# uniform sample of this many products instead of over the whole catalogue
FULL_SOFTMAX_MAX_ITEMS = 2048


def basket_sequences(data: InteractionData, max_baskets: int):
    """Each customer's baskets in time order (oldest first), at most the last `max_baskets` of them.

    Returns (items, item_offsets, customer_offsets): basket b holds items[item_offsets[b]:item_offsets[b + 1]];
    customer row r's baskets are customer_offsets[r]:customer_offsets[r + 1] (a customer without purchases has
    none)."""
    p = data.purchases
    n = data.n_customers
    if p.empty:
        return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(n + 1, np.int64)
    row = p["row"].to_numpy(np.int64)
    col = p["col"].to_numpy(np.int64)
    age = p["age_days"].to_numpy(np.float64)
    basket = pd.factorize(p["basket"])[0].astype(np.int64)
    pair, pair_index = np.unique(row * (basket.max() + 1) + basket, return_inverse=True)
    pair_row = pair // (basket.max() + 1)
    pair_age = np.full(len(pair), -np.inf)
    np.maximum.at(pair_age, pair_index, age)  # a basket's time: its oldest line
    # baskets by customer, then oldest first, then basket id (ties)
    order = np.lexsort((pair, -pair_age, pair_row))
    position = np.empty(len(pair), np.int64)
    position[order] = np.arange(len(pair))
    sorted_row = pair_row[order]
    per_customer = np.bincount(sorted_row, minlength=n)
    starts = np.r_[0, np.cumsum(per_customer)[:-1]]
    back = (starts + per_customer)[sorted_row] - np.arange(len(pair))  # 1 = the customer's last basket
    keep_basket = back <= max_baskets
    new_index = np.cumsum(keep_basket) - 1
    line_basket = position[pair_index]
    keep_line = keep_basket[line_basket]
    line_basket = new_index[line_basket[keep_line]]
    line_order = np.lexsort((col[keep_line], line_basket))
    items = col[keep_line][line_order]
    sizes = np.bincount(line_basket, minlength=int(keep_basket.sum()))
    item_offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    kept_per_customer = np.bincount(sorted_row[keep_basket], minlength=n)
    customer_offsets = np.r_[0, np.cumsum(kept_per_customer)].astype(np.int64)
    return items, item_offsets, customer_offsets


def history_entries(lengths: np.ndarray, first_basket: np.ndarray, items: np.ndarray, item_offsets: np.ndarray,
                    decay: float, *, last_only: bool):
    """The decayed history of each prediction step: (step, product, sum of decay ** (baskets since)) entries.

    `lengths[c]` baskets of sequence c start at global basket `first_basket[c]`. With `last_only`, one step per
    sequence (after its last basket, step id = c); else every step t in 0..len-2 (after basket t), numbered in
    order of (sequence, t)."""
    lengths = np.asarray(lengths, np.int64)
    steps = np.ones_like(lengths) if last_only else np.maximum(lengths - 1, 0)
    step_start = np.r_[0, np.cumsum(steps)[:-1]]
    seq = np.repeat(np.arange(len(lengths)), lengths)
    local = np.arange(len(seq)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    basket = first_basket[seq] + local
    if last_only:
        reps = np.ones(len(seq), np.int64)
    else:
        reps = np.maximum(lengths[seq] - 1 - local, 0)  # steps t = local .. len-2 see this basket
    pair = np.repeat(np.arange(len(seq)), reps)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(reps) - reps, reps)
    t = lengths[seq[pair]] - 1 if last_only else local[pair] + offset
    step = step_start[seq[pair]] + (0 if last_only else t)
    weight = np.power(decay, t - local[pair])
    sizes = item_offsets[basket[pair] + 1] - item_offsets[basket[pair]]
    line = np.repeat(item_offsets[basket[pair]], sizes) + (
        np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    return np.repeat(step, sizes), items[line], np.repeat(weight, sizes), int(steps.sum())


class SequentialRecommender(Recommender):
    """GRU over basket sequences (see module doc); `hidden` (customers x dim) and `item_out` after a fit."""

    name = "seqrec"

    def fit(self, data: InteractionData) -> SequentialRecommender:
        super().fit(data)
        cfg = self.config
        self.hidden = np.zeros((data.n_customers, 0), np.float32)
        self.known = np.zeros(data.n_customers, bool)
        self.item_out = np.zeros((data.n_items, 0), np.float32)
        self.item_bias = np.zeros(data.n_items, np.float32)
        self.repeat_weight = np.zeros(data.n_items, np.float32)
        self.history = sp.csr_matrix((data.n_customers, data.n_items), dtype=np.float32)
        self.epochs_run = 0
        self.fitted = False
        if not self.fits(data.n_customers, len(data.purchases)) or data.n_items < 2:
            return self
        items, item_offsets, customer_offsets = basket_sequences(data, cfg.seqrec_max_baskets)
        lengths = np.diff(customer_offsets)
        if (lengths >= 2).sum() == 0:
            return self
        self._train(data, items, item_offsets, customer_offsets)
        self.fitted = True
        return self

    def fits(self, n_customers: int, n_purchase_lines: int) -> bool:
        """Whether a shop of this size is fitted at all (the caps of the module doc)."""
        cfg = self.config
        return 0 < n_purchase_lines <= cfg.seqrec_max_interactions and n_customers <= cfg.seqrec_max_customers

    def _train(self, data, items, item_offsets, customer_offsets) -> None:
        import torch

        cfg = self.config
        device = torch.device("cuda" if torch.cuda.is_available() and cfg.seqrec_device != "cpu" else "cpu")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        # the seed is set inside fork_rng: other torch users in the process (the LSTM) keep their random state
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                self._fit_model(data, items, item_offsets, customer_offsets, device, torch)
        finally:
            torch.set_num_threads(threads)

    def _fit_model(self, data, items, item_offsets, customer_offsets, device, torch) -> None:
        cfg = self.config
        try:
            generator = torch.Generator().manual_seed(cfg.seed)
            model = _GruModel(data.n_items, cfg.seqrec_dim, torch).to(device)
            optimiser = torch.optim.Adam(model.parameters(), lr=cfg.seqrec_learning_rate,
                                         weight_decay=cfg.seqrec_weight_decay)
            lengths = np.diff(customer_offsets)
            trainable = np.flatnonzero(lengths >= 2)
            rng = np.random.default_rng(cfg.seed)
            if len(trainable) > cfg.seqrec_train_customers:
                trainable = np.sort(rng.choice(trainable, cfg.seqrec_train_customers, replace=False))
            self._items, self._item_offsets = items, item_offsets
            t_items = torch.as_tensor(items, dtype=torch.long)
            t_offsets = torch.as_tensor(item_offsets, dtype=torch.long)
            started = time.perf_counter()
            model.train()
            # small shops: smaller batches, so that an epoch still takes about 16 steps
            size = max(16, min(cfg.seqrec_batch_customers, -(-len(trainable) // 16)))
            for _ in range(cfg.seqrec_epochs):
                for batch in np.array_split(rng.permutation(trainable), max(1, -(-len(trainable) // size))):
                    loss = self._batch_loss(model, torch, device, generator, np.sort(batch), customer_offsets,
                                            t_items, t_offsets, data.n_items)
                    optimiser.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                    optimiser.step()
                self.epochs_run += 1
                if time.perf_counter() - started > cfg.seqrec_time_budget_s:
                    break
            model.eval()
            self._states(model, torch, device, customer_offsets, t_items, t_offsets)
        finally:
            self.__dict__.pop("_items", None)
            self.__dict__.pop("_item_offsets", None)

    @staticmethod
    def _batch(rows, customer_offsets, t_items, t_offsets, torch, device):
        """Padded basket embeddings' inputs of customers `rows`: (bag items, bag offsets, basket index per
        (customer, step) slot as a (B, T) array with -1 padding, lengths)."""
        lengths = np.diff(customer_offsets)[rows]
        T = int(lengths.max())
        baskets = np.concatenate([np.arange(customer_offsets[r], customer_offsets[r + 1]) for r in rows])
        slots = np.full((len(rows), T), -1, np.int64)
        mask = np.arange(T)[None, :] < lengths[:, None]
        slots[mask] = np.arange(len(baskets))
        t_baskets = torch.as_tensor(baskets, dtype=torch.long)
        starts, ends = t_offsets[t_baskets], t_offsets[t_baskets + 1]
        sizes = ends - starts
        index = torch.repeat_interleave(starts, sizes) + (
            torch.arange(int(sizes.sum())) - torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes))
        bag_items = t_items[index].to(device)
        bag_offsets = (torch.cumsum(sizes, 0) - sizes).to(device)
        return bag_items, bag_offsets, slots, lengths, baskets

    def _batch_loss(self, model, torch, device, generator, rows, customer_offsets, t_items, t_offsets, n_items):
        bag_items, bag_offsets, slots, lengths, baskets = self._batch(rows, customer_offsets, t_items, t_offsets,
                                                                       torch, device)
        hidden = model.sequence(bag_items, bag_offsets, torch.as_tensor(slots, device=device))  # (B, T, d)
        # step t predicts basket t + 1: positions 0..len-2 of each customer
        b_idx, t_idx = np.nonzero(np.arange(slots.shape[1])[None, :] < (lengths - 1)[:, None])
        states = hidden[torch.as_tensor(b_idx, device=device), torch.as_tensor(t_idx, device=device)]
        target_baskets = torch.as_tensor(baskets[slots[b_idx, t_idx + 1]], dtype=torch.long)
        starts, ends = t_offsets[target_baskets], t_offsets[target_baskets + 1]
        sizes = ends - starts
        step = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
        target = t_items[torch.repeat_interleave(starts, sizes) + (
            torch.arange(int(sizes.sum())) - torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes))]
        lengths_all = np.diff(customer_offsets)[rows]
        h_step, h_item, h_weight, _ = history_entries(lengths_all, customer_offsets[rows], self._items,
                                                      self._item_offsets, self.config.seqrec_repeat_decay,
                                                      last_only=False)
        h_item = torch.as_tensor(h_item, dtype=torch.long)
        if n_items <= FULL_SOFTMAX_MAX_ITEMS:
            candidates = None
            column, h_column, h_keep = target, h_item, torch.ones(len(h_item), dtype=torch.bool)
        else:
            sample = torch.randint(0, n_items, (FULL_SOFTMAX_MAX_ITEMS,), generator=generator)
            candidates, inverse = torch.unique(torch.cat([target, sample]), return_inverse=True)
            column = inverse[: len(target)]
            position = torch.searchsorted(candidates, h_item).clamp(max=len(candidates) - 1)
            h_keep = candidates[position] == h_item
            h_column = position
        logits = model.logits(states, None if candidates is None else candidates.to(device))
        if h_keep.any():
            keep = h_keep.numpy()
            key = torch.as_tensor(h_step[keep], dtype=torch.long) * logits.shape[1] + h_column[h_keep]
            unique, inverse = torch.unique(key, return_inverse=True)
            total = torch.zeros(len(unique), dtype=torch.float32).index_add_(
                0, inverse, torch.as_tensor(h_weight[keep], dtype=torch.float32))
            r, c = (unique // logits.shape[1]).to(device), (unique % logits.shape[1]).to(device)
            item = c if candidates is None else candidates.to(device)[c]
            bonus = model.repeat_weight(item) * torch.log1p(total.to(device))
            logits = logits.index_put((r, c), bonus, accumulate=True)
        log_p = torch.log_softmax(logits, dim=1)
        picked = log_p[step.to(device), column.to(device)]
        weight = (1.0 / sizes.float())[step].to(device)
        return -(picked * weight).sum() / len(sizes)

    def _states(self, model, torch, device, customer_offsets, t_items, t_offsets) -> None:
        """Hidden state after each customer's last basket, and the output embeddings, as numpy arrays."""
        lengths = np.diff(customer_offsets)
        known = np.flatnonzero(lengths >= 1)
        hidden = np.zeros((len(lengths), model.dim), np.float32)
        with torch.no_grad():
            for batch in np.array_split(known, max(1, -(-len(known) // 512))):
                if not len(batch):
                    continue
                bag_items, bag_offsets, slots, lens, _ = self._batch(batch, customer_offsets, t_items, t_offsets,
                                                                     torch, device)
                out = model.sequence(bag_items, bag_offsets, torch.as_tensor(slots, device=device))
                last = out[torch.arange(len(batch), device=device), torch.as_tensor(lens - 1, device=device)]
                hidden[batch] = last.cpu().numpy()
            self.item_out = model.output.weight.detach().cpu().numpy().astype(np.float32)
            self.item_bias = model.bias.detach().cpu().numpy().astype(np.float32)
            all_items = torch.arange(len(self.item_bias), device=device)
            self.repeat_weight = model.repeat_weight(all_items).detach().cpu().numpy().astype(np.float32)
        self.hidden = hidden
        self.known = lengths >= 1
        step, item, weight, _ = history_entries(lengths, customer_offsets[:-1], self._items, self._item_offsets,
                                                self.config.seqrec_repeat_decay, last_only=True)
        history = sp.csr_matrix((weight.astype(np.float32), (step, item)), shape=(len(lengths), len(self.item_bias)))
        history.sum_duplicates()
        history.data = np.log1p(history.data).astype(np.float32)
        self.history = history

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows, dtype=np.int64)
        shape = (len(rows), self.data.n_items)
        if not self.fitted or not len(rows):
            return sp.csr_matrix(shape, dtype=np.float32)
        local = np.flatnonzero(self.known[rows])
        n = min(self.config.candidates, self.data.n_items)
        chunk = max(1, SCORE_CHUNK_CELLS // self.data.n_items)
        out_rows, out_cols, out_values = [], [], []
        for s in range(0, len(local), chunk):
            part = local[s : s + chunk]
            scores = self.hidden[rows[part]] @ self.item_out.T + self.item_bias
            own = self.history[rows[part]].tocoo()  # the customer's decayed history, weighted per product
            scores[own.row, own.col] += own.data * self.repeat_weight[own.col]
            top = np.argpartition(-scores, n - 1, axis=1)[:, :n] if n < scores.shape[1] else \
                np.tile(np.arange(scores.shape[1]), (len(part), 1))
            values = np.take_along_axis(scores, top, axis=1)
            values = np.exp(np.clip(values - values.max(axis=1, keepdims=True), -30, 0)) + 1e-6
            out_rows.append(np.repeat(part, n))
            out_cols.append(top.ravel())
            out_values.append(values.ravel())
        if not out_rows:
            return sp.csr_matrix(shape, dtype=np.float32)
        return sp.csr_matrix((np.concatenate(out_values).astype(np.float32),
                              (np.concatenate(out_rows), np.concatenate(out_cols))), shape=shape)

    def reason_text(self, code: int) -> str:
        return "often comes next after what they bought last"


def _GruModel(n_items: int, dim: int, torch):
    """The network: basket = mean of input embeddings, one GRU layer, dot product with output embeddings."""

    class GruModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dim = dim
            self.input = torch.nn.EmbeddingBag(n_items, dim, mode="mean")
            self.gru = torch.nn.GRU(dim, dim, num_layers=1, batch_first=True)
            self.output = torch.nn.Embedding(n_items, dim)
            self.bias = torch.nn.Parameter(torch.zeros(n_items))
            # how much having bought a product (decayed over baskets since) raises its score: shared + per product
            self.repeat_shared = torch.nn.Parameter(torch.ones(1))
            self.repeat_item = torch.nn.Parameter(torch.zeros(n_items))
            torch.nn.init.normal_(self.input.weight, std=0.1)
            torch.nn.init.normal_(self.output.weight, std=0.1)

        def sequence(self, bag_items, bag_offsets, slots):
            """Hidden states (B, T, dim) over padded basket slots (-1 = padding, at the end of each row)."""
            baskets = self.input(bag_items, bag_offsets)
            padded = torch.zeros((*slots.shape, self.dim), device=baskets.device)
            mask = slots >= 0
            padded[mask] = baskets[slots[mask]]
            out, _ = self.gru(padded)
            return out

        def repeat_weight(self, items):
            return self.repeat_shared + self.repeat_item[items]

        def logits(self, states, candidates=None):
            if candidates is None:
                return states @ self.output.weight.T + self.bias
            return states @ self.output.weight[candidates].T + self.bias[candidates]

    return GruModel()
