"""`analyze_reviews`: learn sentiment from the shop's stars, score every review, find aspects."""

from accounts.management.base import ShopCommand
from reviews.services import reviews_analyze


class Command(ShopCommand):
    help = ("Train sentiment on the shop's rated reviews (4-5 stars positive, 1-2 negative), score every review "
            "(three classes, calibrated probability), find aspects, and report the cross-validated metrics.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    def handle_shop(self, target_shop, *args, **options):
        self.progress(f"Analysing the reviews of shop {target_shop.slug}…")
        outcome = reviews_analyze(shop=target_shop, progress=self.progress)
        document = outcome.as_json()
        if options["json"]:
            self.print_json(document)
            return
        out = self.stdout.write
        out(f"{document['reviews']:,} reviews analysed in {document['seconds']} s ({document['method']}).")
        out(document["statement"])
        cv = document["metrics"].get("cv")
        if cv:
            peer = document["metrics"]["peer_cv"]
            out(f"{'':<10} {'accuracy':>9} {'ROC AUC':>8} {'log loss':>9} {'Brier':>7}")
            for name, row in (("model", cv), ("peer", peer)):
                out(f"{name:<10} {row['accuracy']:>9.3f} {row['roc_auc']:>8.3f} {row['log_loss']:>9.3f} "
                    f"{row['brier']:>7.3f}")
        for aspect, terms in document["learned_terms"].items():
            if terms:
                out(f"learned for {aspect}: {', '.join(terms)}")
        if document["themes"]:
            out(f"themes of negative reviews: {', '.join(document['themes'])}")
