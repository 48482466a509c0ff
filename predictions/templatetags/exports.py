"""`{% for key, label in show_personal|preset_choices %}`: the export column presets a user can choose."""

from django import template

from predictions.services.export_presets import preset_choices as _preset_choices

register = template.Library()


@register.filter
def preset_choices(personal_data) -> list[tuple[str, str]]:
    """The presets offered to a user who may (True) or may not see personal data: Mailchimp needs emails."""
    return _preset_choices(personal_data=bool(personal_data))
