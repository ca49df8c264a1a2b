from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext_lazy as _

from accounts import signin
from accounts.models import User


def signup_allowed_for(email: str) -> bool:
    """Whether the signup policy lets this address create its own account."""
    policy = settings.DARKROOM_SIGNUP
    if policy == "open":
        return True
    if policy == "domains":
        domain = email.rsplit("@", 1)[-1].lower()
        return domain in settings.DARKROOM_SIGNUP_DOMAINS
    return False  # "closed", and "invite" (checked against the invite, not here)


class SignupForm(UserCreationForm):
    email = forms.EmailField(label=_("E-mail"))

    class Meta:
        model = User
        fields = ("username", "email")

    def __init__(self, *args: Any, invited_email: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invited_email = invited_email
        if invited_email:
            self.fields["email"].initial = invited_email
            self.fields["email"].disabled = True

    def clean_email(self) -> str:
        email = (self.invited_email or self.cleaned_data["email"]).strip().lower()
        if not self.invited_email and not signup_allowed_for(email):
            raise forms.ValidationError(
                _("Accounts with this e-mail domain can't be created here. Ask an admin.")
            )
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail already exists."))
        return email


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail of the person to invite"))

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail already exists."))
        return email


class LoginForm(AuthenticationForm):
    """The one password form (the admin's sign-in redirects here); accounts.signin decides."""

    def clean(self) -> dict[str, Any]:
        if not signin.password_allowed_for_username(self.data.get("username", "")):
            raise forms.ValidationError(
                _("Password sign-in is switched off here: use single sign-on."),
                code="password_login_off",
            )
        return super().clean()

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not signin.password_allowed(user):
            raise forms.ValidationError(
                _("Password sign-in is switched off here: use single sign-on."),
                code="password_login_off",
            )
