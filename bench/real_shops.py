"""Real shops: the project's backtest and evaluate_recommendations beside the strongest simple peers.

Reads ../shared/data (or --data) and skips with a message when it is absent. In one process and one run:

- cdnow_a (orders only): imported with `import_data`'s service into a fresh shop; `backtest --task purchase`
  at 1998-03-31 + 91 days and at 1997-09-30 + 273 days (39 weeks of history: no labelled window fits), and the
  peers on the same customers and outcomes: logistic regression and LightGBM on log1p RFM + windowed counts
  (trained at cutoff - H on the labels of (cutoff - H, cutoff], only when that window fits), Pareto/NBD
  (P(>= 1 purchase) and expected purchases), BG/NBD expected purchases, recency alone.
- instacart_a (baskets): orders then order lines; `evaluate_recommendations --k 10` and, on the very split it
  uses, the peers: personal frequency (the customer's items by number of orders holding them, ties by
  recency), implicit ALS (64 factors, re-buys allowed), item-kNN cosine (own items kept), global popularity.

Prints side-by-side tables, then one JSON line.

    .venv/bin/python bench/real_shops.py [--data ../shared/data] [--keep]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

PURCHASE_TASKS = ((dt.date(1998, 3, 31), 91), (dt.date(1997, 9, 30), 273))
WINDOWS = (30, 90, 180, 365)


def log(message: str) -> None:
    _log(message, prefix="real")


# ------------------------------------------------------------------------------------ prediction peers
def rfm_frame(orders: pd.DataFrame, ids: np.ndarray, cutoff: pd.Timestamp) -> pd.DataFrame:
    """log1p of recency, frequency, spend, mean order value, tenure and order counts in windows, as of cutoff."""
    o = orders[(orders["placed_at"] <= cutoff) & (orders["status"] != "cancelled")]
    age = (cutoff - o["placed_at"]).dt.total_seconds().to_numpy() / 86400.0
    g = pd.DataFrame({"c": o["customer_id"].to_numpy(), "age": age, "total": o["total"].fillna(0).to_numpy()})
    agg = g.groupby("c").agg(recency=("age", "min"), tenure=("age", "max"), frequency=("age", "size"),
                             spend=("total", "sum"))
    for w in WINDOWS:
        agg[f"orders_{w}d"] = g[g["age"] < w].groupby("c").size()
    agg = agg.reindex(ids)
    agg["aov"] = agg["spend"] / agg["frequency"]
    never = agg["frequency"].isna()
    agg = agg.fillna({"recency": 10_000.0, "tenure": 0.0}).fillna(0.0)
    agg["never"] = never.astype(float)
    return np.log1p(agg.clip(lower=0))


def prediction_peers(frames, *, cutoff: dt.date, horizon: int, lookback_days: int) -> dict:
    """Every peer's metrics on the customers and outcomes the backtest uses (eligible at cutoff)."""
    import lightgbm as lgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from predictions.ml import bgnbd, paretonbd
    from predictions.ml.features import FeatureConfig, build_features, eligible_customers
    from predictions.ml.labels import build_labels, data_start
    from predictions.ml.metrics import evaluate
    from predictions.ml.pipeline import truncate_frames

    cut = pd.Timestamp(cutoff, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    past = truncate_frames(frames, cut)
    ids = eligible_customers(past, cutoff=cut, task="purchase", lookback_days=lookback_days)
    y = build_labels(frames, cutoff=cut, horizon_days=horizon, task="purchase", customer_ids=ids)
    out = {}
    X = rfm_frame(past.orders, ids, cut)
    out["recency"] = evaluate(y, -X["recency"].to_numpy())
    summary = build_features(past, cutoff=cut, config=FeatureConfig(), customer_ids=ids).X
    x, t_x, T = bgnbd.summary_from_features(summary)
    bg = bgnbd.fit_bgnbd(summary["bgnbd_x"], summary["bgnbd_t_x"], summary["bgnbd_T"])
    out["bgnbd_expected"] = evaluate(y, bgnbd.expected_purchases(bg, horizon, x, t_x, T))
    pn = paretonbd.fit_paretonbd(summary["bgnbd_x"], summary["bgnbd_t_x"], summary["bgnbd_T"])
    out["paretonbd_p_any"] = evaluate(y, paretonbd.p_purchase_in(pn, horizon, x, t_x, T))
    out["paretonbd_expected"] = evaluate(y, paretonbd.expected_purchases(pn, horizon, x, t_x, T))
    train_cut = cut - pd.Timedelta(days=horizon)
    start = data_start(frames)
    if start is not None and train_cut - start >= pd.Timedelta(days=90):
        before = truncate_frames(frames, train_cut)
        train_ids = eligible_customers(before, cutoff=train_cut, task="purchase", lookback_days=lookback_days)
        y_train = build_labels(past, cutoff=train_cut, horizon_days=horizon, task="purchase",
                               customer_ids=train_ids)
        X_train = rfm_frame(before.orders, train_ids, train_cut)
        scaler = StandardScaler().fit(X_train)
        logreg = LogisticRegression(max_iter=2000).fit(scaler.transform(X_train), y_train)
        out["logreg_rfm"] = evaluate(y, logreg.predict_proba(scaler.transform(X))[:, 1])
        gbm = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.03, num_leaves=15, min_child_samples=50,
                                 subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=0, verbose=-1)
        gbm.fit(X_train, y_train)
        out["lgbm_rfm"] = evaluate(y, gbm.predict_proba(X)[:, 1])
    return {name: {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"]} for name, m in out.items()}


# --------------------------------------------------------------------------------- recommender peers
def recommendation_peers(interactions: pd.DataFrame, products, customers, *, config, k: int) -> dict:
    """NDCG@k etc. of the peers on the split evaluate_recommendations uses (and personal frequency on the
    plain "every customer's last order" protocol, for comparison with the data README)."""
    import implicit
    import scipy.sparse as sp

    from recommendations.ml.data import build_interaction_data, topk_csr
    from recommendations.ml.hybrid import holdout_targets
    from recommendations.ml.metrics import ranking_metrics
    from recommendations.ml.split import temporal_split

    split = temporal_split(interactions, quantile=config.validation_quantile)
    data = build_interaction_data(split.train, products, customers, config=config, as_of=split.cutoff)
    rows, targets = holdout_targets(data, split.holdout)
    out = {"customers": int(len(rows)), "cutoff": str(split.cutoff)}

    def report(name: str, items: np.ndarray) -> None:
        m = ranking_metrics(items, targets)
        out[name] = {"hit_rate": m.hit_rate, "recall": m.recall, "ndcg": m.ndcg}

    p = data.purchases
    counts = sp.csr_matrix((np.ones(len(p), np.float32), (p["row"], p["col"])), shape=data.purchased.shape)
    counts.sum_duplicates()
    last = p.groupby(["row", "col"])["age_days"].min().reset_index()
    tie = sp.csr_matrix((1.0 / (2.0 + last["age_days"].to_numpy()), (last["row"], last["col"])),
                        shape=data.purchased.shape)
    report("personal_frequency", topk_csr((counts + tie)[rows], k).items)
    popularity = np.asarray(counts.sum(axis=0)).ravel()
    report("popularity", np.tile(np.argsort(-popularity, kind="stable")[:k], (len(rows), 1)))
    binary = data.purchased
    norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
    norms[norms == 0] = 1
    normalised = sp.csr_matrix(binary @ sp.diags(1 / norms))
    sim = sp.csr_matrix(normalised.T @ normalised)
    report("item_knn", topk_csr(sp.csr_matrix(binary[rows] @ sim), k).items)
    model = implicit.cpu.als.AlternatingLeastSquares(factors=64, regularization=0.05, iterations=15,
                                                     random_state=0)
    model.fit(counts, show_progress=False)
    ids, _ = model.recommend(rows, counts[rows], N=k, filter_already_liked_items=False)
    report("als", np.asarray(ids, dtype=np.int64))

    # the data README's protocol: every customer's last order held out, everything before it trained on
    purchases = interactions[interactions["kind"] == "purchase"]
    order_ts = purchases.groupby(["customer_id", "order_id"])["ts"].min().reset_index()
    order_ts = order_ts.sort_values(["customer_id", "ts", "order_id"])
    lasts = order_ts.groupby("customer_id").tail(1)
    lasts = lasts[lasts["customer_id"].map(order_ts.groupby("customer_id").size()) >= 2]
    held = purchases["order_id"].isin(lasts["order_id"])
    before = purchases[~held]
    before = before[before["customer_id"].isin(lasts["customer_id"])]
    grp = before.groupby(["customer_id", "product_id"]).agg(n=("order_id", "nunique"), last=("ts", "max"))
    grp = grp.reset_index().sort_values(["customer_id", "n", "last"], ascending=[True, False, False])
    top = grp.groupby("customer_id").head(k)
    truth = purchases[held].groupby("customer_id")["product_id"].apply(set)
    discounts = 1 / np.log2(np.arange(2, k + 2))
    ndcgs = []
    for customer, items in top.groupby("customer_id")["product_id"]:
        want = truth.get(customer, set())
        rel = np.array([item in want for item in items], dtype=float)
        dcg = float((rel * discounts[: len(rel)]).sum())
        ndcgs.append(dcg / discounts[: min(len(want), k)].sum() if want else 0.0)
    out["personal_frequency_last_order_protocol"] = {"ndcg": float(np.mean(ndcgs)), "customers": len(ndcgs)}
    return out


# ---------------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--keep", action="store_true", help="keep the bench shops afterwards")
    parser.add_argument("--only", choices=["cdnow", "instacart"], help="one dataset only")
    parser.add_argument("--algorithms", default=None, help="backtest algorithms (default: all)")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "cdnow_a").is_dir() and not (data / "instacart_a").is_dir():
        print(f"No real shop data at {data}: skipped (see /work/shared/data/README.md).")
        print(json.dumps({"skipped": f"no data at {data}"}))
        return 0

    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from behavior.services import data_import
    from predictions.selectors.frames import shop_frames
    from predictions.services.backtesting import model_backtest
    from recommendations.selectors import recommender_frames
    from recommendations.services import recommendations_evaluate, recommender_config

    report: dict = {"backtests": {}, "recommendations": {}}
    goals: dict = {}
    if (data / "cdnow_a").is_dir() and args.only in (None, "cdnow"):
        slug = "bench-real-cdnow"
        shop_drop(slug)
        shop = Shop.objects.create(slug=slug, name=slug)
        started = time.perf_counter()
        data_import(shop=shop, kind="orders", path=data / "cdnow_a" / "orders.csv")
        log(f"imported cdnow_a in {time.perf_counter() - started:.1f}s")
        frames = shop_frames(shop_id=shop.pk)
        for cutoff, horizon in PURCHASE_TASKS:
            started = time.perf_counter()
            ours = model_backtest(shop=shop, task="purchase", cutoff=cutoff, horizon_days=horizon,
                                  algorithms=args.algorithms, progress=log)
            seconds = round(time.perf_counter() - started, 1)
            peers = prediction_peers(frames, cutoff=cutoff, horizon=horizon,
                                     lookback_days=shop.churn_lookback_days)
            key = f"cdnow_purchase_{horizon}"
            champion = ours["champion"]
            best = ours["algorithms"].get(champion or "", {})
            best_peer_roc = max(m["roc_auc"] for m in peers.values())
            best_peer_pr = max(m["pr_auc"] for m in peers.values())
            report["backtests"][key] = {
                "cutoff": cutoff.isoformat(), "horizon_days": horizon, "customers": ours["customers"],
                "base_rate": ours["base_rate"], "champion": champion, "seconds": seconds,
                "ours": {n: {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"]} for n, m in ours["algorithms"].items()},
                "peers": peers, "errors": ours["errors"],
            }
            goals[key] = {"champion_roc_auc": best.get("roc_auc"), "champion_pr_auc": best.get("pr_auc"),
                          "best_peer_roc_auc": best_peer_roc, "best_peer_pr_auc": best_peer_pr}
            print(f"\ncdnow_a purchase {cutoff} + {horizon} d: {ours['customers']} customers, base rate "
                  f"{ours['base_rate']:.3f}, champion {champion} ({seconds}s)")
            print(f"{'':<8}{'model':<22}{'ROC AUC':>9}{'PR AUC':>9}")
            for name, m in ours["algorithms"].items():
                mark = " *" if name == champion else ""
                print(f"{'ours':<8}{name + mark:<22}{_f(m['roc_auc']):>9}{_f(m['pr_auc']):>9}")
            for name, m in peers.items():
                print(f"{'peer':<8}{name:<22}{_f(m['roc_auc']):>9}{_f(m['pr_auc']):>9}")
        if not args.keep:
            shop_drop(slug)

    if (data / "instacart_a").is_dir() and args.only in (None, "instacart"):
        slug = "bench-real-instacart"
        shop_drop(slug)
        shop = Shop.objects.create(slug=slug, name=slug)
        started = time.perf_counter()
        data_import(shop=shop, kind="orders", path=data / "instacart_a" / "orders.csv")
        data_import(shop=shop, kind="order_lines", path=data / "instacart_a" / "order_lines.csv")
        log(f"imported instacart_a in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        ours = recommendations_evaluate(shop=shop, k=10, data_report=True)
        seconds = round(time.perf_counter() - started, 1)
        frames = recommender_frames(shop_id=shop.pk)
        peers = recommendation_peers(frames.interactions, frames.products, frames.customers,
                                     config=recommender_config(shop=shop), k=10)
        members = {n: m for n, m in ours.items() if isinstance(m, dict) and "ndcg" in m}
        report["recommendations"]["instacart_a"] = {"ours": ours, "peers": peers, "seconds": seconds}
        goals["instacart_a"] = {"hybrid_ndcg": members.get("hybrid", {}).get("ndcg"),
                                "personal_frequency_peer_ndcg": peers["personal_frequency"]["ndcg"]}
        print(f"\ninstacart_a, K=10: {ours['customers']} customers evaluated (peers: {peers['customers']}), "
              f"holdout after {peers['cutoff']} ({seconds}s)")
        print(f"{'':<8}{'recommender':<24}{'HitRate':>9}{'Recall':>9}{'NDCG':>9}")
        for name, m in members.items():
            print(f"{'ours':<8}{name:<24}{m['hit_rate']:>9.4f}{m['recall']:>9.4f}{m['ndcg']:>9.4f}")
        for name, m in peers.items():
            if isinstance(m, dict) and "hit_rate" in m:
                print(f"{'peer':<8}{name:<24}{m['hit_rate']:>9.4f}{m['recall']:>9.4f}{m['ndcg']:>9.4f}")
        protocol = peers["personal_frequency_last_order_protocol"]
        print(f"(personal frequency, every customer's last order held out: NDCG {protocol['ndcg']:.4f} over "
              f"{protocol['customers']} customers)")
        print(f"hybrid chosen on validation: {ours.get('hybrid_choice')}; validation NDCG "
              f"{ours.get('validation_ndcg')}")
        if ours.get("data_report"):
            print(f"data report: {ours['data_report']}")
        if not args.keep:
            shop_drop(slug)

    for g in goals.values():
        if "champion_roc_auc" in g and g["champion_roc_auc"] is not None:
            g["roc_goal_met"] = g["champion_roc_auc"] >= g["best_peer_roc_auc"] + 0.01
            g["pr_goal_met"] = g["champion_pr_auc"] >= g["best_peer_pr_auc"] + 0.015
        if "hybrid_ndcg" in g and g["hybrid_ndcg"] is not None:
            g["ratio_to_personal_frequency"] = g["hybrid_ndcg"] / max(g["personal_frequency_peer_ndcg"], 1e-9)
            g["goal_met"] = g["ratio_to_personal_frequency"] >= 1.06
    report["goals"] = goals
    print(json.dumps(report, default=_json))
    return 0


def _f(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
