"""Single sign-on in real Chromium against a real OpenID Connect provider.

The provider is panva's certified `oidc-provider` run by node (tests/oidc_provider.py);
Darkroom is pytest-django's live server. Click the button, sign in at the provider,
consent, land back signed in with the directory's groups applied.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group

from accounts.models import DirectoryGroup
from tests.browser import shot

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(module_browser_page: Any) -> Any:
    """A fresh context for each test, in one Chromium for the module."""
    return module_browser_page


CALLBACK = "/accounts/sso/oidc/sso/login/callback/"
PEOPLE = {
    "carol": {
        "email": "carol@acme.test",
        "email_verified": True,
        "name": "Carol Chen",
        "groups": ["designers", "not-a-darkroom-group"],
    },
    "dave": {"email": "dave@elsewhere.test", "email_verified": True, "groups": []},
}


def _sign_in_at_provider(page: Any, login: str, base: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/accounts/login/")
    shot(page, f"sso-login-page-{login}")
    page.get_by_role("button", name="Sign in with Acme ID").click()
    # The provider's own sign-in page, then its consent page.
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("any password")
    page.locator('button[type="submit"]').click()
    expect(page.locator('button[type="submit"]')).to_be_visible()
    page.locator('button[type="submit"]').click()


def test_a_person_signs_in_with_the_identity_provider(
    browser_page: Any,
    live_server: Any,
    oidc_provider_factory: Any,
    settings: Any,
    django_user_model: Any,
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    provider = oidc_provider_factory(base + CALLBACK, PEOPLE)
    provider.configure(settings, DARKROOM_PASSWORD_LOGIN=False)
    designers = Group.objects.create(name="designers")
    contractors = Group.objects.create(name="contractors")
    DirectoryGroup.objects.create(group=contractors, managed=True)
    # Carol already has a local account with the same e-mail: it is linked, not duplicated.
    carol = django_user_model.objects.create_user("carol", "carol@acme.test", "pw-carol-123")
    carol.groups.add(contractors)

    _sign_in_at_provider(page, "carol", base)
    expect(page).to_have_url(re.compile(r"/$|/generate"))
    expect(page.get_by_role("link", name="History", exact=True)).to_be_visible()
    shot(page, "sso-signed-in")

    assert django_user_model.objects.filter(email__iexact="carol@acme.test").count() == 1
    carol.refresh_from_db()
    assert set(carol.groups.values_list("name", flat=True)) == {"designers"}
    assert designers.user_set.filter(pk=carol.pk).exists()


def test_the_first_sign_in_creates_the_person(
    browser_page: Any,
    live_server: Any,
    oidc_provider_factory: Any,
    settings: Any,
    django_user_model: Any,
) -> None:
    page, base = browser_page, live_server.url
    provider = oidc_provider_factory(base + CALLBACK, PEOPLE)
    provider.configure(settings, DARKROOM_SIGNUP="closed")
    Group.objects.create(name="designers")

    _sign_in_at_provider(page, "carol", base)
    page.get_by_role("link", name="History", exact=True).wait_for()
    person = django_user_model.objects.get(email="carol@acme.test")
    assert list(person.groups.values_list("name", flat=True)) == ["designers"]


def test_an_address_outside_the_allowed_domains_is_refused(
    browser_page: Any,
    live_server: Any,
    oidc_provider_factory: Any,
    settings: Any,
    django_user_model: Any,
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    provider = oidc_provider_factory(base + CALLBACK, PEOPLE)
    provider.configure(settings, DARKROOM_OIDC_ALLOWED_DOMAINS=["acme.test"])

    _sign_in_at_provider(page, "dave", base)
    expect(page.get_by_role("alert")).to_contain_text("only addresses at acme.test")
    shot(page, "sso-domain-refused")
    assert not django_user_model.objects.filter(email="dave@elsewhere.test").exists()


def test_an_expired_code_is_refused_clearly(
    browser_page: Any,
    live_server: Any,
    oidc_provider_factory: Any,
    settings: Any,
    django_user_model: Any,
) -> None:
    from playwright.sync_api import expect

    page, base = browser_page, live_server.url
    # The provider holds the redirect carrying the code for 3 s; the code lives 1 s.
    provider = oidc_provider_factory(base + CALLBACK, PEOPLE, code_ttl=1, redirect_delay_ms=3000)
    provider.configure(settings)

    _sign_in_at_provider(page, "carol", base)
    expect(page.get_by_role("alert")).to_contain_text("could not be accepted")
    shot(page, "sso-expired-code")
    assert not django_user_model.objects.filter(email="carol@acme.test").exists()
