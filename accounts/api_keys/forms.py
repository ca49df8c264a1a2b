from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from providers.catalog import get_catalog


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    expires_at = forms.DateTimeField(
        label=_("Expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Leave empty for a key that does not expire."),
    )
    allowed_models = forms.MultipleChoiceField(
        label=_("Models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model."),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["allowed_models"].choices = [(n, n) for n in get_catalog().names()]  # type: ignore[attr-defined]
