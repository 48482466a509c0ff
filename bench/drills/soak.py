"""Drill 17: a long soak of the API under load. Run by hand (an hour by default); not part of the suite.

    .venv/bin/python bench/drills/soak.py [--minutes 60] [--clients 8] [--customers 20000]

Serves the app with gunicorn (the production settings of gunicorn.conf.py, as bench/api.py) on a shop seeded like
bench/api.py's, then for `--minutes` keeps `--clients` keep-alive clients calling the read endpoints
(customers/{id}/recommendations, customers/{id}/scores, customers/{id}, at-risk with filters and a second
page, me) while one more client posts events/batch every few seconds (1,000 new events, and every fifth
time the previous batch again, which must store nothing). Every 30 s it samples the memory of the
gunicorn processes (RSS of the master and workers together, and the largest worker) and of Redis.

Memory growth is the last five minutes' median against the median of minutes 5 to 10 (the first minutes
fill per-process caches: compiled SQL, verified tokens, the prepared statements of each connection).
Goals: growth under 10 %, 0 errors (any answer other than 200/201, a refused connection or a timeout).
Prints a line per sample and ends with one JSON line:
{"minutes", "requests", "rps", "p50_ms", "p99_ms", "errors", "events_stored", "events_expected",
 "rss_baseline_mb", "rss_end_mb", "memory_growth_pct", "worker_rss_max_mb", "redis_baseline_mb",
 "redis_end_mb"}
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench_soak")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ.setdefault("BENCH_PORT", "8768")

from bench import api  # noqa: E402  (its environment defaults and seeding; BENCH_PORT above)
from bench.common import database_ensure, log  # noqa: E402

SAMPLE_SECONDS = 30


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def redis_used_mb() -> float:
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"]).info("memory")["used_memory"] / 1024 ** 2


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stored = 0
        self.expected = 0

    def error(self, what: str) -> None:
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append(what)
            else:
                self.errors.append("")  # counted, not kept


def reader(token: str, paths: list[str], stop: threading.Event, tally: Tally, seed: int) -> None:
    """Closed loop over `paths`; after a first page of the at-risk list, its second page by the cursor."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(api.HOST, api.PORT, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    mine: list[float] = []
    following: str | None = None
    while not stop.is_set():
        path, following = following or rng.choice(paths), None
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.error(f"{type(exc).__name__} {path}")
            conn.close()
            conn = http.client.HTTPConnection(api.HOST, api.PORT, timeout=30)
            continue
        mine.append(time.perf_counter() - started)
        if response.status != 200:
            tally.error(f"{response.status} {path} {body[:200]!r}")
        elif path.startswith("/api/v1/at-risk/") and "cursor=" not in path:
            link = json.loads(body).get("next")
            if link:
                parts = urllib.parse.urlsplit(link)
                following = f"{parts.path}?{parts.query}"
        if len(mine) >= 1000:
            with tally.lock:
                tally.latencies.extend(mine)
            mine = []
    with tally.lock:
        tally.latencies.extend(mine)


def writer(token: str, customers: int, stop: threading.Event, tally: Tally, every: float = 3.0) -> None:
    rng = random.Random(17)
    run = uuid.uuid4().hex[:8]
    conn = http.client.HTTPConnection(api.HOST, api.PORT, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    previous: bytes | None = None
    n = 0
    while not stop.wait(every):
        n += 1
        resend = previous is not None and n % 5 == 0
        if not resend:
            items = [{"event_id": f"soak-{run}-{n}-{i}", "customer_id": f"C{rng.randrange(customers):07d}",
                      "type": rng.choice(["view", "view", "add_to_cart", "search"]),
                      "product_id": f"P{rng.randrange(500):04d}", "occurred_at": "2026-06-01T10:00:00Z"}
                     for i in range(1000)]
            previous = json.dumps(items).encode()
        try:
            conn.request("POST", "/api/v1/events/batch/", body=previous, headers=headers)
            response = conn.getresponse()
            data = json.loads(response.read() or b"{}")
            if response.status not in (200, 201):
                tally.error(f"{response.status} events/batch {data}")
                continue
            with tally.lock:
                tally.stored += data.get("stored", 0)
                tally.expected += 0 if resend else 1000
        except (OSError, http.client.HTTPException, ValueError) as exc:
            tally.error(f"{type(exc).__name__} events/batch")
            conn.close()
            conn = http.client.HTTPConnection(api.HOST, api.PORT, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: gunicorn.conf.py's")
    args = parser.parse_args()

    database_ensure()
    token = api.seed(args.customers)
    server = api.server_start(workers=args.workers, threads=args.threads)
    rng = random.Random(5)
    sample = [f"C{rng.randrange(args.customers):07d}" for _ in range(2000)]
    paths = ([f"/api/v1/customers/{c}/recommendations/" for c in sample]
             + [f"/api/v1/customers/{c}/scores/" for c in sample]
             + [f"/api/v1/customers/{c}/" for c in sample[:500]]
             + ["/api/v1/at-risk/", "/api/v1/at-risk/?band=high", "/api/v1/at-risk/?sort=value",
                "/api/v1/at-risk/?value_min=200&days_min=30", "/api/v1/me/"])
    tally = Tally()
    stop = threading.Event()
    threads = [threading.Thread(target=reader, args=(token, list(paths), stop, tally, i)) for i in range(args.clients)]
    threads.append(threading.Thread(target=writer, args=(token, args.customers, stop, tally)))
    started = time.monotonic()
    samples: list[tuple[float, float, float, float]] = []  # (minute, total RSS MB, largest worker MB, Redis MB)
    try:
        for t in threads:
            t.start()
        end = started + args.minutes * 60
        while time.monotonic() < end:
            time.sleep(min(SAMPLE_SECONDS, max(0.0, end - time.monotonic())))
            pids = group_pids(server.pid)
            sizes = [rss_kb(pid) / 1024 for pid in pids]
            minute = (time.monotonic() - started) / 60
            samples.append((minute, sum(sizes), max(sizes, default=0.0), redis_used_mb()))
            with tally.lock:
                done, errors = len(tally.latencies), len(tally.errors)
            log(f"{minute:5.1f} min  gunicorn {samples[-1][1]:7.1f} MB in {len(pids)} processes "
                f"(largest {samples[-1][2]:.1f} MB)  redis {samples[-1][3]:.1f} MB  {done} requests  {errors} errors  "
                f"load {os.getloadavg()[0]:.2f}", prefix="soak")
            if server.poll() is not None:
                tally.error("gunicorn exited")
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=150)
        elapsed = time.monotonic() - started
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    def median_between(lo: float, hi: float, column: int) -> float:
        values = [s[column] for s in samples if lo <= s[0] <= hi] or [samples[-1][column]]
        return statistics.median(values)

    total = samples[-1][0] if samples else 0.0
    # Baseline: minutes 5-10 (the first 10 % of a short run); end: the last five minutes (last 10 %).
    base_lo, base_hi = (5.0, 10.0) if total >= 20 else (total * 0.1, total * 0.2)
    end_lo = total - 5.0 if total >= 20 else total * 0.9
    baseline, final = median_between(base_lo, base_hi, 1), median_between(end_lo, total, 1)
    latencies = sorted(tally.latencies)
    n = len(latencies)
    for message in [e for e in tally.errors if e][:10]:
        log(f"error: {message}", prefix="soak")
    print(json.dumps({
        "minutes": round(elapsed / 60, 1), "requests": n, "rps": round(n / elapsed, 1) if elapsed else 0,
        "p50_ms": round(latencies[n // 2] * 1000, 1) if n else None,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 1) if n else None,
        "errors": len(tally.errors), "events_stored": tally.stored, "events_expected": tally.expected,
        "rss_baseline_mb": round(baseline, 1), "rss_end_mb": round(final, 1),
        "memory_growth_pct": round((final / baseline - 1) * 100, 2) if baseline else None,
        "worker_rss_max_mb": round(max((s[2] for s in samples), default=0.0), 1),
        "redis_baseline_mb": round(median_between(base_lo, base_hi, 3), 1),
        "redis_end_mb": round(median_between(end_lo, total, 3), 1),
    }))


if __name__ == "__main__":
    main()
