"""Production security from the environment: check --deploy, HTTPS switch, CSP, Sentry."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def readme_production_env() -> dict[str, str]:
    """The KEY=VALUE block the README documents under "Production settings"."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md lost its production settings block"
    env = {}
    for line in block.group(1).splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def _run(args: list[str], extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "SENTRY_"))}
    env.pop("DEBUG", None)
    env.update(extra)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_readmes_production_settings(tmp_path: Path) -> None:
    env = readme_production_env()
    assert env["DEBUG"] == "false"
    assert env["DARKROOM_HTTPS"] == "true"
    env["SECRET_KEY"] = secrets.token_urlsafe(50)  # the README says: generate one
    env["MEDIA_ROOT"] = str(tmp_path)
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_switch_turns_on_redirect_and_hsts(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    )
    base = {"SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_SETTINGS_MODULE": "config.settings"}
    off = _run(["-c", code], base).stdout.split()
    on = _run(["-c", code], {**base, "DARKROOM_HTTPS": "true"}).stdout.split()
    assert off[:2] == ["False", "0"]
    assert on[:2] == ["True", "31536000"]
    # The scheme comes from DARKROOM_TRUSTED_PROXIES' X-Forwarded-Proto (config/ops/proxies.py),
    # never from a header any client may send.
    assert on[2] == "None"


@pytest.mark.django_db
def test_pages_carry_a_csp_without_inline_scripts(client: Client, user: Any) -> None:
    client.force_login(user)
    for path in ("/", "/history/", "/accounts/api-keys/", "/v1/docs"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
        html = response.content.decode()
        # Every <script> loads a file: an inline one would be blocked by the policy.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path


@pytest.mark.django_db
def test_the_admin_still_works_under_the_policy(admin_client: Client) -> None:
    for path in ("/admin/", "/admin/generations/generation/", "/admin/accounts/user/add/"):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path


def test_sentry_is_not_even_imported_without_a_dsn() -> None:
    code = "import django, sys; django.setup(); print('sentry_sdk' in sys.modules)"
    base = {"SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_SETTINGS_MODULE": "config.settings"}
    assert _run(["-c", code], base).stdout.strip() == "False"
    with_dsn = (
        "import django; django.setup(); import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), sorted(i for i in c.integrations if i in ('django', 'celery')))"
    )
    dsn = {**base, "SENTRY_DSN": "https://public@sentry.invalid/1"}
    assert _run(["-c", with_dsn], dsn).stdout.strip() == "True ['celery', 'django']"
