"""Which local account a single sign-on reaches, against a real OpenID Connect provider.

panva's `oidc-provider` (tests/oidc_provider.py) signs people in; Darkroom is reached
through Django's test client, the provider's pages walked with a plain HTTP session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.live import stop
from tests.oidc_provider import CALLBACK as SSO_CALLBACK
from tests.oidc_provider import (
    DARKROOM,
    OidcProvider,
    sso_client,
    sso_sign_in,
    start_provider,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PEOPLE = {
    "root": {"email": "root@acme.test", "email_verified": True},
    "ceo": {"email": "ceo@acme.test", "email_verified": True},
    # Says boss@acme.test, but the provider never verified it: anyone can type that.
    "mallory": {"email": "boss@acme.test", "email_verified": False},
    "sam": {"email": "sam@acme.test", "email_verified": True},
    "ada": {"email": "ada@acme.test", "email_verified": True, "amr": ["pwd", "mfa"]},
    "eve": {"email": "eve@acme.test", "email_verified": True, "acr": "urn:acme:loa:mfa"},
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    log = Path(tmp_path_factory.mktemp("oidc")) / "provider.log"
    started = start_provider(
        DARKROOM + SSO_CALLBACK, PEOPLE, code_ttl=60, redirect_delay_ms=0, log=log
    )
    yield started
    stop(started.proc)


@pytest.fixture
def sso(provider: OidcProvider, settings: Any) -> OidcProvider:
    provider.configure(settings)
    return provider


def _signed_in_as(client: Any) -> str | None:
    return client.session.get("_auth_user_id")


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


class TestNoTakeOver:
    @pytest.mark.parametrize("kind", ["superuser", "staff", "break-glass"])
    def test_a_matching_address_never_signs_in_to_a_privileged_account(
        self, sso: Any, kind: str, django_user_model: Any, settings: Any
    ) -> None:
        settings.DARKROOM_BREAK_GLASS_USERNAME = "root"
        flags = {"superuser": {"is_superuser": True, "is_staff": True}, "staff": {"is_staff": True}}
        root = django_user_model.objects.create_user(  # the case differs: still the address
            "root", "Root@Acme.test", "pw-root-123", **flags.get(kind, {"is_staff": True})
        )
        client = sso_client()
        response = sso_sign_in(client, "root")
        assert response.status_code == 403
        assert "never signs in by itself" in response.content.decode()
        assert _signed_in_as(client) is None
        assert not SocialAccount.objects.exists()
        root.refresh_from_db()
        assert root.check_password("pw-root-123")  # not wiped

    def test_staff_link_their_identity_while_signed_in(
        self, sso: Any, django_user_model: Any
    ) -> None:
        root = django_user_model.objects.create_user(
            "root", "root@acme.test", "pw-root-123", is_staff=True
        )
        client = sso_client()
        client.post("/accounts/login/", {"username": "root", "password": "pw-root-123"})
        page = client.get("/accounts/2fa/").content.decode()
        assert 'name="process" value="connect"' in page
        assert "Link Acme ID" in page
        linked = sso_sign_in(client, "root", process="connect")
        assert linked.status_code == 302
        assert SocialAccount.objects.get().user == root
        assert "This account is linked" in client.get("/accounts/2fa/").content.decode()
        # From now on the identity signs in to it (by the link, not by the address).
        again = sso_client()
        sso_sign_in(again, "root")
        assert _signed_in_as(again) == str(root.pk)


class TestAllowList:
    def test_it_counts_only_addresses_the_provider_verified(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_OIDC_ALLOWED_DOMAINS = ["acme.test"]
        client = sso_client()
        response = sso_sign_in(client, "mallory")
        assert response.status_code == 403
        assert "only addresses at acme.test" in response.content.decode()
        assert _signed_in_as(client) is None
        assert not django_user_model.objects.filter(email="boss@acme.test").exists()

    def test_a_verified_address_inside_it_comes_in(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_OIDC_ALLOWED_DOMAINS = ["acme.test"]
        client = sso_client()
        sso_sign_in(client, "ceo")
        assert _signed_in_as(client) == str(django_user_model.objects.get(email="ceo@acme.test").pk)


class TestUnconfirmedSignup:
    def test_the_real_owner_is_not_merged_with_a_squatter(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_SIGNUP = "domains"
        settings.DARKROOM_SIGNUP_DOMAINS = ["acme.test"]
        squatter = sso_client()
        squatter.post(
            "/accounts/signup/",
            {
                "username": "ceo",
                "email": "ceo@acme.test",
                "password1": "squat-squat-123",
                "password2": "squat-squat-123",
            },
        )
        squat = django_user_model.objects.get(username="ceo")
        assert len(mail.outbox) == 1  # the link went to the real ceo, who ignores it

        owner = sso_client()
        sso_sign_in(owner, "ceo")
        person = django_user_model.objects.get(email="ceo@acme.test")
        assert _signed_in_as(owner) == str(person.pk)
        assert person.pk != squat.pk
        assert not django_user_model.objects.filter(pk=squat.pk).exists()
        assert not person.has_usable_password()  # the squatter's password is nowhere


class TestStaffSecondFactor:
    def _linked_staff(self, django_user_model: Any, uid: str) -> Any:
        staff = django_user_model.objects.create_user(
            uid, f"{uid}@acme.test", f"pw-{uid}-123", is_staff=True
        )
        SocialAccount.objects.create(user=staff, provider="sso", uid=uid)
        return staff

    def test_staff_without_the_providers_mfa_claim_still_set_up_a_code(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_STAFF_MFA = True
        staff = self._linked_staff(django_user_model, "sam")
        client = sso_client()
        sso_sign_in(client, "sam")
        assert _signed_in_as(client) == str(staff.pk)
        blocked = client.get("/admin/")
        assert blocked.status_code == 302
        assert blocked["Location"] == "/accounts/2fa/?required=1"

    def test_staff_with_an_app_give_its_code_after_single_sign_on(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_STAFF_MFA = True
        staff = self._linked_staff(django_user_model, "sam")
        device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
        client = sso_client()
        sso_sign_in(client, "sam")
        blocked = client.get("/admin/")
        assert blocked.status_code == 302
        assert blocked["Location"].startswith("/accounts/2fa/verify/")
        assert client.post("/accounts/2fa/verify/", {"code": _code(device)}).status_code == 302
        assert client.get("/admin/").status_code == 200

    def test_the_providers_mfa_claim_counts(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_STAFF_MFA = True
        self._linked_staff(django_user_model, "ada")
        client = sso_client()
        sso_sign_in(client, "ada")
        assert client.get("/admin/").status_code == 200

    def test_which_claims_count_is_the_operators_choice(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_STAFF_MFA = True
        settings.DARKROOM_OIDC_MFA_AMR = ["hwk"]  # only a hardware key will do here
        self._linked_staff(django_user_model, "ada")
        client = sso_client()
        sso_sign_in(client, "ada")
        assert client.get("/admin/").status_code == 302

    def test_an_acr_the_operator_names_counts_too(
        self, sso: Any, settings: Any, django_user_model: Any
    ) -> None:
        settings.DARKROOM_STAFF_MFA = True
        self._linked_staff(django_user_model, "eve")
        client = sso_client()
        sso_sign_in(client, "eve")
        assert client.get("/admin/").status_code == 302  # not named yet
        settings.DARKROOM_OIDC_MFA_ACR = ["urn:acme:loa:mfa"]
        client = sso_client()
        sso_sign_in(client, "eve")
        assert client.get("/admin/").status_code == 200
