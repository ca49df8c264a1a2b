"""API keys in the portal and on the command line; the API's docs pages."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import ApiKey
from accounts.webhooks import webhook_signing_secret

DEV = "black-forest-labs/flux.1-dev"
pytestmark = pytest.mark.django_db


def test_it_issues_a_key_on_the_command_line_alone_on_one_line(user: Any) -> None:
    out = StringIO()
    call_command("issue_api_key", "alice", "--name", "nightly", stdout=out)
    key = out.getvalue()
    assert re.fullmatch(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}\n", key)
    row = ApiKey.objects.get(user=user)
    assert (row.name, row.prefix) == ("nightly", key.partition(".")[0])
    assert key.strip() not in row.hashed_key  # only a hash is kept
    assert ApiKey.objects.get_from_key(key.strip()) == row


def test_it_shows_a_new_key_once_and_lists_only_its_prefix(client: Client, user: Any) -> None:
    client.force_login(user)
    created = client.post("/accounts/api-keys/", {"name": "laptop", "allowed_models": [DEV]})
    key = re.search(r'id="new-key" readonly value="([^"]+)"', created.content.decode())
    assert key is not None
    row = ApiKey.objects.get(user=user)
    assert row.allowed_models == [DEV]
    assert ApiKey.objects.get_from_key(key[1]) == row
    assert key[1] in created.content.decode()  # the examples carry it too

    listed = client.get("/accounts/api-keys/").content.decode()
    assert key[1] not in listed
    assert f"{row.prefix}…" in listed
    assert 'OpenAI(base_url="http://testserver/v1", api_key="YOUR_KEY")' in listed
    assert "curl http://testserver/v1/images/generations" in listed


def test_it_revokes_only_the_owners_key(client: Client, user: Any, other_user: Any) -> None:
    call_command("issue_api_key", "bob", stdout=StringIO())
    theirs = ApiKey.objects.get(user=other_user)
    client.force_login(user)
    client.post(f"/accounts/api-keys/{theirs.pk}/revoke/")
    theirs.refresh_from_db()
    assert not theirs.revoked
    client.force_login(other_user)
    client.post(f"/accounts/api-keys/{theirs.pk}/revoke/")
    theirs.refresh_from_db()
    assert theirs.revoked


def test_it_serves_the_openapi_schema_and_the_docs_page(client: Client) -> None:
    schema = client.get("/v1/openapi.json").json()
    assert {
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/models",
        "/v1/images/jobs/{job_id}",
    } <= set(schema["paths"])
    answers = schema["paths"]["/v1/images/generations"]["post"]["responses"]
    assert {"200", "202", "400", "401", "403", "404", "409", "429", "502", "504"} <= set(answers)
    docs = client.get("/v1/docs")
    assert docs.status_code == 200
    assert docs["x-request-id"].startswith("req_")
    assert DEV in docs.content.decode()


def test_it_shows_the_persons_own_webhook_signing_secret(
    client: Client, user: Any, other_user: Any
) -> None:
    client.force_login(user)
    page = client.get("/accounts/api-keys/").content.decode()
    shown = re.search(r'id="webhook-secret" readonly value="([^"]+)"', page)
    assert shown is not None
    assert shown[1] == webhook_signing_secret(user)
    assert shown[1].startswith("whsec_")
    assert shown[1] != webhook_signing_secret(other_user)


def test_an_admin_revokes_selected_keys_and_only_those(admin_client: Client, user: Any) -> None:
    from accounts.api_keys import api_key_issue

    chosen, _ = api_key_issue(user=user, name="old")
    kept, _ = api_key_issue(user=user, name="new")
    admin_client.post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [chosen.pk]}
    )
    chosen.refresh_from_db()
    kept.refresh_from_db()
    assert chosen.revoked
    assert not kept.revoked
