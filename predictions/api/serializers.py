"""Input and output shapes of the predictions API: at-risk filters, scores, segments, models, jobs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ecomsight.api.fields import (
    MONEY_PLACES,
    PROBABILITY_PLACES,
    ChoiceField,
    KnownKeysSerializer,
    RoundedFloatField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    choice_refused,
    rounded,
)
from predictions.filters import (
    BANDS,
    LISTS,
    MAX_BRAND,
    MAX_CATEGORY,
    MAX_DAYS,
    MAX_ID,
    MAX_LIMIT,
    MAX_MONEY,
    SORTS,
)
from predictions.models import CustomerScore, ModelVersion, Segment, Task
from predictions.selectors.at_risk import AtRiskRow
from predictions.selectors.interests import InterestProfile
from predictions.services.export_presets import PRESET_CHOICES
from predictions.services.training import ALGORITHMS

# The bounds are AtRiskFilter's (predictions.filters), which the web page and saved segments use too.

# Probabilities are 0 to 1 everywhere in the API (responses and filters); the web page's form, its links and
# the filters segments store keep whole percents. These fields take 0 to 1 and give the percent the filter holds.
PROBABILITY_FILTERS = ("churn_min", "churn_max", "category_min", "brand_min", "buy_min", "buy_max")
PROBABILITY_RULE = "a probability from 0 to 1 (0.5 = 50 %), in whole percents: at most two decimals"


def percent_from_probability(number: float) -> int:
    """The whole percent a 0-to-1 probability names; a ValidationError (a 400 on the field) for anything else."""
    percent = round(number * 100, 6)  # 0.07 * 100 is 7.000000000000001
    if not 0 <= percent <= 100:
        raise serializers.ValidationError(f"Give {PROBABILITY_RULE}; {number:g} is out of range.",
                                          code="max_value" if percent > 100 else "min_value")
    if not percent.is_integer():
        raise serializers.ValidationError(f"Give {PROBABILITY_RULE}; {number:g} has more.", code="invalid")
    return int(percent)


# What `lapsed` means (predictions.ml.reasons.lapsed_mask), in the schema's words.
LAPSED_RULE = ("no order for more than 3 times their usual gap between orders (a week at least; with fewer than four "
               "orders the larger of theirs and the shop's typical gap; a single order: the shop's typical gap) and "
               "no visit in the last 30 days, or no order within the churn lookback: a win-back customer rather "
               "than one to save.")

class ProbabilityField(serializers.FloatField):
    """A query parameter holding a probability from 0 to 1; its value is the whole percent."""

    default_error_messages = {"invalid": f"Not a number: give {PROBABILITY_RULE}."}

    def to_internal_value(self, data):
        return percent_from_probability(super().to_internal_value(data))


class StrictProbabilityField(StrictFloatField):
    """ProbabilityField for JSON bodies: a JSON number only."""

    default_error_messages = {"invalid": f"Not a number: give {PROBABILITY_RULE}."}

    def to_internal_value(self, data):
        return percent_from_probability(super().to_internal_value(data))


def web_query(query, validated: dict):
    """The at-risk query `query` (a QueryDict the API validated into `validated`) in the web page's units, for
    AtRiskFilter.from_query: the probability filters as whole percents."""
    query = query.copy()
    for key in PROBABILITY_FILTERS:
        if key in validated:
            query[key] = str(validated[key])
    return query


def probabilities_shown(filters: dict) -> dict:
    """A saved filter (whole percents) as the API shows it: probabilities 0 to 1."""
    return {key: value / 100 if key in PROBABILITY_FILTERS and isinstance(value, int | float)
            and not isinstance(value, bool) else value for key, value in filters.items()}


LAPSED_HELP = (f"`true`: only customers who already lapsed ({LAPSED_RULE[:-1]}); `false`: only those still active "
               "(a save campaign's). Leave it out for both.")


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField for JSON bodies: a JSON true or false only (not "true", 1)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


CATEGORY_MIN_HELP = ("With `category`: customers whose interest in that category (and those below it) is at "
                     "least this share of what they buy and view, time-decayed (the `interests` of a customer's "
                     "scores): from 0.1 to 1 (0.3 = 30 %: profiles keep shares from 10 %), at most two decimals; "
                     "inclusive.")

BRAND_HELP = ("Customers who bought a product of this brand (the catalogue's `brand`, matched without regard to "
              "case); with `brand_min`: whose interest in the brand is at least that share.")
BRAND_MIN_HELP = ("With `brand`: customers whose interest in that brand is at least this share of what they buy and "
                  "view among branded products, time-decayed (the `interests` of a customer's scores): from 0.2 to 1 "
                  "(profiles keep a customer's five strongest brands, so shares from 20 % are exact), at most two "
                  "decimals; inclusive.")


CATEGORY_HELP = ("Customers who bought in this category or below it (with `category_min`: whose interest in it is at "
                 "least that share): its path, as the Reviews filter takes it (`Home > Kitchen`), or its id (the "
                 "`id` of a customer's `interests`). An unknown one is a 400 on `category`.")


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID},
                                {"type": "string", "minLength": 1, "maxLength": MAX_CATEGORY}]})
class CategoryRefField(serializers.Field):
    """A JSON body's category: its id (a JSON integer) or its path (a string)."""

    default_error_messages = {"invalid": "Give the category's id (a whole number) or its path (“Home > Kitchen”)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, int):
            if not 1 <= data <= MAX_ID:
                self.fail("invalid")
            return data
        text = data.strip()
        if not text or len(text) > MAX_CATEGORY:
            self.fail("invalid")
        return text

    def to_representation(self, value):
        return value


class BandsField(serializers.CharField):
    """`bands=high,medium` (comma-separated; may be repeated): each must be a known band."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        values = [v.strip().lower() for v in text.split(",")]
        unknown = [v for v in values if v not in BANDS]
        if unknown:
            raise serializers.ValidationError(
                choice_refused(unknown[0], noun="risk band", name=self.field_name, choices=list(BANDS)),
                code="invalid_choice")
        return values


class AtRiskFilterSerializer(serializers.Serializer):
    """The at-risk page's filters, with the same names and meaning: probabilities 0 to 1 (the page's form takes
    percents), money in the shop currency, whole days."""

    bands = BandsField(required=False, help_text="Risk bands, comma-separated: `bands=high,medium` "
                                                 "(high, medium, low).")
    band = serializers.ListField(child=ChoiceField(choices=BANDS, noun="risk band"), required=False,
                                 help_text="One risk band (repeat the parameter for several); the same as `bands`.")
    churn_min = ProbabilityField(required=False, help_text="Churn probability at least this: from 0 to 1 "
                                                         "(0.5 = 50 %), at most two decimals; inclusive.")
    churn_max = ProbabilityField(required=False, help_text="Churn probability at most this: from 0 to 1 "
                                                         "(0.5 = 50 %), at most two decimals; inclusive.")
    value_min = serializers.FloatField(min_value=0, max_value=MAX_MONEY, required=False,
                                       help_text="12-month spend, shop currency.")
    value_max = serializers.FloatField(min_value=0, max_value=MAX_MONEY, required=False)
    days_min = serializers.IntegerField(min_value=0, max_value=MAX_DAYS, required=False,
                                        help_text="Days since the last order, at least.")
    days_max = serializers.IntegerField(min_value=0, max_value=MAX_DAYS, required=False)
    category = serializers.CharField(max_length=MAX_CATEGORY, required=False, help_text=CATEGORY_HELP)
    category_min = ProbabilityField(required=False, help_text=CATEGORY_MIN_HELP)
    brand = serializers.CharField(max_length=MAX_BRAND, required=False, help_text=BRAND_HELP)
    brand_min = ProbabilityField(required=False, help_text=BRAND_MIN_HELP)
    country = serializers.CharField(max_length=64, required=False)
    negative_review_days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, required=False,
        help_text="Customers who left a negative review in the N days before the scores' date.")
    segment = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                       help_text="Also apply this saved segment's filter.")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False,
                                     help_text="Only the first N customers in the sort order, over all pages "
                                               "(page_size sets the items per page).")
    sort = ChoiceField(choices=list(SORTS), required=False, default="risk")
    lapsed = serializers.BooleanField(required=False, allow_null=True, default=None, help_text=LAPSED_HELP)


class SegmentFiltersSerializer(KnownKeysSerializer):
    """A segment's filter: the at-risk list's filters (`bands` is a list), probabilities from 0 to 1."""

    bands = serializers.ListField(child=ChoiceField(choices=BANDS, noun="risk band"), required=False)
    churn_min = StrictProbabilityField(required=False, allow_null=True,
                                       help_text="From 0 to 1 (0.5 = 50 %), at most two decimals; inclusive.")
    churn_max = StrictProbabilityField(required=False, allow_null=True,
                                       help_text="From 0 to 1 (0.5 = 50 %), at most two decimals; inclusive.")
    value_min = StrictFloatField(min_value=0, max_value=MAX_MONEY, required=False, allow_null=True)
    value_max = StrictFloatField(min_value=0, max_value=MAX_MONEY, required=False, allow_null=True)
    days_min = StrictIntegerField(min_value=0, max_value=MAX_DAYS, required=False, allow_null=True)
    days_max = StrictIntegerField(min_value=0, max_value=MAX_DAYS, required=False, allow_null=True)
    category = CategoryRefField(required=False, allow_null=True, help_text=CATEGORY_HELP + " Saved as its id.")
    category_min = StrictProbabilityField(required=False, allow_null=True, help_text=CATEGORY_MIN_HELP)
    brand = StrictCharField(max_length=MAX_BRAND, required=False, allow_blank=True, help_text=BRAND_HELP)
    brand_min = StrictProbabilityField(required=False, allow_null=True, help_text=BRAND_MIN_HELP)
    country = StrictCharField(max_length=64, required=False, allow_blank=True)
    negative_review_days = StrictIntegerField(min_value=1, max_value=MAX_DAYS, required=False, allow_null=True)
    segment = StrictIntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    limit = StrictIntegerField(min_value=1, max_value=MAX_LIMIT, required=False, allow_null=True,
                               help_text="Only the first N customers in the sort order (the at-risk list's "
                                         "`limit`).")
    sort = ChoiceField(choices=list(SORTS), required=False)
    list = ChoiceField(
        choices=list(LISTS), required=False,
        help_text="`at_risk` (the default): active customers' churn scores, the at-risk list. `buyers`: every scored "
                  "customer's chance of buying, lapsed ones included, the likely buyers list (sorts `purchase`, the "
                  "default there, `value` or `last_order`; no `bands` or `churn_*`, `buy_*` instead).")
    buy_min = StrictProbabilityField(required=False, allow_null=True,
                                     help_text="With `list` `buyers`: chance of buying at least this, from 0 to 1, "
                                               "at most two decimals; inclusive.")
    buy_max = StrictProbabilityField(required=False, allow_null=True,
                                     help_text="With `list` `buyers`: chance of buying at most this; inclusive.")
    lapsed = StrictBooleanField(required=False, allow_null=True, help_text=LAPSED_HELP)

    def to_representation(self, instance):
        # Saved filters hold only the fields that narrow the list (AtRiskFilter.to_dict): show them as saved,
        # but probabilities 0 to 1 (they are saved in the web page's percents).
        # A broken one (saved before a bound existed) may hold an integer JSON cannot carry as a number: as text.
        return {key: str(value) if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ID
                else value for key, value in probabilities_shown(dict(instance)).items()}


class AtRiskRowSerializer(serializers.Serializer):
    customer_id = serializers.CharField(help_text="The shop's own customer id.")
    email = serializers.CharField(allow_null=True, help_text="Personal data: null unless your role may see it.")
    name = serializers.CharField(allow_null=True, help_text="Personal data: null unless your role may see it.")
    country = serializers.CharField()
    churn_probability = RoundedFloatField(places=PROBABILITY_PLACES, allow_null=True,
                                          help_text="0 to 1, 4 decimals; null for a lapsed customer of a likely "
                                                    "buyers segment (scored for buying only).")
    purchase_probability = RoundedFloatField(places=PROBABILITY_PLACES, allow_null=True,
                                             help_text="0 to 1, 4 decimals.")
    risk_band = serializers.ChoiceField(choices=CustomerScore.Band.choices, allow_blank=True,
                                        help_text="Empty where `churn_probability` is null.")
    spend_12m = RoundedFloatField(places=MONEY_PLACES, help_text="12-month spend, shop currency, 2 decimals.")
    revenue_at_risk = RoundedFloatField(places=MONEY_PLACES, allow_null=True,
                                        help_text="Shop currency, 2 decimals; null where `churn_probability` is.")
    last_order_at = serializers.DateTimeField(allow_null=True)
    days_since_last_order = serializers.IntegerField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    scored_at = serializers.DateTimeField(allow_null=True, help_text="When this customer's score was written.")
    ordered_since_scoring = serializers.BooleanField(
        help_text="The customer ordered after the history their score saw: being re-scored; exports leave them "
                  "out by default.")
    lapsed = serializers.BooleanField(help_text=f"Already lapsed: {LAPSED_RULE}")


# The fields of an at-risk row that are personal data: null for a caller whose role may not see them.
AT_RISK_PERSONAL_FIELDS = ("email", "name")


def at_risk_row_data(row: AtRiskRow) -> dict:
    """An at-risk row in AtRiskRowSerializer's shape (built directly: the documented schema stays the
    serializer), personal fields (AT_RISK_PERSONAL_FIELDS) included: at_risk_row_masked for other callers."""
    return {"customer_id": row.external_id, "email": row.email, "name": row.name, "country": row.country,
            "churn_probability": rounded(row.churn_probability, PROBABILITY_PLACES),
            "purchase_probability": rounded(row.purchase_probability, PROBABILITY_PLACES), "risk_band": row.risk_band,
            "spend_12m": rounded(row.spend_12m, MONEY_PLACES),
            "revenue_at_risk": rounded(row.revenue_at_risk, MONEY_PLACES),
            "last_order_at": row.last_order_at, "days_since_last_order": row.days_since_last_order,
            "reasons": row.reasons, "scored_at": row.scored_at, "ordered_since_scoring": row.ordered_since_scoring,
            "lapsed": row.lapsed}


def at_risk_row_masked(data: dict) -> dict:
    """at_risk_row_data's dict with its personal fields null (same keys, same order)."""
    return {**data, **dict.fromkeys(AT_RISK_PERSONAL_FIELDS)}


_SCORE_PLACES = {"probability": PROBABILITY_PLACES, "p_alive": PROBABILITY_PLACES,
                 "expected_orders": PROBABILITY_PLACES, "spend_12m": MONEY_PLACES, "revenue_at_risk": MONEY_PLACES}


def score_data(score: dict | None) -> dict | None:
    """A score dict (predictions.selectors.scores) rounded as ScoreOutputSerializer shows it."""
    if score is None:
        return None
    return {**score, **{key: rounded(score[key], places) for key, places in _SCORE_PLACES.items()}}


class ScoringRunRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    as_of = serializers.DateTimeField()


class CategoryInterestSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The category's id (what the at-risk filter's `category` takes).")
    path = serializers.CharField(help_text="The category's full name, e.g. “Home > Kitchen”.")
    share = RoundedFloatField(places=PROBABILITY_PLACES,
                              help_text="0 to 1, 4 decimals: of what they bought and viewed (time-decayed), the "
                                        "part in this category or below it.")


class BrandInterestSerializer(serializers.Serializer):
    brand = serializers.CharField()
    share = RoundedFloatField(places=PROBABILITY_PLACES,
                              help_text="0 to 1, 4 decimals: of what they bought and viewed with a brand "
                                        "(time-decayed), the part of this brand.")


class CustomerInterestsSerializer(serializers.Serializer):
    scoring_run = ScoringRunRefSerializer(allow_null=True, help_text="The run whose profile this is (null before "
                                                                     "any scores).")
    categories = CategoryInterestSerializer(many=True, help_text="Their strongest category interests, strongest "
                                                                 "first (at most 5; empty in shops without "
                                                                 "categories).")
    brands = BrandInterestSerializer(many=True, help_text="Their strongest brands, strongest first (at most 5).")


def interests_data(profile: InterestProfile) -> dict:
    """An InterestProfile (predictions.selectors.interests) in CustomerInterestsSerializer's shape."""
    run = profile.run
    return {"scoring_run": {"id": run.pk, "as_of": run.as_of} if run is not None else None,
            "categories": [{"id": i.category_id, "path": i.path, "share": rounded(i.share, PROBABILITY_PLACES)}
                           for i in profile.categories],
            "brands": [{"brand": i.brand, "share": rounded(i.share, PROBABILITY_PLACES)} for i in profile.brands]}


class ScoreOutputSerializer(serializers.ModelSerializer):
    probability = RoundedFloatField(places=PROBABILITY_PLACES, help_text="0 to 1, 4 decimals.")
    p_alive = RoundedFloatField(places=PROBABILITY_PLACES, allow_null=True, help_text="0 to 1, 4 decimals.")
    expected_orders = RoundedFloatField(places=PROBABILITY_PLACES, allow_null=True)
    spend_12m = RoundedFloatField(places=MONEY_PLACES, allow_null=True, help_text="Shop currency, 2 decimals.")
    revenue_at_risk = RoundedFloatField(places=MONEY_PLACES, allow_null=True, help_text="Shop currency, 2 decimals.")
    scoring_run = serializers.IntegerField(source="scoring_run_id")
    as_of = serializers.DateTimeField(
        source="scoring_run.as_of",
        help_text="The end of the data this score saw: its run's as_of, or for a customer re-scored after new orders "
                  "or events the end of the day of the newest of them (what the customer page's \"from their data "
                  "up to\" says; reasons such as \"ordered today\" speak of that day). `scoring_run` is the run.")
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    lapsed = serializers.BooleanField(
        help_text=f"Already lapsed when this score was computed: {LAPSED_RULE} A customer's churn and purchase "
                  "scores of one run carry the same mark; scores from before the mark existed read false.")

    class Meta:
        model = CustomerScore
        fields = ["task", "probability", "risk_band", "decile", "reasons", "expected_orders", "p_alive",
                  "spend_12m", "revenue_at_risk", "scored_at", "as_of", "scoring_run", "model_version", "lapsed"]
        read_only_fields = fields


class CurrentScoreOutputSerializer(ScoreOutputSerializer):
    ordered_since_scoring = serializers.BooleanField(
        help_text="The customer ordered after the history this score saw: it is being re-scored (within a minute "
                  "or two); until then treat the score as out of date.")

    class Meta(ScoreOutputSerializer.Meta):
        fields = [*ScoreOutputSerializer.Meta.fields, "ordered_since_scoring"]
        read_only_fields = fields


class CurrentScoresSerializer(serializers.Serializer):
    churn = CurrentScoreOutputSerializer(allow_null=True)
    purchase = CurrentScoreOutputSerializer(allow_null=True)


class ScoreHistoryFilterSerializer(serializers.Serializer):
    task = ChoiceField(choices=Task.choices, required=False)


class SegmentOutputSerializer(serializers.ModelSerializer):
    filters = SegmentFiltersSerializer()
    size = serializers.IntegerField(allow_null=True, read_only=True, required=False,
                                    help_text="Members in the current scores (detail only; null before any scores).")

    class Meta:
        model = Segment
        fields = ["id", "name", "filters", "size", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentInputSerializer(KnownKeysSerializer):
    name = StrictCharField(max_length=200)
    filters = SegmentFiltersSerializer(required=False)


class SegmentPatchSerializer(KnownKeysSerializer):
    name = StrictCharField(max_length=200, required=False)
    filters = SegmentFiltersSerializer(required=False)


class ExportQuerySerializer(serializers.Serializer):
    pseudonymise = serializers.BooleanField(required=False, default=False,
                                            help_text="Replace emails by pseudonyms and leave names empty.")
    control = serializers.IntegerField(min_value=0, max_value=50, required=False, default=0,
                                       help_text="Percent of members held back as a control group.")
    include_ordered_since_scoring = serializers.BooleanField(
        required=False, default=False,
        help_text="Keep members who ordered after their score was computed (left out by default; how many: "
                  "the X-Left-Out-Ordered-Since-Scoring header).")
    include_flagged = serializers.BooleanField(
        required=False, default=False,
        help_text="Keep members flagged for refund abuse or bot-like sessions (left out by default; how many: the "
                  "X-Left-Out-Flagged header).")
    preset = ChoiceField(choices=[key for key, _ in PRESET_CHOICES], required=False, default="generic",
                         help_text="Column names for a campaign tool: generic (any tool: UTF-8, commas), spreadsheet "
                                   "(Excel in any language: UTF-16 with a byte-order mark, tabs, whole percents), "
                                   "klaviyo (list CSV), mailchimp (audience import; needs emails), braze (user CSV).")


class ModelOutputSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="job_id", allow_null=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "task", "algorithm", "horizon_days", "as_of", "train_cutoffs", "validation_cutoff", "status",
                  "metrics", "comparison", "features", "created_at", "promoted_at", "job"]
        read_only_fields = fields


class ModelFilterSerializer(serializers.Serializer):
    task = ChoiceField(choices=Task.choices, required=False)
    status = ChoiceField(choices=ModelVersion.Status.choices, required=False)
    algorithm = serializers.CharField(max_length=32, required=False)
    horizon_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)


@extend_schema_field({"type": "array", "maxItems": 10, "nullable": True,
                      "items": {"type": "string", "enum": list(ALGORITHMS)}})
class AlgorithmListField(serializers.ListField):
    """Algorithm names; the view checks them (parse_algorithms) so an unknown one is a 400 on `algorithms`."""


class TrainInputSerializer(KnownKeysSerializer):
    task = ChoiceField(choices=Task.choices)
    horizon_days = StrictIntegerField(min_value=1, max_value=3650, required=False, allow_null=True,
                                      help_text="Default: the shop's horizon.")
    as_of = serializers.DateField(required=False, allow_null=True, help_text="Default: the last order's day.")
    algorithms = AlgorithmListField(child=serializers.CharField(max_length=32), required=False, allow_null=True,
                                    allow_empty=False, max_length=10,
                                    help_text="Default: recency, rfm_logreg, bgnbd, paretonbd, lgbm, lstm, ensemble "
                                              "(event_gru only when named).")


class ScoreInputSerializer(KnownKeysSerializer):
    as_of = serializers.DateField(required=False, allow_null=True, help_text="Default: the last order's day.")
