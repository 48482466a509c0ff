"""python manage.py demo [--rebuild] [--no-serve] [--port N] — the whole product on a simulated shop.

The first run builds the demo shop (simulate, import, train, score, recommend); later runs re-use it
(`--rebuild` starts over). Then it serves the shop with gunicorn and a real Celery worker beside it, on the
embedded PostgreSQL and Redis (ecomsight/embedded.py), as production would: jobs run in the background and
their progress is real. `python -m ecomsight.embedded stop` (`make demo-stop`) stops everything it started.

It lives in the recommendations app because that app sits at the top of the dependency chain
(recommendations → predictions → behavior → catalog → accounts) and the demo drives all of them."""

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Shop
from accounts.services import user_create_or_update
from behavior.services import data_import
from behavior.simulator import SimulationConfig, simulate
from ecomsight.celery import app as celery_app
from ecomsight.errors import UserError
from predictions.models import ScoringRun
from predictions.services.scoring import scoring_run_create, scoring_run_execute
from predictions.services.training import model_train_recorded
from recommendations.services import recommendations_build
from reviews.services import reviews_analyze

SHOP_SLUG = "demo"
KINDS = ("customers", "products", "orders", "order_lines", "events", "reviews")


class Command(BaseCommand):
    help = ("Build the demo shop the first time (simulate, import, train, score, recommend), then serve it with "
            "a Celery worker beside the web server.")

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="stop after set-up instead of serving")
        parser.add_argument("--rebuild", action="store_true", help="build the demo shop again from nothing")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on (default 8000)")
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
        parser.add_argument("--customers", type=int, default=5000)
        parser.add_argument("--products", type=int, default=500)
        parser.add_argument("--days", type=int, default=548, help="history length (default: 18 months)")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--algorithms", default="recency,rfm_logreg,bgnbd,lgbm,lstm,ensemble")

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[demo {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def handle(self, *args, **options):
        self.started = time.perf_counter()
        self.forecast_queued: int | None = None  # the shop whose forecast the worker makes, when just built
        self.say("preparing the database")
        call_command("migrate", interactive=False, verbosity=0)
        shop = Shop.objects.filter(slug=SHOP_SLUG).first()
        built = shop is not None and ScoringRun.objects.filter(shop=shop, status=ScoringRun.Status.SUCCEEDED).exists()
        if built and not options["rebuild"]:
            self.say("the demo shop is built already: re-using it (--rebuild starts over)")
        else:
            try:
                self._build(options)
            except UserError as exc:
                raise CommandError(exc.message) from None
        address = f"http://{options['host']}:{options['port']}/"
        logins = self._logins(Shop.objects.get(slug=SHOP_SLUG))
        self.say("ready")
        self.stdout.write(f"\nLog in at {address} with:")
        for role, password in logins.items():
            self.stdout.write(f"  {role:<9} password: {password}")
        self.stdout.write("")
        if not options["no_serve"]:
            if self.forecast_queued:
                # Sales forecasts take a few minutes on 2 cores: the worker makes them while the shop is served
                # (by name: the forecasts app sits above this one). /forecasts/ says so meanwhile.
                celery_app.send_task("forecasts.tasks.forecast_run_task", args=[self.forecast_queued])
                self.say("forecasting sales in the worker (a few minutes; /forecasts/ shows them when done)")
            self._serve(options["host"], options["port"], address)

    def _logins(self, shop: Shop) -> dict[str, str]:
        """A fresh password for each demo login, every run (they are shown once, here)."""
        logins = {}
        for role in ("marketer", "analyst"):
            password = secrets.token_urlsafe(12)
            user_create_or_update(username=role, role=role, password=password, shops=[shop])
            logins[role] = password
        return logins

    def _serve(self, host: str, port: int, address: str) -> None:
        """gunicorn and a Celery worker (both queues), each in its own session so that a Ctrl-C here reaches them
        through this process; their pids go to var/demo.pids for `make demo-stop`."""
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomsight.settings.demo"}
        root = Path(settings.BASE_DIR)
        children = [
            subprocess.Popen([sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", "default,ml",
                              "--concurrency", "2", "--loglevel", "WARNING"], cwd=root, env=env,
                             start_new_session=True),
            subprocess.Popen([sys.executable, "-m", "gunicorn", "ecomsight.wsgi", "--bind", f"{host}:{port}"],
                             cwd=root, env=env, start_new_session=True),
        ]
        # Ctrl-C and `make demo-stop` (SIGTERM) both stop the children below, also when this process was started
        # with SIGINT ignored (a background job of a script inherits that, and Python then never raises
        # KeyboardInterrupt).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        pids = Path(settings.VAR_DIR) / "demo.pids"
        pids.write_text("\n".join(str(p) for p in (os.getpid(), *(c.pid for c in children))))
        self.say(f"serving on {address} with a Celery worker (Ctrl-C or `make demo-stop` stops)")
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            self.say("the web server or the worker stopped")
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()  # a warm shutdown: the worker finishes its task, gunicorn its requests
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()  # tasks are acknowledged late: an interrupted one runs again on the next start
                    child.wait()
            pids.unlink(missing_ok=True)

    def _build(self, options) -> None:
        Shop.objects.filter(slug=SHOP_SLUG).delete()  # a rebuild starts from a clean demo shop
        shop = Shop.objects.create(slug=SHOP_SLUG, name="Demo shop")

        out = Path(settings.VAR_DIR) / "demo-data"
        end = dt.date.today() - dt.timedelta(days=1)
        self.say(f"simulating {options['customers']} customers, {options['products']} products, "
                 f"{options['days']} days up to {end}")
        summary = simulate(SimulationConfig(customers=options["customers"], products=options["products"],
                                            days=options["days"], seed=options["seed"], end_date=end),
                           out, progress=self.say)
        self.say(f"simulated {summary.orders} orders and {summary.events} events")

        for kind in KINDS:
            self.say(f"importing {kind}")
            result = data_import(shop=shop, kind=kind, path=out / f"{kind}.csv")
            self.say(f"  {kind}: {result.inserted} inserted, {result.rejected} rejected in {result.seconds:.1f}s")

        # A few offers, so that the Offers page and a segment's offer plan have something to show (every draw is
        # random until the shop has logged assignments to learn from: README, "Next best offer").
        offers = out / "offers.csv"
        offers.write_text("offer_id,name,kind,value,cost_per_redemption,min_spend\n"
                          "NONE,No offer,none,,0,\n"
                          "TEN,10 % off the next order,discount_pct,10,4,\n"
                          "SHIP,Free shipping,free_shipping,,3,\n"
                          "GIFT,A gift with orders over 100,gift,8,8,100\n", encoding="utf-8")
        result = data_import(shop=shop, kind="offers", path=offers)
        self.say(f"  offers: {result.inserted} inserted, {result.rejected} rejected")

        self.say("analysing reviews (sentiment from the stars, aspects)")
        analysis = reviews_analyze(shop=shop)
        self.say(f"  {analysis.reviews} reviews: {analysis.analysis.statement}")

        for task in ("purchase", "churn"):
            self.say(f"training {task} models ({options['algorithms']})")
            outcome = model_train_recorded(shop=shop, task=task, algorithms=options["algorithms"].split(","),
                                           progress=self.say)
            champion = outcome.champion
            if champion is not None:
                auc = (champion.metrics or {}).get("roc_auc")
                self.say(f"  {task} champion: {champion.algorithm}"
                         + (f" (validation ROC AUC {auc:.3f})" if auc is not None else ""))

        self.say("scoring every customer")
        run = scoring_run_execute(run=scoring_run_create(shop=shop, enqueue=False), progress=self.say)
        self.say(f"  scoring run {run.pk}: {run.status}")

        self.say("building recommendations")
        built = recommendations_build(shop=shop, k=20, progress=self.say)
        self.say(f"  {built.recommendations} recommendations, {built.similar} similar products")
        self.forecast_queued = shop.pk
