"""The operator's defaults, tested from outside: forged client addresses, what /readyz and
/metrics tell a stranger, and the start-up refusal of a placeholder SECRET_KEY."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client

from config.ops import health
from tests.harness import free_port, stop, wait_for_port
from tests.live import database_url
from tests.test_ops_security import _run

ROOT = Path(__file__).resolve().parent.parent
FORGED = "203.0.113.66"  # what a client writes into X-Forwarded-For


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _dockerfile_web_command() -> list[str]:
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd, "the Dockerfile lost its CMD"
    return list(json.loads(cmd.group(1)))


# --- 4. client addresses -------------------------------------------------------------


def test_no_process_command_lets_uvicorn_believe_forwarded_headers() -> None:
    import yaml

    web = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["web"]["command"]
    procfile = (ROOT / "Procfile").read_text().splitlines()[0]
    for name, command in (
        ("Dockerfile", " ".join(_dockerfile_web_command())),
        ("compose.yaml", " ".join(web)),
        ("Procfile", procfile),
    ):
        assert "--no-proxy-headers" in command and "forwarded-allow-ips" not in command, name  # noqa: PT018


@pytest.mark.django_db(transaction=True)
def test_the_images_uvicorn_does_not_take_a_clients_forwarded_for(
    tmp_path: Path, user: Any
) -> None:
    """The Dockerfile's own command line, served for real: the access log, the lockout
    count and /metrics all see the connecting address, not the one the client wrote."""
    from axes.models import AccessFailureLog

    port = free_port()
    command = _dockerfile_web_command()
    args = command[command.index("config.asgi:application") :]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
    log = tmp_path / "web.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    env.update(DATABASE_URL=database_url(), SECRET_KEY=settings.SECRET_KEY, DEBUG="false")
    env.update(CSRF_COOKIE_SECURE="false", SESSION_COOKIE_SECURE="false")  # plain http here
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, timeout=60)
        forged = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}
        # From loopback, a private address: /metrics answers; were the header believed,
        # the caller would be 203.0.113.66, a stranger.
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=forged, timeout=30)
        assert response.status_code == 200
        _fail_a_sign_in(f"http://127.0.0.1:{port}", user.username)
    finally:
        stop(proc)
    text = log.read_text()
    assert FORGED not in text, text[-2000:]
    assert re.search(r'127\.0\.0\.1:\d+ - "GET /metrics', text), text[-2000:]
    failures = AccessFailureLog.objects.values_list("ip_address", flat=True)
    assert list(failures) == ["127.0.0.1"]


def _fail_a_sign_in(base: str, username: str) -> None:
    """A wrong password from a client that says, in X-Forwarded-For, it is someone else."""
    with httpx.Client(base_url=base, headers={"X-Forwarded-For": FORGED}, timeout=30) as http:
        page = http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        answer = http.post(
            "/accounts/login/",
            data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": "no"},
        )
        assert answer.status_code in (200, 429), answer.status_code  # the form again, or locked


async def _asgi_get(path: str, client: str, **headers: str) -> httpx.Response:
    from config.asgi import application

    transport = httpx.ASGITransport(app=application, client=(client, 4711))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(path, headers=headers)


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_only_a_named_proxy_says_who_the_client_is(settings: Any) -> None:
    # A stranger claiming to be loopback is still a stranger.
    settings.DARKROOM_TRUSTED_PROXIES = []
    assert (
        await _asgi_get("/metrics", FORGED, **{"X-Forwarded-For": "127.0.0.1"})
    ).status_code == 401
    # Our proxy (10.0.0.2) says the client is a stranger: believed.
    settings.DARKROOM_TRUSTED_PROXIES = ["10.0.0.0/24"]
    relayed = await _asgi_get("/metrics", "10.0.0.2", **{"X-Forwarded-For": FORGED})
    assert relayed.status_code == 401
    # A stranger cannot borrow the proxy's trust by writing the header itself.
    assert (
        await _asgi_get("/metrics", FORGED, **{"X-Forwarded-For": "10.0.0.7"})
    ).status_code == 401
    assert (await _asgi_get("/metrics", "10.0.0.2")).status_code == 200


@pytest.mark.django_db
def test_lockouts_and_the_audit_count_the_connecting_address(client: Client, user: Any) -> None:
    from axes.models import AccessFailureLog

    from accounts.models import AuditEntry

    client.post(
        "/accounts/login/",
        {"username": user.username, "password": "wrong"},
        REMOTE_ADDR="198.51.100.4",
        HTTP_X_FORWARDED_FOR=FORGED,
    )
    assert list(AccessFailureLog.objects.values_list("ip_address", flat=True)) == ["198.51.100.4"]
    failed = AuditEntry.objects.filter(action="sign-in failed")
    assert list(failed.values_list("ip", flat=True)) == ["198.51.100.4"]


# --- 11. /readyz and /metrics ------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_names_failed_parts_only_and_logs_why(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ConnectionError("connect to redis://admin@10.1.2.3:6379 refused")

    monkeypatch.setitem(health.CHECKS, "broker", broken)
    response = client.get("/readyz", HTTP_HOST="probe.example")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["broker"]}
    assert "10.1.2.3" in caplog.text
    assert "admin" in caplog.text


@pytest.mark.django_db
def test_readyz_checks_once_for_a_burst_of_probes(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counted(name: str) -> Callable[[], None]:
        return lambda: calls.append(name)

    for name in list(health.CHECKS):
        monkeypatch.setitem(health.CHECKS, name, counted(name))
    for _ in range(20):
        assert client.get("/readyz").status_code == 200
    assert sorted(calls) == sorted(health.CHECKS)  # one round, not twenty


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("address", "status"),
    [("127.0.0.1", 200), ("10.4.0.9", 200), ("192.168.1.20", 200), ("203.0.113.9", 401)],
)
def test_metrics_answer_private_networks_and_refuse_strangers(
    client: Client, address: str, status: int
) -> None:
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == status


@pytest.mark.django_db
def test_metrics_networks_are_the_operators_to_name(client: Client, settings: Any) -> None:
    settings.DARKROOM_METRICS_NETWORKS = ["203.0.113.0/24"]
    settings.DARKROOM_METRICS_TOKEN = "scrape-token-123"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    token = {"HTTP_AUTHORIZATION": "Bearer scrape-token-123"}
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.1", **token).status_code == 200


# --- 12. secrets refused at start ----------------------------------------------------------


@pytest.mark.parametrize("key", ["change-me", "generate-one", "short-key-123", "a" * 60])
def test_a_placeholder_or_short_secret_key_is_refused_at_start(key: str) -> None:
    result = _run(["manage.py", "check"], {"SECRET_KEY": key, "DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is " in result.stderr
    assert "token_urlsafe" in result.stderr


# --- 12. the app's database role ---------------------------------------------------------


@pytest.fixture
def app_role() -> Iterator[str]:
    """A role of this run's own (roles are cluster-wide on a shared server), dropped after."""
    import uuid

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("database roles are PostgreSQL's")
    role = f"darkroom_app_{uuid.uuid4().hex[:8]}"
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


def _as(role: str, sql: str) -> str:
    """Run `sql` connected as `role` (trust auth on the test server); the error, or ""."""
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, dbname=s["NAME"], user=role
    ) as conn:
        try:
            conn.execute(sql)
        except psycopg.Error as exc:
            return str(exc)
    return ""


@pytest.mark.django_db(transaction=True)
def test_the_app_role_writes_rows_but_cannot_touch_the_audit_logs_history(
    app_role: str, user: Any
) -> None:
    from django.core.management import call_command

    from accounts.audit import audit_person

    audit_person(actor=None, user=user, action="created", detail={})
    env = {"DARKROOM_APP_DB_PASSWORD": "a-long-app-password"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        call_command("db_app_role", "--role", app_role)
    assert _as(app_role, "SELECT count(*) FROM accounts_auditentry") == ""
    update = f"UPDATE accounts_user SET first_name = 'x' WHERE id = {user.pk}"  # noqa: S608
    assert _as(app_role, update) == ""
    for sql in (
        "TRUNCATE accounts_auditentry",
        "DELETE FROM accounts_auditentry",
        "ALTER TABLE accounts_auditentry DISABLE TRIGGER ALL",
        "DROP TRIGGER accounts_auditentry_append_only ON accounts_auditentry",
        "CREATE TABLE darkroom_scratch (id int)",
    ):
        assert _as(app_role, sql), f"the app role may: {sql}"


@pytest.mark.django_db(transaction=True)
def test_the_audit_trigger_refuses_truncate_even_to_a_role_granted_it(
    app_role: str, user: Any
) -> None:
    from django.db import connection

    from accounts.audit import audit_person
    from accounts.models import AuditEntry

    audit_person(actor=None, user=user, action="created", detail={})
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{app_role}" LOGIN')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{app_role}"')
        cursor.execute(f'GRANT TRUNCATE ON accounts_auditentry TO "{app_role}"')
    assert "append-only" in _as(app_role, "TRUNCATE accounts_auditentry")
    assert AuditEntry.objects.exists()
