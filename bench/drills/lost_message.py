"""Drill: a Celery worker SIGKILLed right after Redis handed it a message loses that message for good.

kombu's Redis transport takes a message off the queue with BRPOP, and only then, in a second round trip, records it
as unacknowledged (`unacked` hash + `unacked_index`, kombu/transport/redis.py QoS.append). A worker killed between
the two leaves the message nowhere: not queued, not unacknowledged (no visibility timeout brings it back), never
run. This is why a scoring run or a recommendation build can stall for ever, and why the stall sweep exists
(recommendations/services/stalls.py).

Each trial starts a real worker (the crash test's flags: prefork, one child, acks late, prefetch 1), queues 200
cheap tasks (`celery.accumulate`) on the `ml` queue, and SIGKILLs the worker's process group either the instant the
queue's length drops (`pop`: its BRPOP took a message) or at a random moment (`random`). Then every task id is
looked for: still queued, recorded unacknowledged, or logged as run. Prints one JSON line per trial and one per
mode: {"mode", "trials", "trials_losing_a_message", "messages_lost", "lost_never_received"}.

It deletes the broker's keys (`ml`, `unacked`, ...) of its Redis db first: give it a db nothing else uses.

    REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/drills/lost_message.py [--trials 10] [--modes pop,random]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"

QUEUE = "ml"
TASKS = 200


def _task_id(raw: bytes | str) -> str:
    return json.loads(raw)["headers"]["id"]


def trial(app, client, number: int, mode: str, logs: Path) -> dict:
    for key in (QUEUE, "unacked", "unacked_index", "unacked_mutex"):
        client.delete(key)
    log = logs / f"{mode}-{number}.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", QUEUE, "-c", "1", "--pool", "prefork",
             "-n", f"drill{number}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while "ready." not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    ids = [app.send_task("celery.accumulate", args=[i], queue=QUEUE).id for i in range(TASKS)]
    if mode == "pop":
        start = client.llen(QUEUE)
        while start and client.llen(QUEUE) == start:  # (0: the worker ran them all already; killed idle)
            pass
    else:
        time.sleep(random.uniform(0.05, 0.5))
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    queued = {_task_id(raw) for raw in client.lrange(QUEUE, 0, -1)}
    unacked = {json.loads(raw)[0]["headers"]["id"] for raw in client.hvals("unacked")}
    text = log.read_text()
    ran = {i for i in ids if f"[{i}] succeeded" in text}
    lost = [i for i in ids if i not in queued and i not in unacked and i not in ran]
    return {"trial": number, "mode": mode, "queued": len(queued), "unacked": len(unacked), "ran": len(ran),
            "lost": len(lost), "lost_never_received": sum(1 for i in lost if f"[{i}] received" not in text)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--modes", default="pop,random")
    parser.add_argument("--logs", default=str(ROOT / "var" / "drill-lost-message"))
    args = parser.parse_args()
    import redis

    from ecomsight.celery import app

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    for mode in args.modes.split(","):
        results = []
        for number in range(args.trials):
            results.append(trial(app, client, number, mode, logs))
            print(json.dumps(results[-1]), flush=True)
        print(json.dumps({"mode": mode, "trials": args.trials,
                          "trials_losing_a_message": sum(1 for r in results if r["lost"]),
                          "messages_lost": sum(r["lost"] for r in results),
                          "lost_never_received": sum(r["lost_never_received"] for r in results),
                          "load_average": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
