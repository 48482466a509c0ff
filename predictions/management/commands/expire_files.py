"""manage.py expire_files [--days N] [--dry-run]: remove old uploads, rejected-rows reports and exports."""

import json

from django.core.management.base import BaseCommand, CommandError

from ecomsight.errors import UserError
from predictions.retention import files_expire


class Command(BaseCommand):
    help = ("Remove uploads, rejected-rows reports and export files older than --days (default "
            "FILE_RETENTION_DAYS). Prints one JSON line: {days, dry_run, import_files, export_files, bytes}.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="age in days past which files go (default FILE_RETENTION_DAYS; 0 keeps all)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would go")

    def handle(self, *args, days=None, dry_run=False, **options):
        try:
            result = files_expire(days=days, dry_run=dry_run)
        except UserError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(json.dumps(result))
