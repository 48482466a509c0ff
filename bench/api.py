"""Benchmark: the REST API under gunicorn on loopback, driven by 32 concurrent keep-alive clients.

    .venv/bin/python bench/api.py [--customers 20000] [--seconds 10] [--clients 32] [--workers 4]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench_api), creating and
migrating the database when needed, and seeds a shop with N scored customers (bulk COPY), 10
recommendations each and one order each. Then, for each of health, customers/{id}/recommendations,
customers/{id}/scores and at-risk, runs the load for a bounded time and prints p50 / p99 / rps; then
posts batches of 10,000 new events and prints events per second. Ends with one JSON line:
{"<endpoint>": {"p50_ms", "p99_ms", "rps"}, ..., "events_batch_per_s"}.

The load generator runs in 4 processes × (clients / 4) threads with http.client, so the GIL of one
client process does not cap the figures; on a 2-core machine it still shares the CPUs with the
server, which the figures include.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench_api")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
# The benchmark measures the API with its throttle in place, at a rate it never reaches.
os.environ.setdefault("API_THROTTLE_RATE", "100000000/min")

HOST, PORT = "127.0.0.1", int(os.environ.get("BENCH_PORT", "8765"))


def database_ensure() -> None:
    import psycopg

    base, _, name = os.environ["DATABASE_URL"].rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def seed(customers: int) -> str:
    """A fresh shop 'bench' with `customers` scored customers; returns an admin token for it."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import numpy as np
    import pandas as pd
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Shop
    from accounts.tokens import api_token_create
    from behavior.models import Customer
    from catalog.models import Product
    from ecomsight.db import bulk_insert_frame
    from predictions.models import ScoringRun
    from recommendations.models import RecommenderVersion

    Shop.objects.filter(slug="bench").delete()
    rng = np.random.default_rng(7)
    now = timezone.now()
    with transaction.atomic():
        shop = Shop.objects.create(slug="bench", name="Bench")
        user, _ = User.objects.get_or_create(username="bench-admin")
        user.groups.set([Group.objects.get(name="admin")])
        shop.members.add(user)
        ids = [f"C{i:07d}" for i in range(customers)]
        bulk_insert_frame("behavior_customer", pd.DataFrame({
            "shop_id": shop.pk, "external_id": ids, "email": [f"{c.lower()}@example.com" for c in ids],
            "name": [f"Name {c}" for c in ids], "country": rng.choice(["DE", "FR", "NL"], customers),
            "attributes": "{}", "is_stub": False, "created_at": now}))
        pk = dict(Customer.objects.filter(shop=shop).values_list("external_id", "id"))
        customer_ids = np.array([pk[c] for c in ids])
        products = 500
        bulk_insert_frame("catalog_product", pd.DataFrame({
            "shop_id": shop.pk, "external_id": [f"P{i:04d}" for i in range(products)],
            "title": [f"Product {i}" for i in range(products)], "description": "", "brand": "", "price": 9.99,
            "active": True, "is_stub": False, "created_at": now}))
        product_ids = np.array(list(Product.objects.filter(shop=shop).values_list("id", flat=True)))
        days_ago = rng.integers(1, 400, customers)
        bulk_insert_frame("behavior_order", pd.DataFrame({
            "shop_id": shop.pk, "external_id": [f"O{i:07d}" for i in range(customers)], "customer_id": customer_ids,
            "placed_at": [now - pd.Timedelta(days=int(d)) for d in days_ago], "total": 50, "currency": "EUR",
            "status": "placed"}))
        run = ScoringRun.objects.create(shop=shop, as_of=now, status=ScoringRun.Status.SUCCEEDED,
                                        customers_total=customers)
        churn = rng.random(customers)
        spend = rng.gamma(2.0, 150.0, customers)
        frames = []
        for task, p in (("churn", churn), ("purchase", 1 - churn)):
            frames.append(pd.DataFrame({
                "shop_id": shop.pk, "scoring_run_id": run.pk, "customer_id": customer_ids, "task": task,
                "probability": p, "risk_band": np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low")),
                "decile": np.clip(10 - (p * 10).astype(int), 1, 10), "reasons": '["No order for 94 days"]',
                "spend_12m": spend, "revenue_at_risk": p * spend, "scored_at": now}))
        bulk_insert_frame("predictions_customerscore", pd.concat(frames))
        version = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE, k=10)
        k = 10
        picks = np.stack([rng.choice(product_ids, k, replace=False) for _ in range(customers)])
        bulk_insert_frame("recommendations_recommendation", pd.DataFrame({
            "shop_id": shop.pk, "version_id": version.pk, "customer_id": np.repeat(customer_ids, k),
            "product_id": picks.ravel(), "rank": np.tile(np.arange(1, k + 1), customers),
            "score": rng.random(customers * k), "source": "item_cf", "reason": "Because you bought Product 1"}))
        token = api_token_create(user=user, shop=shop, name="bench").plain
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return token


def server_start(workers: int) -> subprocess.Popen:
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "ecomsight.wsgi:application", "--bind", f"{HOST}:{PORT}",
         "--workers", str(workers), "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30",
         "--log-level", "warning", "--backlog", "2048"],
        cwd=ROOT, env=env, start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, PORT, timeout=2)
            conn.request("GET", "/api/v1/health/")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def _client_process(paths: list[str], token: str, seconds: float, threads: int, out: mp.Queue) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
        mine = []
        bad = 0
        headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
        while time.perf_counter() < stop_at:
            path = rng.choice(paths)
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=run, args=(i + os.getpid(),)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def load(paths: list[str], token: str, *, seconds: float, clients: int, processes: int = 4) -> dict:
    """Closed-loop load: `clients` connections each sending the next request when the last one answered."""
    queue: mp.Queue = mp.Queue()
    per = max(1, clients // processes)
    procs = [mp.Process(target=_client_process, args=(paths, token, seconds, per, queue)) for _ in range(processes)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    n = len(latencies)
    return {"p50_ms": round(latencies[n // 2] * 1000, 2) if n else None,
            "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 2) if n else None,
            "rps": round(n / elapsed, 1), "requests": n, "errors": errors}


def events_batches(token: str, *, batches: int, size: int = 10_000, customers: int) -> float:
    """Events per second through events/batch: `batches` requests of `size` new events, two at a time."""
    rng = random.Random(11)
    run = uuid.uuid4().hex[:8]
    bodies = []
    for b in range(batches):
        items = [{"event_id": f"{run}-{b}-{i}", "customer_id": f"C{rng.randrange(customers):07d}",
                  "type": rng.choice(["view", "view", "view", "add_to_cart", "search"]),
                  "product_id": f"P{rng.randrange(500):04d}", "occurred_at": "2026-06-01T10:00:00Z",
                  "session_id": f"s{i // 8}"} for i in range(size)]
        bodies.append(json.dumps(items).encode())
    stored = [0]
    lock = threading.Lock()

    def post(chunk: list[bytes]) -> None:
        conn = http.client.HTTPConnection(HOST, PORT, timeout=120)
        for body in chunk:
            conn.request("POST", "/api/v1/events/batch/", body=body,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read())
            with lock:
                stored[0] += data.get("stored", 0)

    started = time.perf_counter()
    pool = [threading.Thread(target=post, args=(bodies[i::2],)) for i in range(2)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if stored[0] != batches * size:
        print(f"warning: stored {stored[0]} of {batches * size} events", file=sys.stderr)
    return stored[0] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (8 threads each)")
    parser.add_argument("--batches", type=int, default=10, help="events/batch requests of 10,000 events")
    args = parser.parse_args()

    database_ensure()
    t0 = time.perf_counter()
    token = seed(args.customers)
    print(f"seeded {args.customers} scored customers in {time.perf_counter() - t0:.1f}s; "
          f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    server = server_start(args.workers)
    try:
        rng = random.Random(3)
        sample = [f"C{rng.randrange(args.customers):07d}" for _ in range(500)]
        endpoints = {
            "health": ["/api/v1/health/"],
            "customers/{id}/recommendations": [f"/api/v1/customers/{c}/recommendations/" for c in sample],
            "customers/{id}/scores": [f"/api/v1/customers/{c}/scores/" for c in sample],
            "at-risk": ["/api/v1/at-risk/", "/api/v1/at-risk/?band=high", "/api/v1/at-risk/?sort=churn",
                        "/api/v1/at-risk/?value_min=200&days_min=30"],
        }
        result: dict = {}
        for name, paths in endpoints.items():
            load(paths, token, seconds=1.0, clients=args.clients)  # warm the workers' connections and caches
            figures = load(paths, token, seconds=args.seconds, clients=args.clients)
            print(f"{name:32s} p50 {figures['p50_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms  "
                  f"{figures['rps']:8.1f} req/s  ({figures['requests']} requests, {figures['errors']} errors)",
                  file=sys.stderr)
            result[name] = {k: figures[k] for k in ("p50_ms", "p99_ms", "rps")}
        rate = events_batches(token, batches=args.batches, customers=args.customers)
        print(f"events/batch                     {rate:,.0f} events/s", file=sys.stderr)
        result["events_batch_per_s"] = round(rate)
        print(f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
