from rest_framework import serializers

from ..ml.series import LEVELS, MEASURES


class ForecastQuerySerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=list(LEVELS), default="shop")
    measure = serializers.ChoiceField(choices=list(MEASURES), default="orders")
    freq = serializers.ChoiceField(choices=["week", "day"], default="week")
    key = serializers.CharField(required=False, max_length=200)
