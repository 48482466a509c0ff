"""`{{ review.aspects|aspect_words }}`: a review's aspects as people read them ("Size / fit, Delivery")."""

from django import template

from reviews.selectors import ASPECT_LABELS

register = template.Library()


@register.filter
def aspect_words(aspects) -> str:
    """The aspects' labels joined by commas (an unknown key shows as written)."""
    return ", ".join(ASPECT_LABELS.get(a, a) for a in aspects or ())
