"""At every single sign-on: bring quota-group membership in line with the directory."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in
from django.conf import settings
from django.dispatch import receiver

from accounts.signin import PROVIDER_MFA, provider_did_mfa
from accounts.sso.groups import claimed_groups, directory_groups_sync


@receiver(user_logged_in)
def sync_groups_on_sso(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None:
        return  # a password sign-in: nothing from the directory
    data = sociallogin.account.extra_data or {}
    claims = {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}
    # Only a provider that says it checked a second factor (amr/acr) stands in for ours.
    request.session[PROVIDER_MFA] = provider_did_mfa(claims)
    names = claimed_groups(claims, settings.DARKROOM_OIDC_GROUPS_CLAIM)
    directory_groups_sync(user=user, names=names)
