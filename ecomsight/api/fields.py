"""Serializer fields for JSON bodies that take the documented JSON type only, and the choice field of every
parameter and body field that takes one of a few words.

DRF's fields coerce: a CharField takes `0` as "0", an IntegerField takes "5", a FloatField "1.5". The
OpenAPI schema promises `string`, `integer` and `number`, and a client that sends the wrong type has a
bug it should hear about, so body fields refuse other types (query parameters are always text and keep
DRF's fields)."""

from __future__ import annotations

from rest_framework import serializers


class ChoiceField(serializers.ChoiceField):
    """A ChoiceField whose refusal names the parameter and lists what it takes, as `bands` always did: "Unknown
    value “foo” for `sort`: choose among risk, churn, value, last_order." (DRF's own said '"foo" is not a valid
    choice.', and nothing of what is). `noun` names what the values are ("risk band"); a list's item
    (`band=hgih`) names its list's parameter."""

    def __init__(self, *, noun: str = "value", **kwargs):
        self.noun = noun
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if getattr(exc.detail[0], "code", None) != "invalid_choice":
                raise
            name = self.field_name or getattr(self.parent, "field_name", "")  # a list's item: the list's name
            raise serializers.ValidationError(
                choice_refused(str(data), noun=self.noun, name=name, choices=[str(key) for key in self.choices
                                                                             if key != ""]),
                code="invalid_choice") from None


def choice_refused(value: str, *, noun: str, name: str, choices: list[str]) -> str:
    """The message of a value that is none of `choices` (long values cut, as they are echoed)."""
    where = f" for `{name}`" if name else ""
    shown = value if len(value) <= 40 else value[:40] + "…"
    return f"Unknown {noun} “{shown}”{where}: choose among {', '.join(choices)}."


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that refuses strings, booleans and fractions."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or (isinstance(data, float)
                                                                           and not data.is_integer()):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A FloatField that refuses strings and booleans."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


# Answers round what they show: a probability to 4 decimals (0.8123, a hundredth of a percent), money to cents.
PROBABILITY_PLACES = 4
MONEY_PLACES = 2


def rounded(value, places: int) -> float | None:
    """`value` as a float rounded to `places` decimals (None stays None): 0.30000000000000004 → 0.3."""
    return None if value is None else round(float(value), places)


class RoundedFloatField(serializers.FloatField):
    """A read-only number shown rounded to `places` decimals (PROBABILITY_PLACES, MONEY_PLACES)."""

    def __init__(self, *, places: int, **kwargs):
        self.places = places
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return rounded(value, self.places)


__all__ = ["MONEY_PLACES", "PROBABILITY_PLACES", "RoundedFloatField", "StrictCharField", "StrictFloatField",
           "StrictIntegerField", "rounded"]


class KnownKeysSerializer(serializers.Serializer):
    """An object body that refuses keys it does not know (400 naming the key) instead of dropping them: a typo
    in a saved filter (`band` for `bands`) must not save a segment of every customer."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError({unknown[0][:40]: [
                    f"Unknown field “{unknown[0][:40]}”: this object takes {', '.join(sorted(self.fields))}."]})
        return super().to_internal_value(data)
