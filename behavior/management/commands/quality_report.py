"""`quality_report`: how complete and plausible a shop's data is (text, or one JSON document with --json)."""

from accounts.management.base import ShopCommand
from behavior.selectors import quality_report


class Command(ShopCommand):
    help = ("Data quality of a shop: completeness per column, date ranges, duplicates, impossible dates, "
            "stand-in records and gaps in daily volume.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")

    def handle_shop(self, target_shop, *args, **options):
        # The base passes the Shop positionally and the --shop slug in options["shop"].
        report = quality_report(shop=target_shop, use_cache=False)
        if options["json"]:
            self.print_json(report)
            return
        out = self.stdout.write
        out(f"Data quality of shop {report['shop']} ({report['generated_at'][:16]})")
        for name, table in report["tables"].items():
            span = table.get("date_range")
            dates = f", {span['first'][:10]} … {span['last'][:10]}" if span and span["first"] else ""
            out(f"\n{name}: {table['rows']:,} rows{dates}")
            for column, share in table["completeness"].items():
                out(f"  {column:<12} {'-' if share is None else f'{100 * share:5.1f} % filled'}")
        dup = report["duplicates"]["orders_same_customer_time_total"]
        out(f"\nDuplicates: {dup['groups']} groups of orders with the same customer, time and total "
            f"({dup['extra_rows']} extra rows)")
        cased = report["duplicates"]["customer_ids_differing_only_in_spelling"]  # case included
        if cased["groups"]:
            ids = "customer id" if cased["groups"] == 1 else "customer ids"
            out(f"  {cased['groups']:,} {ids} written in more than one case, spacing or with leading zeros (C1 and "
                f"c1, 0007 and 7: {cased['extra_rows']:,} extra customers, their orders split; ids are read as "
                "written)")
        spelled = report["duplicates"]["product_ids_differing_only_in_spelling"]
        if spelled["groups"]:
            ids = "product id" if spelled["groups"] == 1 else "product ids"
            out(f"  {spelled['groups']:,} {ids} written in more than one case, spacing or with leading zeros (Blue "
                f"Shirt and blue shirt, 0123 and 123: {spelled['extra_rows']:,} extra products, each selling apart; "
                "ids are read as written)")
        recent = report["duplicates"]["recent_imports"]["duplicate_rows_by_kind"]
        if recent:
            out("  rows skipped as duplicates in recent imports: "
                + ", ".join(f"{kind} {count:,}" for kind, count in recent.items()))
        out("\nDates:")
        for name, count in report["dates"].items():
            out(f"  {name.replace('_', ' '):<22} {count:,}{'  <- check' if count else ''}")
        stubs = report["stubs"]
        out(f"\nStand-ins (created because orders or events named them): {stubs['customers']:,} customers, "
            f"{stubs['products']:,} products")
        for who in report["catch_all_customers"]:
            out(f"\nCustomer {who['customer_id']} holds {who['orders']:,} orders ({100 * who['share']:.1f} % of the "
                "shop's): guest checkouts under one id? Their churn, value and lists describe nobody; give each "
                "buyer an id of their own, or leave these orders out.")
        other = report["currencies"]["orders_in_other_currencies"]
        if other:
            out(f"\nOrders in a currency other than the shop's ({report['currencies']['shop']}): "
                + ", ".join(f"{code} {count:,}" for code, count in other.items())
                + " (not converted: their totals are added to the shop's figures as they are)")
        out("\nGaps in daily volume:")
        for name, gap in report["gaps"].items():
            where = f" (longest {gap['longest_gap_days']} days: {gap['longest_gap']['from']} … " \
                    f"{gap['longest_gap']['to']})" if gap["longest_gap"] else ""
            out(f"  {name}: {gap['empty_days']} empty days of {gap['days']}{where}")
