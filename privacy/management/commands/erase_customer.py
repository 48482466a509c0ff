"""`erase_customer --shop S ID [ID ...]`: erase customers everywhere; one JSON line with what was removed."""

from dataclasses import asdict

from accounts.management.base import ShopCommand
from privacy.services import customer_erase


class Command(ShopCommand):
    help = ("Erase customers (the shop's own ids) everywhere: personal data, orders, lines, events, scores, "
            "recommendations, their rows in kept export files and kept import files (uploads, reports). "
            "Only an audit row with a hash of each id stays. "
            "Idempotent. stdout: one JSON line.")

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="+", metavar="ID")

    def handle_shop(self, shop, *args, ids, **options):
        results = customer_erase(shop=shop, external_ids=ids)
        for external_id, result in zip(dict.fromkeys(i.strip() for i in ids if i.strip()), results, strict=True):
            self.progress(f"{external_id}: " + ("erased" if result.found else "nothing stored (already erased?)"))
        self.print_json({"shop": shop.slug, "erased": sum(r.found for r in results),
                         "not_found": sum(not r.found for r in results),
                         "customers": [asdict(r) for r in results]})
