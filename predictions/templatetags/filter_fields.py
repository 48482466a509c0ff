"""`{% number_attrs flt typed "churn_min" %}`: the type and value of a filter form's number field. A value the
filter refused ("abc", "150" for a percent) comes back as typed, in a text field marked invalid, beside its error:
a number field cannot show "abc", and an empty field lost what the user wrote."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from predictions.filters import LAPSED_CHOICES

register = template.Library()


@register.simple_tag
def lapsed_choice(flt, lapsed: bool) -> str:
    """`{% lapsed_choice flt True %}`: the words of the filter's list for that `lapsed` choice (filters.LAPSED_CHOICES,
    which the filter's summary line reads too)."""
    return LAPSED_CHOICES[flt.list][lapsed]


@register.simple_tag
def number_attrs(flt, typed, name: str) -> str:
    value = getattr(flt, name, None)
    if value is not None:
        shown = floatformat(value, "-2") if isinstance(value, float) else value
        return format_html('type="number" value="{}"', shown)
    raw = (typed.get(name) or "").strip() if typed is not None and hasattr(typed, "get") else ""
    if raw:
        return format_html('type="text" value="{}" aria-invalid="true"', raw[:200])
    return mark_safe('type="number" value=""')  # noqa: S308 - a constant
