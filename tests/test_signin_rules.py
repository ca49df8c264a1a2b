"""Every way in applies the same sign-in rules (accounts.signin): the portal's form, the
admin's sign-in, a password-reset link, and a session signed in any other way."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


@pytest.fixture
def root(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        "root", "root@example.com", "pw-root-123", is_staff=True, is_superuser=True
    )


def _admin_sign_in(client: Client, username: str, password: str) -> Any:
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post("/admin/login/?next=/admin/", data)


class TestAdminSignIn:
    def test_it_does_not_skip_the_second_factor(self, root: Any) -> None:
        device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
        client = Client()
        _admin_sign_in(client, "root", "pw-root-123")
        assert "_auth_user_id" not in client.session
        assert client.get("/admin/").status_code == 302
        # The way in is the portal's form, which asks for the code.
        response = client.get("/admin/login/?next=/admin/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/admin/"
        step = client.post(response["Location"], {"username": "root", "password": "pw-root-123"})
        assert step["Location"].startswith("/accounts/2fa/verify/")
        assert "_auth_user_id" not in client.session
        client.post("/accounts/2fa/verify/", {"code": _code(device), "next": "/admin/"})
        assert client.get("/admin/").status_code == 200

    def test_it_refuses_passwords_when_password_sign_in_is_off(
        self, root: Any, settings: Any
    ) -> None:
        settings.DARKROOM_PASSWORD_LOGIN = False
        client = Client()
        _admin_sign_in(client, "root", "pw-root-123")
        assert "_auth_user_id" not in client.session
        assert client.get("/admin/").status_code == 302

    def test_the_break_glass_account_still_gets_in_through_the_portals_form(
        self, root: Any, settings: Any
    ) -> None:
        settings.DARKROOM_PASSWORD_LOGIN = False
        settings.DARKROOM_BREAK_GLASS_USERNAME = "root"
        client = Client()
        signed = client.post(
            "/accounts/login/?next=/admin/", {"username": "root", "password": "pw-root-123"}
        )
        assert signed.status_code == 302
        assert signed["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200


class TestAnyOtherWayIn:
    def test_a_session_that_skipped_the_code_owes_it_before_any_page(self, user: Any) -> None:
        device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        client = Client()
        client.force_login(user)  # signed in by something other than the portal's form
        blocked = client.get("/history/")
        assert blocked.status_code == 302
        assert blocked["Location"] == "/accounts/2fa/verify/?next=%2Fhistory%2F"
        assert client.get("/accounts/api-keys/").status_code == 302
        page = client.get(blocked["Location"]).content.decode()
        assert 'action="/accounts/logout/"' in page  # a way out that doesn't loop
        done = client.post("/accounts/2fa/verify/", {"code": _code(device), "next": "/history/"})
        assert done["Location"] == "/history/"
        assert client.get("/history/").status_code == 200


class TestPasswordReset:
    def _link(self, user: Any) -> str:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        return f"/accounts/password/reset/{uid}/{default_token_generator.make_token(user)}/"

    def test_a_link_sent_earlier_sets_nothing_once_password_sign_in_is_off(
        self, user: Any, settings: Any
    ) -> None:
        link = self._link(user)
        settings.DARKROOM_PASSWORD_LOGIN = False
        assert Client().get(link).status_code == 404
        user.refresh_from_db()
        assert user.check_password("pw-alice-123")

    def test_completing_it_signs_no_one_in_and_the_code_is_still_asked(self, user: Any) -> None:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        client = Client()
        form = client.get(self._link(user), follow=True)
        new = {"new_password1": "a-new-pw-4567", "new_password2": "a-new-pw-4567"}
        done = client.post(form.redirect_chain[-1][0], new)
        assert done.status_code == 302
        assert done["Location"] == "/accounts/password/reset/done/"
        assert "_auth_user_id" not in client.session
        step = client.post("/accounts/login/", {"username": "alice", "password": "a-new-pw-4567"})
        assert step["Location"].startswith("/accounts/2fa/verify/")
        assert "_auth_user_id" not in client.session


def test_someone_signed_in_but_not_staff_is_refused_not_sent_round(user: Any) -> None:
    client = Client()
    client.force_login(user)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
