"""Scale: a simulated shop of N customers through real Celery workers, once per worker count, with the
resident memory of every process sampled.

    .venv/bin/python bench/scale.py --customers N [--compare-workers 1,2] [--algorithms recency,bgnbd,lgbm]

Simulates N customers (products N/10, at most 20,000; 365 days), loads them with COPY (bench/scoring.py's
loader: this measures the heavy stages, not the importer), then for each worker count W starts W Celery
worker processes (`celery worker -c 1` each, queues ml and default, ML_THREADS = cores / W as the README
advises for several workers on one machine; ML_THREADS in the environment overrides) and through them:

- trains the purchase and churn models (two training tasks; training reads a sample of at most
  TRAIN_SAMPLE_CUSTOMERS customers, so its memory does not grow with the shop),
- scores every customer (one task per chunk of the scoring run, spread over the workers),
- builds the recommendations (a statistics pass, then one task per partition of RECOMMEND_PARTITION_CUSTOMERS
  customers, spread over the workers; the build ends when its job does).

`--stages train,score,recommend` (default: all three) runs only some of them (a stage left out reports null).
Each worker count's figures also have "cores_busy_by_stage": how many cores the whole machine kept busy on
average during each stage (every process's CPU seconds over the stage's seconds: what a second worker can still
add on this machine is the idle rest), and "peak_rss_mb_by_stage": the largest process during each stage; for the
recommendation build the log also gives the largest process while each of its job's messages was current
(which step peaks) and when each message was first seen. `--keep` keeps the simulated shop; a later `--reuse`
run with the same --customers builds on it without simulating and loading again (before/after pairs on the
same data).

A sampler thread reads the resident memory of every worker process (the parent and its children) every
0.5 s (not this bench process: it holds the simulation, which no product process does). Prints each stage
per worker count, then one JSON line: {"customers", "events", "workers",
"train_seconds", "score_seconds", "recommend_seconds", "peak_rss_mb_max_process", "score_speedup_2_workers"}
where the stage seconds are those of the largest worker count compared, "by_workers" has every count's, and
"score_speedup_2_workers" is score_seconds(1 worker) / score_seconds(2 workers) when both ran (else null).

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench) and CELERY_BROKER_URL /
REDIS_URL (default redis://127.0.0.1:6379/14, emptied first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["CELERY_BROKER_URL"] = os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"]
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"  # the point is the workers

from bench import common  # noqa: E402


def log(message: str) -> None:
    common.log(message, prefix="scale")


class MemorySampler(threading.Thread):
    """The largest resident memory any single worker process reached (parents and their children)."""

    def __init__(self, roots: list[int]):
        super().__init__(daemon=True)
        self.roots, self.peak_mb, self.peak_name, self._halt = roots, 0.0, "", threading.Event()
        self.stage_mb = 0.0  # the largest since the last `stage_peak`
        self.label = ""  # what the running job says it is doing (set by the poller); digits collapsed to '#'
        self.by_label: dict[str, float] = {}  # the largest process while each label was current
        self.label_seconds: dict[str, float] = {}  # seconds from the stage's start to each label's first sight
        self.label_clock = time.perf_counter()

    def run(self) -> None:
        import psutil

        while not self._halt.is_set():
            for root in self.roots:
                try:
                    parent = psutil.Process(root)
                    processes = [parent, *parent.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for process in processes:
                    try:
                        mb = process.memory_info().rss / 1024 ** 2
                    except psutil.NoSuchProcess:
                        continue
                    self.stage_mb = max(self.stage_mb, mb)
                    if self.label:
                        self.by_label[self.label] = max(self.by_label.get(self.label, 0.0), round(mb, 1))
                    if mb > self.peak_mb:
                        self.peak_mb, self.peak_name = mb, " ".join(process.cmdline()[-6:])[:80]
            self._halt.wait(0.5)

    def stage_peak(self) -> float:
        """The largest process since the previous call (a stage's peak), in MB."""
        time.sleep(1.0)  # one more sample after the stage ended
        mb, self.stage_mb = self.stage_mb, 0.0
        return round(mb, 1)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak_mb


def workers_start(count: int) -> list[subprocess.Popen]:
    from django.db import connection

    from ecomsight.embedded import database_url

    # As a deployment of `count` worker processes on this machine is configured (README, ML_THREADS): each
    # process's numeric libraries get their share of the cores (ML_THREADS from the environment wins).
    threads = os.environ.get("ML_THREADS") or str(max(1, (os.cpu_count() or 1) // count))
    print(f"[scale] {count} worker process(es), ML_THREADS={threads}", flush=True)
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "ML_THREADS": threads}
    return [subprocess.Popen([sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", "ml,default",
                              "-c", "1", "-n", f"scale{i}@%h", "-l", "warning", "--without-gossip",
                              "--without-mingle"], cwd=ROOT, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(count)]


def workers_stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        try:
            os.killpg(worker.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for worker in workers:
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


class BusyCores:
    """The machine's CPU use over a stretch of time: busy CPU seconds of every process (workers, their PostgreSQL
    backends, this bench's poller) over wall seconds, i.e. how many of the cores were busy on average."""

    def __init__(self):
        self.wall, self.busy = time.perf_counter(), self._busy()

    @staticmethod
    def _busy() -> float:
        import psutil

        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)

    def cores(self) -> float:
        return round((self._busy() - self.busy) / max(1e-9, time.perf_counter() - self.wall), 2)


def wait_for(check, what: str, timeout: float = 6 * 3600) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def jobs_wait(job_ids: list[int], what: str, sampler: MemorySampler | None = None) -> None:
    """Until every job succeeded (any failed: exit). With `sampler`: its label follows the first job's message."""
    import re

    from accounts.models import Job

    def done() -> bool:
        if sampler is not None:
            message = Job.objects.filter(pk=job_ids[0]).values_list("message", flat=True).first() or ""
            sampler.label = re.sub(r"[\d,.]+", "#", message)[:80]
            sampler.label_seconds.setdefault(sampler.label, round(time.perf_counter() - sampler.label_clock, 1))
        statuses = dict(Job.objects.filter(pk__in=job_ids).values_list("pk", "status"))
        failed = {pk: s for pk, s in statuses.items() if s == Job.Status.FAILED}
        if failed:
            messages = list(Job.objects.filter(pk__in=failed).values_list("message", flat=True))
            raise SystemExit(f"{what} failed: {messages}")
        return all(s == Job.Status.SUCCEEDED for s in statuses.values())

    wait_for(done, what)


def stages(shop, *, algorithms: list[str], only: set[str], sampler: MemorySampler) -> dict:
    """Train, score and recommend (those in `only`) through the running workers; seconds and peak memory of each."""
    from accounts.jobs import job_create
    from accounts.models import Job
    from recommendations.tasks import recommendations_build_task

    seconds: dict = {"train_seconds": None, "score_seconds": None, "recommend_seconds": None}
    peaks: dict = {}
    busy: dict = {}
    sampler.stage_peak()
    if "train" in only:
        cpu = BusyCores()
        seconds["train_seconds"] = _train(shop, algorithms)
        busy["train"] = cpu.cores()
        peaks["train"] = sampler.stage_peak()
    if "score" in only:
        cpu = BusyCores()
        seconds["score_seconds"] = _score(shop)
        busy["score"] = cpu.cores()
        peaks["score"] = sampler.stage_peak()
    if "recommend" in only:
        cpu = BusyCores()
        started = time.perf_counter()
        job = job_create(shop=shop, kind=Job.Kind.RECOMMEND, params={"k": 20}, message="bench: recommendations")
        recommendations_build_task.delay(shop.pk, 20, job.pk)
        sampler.by_label, sampler.label_seconds, sampler.label_clock = {}, {}, time.perf_counter()
        jobs_wait([job.pk], "the recommendation build", sampler)
        seconds["recommend_seconds"] = round(time.perf_counter() - started, 1)
        busy["recommend"] = cpu.cores()
        peaks["recommend"] = sampler.stage_peak()
        sampler.label = ""
        log(f"largest process per job message (recommend): {json.dumps(sampler.by_label)}")
        log(f"seconds to each job message's first sight (recommend): {json.dumps(sampler.label_seconds)}")
        log(f"built recommendations in {seconds['recommend_seconds']}s: {Job.objects.get(pk=job.pk).result}")
    log(f"cores busy on average (of {os.cpu_count()}): {busy}")
    return {**seconds, "peak_rss_mb_by_stage": peaks, "cores_busy_by_stage": busy}


def _train(shop, algorithms: list[str]) -> float:
    from accounts.jobs import job_create
    from accounts.models import Job
    from predictions.tasks import model_train_task

    started = time.perf_counter()
    jobs = []
    for task in ("purchase", "churn"):
        job = job_create(shop=shop, kind=Job.Kind.TRAIN, params={"task": task}, message=f"bench: train {task}")
        model_train_task.delay(shop.pk, task, None, None, algorithms, job.pk)
        jobs.append(job.pk)
    jobs_wait(jobs, "training")
    train_seconds = round(time.perf_counter() - started, 1)
    log(f"trained purchase and churn in {train_seconds}s")
    return train_seconds


def _score(shop) -> float:
    from predictions.models import ScoringRun
    from predictions.services.scoring import scoring_run_create

    started = time.perf_counter()
    run = scoring_run_create(shop=shop, enqueue=True)

    def scored() -> bool:
        status = ScoringRun.objects.values_list("status", flat=True).get(pk=run.pk)
        if status == ScoringRun.Status.FAILED:
            raise SystemExit(f"scoring run {run.pk} failed")
        return status == ScoringRun.Status.SUCCEEDED

    wait_for(scored, "scoring")
    score_seconds = round(time.perf_counter() - started, 1)
    log(f"scored {run.customers_total:,} customers in {run.chunks_total} chunks in {score_seconds}s")
    return score_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--compare-workers", default="2", help="worker counts, comma-separated (e.g. 1,2)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--algorithms", default="recency,bgnbd,lgbm", help="trained algorithms")
    parser.add_argument("--keep", action="store_true", help="keep the bench shop afterwards")
    parser.add_argument("--stages", default="train,score,recommend", help="the stages run, comma-separated")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the bench shop a --keep run left when it has --customers customers (no "
                             "simulation, no load; kept afterwards): before/after pairs on the same data")
    args = parser.parse_args()
    counts = sorted({int(w) for w in args.compare_workers.split(",")})
    if not counts or counts[0] < 1:
        parser.error("--compare-workers takes positive worker counts, e.g. 1,2")

    common.database_ensure()
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
    from accounts.models import Shop
    from behavior.simulator import SimulationConfig, simulate
    from bench.scoring import load_shop

    products = min(20_000, max(200, args.customers // 10))
    from behavior.models import Customer, Event

    shop = Shop.objects.filter(slug="bench-scale").first() if args.reuse else None
    if shop is not None and Customer.objects.filter(shop=shop).count() == args.customers:
        loaded = {"customers": args.customers, "events": Event.objects.filter(shop=shop).count()}
        log(f"reusing the bench shop: {loaded}")
        args.keep = True
    else:
        shop = None
    if shop is None:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            log(f"simulating {args.customers:,} customers, {products:,} products, {args.days} days")
            simulate(SimulationConfig(customers=args.customers, products=products, days=args.days, seed=args.seed),
                     Path(tmp))
            common.shop_drop("bench-scale")
            shop = Shop.objects.create(slug="bench-scale", name="Bench scale", horizon_days=90)
            loaded = load_shop(shop, Path(tmp))
            with connection.cursor() as cursor:
                # What autovacuum does within minutes of a bulk load: statistics, and the visibility map that lets a
                # chunk read its customers' events and orders from the covering indexes alone (migration 0016).
                cursor.execute("VACUUM (ANALYZE)")
            log(f"simulated and loaded {loaded} in {time.perf_counter() - started:.1f}s")

    by_workers: dict = {}
    peak = 0.0
    algorithms = [a for a in args.algorithms.split(",") if a]
    for count in counts:
        # The previous worker count's (or a --reuse run's) rows replaced by this one's are dead rows until a VACUUM:
        # the production PostgreSQL's autovacuum reclaims them between nightly runs, but it may be off on a bench
        # machine (`SHOW autovacuum`), and unreclaimed they slow every later run (4 M dead recommendation rows a
        # build at 200,000 customers; after six builds, lists took 40 s a partition instead of 29).
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        log(f"VACUUM (ANALYZE) before {count} worker(s): {time.perf_counter() - started:.1f}s")
        workers = workers_start(count)
        sampler = MemorySampler([w.pid for w in workers])
        sampler.start()
        try:
            figures = stages(shop, algorithms=algorithms, only=set(args.stages.split(",")), sampler=sampler)
        finally:
            workers_stop(workers)
            mb = sampler.stop()
        figures["peak_rss_mb_max_process"] = round(mb, 1)
        peak = max(peak, mb)
        by_workers[count] = figures
        log(f"{count} worker(s): {figures}; the largest process was {sampler.peak_name!r}")

    last = by_workers[counts[-1]]
    speedup = None
    if 1 in by_workers and 2 in by_workers and by_workers[1]["score_seconds"] and by_workers[2]["score_seconds"]:
        speedup = round(by_workers[1]["score_seconds"] / by_workers[2]["score_seconds"], 2)
    if not args.keep:
        common.shop_drop("bench-scale")
    print(json.dumps({"customers": loaded["customers"], "events": loaded["events"], "workers": counts[-1],
                      "train_seconds": last["train_seconds"], "score_seconds": last["score_seconds"],
                      "recommend_seconds": last["recommend_seconds"], "peak_rss_mb_max_process": round(peak, 1),
                      "score_speedup_2_workers": speedup,
                      "by_workers": {str(k): v for k, v in by_workers.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
