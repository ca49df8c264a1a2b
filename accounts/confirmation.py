"""Proving an address before it is trusted: the self-signup confirmation link.

A self-signed-up account (DARKROOM_SIGNUP open or domains) is made inactive, with its
address recorded unverified (allauth's EmailAddress, which single sign-on's e-mail
linking also reads). Inactive, it signs in to nothing and no API key answers for it.
The link, mailed through Django's mail backend, is signed and expires after
DARKROOM_SIGNUP_CONFIRM_MAX_AGE; following it verifies the address and activates the
account, once. An address's real owner arriving by single sign-on, or signing up again
after the link expired, replaces an unconfirmed account rather than joining it.
"""

from __future__ import annotations

import datetime

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User

_SALT = "darkroom.accounts.confirm-email"


def unconfirmed(user: User) -> bool:
    """A self-signup whose address was never confirmed (staff-made accounts have no record)."""
    return (
        not user.is_active
        and EmailAddress.objects.filter(user=user, verified=False).exists()
        and not EmailAddress.objects.filter(user=user, verified=True).exists()
    )


def signup_unconfirmed(*, user: User) -> None:
    """Hold a fresh self-signup until its address is confirmed."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)


def send_confirmation(request: HttpRequest, user: User) -> None:
    token = signing.TimestampSigner(salt=_SALT).sign(f"{user.pk}:{user.email}")
    link = request.build_absolute_uri(reverse("signup_confirm", args=[token]))
    hours = settings.DARKROOM_SIGNUP_CONFIRM_MAX_AGE // 3600
    context = {"user": user, "link": link, "hours": hours}
    send_mail(
        subject=render_to_string("registration/confirm_email_subject.txt", context).strip(),
        message=render_to_string("registration/confirm_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def confirm(token: str) -> User | None:
    """Verify the address the link names and activate its account; None if the link is
    forged, expired, or the account was already confirmed (or since removed)."""
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(
            token, max_age=settings.DARKROOM_SIGNUP_CONFIRM_MAX_AGE
        )
    except signing.BadSignature:
        return None
    pk, _, email = value.partition(":")
    with transaction.atomic():
        # One conditional UPDATE: two clicks on the link confirm once.
        verified = EmailAddress.objects.filter(
            user_id=pk, email__iexact=email, verified=False
        ).update(verified=True)
        if not verified:
            return None
        User.objects.filter(pk=pk, is_active=False).update(is_active=True)
    return User.objects.get(pk=pk)


def forget_unconfirmed(email: str) -> int:
    """Remove unconfirmed self-signups holding this address: its owner has proved it."""
    return _remove(User.objects.filter(email__iexact=email))


def forget_expired_signups(*, email: str, username: str) -> int:
    """Unconfirmed self-signups whose link has expired free their address and username."""
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.DARKROOM_SIGNUP_CONFIRM_MAX_AGE)
    holders = User.objects.filter(date_joined__lt=cutoff)
    by_email = holders.filter(email__iexact=email) if email else holders.none()
    return _remove(by_email | holders.filter(username=username))


def _remove(candidates: QuerySet[User]) -> int:
    gone = 0
    for user in candidates:
        if unconfirmed(user):
            user.delete()
            gone += 1
    return gone
