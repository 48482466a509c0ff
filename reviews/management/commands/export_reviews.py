"""`export_reviews --out FILE`: review_id, sentiment, positive_probability, aspects of every review."""

import json

from accounts.management.base import ShopCommand
from ecomsight.errors import UserError
from reviews.services import reviews_export


class Command(ShopCommand):
    help = "Write every review's sentiment, positive probability and aspects (';'-separated) to a CSV file."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, metavar="FILE", help="the CSV file to write")

    def handle_shop(self, target_shop, *args, **options):
        try:
            count = reviews_export(shop=target_shop, path=options["out"])
        except OSError as exc:
            raise UserError(f"Cannot write {options['out']}: {exc.strerror or exc}.") from None
        self.stdout.write(json.dumps({"rows": count, "out": options["out"]}))
