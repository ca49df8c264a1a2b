"""Two-factor sign-in with an authenticator app (TOTP), and the staff requirement."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += steps_ahead * device.step
    return f"{totp.token():06d}"


def _device(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _password(client: Client, username: str, password: str) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_a_person_with_an_app_needs_its_code_to_sign_in(user: Any, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no pause after the deliberate wrong code
    device = _device(user)
    client = Client()
    response = _password(client, "alice", "pw-alice-123")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/verify/")
    assert "_auth_user_id" not in client.session  # not signed in by the password alone
    wrong = client.post("/accounts/2fa/verify/", {"code": "000000"})
    assert "That code is not right" in wrong.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.post("/accounts/2fa/verify/", {"code": _code(device)}).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_without_the_password_step_the_code_page_sends_you_back() -> None:
    response = Client().post("/accounts/2fa/verify/", {"code": "123456"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


def test_a_person_sets_up_an_app_and_turns_it_off(client: Client, user: Any, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no pause after the deliberate wrong code
    client.force_login(user)
    page = client.get("/accounts/2fa/").content.decode()
    assert "<svg" in page
    assert "Turn two-factor on" in page
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post("/accounts/2fa/", {"code": "111111"}).status_code == 200
    assert client.post("/accounts/2fa/", {"code": _code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert "Turn two-factor off" in client.get("/accounts/2fa/").content.decode()
    # Turning it off takes a fresh code (the one just used can't be replayed).
    assert client.post("/accounts/2fa/", {"code": _code(device, 1)}).status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_staff_must_set_up_two_factor_when_required(django_user_model: Any, settings: Any) -> None:
    settings.DARKROOM_STAFF_MFA = True
    django_user_model.objects.create_user("root", "r@example.com", "pw-root-123", is_staff=True)
    client = Client()
    _password(client, "root", "pw-root-123")
    blocked = client.get("/admin/")
    assert blocked.status_code == 302
    assert blocked["Location"] == "/accounts/2fa/?required=1"
    device = TOTPDevice.objects.filter(user__username="root", confirmed=False)
    client.get("/accounts/2fa/?required=1")
    assert client.post("/accounts/2fa/", {"code": _code(device.get())}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_people_who_are_not_staff_are_not_required(user: Any, settings: Any) -> None:
    settings.DARKROOM_STAFF_MFA = True
    client = Client()
    _password(client, "alice", "pw-alice-123")
    assert client.get("/history/").status_code == 200


def test_guessing_codes_is_slowed_down(user: Any) -> None:
    device = _device(user)
    client = Client()
    _password(client, "alice", "pw-alice-123")
    client.post("/accounts/2fa/verify/", {"code": "000000"})
    # Right after a wrong code even the right one waits (django-otp's throttle).
    client.post("/accounts/2fa/verify/", {"code": _code(device)})
    assert "_auth_user_id" not in client.session
