"""`rotate_personal_data_keys`: re-encrypt customers' email and name under the first PERSONAL_DATA_KEYS key."""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand

from behavior.personal_data import BATCH, personal_data_rotate


class Command(BaseCommand):
    help = ("Re-encrypt every customer's email and name under the first key of PERSONAL_DATA_KEYS (put the new "
            "key first, keep the old ones after it, run this, then remove the old ones), and recompute every email's "
            "blind index under PERSONAL_DATA_INDEX_KEY (run it after changing that key). stdout: one JSON line.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH)

    def handle(self, *args, batch_size, **options):
        self.stdout.write(json.dumps(asdict(personal_data_rotate(batch_size=max(1, batch_size)))))
