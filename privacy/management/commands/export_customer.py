"""`export_customer --shop S ID --out FILE.json`: every stored fact about one customer (an access request)."""

import json
import os

from django.core.serializers.json import DjangoJSONEncoder

from accounts.management.base import ShopCommand
from ecomsight.errors import UserError
from privacy.services import customer_data_export


class Command(ShopCommand):
    help = "Write every stored fact about one customer to a JSON file (an access request). stdout: one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("id", metavar="ID")
        parser.add_argument("--out", required=True, metavar="FILE.json")

    def handle_shop(self, shop, *args, id, out, **options):
        document = customer_data_export(shop=shop, external_id=id)
        try:
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(document, handle, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        except OSError as exc:
            raise UserError(f"Cannot write {out}: {exc.strerror}.") from None
        self.print_json({"shop": shop.slug, "id": id, "out": os.path.abspath(out),
                         "orders": len(document["orders"]), "events": len(document["events"]),
                         "scores": len(document["scores"]), "recommendations": len(document["recommendations"])})
