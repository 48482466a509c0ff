"""manage.py expire_score_history [--days N] [--dry-run]: delete the scores of old scoring runs."""

import json

from django.core.management.base import BaseCommand, CommandError

from ecomsight.errors import UserError
from predictions.retention import score_history_expire


class Command(BaseCommand):
    help = ("Delete the scores and interest profiles of scoring runs made more than --days ago (default "
            "SCORE_HISTORY_DAYS); each shop's current run and every run's headline figures stay. Prints one JSON "
            "line: {days, dry_run, runs, scores, interests}.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="age in days past which a run's scores go (default SCORE_HISTORY_DAYS; 0 keeps all)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would go")

    def handle(self, *args, days=None, dry_run=False, **options):
        try:
            result = score_history_expire(days=days, dry_run=dry_run)
        except UserError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(json.dumps(result))
