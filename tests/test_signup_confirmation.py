"""A self-signup's address is proven by a mailed link before the account does anything."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db

FORM = {
    "username": "ceo",
    "email": "ceo@corp.test",
    "password1": "squat-squat-123",
    "password2": "squat-squat-123",
}


@pytest.fixture(autouse=True)
def _domains(settings: Any) -> None:
    settings.DARKROOM_SIGNUP = "domains"
    settings.DARKROOM_SIGNUP_DOMAINS = ["corp.test"]


def _sign_up(client: Client) -> Any:
    return client.post("/accounts/signup/", FORM)


def _link() -> str:
    (message,) = mail.outbox
    assert message.to == ["ceo@corp.test"]
    found = re.search(r"http://testserver(/accounts/signup/confirm/[^/\s]+/)", message.body)
    assert found, message.body
    return found.group(1)


def _sign_in(client: Client) -> Any:
    return client.post("/accounts/login/", {"username": "ceo", "password": "squat-squat-123"})


def test_an_unconfirmed_account_does_nothing(django_user_model: Any) -> None:
    client = Client()
    response = _sign_up(client)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # no generate page
    assert client.post("/accounts/api-keys/", {"name": "k"}).status_code == 302  # no key
    assert _sign_in(client).status_code == 200  # the form again: refused
    assert "_auth_user_id" not in client.session
    assert not django_user_model.objects.get(username="ceo").api_keys.exists()


def test_the_link_makes_it_work_once() -> None:
    client = Client()
    _sign_up(client)
    link = _link()
    assert client.get(link)["Location"] == "/accounts/login/"
    assert _sign_in(client).status_code == 302
    assert client.get("/").status_code == 200
    assert Client().get(link).status_code == 400  # spent


def test_the_link_expires(settings: Any, django_user_model: Any) -> None:
    client = Client()
    _sign_up(client)
    settings.DARKROOM_SIGNUP_CONFIRM_MAX_AGE = -1  # any link is older than that
    response = client.get(_link())
    assert response.status_code == 400
    assert "has expired" in response.content.decode()
    assert _sign_in(client).status_code == 200
    # The address and the name are free again for a sign-up that does confirm.
    mail.outbox.clear()
    again = _sign_up(Client())
    assert "Check your inbox" in again.content.decode()
    assert django_user_model.objects.filter(username="ceo").count() == 1


def test_a_forged_link_is_refused() -> None:
    assert Client().get("/accounts/signup/confirm/1:ceo@corp.test:abc/").status_code == 400
