"""Drill 16: a big events CSV (default 200 MB) with 1 % malformed rows through `import_data`.

Every good row must be stored, every bad row reported with its line, and peak memory must stay
under 300 MB and not grow with the file size (run once at --mb 50 and once at --mb 200 and compare).
The import runs in a child process so its peak RSS is its own. Ends with one JSON line
{"mb", "rows", "bad_rows", "stored", "rejected", "report_lines_match", "seconds", "peak_rss_mb"}.

    .venv/bin/python bench/drills/big_csv.py [--mb 200]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")

SLUG = "drill-big-csv"
FAULTS = [("", "customer_id"), ("not-a-date", "occurred_at"), ("{broken json", "properties")]


def write_file(path: Path, megabytes: int) -> tuple[int, set[int]]:
    """Events with realistic ids; every 100th row has exactly one fault. Returns (rows, bad lines)."""
    rng = random.Random(7)
    target = megabytes * 1024 * 1024
    bad: set[int] = set()
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties"])
        while handle.tell() < target:
            rows += 1
            row = [f"E{rows:010d}", f"C{rng.randrange(50_000):06d}", rng.choice(["view", "add_to_cart", "login"]),
                   f"P{rng.randrange(5_000):05d}", f"2026-0{rng.randint(1, 5)}-{rng.randint(10, 28)}T10:00:00Z",
                   f"S{rng.randrange(10**6)}", '{"src": "web"}']
            if rows % 100 == 0:
                value, column = FAULTS[(rows // 100) % len(FAULTS)]
                row[["event_id", "customer_id", "type", "product_id", "occurred_at", "session_id",
                     "properties"].index(column)] = value
                bad.add(rows + 1)  # the header is line 1
            writer.writerow(row)
    return rows, bad


def child(path: str) -> None:
    """Runs in a fresh process: import the file, print the result and this process's peak RSS."""
    import django

    django.setup()
    from accounts.models import Shop
    from behavior.services import data_import

    shop = Shop.objects.get(slug=SLUG)
    result = data_import(shop=shop, kind="events", path=path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**result.as_json(), "peak_rss_mb": round(peak, 1)}))


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()

    from bench.common import database_ensure, shop_drop

    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from behavior.models import Event

    shop_drop(SLUG)
    shop = Shop.objects.create(slug=SLUG, name="Drill big CSV")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        rows, bad = write_file(path, args.mb)
        print(f"[drill] wrote {path.stat().st_size / 2**20:.0f} MB, {rows} rows, {len(bad)} malformed",
              file=sys.stderr)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True,
                             env=os.environ, check=True).stdout
        seconds = time.perf_counter() - started
    result = json.loads(out.strip().splitlines()[-1])
    reported: set[int] = set()
    if result.get("report"):
        with open(result["report"], newline="", encoding="utf-8") as handle:
            reported = {int(r["line"]) for r in csv.DictReader(handle)}
    stored = Event.objects.filter(shop=shop).count()
    summary = {"mb": args.mb, "rows": rows, "bad_rows": len(bad), "stored": stored,
               "rejected": result["rejected"], "report_lines_match": reported == bad,
               "good_rows_all_stored": stored == rows - len(bad), "seconds": round(seconds, 1),
               "peak_rss_mb": result["peak_rss_mb"]}
    print(f"[drill] {summary}", file=sys.stderr)
    shop_drop(SLUG)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
