"""manage.py lapsed_fill [--shop SLUG] [--force] [--chunk-size N]: the lapsed mark of current scores written before it
existed (migration 0008), computed again with the rule (predictions.services.lapsed)."""

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Shop
from predictions.services.lapsed import customer_score_lapsed_fill

from ._args import positive_int


class Command(BaseCommand):
    help = ("Compute the lapsed mark (already lapsed: a win-back customer) of each shop's current scores again, where "
            "they were written before the mark existed and so all read 'not lapsed'. Builds the customers' "
            "features again from the stored history at each score's date, in chunks, as scoring does (a fraction "
            "of a scoring run's time); a run scored with the mark is left alone (--force: computed again anyway). "
            "Prints one JSON line per shop: {shop, run, customers, lapsed, rows_changed, skipped}.")

    def add_arguments(self, parser):
        parser.add_argument("--shop", metavar="SLUG", help="only this shop (default: every shop)")
        parser.add_argument("--force", action="store_true", help="also runs scored with the mark")
        parser.add_argument("--chunk-size", type=positive_int, default=25_000, help="customers per chunk")

    def handle(self, *args, shop=None, force=False, chunk_size=25_000, **options):
        shops = Shop.objects.order_by("slug")
        if shop:
            shops = shops.filter(slug=shop)
            if not shops.exists():
                raise CommandError(f"No shop '{shop}'.")
        for each in shops:
            result = customer_score_lapsed_fill(shop=each, force=force, chunk_size=chunk_size,
                                                progress=lambda line: self.stderr.write(line))
            out = {"shop": each.slug, "run": None, "customers": 0, "lapsed": 0, "rows_changed": 0, "skipped": True}
            if result is not None:
                out.update(run=result.run_id, customers=result.customers, lapsed=result.lapsed,
                           rows_changed=result.rows_changed, skipped=result.skipped)
            self.stdout.write(json.dumps(out))
