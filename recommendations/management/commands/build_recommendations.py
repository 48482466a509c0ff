"""python manage.py build_recommendations [--k 20] [--json] | --resume VERSION_ID [--background]"""

from django.core.management.base import CommandError

from accounts.management.base import ShopCommand
from recommendations.models import RecommenderVersion
from recommendations.services import recommendations_build, recommendations_build_resume
from recommendations.services.build import recommendations_build_missing


class Command(ShopCommand):
    help = "Build top-K recommendations for every customer and similar products for every product."

    def add_arguments(self, parser):
        parser.add_argument("--k", type=int, default=20, choices=range(1, 101), metavar="K",
                            help="recommendations per customer (1-100, default 20)")
        parser.add_argument("--resume", type=int, metavar="VERSION_ID",
                            help="finish a build whose partitions were lost (its missing partitions run again)")
        parser.add_argument("--background", action="store_true",
                            help="with --resume: queue the missing partitions for the Celery workers and return")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle_shop(self, shop, **options):
        if options["resume"] is not None:
            self._resume(shop, options)
            return
        outcome = recommendations_build(shop=shop, k=options["k"], progress=self.progress)
        if options["json"]:
            self.print_json(outcome.to_dict())
        else:
            self.stdout.write(f"{outcome.recommendations} recommendations for {outcome.customers} customers and "
                              f"{outcome.similar} similar products in {outcome.seconds:.1f} s.")

    def _resume(self, shop, options):
        version = RecommenderVersion.objects.filter(shop=shop, pk=options["resume"]).first()
        if version is None:
            raise CommandError(f"Shop '{shop.slug}' has no recommender build {options['resume']}.")
        if version.status != RecommenderVersion.Status.BUILDING:
            raise CommandError(f"Recommender build {version.pk} is {version.status}: only a build still building "
                               "can be resumed.")
        missing = recommendations_build_missing(version)
        if missing is None:
            raise CommandError(f"Recommender build {version.pk} never finished its statistics pass: nothing to "
                               "resume; run build_recommendations for a new build.")
        version = recommendations_build_resume(version_id=version.pk, enqueue=options["background"],
                                               progress=self.progress)
        report = {"version": version.pk, "status": version.status, "resumed_partitions": missing,
                  "partitions": len(version.params["partitions"]), "done": version.metrics.get("done", [])}
        if options["json"]:
            self.print_json(report)
        else:
            self.stdout.write(f"Recommender build {version.pk}: {version.status}, {len(missing)} partition(s) "
                              f"{'queued' if options['background'] else 'run'} again.")
