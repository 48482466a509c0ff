from rest_framework import serializers

from ecomsight.api.fields import ChoiceField

from ..ml.series import LEVELS, MEASURES


class ForecastQuerySerializer(serializers.Serializer):
    level = ChoiceField(choices=list(LEVELS), default="shop")
    measure = ChoiceField(choices=list(MEASURES), default="orders")
    freq = ChoiceField(choices=["week", "day"], default="week")
    key = serializers.CharField(
        required=False, max_length=200,
        help_text="One series of the level: a country's code, a category's path, a product's id, in any case (a "
                  "country also by its name, `Germany`). A key the latest forecast has no series for is a 400.")


class ForecastPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    point = serializers.FloatField()
    lo80 = serializers.FloatField(allow_null=True)
    hi80 = serializers.FloatField(allow_null=True)
    lo95 = serializers.FloatField(allow_null=True)
    hi95 = serializers.FloatField(allow_null=True)


class ForecastSeriesSerializer(serializers.Serializer):
    key = serializers.CharField()
    model = serializers.CharField()
    values = ForecastPointSerializer(many=True)


class ForecastOutputSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    cutoff = serializers.DateField()
    created_at = serializers.DateTimeField()
    level = serializers.CharField()
    measure = serializers.CharField()
    freq = serializers.CharField()
    champion = serializers.CharField(allow_null=True)
    validation_wape_pct = serializers.FloatField(allow_null=True)
    series = ForecastSeriesSerializer(many=True)
