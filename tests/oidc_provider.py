"""A real OpenID Connect provider for the single sign-on tests (tests/oidc/provider.mjs).

panva's `oidc-provider` (certified by the OpenID Foundation) run by node, installed
from the npm registry into tests/oidc/node_modules on first use. Outside CI a machine
without node/npm skips these tests, saying so; under CI (CI=true) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests.live import free_port, stop, wait_for_port
from tests.needs import missing

HERE = Path(__file__).resolve().parent / "oidc"
SECRET = "darkroom-test-client-secret"


@dataclass
class OidcProvider:
    issuer: str
    proc: subprocess.Popen[Any]

    def configure(self, settings: Any, **extra: Any) -> None:
        """Point Darkroom's single sign-on at this provider (settings: pytest-django's)."""
        settings.DARKROOM_OIDC_ISSUER = self.issuer
        settings.DARKROOM_OIDC_NAME = "Acme ID"
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "SCOPE": ["openid", "email", "profile"],
                "APPS": [
                    {
                        "provider_id": "sso",
                        "name": "Acme ID",
                        "client_id": "darkroom",
                        "secret": SECRET,
                        "settings": {"server_url": self.issuer},
                    }
                ],
            }
        }
        for key, value in extra.items():
            setattr(settings, key, value)


def _install() -> None:
    if not shutil.which("node") or not shutil.which("npm"):
        missing(
            "needs node and npm to run the OpenID Connect provider (apt-get install nodejs npm)"
        )
    if (HERE / "node_modules" / "oidc-provider").is_dir():
        return
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode:
        missing(f"npm could not install oidc-provider: {done.stderr[-500:]}")


def start_provider(
    redirect_uri: str,
    people: dict[str, dict[str, Any]],
    *,
    code_ttl: int,
    redirect_delay_ms: int,
    log: Path,
) -> OidcProvider:
    _install()
    port = free_port()
    env = {**os.environ, "OIDC_PEOPLE": json.dumps(people)}
    command = ["node", "provider.mjs", str(port), redirect_uri, SECRET, str(code_ttl)]
    command.append(str(redirect_delay_ms))
    proc = subprocess.Popen(
        command, cwd=HERE, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, proc)
    except RuntimeError:
        stop(proc)
        raise RuntimeError(f"the OIDC provider did not start:\n{log.read_text()[-2000:]}") from None
    return OidcProvider(f"http://127.0.0.1:{port}", proc)


@pytest.fixture
def oidc_provider_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[OidcProvider] = []

    def start(
        redirect_uri: str,
        people: dict[str, dict[str, Any]],
        code_ttl: int = 60,
        redirect_delay_ms: int = 0,
    ) -> OidcProvider:
        provider = start_provider(
            redirect_uri,
            people,
            code_ttl=code_ttl,
            redirect_delay_ms=redirect_delay_ms,
            log=tmp_path / f"oidc-{len(started)}.log",
        )
        started.append(provider)
        return provider

    yield start
    for provider in started:
        stop(provider.proc)


# --- Signing in without a browser ------------------------------------------------------
# The provider's development sign-in and consent pages are plain HTML forms, so a
# requests session can walk them: Darkroom is reached through Django's test client
# (as 127.0.0.1: the provider takes http redirect URIs on loopback only).
CALLBACK = "/accounts/sso/oidc/sso/login/callback/"
DARKROOM = "http://127.0.0.1"


def sso_client() -> Any:
    from django.test import Client

    return Client(SERVER_NAME="127.0.0.1")


def sso_sign_in(client: Any, login: str, *, process: str = "login") -> Any:
    """Press "Sign in with …" (or "Link …" with process=connect), sign in at the provider
    as `login`, consent, and bring the code back; returns Darkroom's answer to it."""
    start = client.post("/accounts/sso/oidc/sso/login/", {"process": process})
    assert start.status_code == 302, start.content[:500]
    back = _walk_provider(start["Location"], login)
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def _walk_provider(url: str, login: str) -> str:
    session = requests.Session()
    data: dict[str, str] | None = None
    for _ in range(12):
        if data is None:
            answer = session.get(url, allow_redirects=False, timeout=10)
        else:
            answer = session.post(url, data=data, allow_redirects=False, timeout=10)
        data = None
        if answer.is_redirect:
            url = urljoin(url, answer.headers["location"])
            if url.startswith(DARKROOM + CALLBACK):
                return url
            continue
        url, data = _form(url, answer.text, login)
    raise AssertionError(f"the provider never sent the browser back: {url}")


def _form(url: str, html: str, login: str) -> tuple[str, dict[str, str]]:
    found = re.search(r'<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>', html, re.S)
    assert found, html[-1000:]
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", found.group(2)):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    if "login" in fields:
        fields.update(login=login, password="any password")
    return urljoin(url, found.group(1)), fields
