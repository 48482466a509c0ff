"""Benchmark: the REST API under gunicorn on loopback, driven by 32 concurrent keep-alive clients.

    .venv/bin/python bench/api.py [--customers 200000] [--seconds 10] [--clients 32] [--workers N --threads N]
    .venv/bin/python bench/api.py --in-process 1000    # CPU per call in this process, no gunicorn, no clients

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench_api), creating and
migrating the database when needed, and seeds a shop with N customers scored in 3 runs (the history the
scores endpoint shows; bulk COPY), 20 recommendations each and one order each. A shop of the same shape
from an earlier run is reused (--reseed to seed again). Then, for each of health (the ceiling: no
authentication, no database), customers/{id}/recommendations, customers/{id}/scores and at-risk, it
measures one client alone (the cost of a single request), then the load for a bounded time, and prints
p50 / p90 / p99 / max latency and rps with the load average (other jobs on the machine change the
figures); then posts batches of 10,000 new events and prints events per second. Ends with
one JSON line: {"<endpoint>": {"p50_ms", "p99_ms", "rps"}, ..., "events_batch_per_s"}.

gunicorn runs with gunicorn.conf.py's settings, as deployed (--workers, --threads and --gunicorn-args
override them). The load generator is 2 processes, each an asyncio loop of plain HTTP/1.1 keep-alive
connections (--clients in all, each sending its next request when the last one answered): about 0.14 ms
of CPU per request, a third of what http.client threads cost. It still shares the 2 cores with the
server; the line for each endpoint says how much of them it used, and the CPU gunicorn and the database's
PostgreSQL backends used per request.
"""

from __future__ import annotations

import argparse
import asyncio
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
# Tasks go to the broker as deployed (the test settings run them in the calling process): eagerly, an events
# batch would re-score its 10,000 customers and rebuild their lists inside the request (360 events/s, not 27,000).
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")

from bench import common  # noqa: E402

HOST, PORT = "127.0.0.1", int(os.environ.get("BENCH_PORT", "8765"))




def seed(customers: int, *, recommendations: int = 20, runs: int = 3, reseed: bool = False) -> str:
    """A shop 'bench' with `customers` customers scored in `runs` scoring runs (the history the scores
    endpoint pages through) and `recommendations` each; returns a fresh admin token for it.

    An existing shop of the same shape is kept (seeding 200,000 customers takes a minute or two) unless
    `reseed`."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Membership, Shop
    from accounts.tokens import api_token_create

    shape = {"customers": customers, "recommendations": recommendations, "runs": runs}
    existing = Shop.objects.filter(slug="bench").first()
    if existing is not None and not reseed and existing.name == f"Bench {json.dumps(shape, sort_keys=True)}":
        from django.contrib.auth.models import User
        from django.utils import timezone

        _list_columns_fill(existing)
        # A run on the shop of an earlier one: the earlier "bench" token may still be active, and names are unique.
        name = f"bench {timezone.now():%Y-%m-%d %H:%M:%S.%f}"
        return api_token_create(user=User.objects.get(username="bench-admin"), shop=existing, name=name).plain
    import numpy as np
    import pandas as pd
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from behavior.models import Customer
    from catalog.models import Product
    from ecomsight.db import bulk_insert_frame
    from predictions.models import ScoringRun
    from recommendations.models import RecommenderVersion

    Shop.objects.filter(slug="bench").delete()
    rng = np.random.default_rng(7)
    now = timezone.now()
    with transaction.atomic():
        shop = Shop.objects.create(slug="bench", name=f"Bench {json.dumps(shape, sort_keys=True)}")
        user, _ = User.objects.get_or_create(username="bench-admin")
        Membership.objects.create(user=user, shop=shop, role="admin")
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
            "status": "placed", "offer_code": ""}))
        spend = rng.gamma(2.0, 150.0, customers)
        for r in range(runs):
            # Older runs first: the last one is the shop's current run.
            as_of = now - pd.Timedelta(days=30 * (runs - 1 - r))
            run = ScoringRun.objects.create(shop=shop, as_of=as_of, status=ScoringRun.Status.SUCCEEDED,
                                            customers_total=customers)
            churn = rng.random(customers)
            frames = []
            for task, p in (("churn", churn), ("purchase", 1 - churn)):
                frames.append(pd.DataFrame({
                    "shop_id": shop.pk, "scoring_run_id": run.pk, "customer_id": customer_ids, "task": task,
                    "probability": p, "risk_band": np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low")),
                    "decile": np.clip(10 - (p * 10).astype(int), 1, 10), "reasons": '["No order for 94 days"]',
                    "spend_12m": spend, "revenue_at_risk": p * spend, "scored_at": as_of}))
            bulk_insert_frame("predictions_customerscore", pd.concat(frames))
        k = recommendations
        version = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE, k=k)
        # k distinct products per customer without a Python loop: a random start, then every 7th product
        # (distinct while 7 * k < 500).
        starts = rng.integers(0, products, customers)
        picks = product_ids[(starts[:, None] + np.arange(k) * 7) % products]
        bulk_insert_frame("recommendations_recommendation", pd.DataFrame({
            "shop_id": shop.pk, "version_id": version.pk, "customer_id": np.repeat(customer_ids, k),
            "product_id": picks.ravel(), "rank": np.tile(np.arange(1, k + 1), customers),
            "score": rng.random(customers * k), "source": "item_cf", "reason": "Because you bought Product 1"}))
        token = api_token_create(user=user, shop=shop, name="bench").plain
    _list_columns_fill(shop)
    return token


def _list_columns_fill(shop) -> None:
    """What the scoring service does when a run finishes, where this version of predictions has it: copy
    the at-risk list's computed columns onto the churn rows."""
    try:
        from predictions.selectors.at_risk import list_columns_copied
        from predictions.services.score_columns import customer_score_list_columns_fill
    except ImportError:
        return
    from django.db import connection

    from predictions.models import ScoringRun

    with connection.cursor() as cursor:
        # Statistics first, as the scoring service does: without them the fill's joins plan as nested loops
        # over 200,000 rows (minutes instead of seconds).
        cursor.execute("ANALYZE")
    for run in ScoringRun.objects.filter(shop=shop):
        if not list_columns_copied(run):
            customer_score_list_columns_fill(run=run)


def server_start(*, workers: int | None = None, threads: int | None = None, extra: str = "") -> subprocess.Popen:
    """gunicorn as deployed: the settings of gunicorn.conf.py (read from the repository root), bound to
    loopback; `workers`, `threads` and `extra` (more command-line options) override them."""
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    options = ["--bind", f"{HOST}:{PORT}", "--log-level", "warning"]
    if workers:
        options += ["--workers", str(workers)]
    if threads:
        options += ["--threads", str(threads)]
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "ecomsight.wsgi:application", *options, *extra.split()],
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


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group `pgid` (Linux /proc)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...; utime, stime at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / tick


def database_cpu_seconds() -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to this database from elsewhere (the
    server's persistent connections; /proc, so PostgreSQL on this machine). Other databases' backends, for
    example other jobs on the machine, are not counted."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        pids = [row[0] for row in cursor.fetchall()]
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class _Client(asyncio.Protocol):
    """One keep-alive connection in a closed loop: the next request goes out when the last answer is in.

    Plain HTTP/1.1 over asyncio's protocol callbacks (no http.client, whose header parsing through the
    email package cost ~0.4 ms of CPU per request): responses carry Content-Length (Django sets it). The
    first request's latency counts from `connecting`, when the client began to open the connection."""

    def __init__(self, requests: list[bytes], rng: random.Random, stop_at: float, done: asyncio.Future,
                 latencies: list[float], connecting: float):
        self.requests, self.rng, self.stop_at, self.done, self.latencies = requests, rng, stop_at, done, latencies
        self.errors = 0
        self.buffer = b""
        self.expected = -1  # the full response's length once its head is in
        self.ok = True
        self.in_flight = False
        self.started = connecting

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send(self.started)

    def _send(self, started: float) -> None:
        self.started = started
        self.in_flight = True
        self.transport.write(self.rng.choice(self.requests))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.expected < 0:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            self.ok = head.startswith((b"http/1.1 200", b"http/1.0 200"))
            at = head.find(b"\r\ncontent-length:")
            if at < 0:  # every answer here has a length; one without it is an error, and the connection goes
                self.errors += 1
                self.in_flight = False
                self.transport.close()
                return
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17:line_end if line_end > 0 else None])
            self.expected = head_end + 4 + length
            self.close_after = b"\r\nconnection: close" in head
        if len(self.buffer) < self.expected:
            return
        now = time.perf_counter()
        self.latencies.append(now - self.started)
        self.in_flight = False
        if not self.ok:
            self.errors += 1
        self.buffer = self.buffer[self.expected:]
        self.expected = -1
        if self.close_after or now >= self.stop_at:
            self.transport.close()
        else:
            self._send(now)

    def connection_lost(self, exc) -> None:
        if self.in_flight:  # closed with a request unanswered
            self.errors += 1
        if not self.done.done():
            self.done.set_result(None)


def _client_process(paths: list[str], token: str, seconds: float, connections: int, out: mp.Queue) -> None:
    """`connections` closed-loop clients in one process (an asyncio loop): puts (latencies, errors, CPU s)."""
    requests = [(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nAuthorization: Bearer {token}\r\n"
                 "Accept: application/json\r\n\r\n").encode() for path in paths]
    latencies: list[float] = []
    errors = 0

    async def client(seed: int) -> None:
        nonlocal errors
        loop = asyncio.get_running_loop()
        rng = random.Random(seed)
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            done, connecting = loop.create_future(), time.perf_counter()
            try:
                _, protocol = await loop.create_connection(
                    lambda done=done, connecting=connecting: _Client(requests, rng, stop_at, done, latencies,
                                                                     connecting), HOST, PORT)
            except OSError:
                errors += 1
                await asyncio.sleep(0.01)
                continue
            await done  # the server closed the connection, or the time is up
            errors += protocol.errors

    async def main() -> None:
        await asyncio.gather(*(client(os.getpid() * 100 + i) for i in range(connections)))

    asyncio.run(main())
    out.put((latencies, errors, time.process_time()))


def load(paths: list[str], token: str, *, seconds: float, clients: int, processes: int = 2) -> dict:
    """Closed-loop load: `clients` connections each sending the next request when the last one answered."""
    queue: mp.Queue = mp.Queue()
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    procs = [mp.Process(target=_client_process, args=(paths, token, seconds, n, queue)) for n in shares]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _, _ in results for x in lat)
    errors = sum(e for _, e, _ in results)
    n = len(latencies)

    def percentile(q: float) -> float | None:
        return round(latencies[min(n - 1, int(n * q))] * 1000, 2) if n else None

    return {"p50_ms": percentile(0.5), "p90_ms": percentile(0.9), "p99_ms": percentile(0.99),
            "max_ms": round(latencies[-1] * 1000, 2) if n else None,
            "rps": round(n / elapsed, 1), "requests": n, "errors": errors,
            # The load generator shares the CPUs with the server: how many cores it used on average.
            "client_cores": round(sum(cpu for _, _, cpu in results) / elapsed, 2)}


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


def in_process(endpoints: dict[str, list[str]], token: str, *, calls: int) -> dict:
    """CPU milliseconds per call of each endpoint through Django's test client (the whole request: middleware, DRF,
    the selectors, rendering), `calls` calls spread over its paths after a warm-up: {"<endpoint>": ms}. The
    database's and Redis's own CPU are not in it."""
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST=HOST)
    result = {}
    for name, paths in endpoints.items():
        for path in paths * 5:
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.content[:200]!r}")
        started = time.process_time()
        for i in range(calls):
            client.get(paths[i % len(paths)])
        result[name] = round((time.process_time() - started) * 1000 / calls, 3)
        print(f"{name:32s} {result[name]:.3f} ms CPU per call in process ({calls} calls; "
              f"load average {os.getloadavg()[0]:.2f})", file=sys.stderr)
    return {"in_process_cpu_ms": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--recommendations", type=int, default=20, help="per customer (at most 70)")
    parser.add_argument("--runs", type=int, default=3, help="scoring runs of history")
    parser.add_argument("--reseed", action="store_true", help="seed again even when the shop has this shape")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: gunicorn.conf.py's)")
    parser.add_argument("--gunicorn-args", default="", help="more gunicorn options, e.g. '--worker-connections 8'")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--single-seconds", type=float, default=3.0,
                        help="first measure each endpoint with one client: the cost of a single request")
    parser.add_argument("--only", default="", help="comma-separated endpoint names to measure (default: all)")
    parser.add_argument("--batches", type=int, default=10, help="events/batch requests of 10,000 events")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="instead of gunicorn and clients: N calls of each endpoint through Django's test client "
                             "in this process, and the CPU each call cost (the figure a busy machine changes least)")
    args = parser.parse_args()

    common.database_ensure()
    t0 = time.perf_counter()
    token = seed(args.customers, recommendations=args.recommendations, runs=args.runs, reseed=args.reseed)
    print(f"seeded {args.customers} scored customers in {time.perf_counter() - t0:.1f}s; "
          f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    rng = random.Random(3)
    sample = [f"C{rng.randrange(args.customers):07d}" for _ in range(500)]
    endpoints = {
        "health": ["/api/v1/health/"],
        "customers/{id}/recommendations": [f"/api/v1/customers/{c}/recommendations/" for c in sample],
        "customers/{id}/scores": [f"/api/v1/customers/{c}/scores/" for c in sample],
        "at-risk": ["/api/v1/at-risk/", "/api/v1/at-risk/?band=high", "/api/v1/at-risk/?sort=churn",
                    "/api/v1/at-risk/?value_min=200&days_min=30"],
    }
    if args.only:
        endpoints = {k: v for k, v in endpoints.items() if k in args.only.split(",")}
    if args.in_process:
        print(json.dumps(in_process(endpoints, token, calls=args.in_process)))
        return
    server = server_start(workers=args.workers, threads=args.threads, extra=args.gunicorn_args)
    try:
        result: dict = {}
        for name, paths in endpoints.items():
            load(paths, token, seconds=1.0, clients=args.clients, processes=args.processes)  # warm up
            if args.single_seconds:
                single = load(paths, token, seconds=args.single_seconds, clients=1, processes=1)
                print(f"{name:32s} one client: p50 {single['p50_ms']:7.2f} ms  p99 {single['p99_ms']:7.2f} ms  "
                      f"({single['errors']} errors)", file=sys.stderr)
            server_cpu, database_cpu = group_cpu_seconds(server.pid), database_cpu_seconds()
            figures = load(paths, token, seconds=args.seconds, clients=args.clients, processes=args.processes)
            server_ms = (group_cpu_seconds(server.pid) - server_cpu) * 1000 / max(1, figures["requests"])
            database_ms = (database_cpu_seconds() - database_cpu) * 1000 / max(1, figures["requests"])
            print(f"{name:32s} p50 {figures['p50_ms']:7.2f} ms  p90 {figures['p90_ms']:7.2f} ms  "
                  f"p99 {figures['p99_ms']:7.2f} ms  max {figures['max_ms']:7.2f} ms  "
                  f"{figures['rps']:8.1f} req/s  ({figures['requests']} requests, {figures['errors']} errors; "
                  f"gunicorn {server_ms:.2f} ms CPU per request, PostgreSQL {database_ms:.2f} ms; "
                  f"client used {figures['client_cores']} cores; "
                  f"load average {os.getloadavg()[0]:.2f})", file=sys.stderr)
            result[name] = {k: figures[k] for k in ("p50_ms", "p99_ms", "rps")}
        if args.batches:
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
