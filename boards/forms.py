from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from presets.sharing import EVERYONE, PRIVATE

GROUPS = "groups"


class SharingForm(forms.Form):
    """Who sees a board or preset: only me, some of my groups, or everyone."""

    sharing = forms.ChoiceField(
        label=_("Shared with"),
        choices=[
            (PRIVATE, _("Only me")),
            (GROUPS, _("My groups below")),
            (EVERYONE, _("Everyone")),
        ],
        initial=PRIVATE,
        widget=forms.RadioSelect,
    )
    groups = forms.ModelMultipleChoiceField(
        label=_("Groups"),
        queryset=Group.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = user.groups.order_by("name")  # type: ignore[attr-defined]

    def shared_with(self) -> str | list[str]:
        """As the API takes it (`presets.sharing.parse_shared_with`)."""
        choice = self.cleaned_data["sharing"]
        if choice == GROUPS:
            names = [group.name for group in self.cleaned_data["groups"]]
            return names or PRIVATE
        return str(choice)


class BoardForm(SharingForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    field_order = ["name", "description", "sharing", "groups"]
