"""Sign in/out, password change and reset, and the signup policy setting."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse

from accounts.invites import invite_token

pytestmark = pytest.mark.django_db


def _signup(client: Any, url: str, email: str = "eve@team.example") -> Any:
    return client.post(
        url,
        {
            "username": "eve",
            "email": email,
            "password1": "a-long-pass-9371",
            "password2": "a-long-pass-9371",
        },
    )


def test_it_signs_in_and_out(client: Any, user: Any) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302
    assert client.get(reverse("generate")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("generate")).status_code == 302


def test_it_refuses_a_wrong_password(client: Any, user: Any) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_it_changes_the_password(client: Any, user: Any) -> None:
    client.force_login(user)
    client.post(
        reverse("password_change"),
        {
            "old_password": "pw-alice-123",
            "new_password1": "a-new-pass-8812",
            "new_password2": "a-new-pass-8812",
        },
    )
    user.refresh_from_db()
    assert user.check_password("a-new-pass-8812")


def test_it_resets_a_forgotten_password_by_email(client: Any, user: Any) -> None:
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/", mail.outbox[0].body)
    assert link is not None
    form_url = client.get(link.group(0)).url  # Django swaps the token for a session one
    client.post(form_url, {"new_password1": "reset-pass-5521", "new_password2": "reset-pass-5521"})
    user.refresh_from_db()
    assert user.check_password("reset-pass-5521")


def test_it_allows_no_signup_by_default(client: Any, django_user_model: Any) -> None:
    assert client.get(reverse("signup")).status_code == 404
    assert _signup(client, reverse("signup")).status_code == 404
    assert not django_user_model.objects.filter(username="eve").exists()
    assert "Create an account" not in client.get(reverse("login")).content.decode()


def test_it_allows_anyone_to_sign_up_when_open(
    client: Any, settings: Any, django_user_model: Any
) -> None:
    settings.DARKROOM_SIGNUP = "open"
    assert "Create an account" in client.get(reverse("login")).content.decode()
    assert "Check your inbox" in _signup(client, reverse("signup")).content.decode()
    assert django_user_model.objects.filter(username="eve", is_staff=False).exists()
    # Once the mailed link confirms the address (tests/test_signup_confirmation.py).
    link = re.search(r"http://testserver(\S+)", mail.outbox[0].body)
    assert link
    assert client.get(link.group(1)).status_code == 302
    client.post(reverse("login"), {"username": "eve", "password": "a-long-pass-9371"})
    assert client.get(reverse("generate")).status_code == 200  # signed in


def test_it_allows_only_listed_domains(client: Any, settings: Any, django_user_model: Any) -> None:
    settings.DARKROOM_SIGNUP = "domains"
    settings.DARKROOM_SIGNUP_DOMAINS = ["team.example"]
    response = _signup(client, reverse("signup"), email="eve@elsewhere.example")
    assert "can&#x27;t be created here" in response.content.decode()
    assert not django_user_model.objects.filter(username="eve").exists()
    assert _signup(client, reverse("signup"), email="eve@TEAM.example").status_code == 200
    assert django_user_model.objects.get(username="eve").email == "eve@team.example"


def test_it_requires_a_valid_invite_when_invite_only(
    client: Any, settings: Any, django_user_model: Any
) -> None:
    settings.DARKROOM_SIGNUP = "invite"
    assert _signup(client, reverse("signup")).status_code == 403
    assert _signup(client, reverse("signup") + "?invite=forged:token").status_code == 403
    url = reverse("signup") + "?invite=" + invite_token("eve@team.example")
    # the invited address is the one used, whatever the form says
    assert _signup(client, url, email="mallory@evil.example").status_code == 302
    assert django_user_model.objects.get(username="eve").email == "eve@team.example"
    client.logout()
    assert "already exists" in _signup(client, url).content.decode()


def test_it_lets_only_staff_make_invite_links(
    client: Any, settings: Any, user: Any, django_user_model: Any
) -> None:
    settings.DARKROOM_SIGNUP = "invite"
    client.force_login(user)
    assert client.get(reverse("invite")).status_code == 302  # to the admin login
    staff = django_user_model.objects.create_user("carol", "carol@example.com", "pw", is_staff=True)
    client.force_login(staff)
    body = client.post(reverse("invite"), {"email": "new@team.example"}).content.decode()
    assert "/accounts/signup/?invite=" in body


def test_it_shows_staff_the_invite_page_in_their_menu_only_when_invite_only(
    client: Any, settings: Any, django_user_model: Any
) -> None:
    staff = django_user_model.objects.create_user("carol", "carol@example.com", "pw", is_staff=True)
    client.force_login(staff)
    assert reverse("invite") not in client.get(reverse("gallery")).content.decode()
    settings.DARKROOM_SIGNUP = "invite"
    assert reverse("invite") in client.get(reverse("gallery")).content.decode()
