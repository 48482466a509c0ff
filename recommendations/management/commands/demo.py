"""python manage.py demo [--no-serve] — the whole product on a simulated shop, from nothing.

It lives in the recommendations app because that app sits at the top of the dependency chain
(recommendations → predictions → behavior → catalog → accounts) and the demo drives all of them."""

import datetime as dt
import secrets
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
from ecomsight.errors import UserError
from predictions.services.scoring import scoring_run_create, scoring_run_execute
from predictions.services.training import model_train
from recommendations.services import recommendations_build
from reviews.services import reviews_analyze

SHOP_SLUG = "demo"
KINDS = ("customers", "products", "orders", "order_lines", "events", "reviews")


class Command(BaseCommand):
    help = "Simulate a shop, import it, train, score, build recommendations, create logins, and serve."

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="stop after set-up instead of serving")
        parser.add_argument("--customers", type=int, default=5000)
        parser.add_argument("--products", type=int, default=500)
        parser.add_argument("--days", type=int, default=548, help="history length (default: 18 months)")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--algorithms", default="recency,rfm_logreg,bgnbd,lgbm,lstm,ensemble")
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[demo {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def handle(self, *args, **options):
        self.started = time.perf_counter()
        try:
            self._setup(options)
        except UserError as exc:
            raise CommandError(exc.message) from None
        if not options["no_serve"]:
            self.say(f"serving on http://{options['addrport']}/ (Ctrl-C stops)")
            call_command("runserver", options["addrport"], use_reloader=False)

    def _setup(self, options) -> None:
        self.say("preparing the database")
        call_command("migrate", interactive=False, verbosity=0)
        Shop.objects.filter(slug=SHOP_SLUG).delete()  # a re-run starts from a clean demo shop
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

        self.say("analysing reviews (sentiment from the stars, aspects)")
        analysis = reviews_analyze(shop=shop)
        self.say(f"  {analysis.reviews} reviews: {analysis.analysis.statement}")

        for task in ("purchase", "churn"):
            self.say(f"training {task} models ({options['algorithms']})")
            outcome = model_train(shop=shop, task=task, algorithms=options["algorithms"].split(","),
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

        logins = {}
        for role in ("marketer", "analyst"):
            password = secrets.token_urlsafe(12)
            user_create_or_update(username=role, role=role, password=password, shops=[shop])
            logins[role] = password
        self.say("ready")
        self.stdout.write(f"\nLog in at http://{options['addrport']}/ with:")
        for role, password in logins.items():
            self.stdout.write(f"  {role:<9} password: {password}")
        self.stdout.write("")
