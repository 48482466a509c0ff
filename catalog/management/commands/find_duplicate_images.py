"""python manage.py find_duplicate_images [--json]"""

from accounts.management.base import ShopCommand
from catalog.selectors import duplicate_image_groups


class Command(ShopCommand):
    help = ("Groups of products whose pictures are the same picture (perceptual hashes of the border-trimmed "
            "picture, or identical bytes). --json prints {\"groups\": [[product_id, ...], ...]}.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        groups = duplicate_image_groups(shop_id=shop.pk)
        if options["json"]:
            self.print_json({"groups": groups})
            return
        self.stdout.write(f"{len(groups)} groups of products sharing a picture")
        for group in groups:
            self.stdout.write("  " + ", ".join(group))
