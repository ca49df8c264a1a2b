"""Sign-in protection and the directory's groups: lockouts, password switch, group sync.

The whole single sign-on journey against a real OpenID Connect provider is in
tests/test_sso_browser.py.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import DirectoryGroup, DirectoryMembership
from accounts.sso.groups import claimed_groups, directory_groups_sync

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


class TestLockout:
    def test_it_locks_an_account_after_failed_sign_ins(self, user: Any, settings: Any) -> None:
        settings.AXES_FAILURE_LIMIT = 3
        client = Client()
        for _ in range(3):
            _sign_in(client, "alice", "wrong")
        # Even the right password is refused now, with a clear message.
        response = _sign_in(client, "alice", "pw-alice-123")
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_it_locks_an_address_trying_many_accounts(
        self, user: Any, other_user: Any, settings: Any
    ) -> None:
        settings.AXES_FAILURE_LIMIT = 3
        client = Client(REMOTE_ADDR="203.0.113.7")
        for name in ("x1", "x2", "x3"):
            _sign_in(client, name, "guess")
        assert _sign_in(client, "bob", "pw-bob-123").status_code == 429
        # Another address is not affected.
        elsewhere = Client(REMOTE_ADDR="203.0.113.8")
        assert _sign_in(elsewhere, "bob", "pw-bob-123").status_code == 302

    def test_staff_lift_a_lockout(self, user: Any, admin_client: Client, settings: Any) -> None:
        from axes.models import AccessAttempt, AccessFailureLog

        settings.AXES_FAILURE_LIMIT = 2
        client = Client()
        for _ in range(2):
            _sign_in(client, "alice", "wrong")
        assert AccessAttempt.objects.filter(username="alice").exists()
        listing = admin_client.get("/admin/axes/accessattempt/")
        assert listing.status_code == 200
        assert "alice" in listing.content.decode()
        AccessAttempt.objects.filter(username="alice").delete()  # the admin's delete action
        assert _sign_in(client, "alice", "pw-alice-123").status_code == 302
        # The failures stay on record for the audit.
        assert AccessFailureLog.objects.filter(username="alice").count() == 2

    def test_a_success_resets_the_count(self, user: Any, settings: Any) -> None:
        settings.AXES_FAILURE_LIMIT = 3
        client = Client()
        _sign_in(client, "alice", "wrong")
        _sign_in(client, "alice", "wrong")
        assert _sign_in(client, "alice", "pw-alice-123").status_code == 302
        client.logout()
        _sign_in(client, "alice", "wrong")
        assert _sign_in(client, "alice", "pw-alice-123").status_code == 302


class TestPasswordSwitch:
    def test_it_refuses_passwords_when_switched_off(self, user: Any, settings: Any) -> None:
        settings.DARKROOM_PASSWORD_LOGIN = False
        response = _sign_in(Client(), "alice", "pw-alice-123")
        assert response.status_code == 200
        assert "Password sign-in is switched off" in response.content.decode()

    def test_the_break_glass_staff_account_still_signs_in(
        self, django_user_model: Any, settings: Any
    ) -> None:
        django_user_model.objects.create_user("root", "r@example.com", "pw-root-123", is_staff=True)
        settings.DARKROOM_PASSWORD_LOGIN = False
        settings.DARKROOM_BREAK_GLASS_USERNAME = "root"
        assert _sign_in(Client(), "root", "pw-root-123").status_code == 302

    def test_break_glass_must_be_staff(self, user: Any, settings: Any) -> None:
        settings.DARKROOM_PASSWORD_LOGIN = False
        settings.DARKROOM_BREAK_GLASS_USERNAME = "alice"
        assert _sign_in(Client(), "alice", "pw-alice-123").status_code == 200

    def test_password_reset_is_gone_when_switched_off(self, settings: Any) -> None:
        settings.DARKROOM_PASSWORD_LOGIN = False
        assert Client().get("/accounts/password/reset/").status_code == 404

    def test_the_page_offers_single_sign_on(self, settings: Any) -> None:
        settings.DARKROOM_OIDC_ISSUER = "https://id.example.com"
        settings.DARKROOM_OIDC_NAME = "Acme ID"
        settings.DARKROOM_PASSWORD_LOGIN = False
        page = Client().get("/accounts/login/").content.decode()
        assert "Sign in with Acme ID" in page
        assert "Staff break-glass sign-in" in page
        assert "Forgot your password?" not in page


class TestSsoErrors:
    def test_a_provider_that_is_down_gets_a_clear_page(self, settings: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # nothing listens here once closed
        _configure(settings, f"http://127.0.0.1:{port}")
        response = Client().post("/accounts/sso/oidc/sso/login/")
        assert response.status_code == 503
        assert "be reached right now" in response.content.decode()

    def test_a_callback_with_a_wrong_state_is_refused_clearly(self, settings: Any) -> None:
        _configure(settings, "http://127.0.0.1:9")
        client = Client()
        response = client.get("/accounts/sso/oidc/sso/login/callback/?code=x&state=forged")
        assert response.status_code == 401
        assert "could not be accepted" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_without_an_issuer_there_is_no_sso(self) -> None:
        assert Client().post("/accounts/sso/oidc/sso/login/").status_code == 404


def _configure(settings: Any, issuer: str) -> None:
    settings.DARKROOM_OIDC_ISSUER = issuer
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": "Test ID",
                    "client_id": "darkroom",
                    "secret": "s3cret",
                    "settings": {"server_url": issuer},
                }
            ],
        }
    }


class TestDirectoryGroups:
    def test_it_joins_the_named_groups_that_exist(self, user: Any) -> None:
        Group.objects.create(name="designers")
        changes = directory_groups_sync(user=user, names=["designers", "no-such-group"])
        assert changes.joined == ["designers"]
        assert list(user.groups.values_list("name", flat=True)) == ["designers"]

    def test_it_leaves_what_the_directory_granted_and_no_longer_names(self, user: Any) -> None:
        Group.objects.create(name="designers")
        directory_groups_sync(user=user, names=["designers"])
        changes = directory_groups_sync(user=user, names=[])
        assert changes.left == ["designers"]
        assert not user.groups.exists()
        assert not DirectoryMembership.objects.filter(user=user).exists()

    def test_it_keeps_groups_an_admin_gave_by_hand(self, user: Any) -> None:
        user.groups.add(Group.objects.create(name="beta-testers"))
        directory_groups_sync(user=user, names=[])
        assert list(user.groups.values_list("name", flat=True)) == ["beta-testers"]

    def test_a_directory_managed_group_follows_the_claim_alone(self, user: Any) -> None:
        managed = Group.objects.create(name="contractors")
        DirectoryGroup.objects.create(group=managed, managed=True)
        user.groups.add(managed)  # added by hand, but the directory decides
        assert directory_groups_sync(user=user, names=[]).left == ["contractors"]
        assert not user.groups.exists()

    @pytest.mark.parametrize(
        ("value", "names"),
        [
            (["b", "a", "a"], ["a", "b"]),
            ("a, b", ["a", "b"]),
            ("a b", ["a", "b"]),
            (None, []),
            ({"a": 1}, []),
        ],
    )
    def test_it_reads_the_claim_in_its_usual_shapes(self, value: Any, names: list[str]) -> None:
        assert claimed_groups({"groups": value}, "groups") == names
