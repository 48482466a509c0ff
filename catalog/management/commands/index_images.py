"""python manage.py index_images [--json] [--images DIR] [--retry-failed]"""

from accounts.management.base import ShopCommand
from catalog.services import product_images_index


class Command(ShopCommand):
    help = ("Fetch (image_url) or copy (image_file, with --images DIR) every new product picture, store it under "
            "MEDIA_ROOT with its hash and thumbnail, compute perceptual hashes and embeddings, and rebuild the "
            "visual neighbours. Prints counts, failures with reasons and images per second.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument("--images", metavar="DIR", help="the directory image_file paths are relative to")
        parser.add_argument("--retry-failed", action="store_true", help="try failed pictures again")

    def handle_shop(self, shop, **options):
        outcome = product_images_index(shop=shop, images_dir=options["images"],
                                       retry_failed=options["retry_failed"], progress=self.progress)
        if options["json"]:
            self.print_json(outcome.as_json())
            return
        self.stdout.write(f"{outcome.stored} of {outcome.products_with_images} product pictures stored "
                          f"({outcome.fetched} fetched, {outcome.copied} copied, {outcome.embedded} embedded with "
                          f"{outcome.model} on {outcome.device}, {outcome.images_per_second:.1f} images/s); "
                          f"{outcome.failed} failed; {outcome.neighbours} visual neighbours.")
        for failure in outcome.failures:
            self.stdout.write(f"  {failure['product_id']}: {failure['reason']} ({failure['source']})")
