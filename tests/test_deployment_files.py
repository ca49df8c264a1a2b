"""compose.yaml, the Dockerfile and the lock files, checked by reading (no Docker engine here)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat", "migrate")
SERVERS = ("db", "redis", "minio")
# The first-party packages (pyproject.toml's packages.find), each imported in the no-boto test.
APP_PACKAGES = {
    name.rstrip("*")
    for name in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_compose_runs_every_process_from_the_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    assert "uvicorn config.asgi:application" in _command(services["web"])
    assert "worker" in _command(services["worker"])
    assert "--pool=threads" in _command(services["worker"])
    assert "beat" in _command(services["beat"])
    assert "--beat" not in _command(services["worker"])
    assert "manage.py migrate" in _command(services["migrate"])


def test_exactly_one_beat(compose: dict[str, Any]) -> None:
    services = compose["services"]
    beats = [name for name, s in services.items() if " beat" in f" {_command(s)}"]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert services["beat"]["environment"]["DARKROOM_BEAT_LOCK"] == "true"
    assert services["beat"]["restart"] == "unless-stopped"  # RedBeat exits when Redis goes


def test_web_and_worker_wait_for_the_one_shot_migration_and_bucket(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["createbucket"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    bucket = services["createbucket"]
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb" in " ".join(bucket["entrypoint"])


def test_web_and_every_server_have_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("web", "worker", *SERVERS):
        check = services[name]["healthcheck"]
        assert check.get("disable") is not True and check["test"], name  # noqa: PT018
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, path in (("db", "/var/lib/postgresql/data"), ("redis", "/data"), ("minio", "/data")):
        (mount,) = services[name]["volumes"]
        volume, _, target = mount.partition(":")
        assert target == path and volume in compose["volumes"], name  # noqa: PT018


def test_settings_come_from_dotenv_and_point_at_the_compose_servers(
    compose: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["env_file"] == [{"path": ".env", "required": False}]
        env = service["environment"]
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # no default key, ever
        assert "@db:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert env["STORAGE_BACKEND"] == "s3"
        assert env["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_grace_periods_cover_the_shutdowns(compose: dict[str, Any]) -> None:
    services = compose["services"]
    web = _command(services["web"])
    graceful = int(re.search(r"--timeout-graceful-shutdown=(\d+)", web).group(1))
    assert int(services["web"]["stop_grace_period"].rstrip("s")) > graceful
    # The worker's warm shutdown waits for calls of up to DARKROOM_UPSTREAM_TIMEOUT (180 s).
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) > 180


def test_dockerfile_installs_the_s3_lock_with_hashes_and_checks_health() -> None:
    """The image stores files on S3 (compose: MinIO), so it carries the `s3` extra."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements-s3.lock ./" in dockerfile
    assert "pip install --require-hashes -r requirements-s3.lock" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*?/healthz", dockerfile, re.MULTILINE)


LOCKS = ("requirements.lock", "requirements-s3.lock", "requirements-dev.lock")
S3_CLIENT = {"boto3", "botocore", "s3transfer"}


def _pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^\s;]+)", text, re.MULTILINE | re.I))


def test_the_locks_pin_everything_with_hashes() -> None:
    for name in LOCKS:
        text = (ROOT / name).read_text()
        pins = re.findall(r"^([a-z0-9][a-z0-9._-]*)==", text, re.MULTILINE | re.IGNORECASE)
        assert pins and "django" in pins, name  # noqa: PT018
        blocks = re.split(r"^(?=[a-z0-9])", text, flags=re.MULTILINE | re.IGNORECASE)
        assert all("--hash=sha256:" in b for b in blocks if "==" in b), name
    runtime = (ROOT / "requirements.lock").read_text()
    assert "\npytest==" not in runtime
    assert "\nplaywright==" not in runtime


def test_s3_is_an_extra_that_only_the_s3_and_dev_locks_carry() -> None:
    """Command 1 on local files installs no boto3 (~40 MB); the S3 and test locks do, and
    every lock pins each package they share to the same version (scripts/lock)."""
    runtime, s3, dev = (_pins(name) for name in LOCKS)
    assert S3_CLIENT & set(runtime) == set()
    assert set(s3) >= S3_CLIENT
    assert set(dev) >= S3_CLIENT
    assert set(runtime) < set(s3) <= set(dev)
    assert {n: v for n, v in dev.items() if n in s3} == s3
    assert {n: v for n, v in s3.items() if n in runtime} == runtime
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "django-storages>=1.14" in project["dependencies"]
    assert not any("boto" in d or "[s3]" in d for d in project["dependencies"])
    assert project["optional-dependencies"]["s3"] == ["django-storages[s3]>=1.14"]
    lock_script = (ROOT / "scripts" / "lock").read_text()
    assert "--extra s3 " in lock_script
    assert "-o requirements-s3.lock" in lock_script


def _bootstrap(tmp_path: Path, dotenv: str | None, **env: str) -> str:
    """scripts/bootstrap.sh run for real in a copy of the project whose .venv's python only
    writes down what it was asked to install."""
    for name in (*LOCKS, "pyproject.toml"):
        (tmp_path / name).write_text("")
    (tmp_path / "scripts").mkdir(exist_ok=True)
    (tmp_path / "scripts" / "bootstrap.sh").write_text(
        (ROOT / "scripts" / "bootstrap.sh").read_text()
    )
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/../../pip.log"\n')
    python.chmod(0o755)
    for stamp in python.parent.parent.glob(".darkroom-installed-*"):
        stamp.unlink()
    (tmp_path / "pip.log").write_text("")
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    done = subprocess.run(
        ["bash", "-c", "source scripts/bootstrap.sh"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (installed,) = re.findall(r"--require-hashes -r (\S+)", (tmp_path / "pip.log").read_text())
    return installed


def test_command_one_installs_s3_only_when_the_settings_store_files_on_s3(
    tmp_path: Path,
) -> None:
    runtime = {"DARKROOM_INSTALL": "runtime"}
    assert _bootstrap(tmp_path, None, **runtime) == "requirements.lock"
    assert _bootstrap(tmp_path, "DEBUG=true\nSTORAGE_BACKEND=local\n", **runtime) == (
        "requirements.lock"
    )
    assert _bootstrap(tmp_path, "# STORAGE_BACKEND=s3\n", **runtime) == "requirements.lock"
    assert _bootstrap(tmp_path, "STORAGE_BACKEND=s3\n", **runtime) == "requirements-s3.lock"
    assert _bootstrap(tmp_path, 'STORAGE_BACKEND="s3"\n', **runtime) == "requirements-s3.lock"
    # The environment wins over .env, as in the settings.
    assert _bootstrap(tmp_path, None, STORAGE_BACKEND="s3", **runtime) == "requirements-s3.lock"
    assert _bootstrap(tmp_path, "STORAGE_BACKEND=s3\n", STORAGE_BACKEND="local", **runtime) == (
        "requirements.lock"
    )
    assert _bootstrap(tmp_path, None, DARKROOM_INSTALL="dev") == "requirements-dev.lock"


_WITHOUT_BOTO = "import sys\nfor m in ('boto3', 'botocore', 's3transfer'): sys.modules[m] = None\n"


def _python_without_boto(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_BOTO + script],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "SECRET_KEY": "tests-only-insecure-key-subprocess",
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_darkroom_runs_on_local_files_without_boto(tmp_path: Path) -> None:
    """Every first-party module imports, and the system checks pass, with no boto3 (but the
    S3 storage class, which the settings name only under STORAGE_BACKEND=s3)."""
    script = (
        "import django, pkgutil, importlib\n"
        "django.setup()\n"
        f"for name in {sorted(APP_PACKAGES)!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        if info.name != 'common.storage':\n"
        "            importlib.import_module(info.name)\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
        "print('imported without boto')\n"
    )
    done = _python_without_boto(script, tmp_path, STORAGE_BACKEND="local")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported without boto" in done.stdout


def test_s3_storage_without_boto_stops_at_start_with_the_command_to_fix_it(
    tmp_path: Path,
) -> None:
    done = _python_without_boto(
        "import django\ndjango.setup()\n",
        tmp_path,
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME="darkroom",
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: STORAGE_BACKEND=s3 needs boto3" in done.stderr
    assert "pip install --require-hashes -r requirements-s3.lock" in done.stderr


def test_dev_installs_the_runtime_only_and_test_installs_the_tools() -> None:
    dev = (ROOT / "scripts" / "dev").read_text()
    test = (ROOT / "scripts" / "test").read_text()
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "DARKROOM_INSTALL=runtime source scripts/bootstrap.sh" in dev
    assert "DARKROOM_INSTALL=dev source scripts/bootstrap.sh" in test
    assert "--quiet" not in bootstrap
    assert "--require-hashes" in bootstrap
    assert "requirements-s3.lock" in bootstrap


def test_dependency_floors_and_stubs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    for floor in ("django>=5.2.19,<6", "djangorestframework>=3.15.2", "pillow>=12.1.1"):
        assert floor in deps
    assert "cryptography>=46.0.5" in deps
    assert "redis>=" in deps
    assert "django-stubs>=5.2,<6" in project["optional-dependencies"]["dev"]


# --- Safe on a public host (issue 19, item 12) ------------------------------------------

_VAR = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(text: str, dotenv: dict[str, str]) -> str:
    """compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, read from .env; KeyError when a
    required variable is unset, as `docker compose up` refuses to start then."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        value = dotenv.get(name, "")
        if value:
            return value
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


def test_compose_refuses_to_start_without_every_password() -> None:
    text = (ROOT / "compose.yaml").read_text()
    passwords = {
        "SECRET_KEY": "k" + secrets_token(),
        "POSTGRES_PASSWORD": secrets_token(),
        "DARKROOM_APP_DB_PASSWORD": secrets_token(),
        "MINIO_ROOT_USER": "darkroom-minio",
        "MINIO_ROOT_PASSWORD": secrets_token(),
    }
    interpolate(text, passwords)  # all given: it starts
    for name in passwords:
        with pytest.raises(KeyError, match=name):
            interpolate(text, {k: v for k, v in passwords.items() if k != name})
    # No password or key anywhere has a default to fall back on.
    for name, kind, default in _VAR.findall(text):
        if re.search(r"PASSWORD|SECRET|_KEY|MINIO_ROOT_USER", name):
            assert kind == "?", f"{name} has a default: {default!r}"


def test_the_object_store_is_published_on_loopback_only(compose: dict[str, Any]) -> None:
    minio = compose["services"]["minio"]
    published = [interpolate(p, {}) for p in minio["ports"]]
    assert published == ["127.0.0.1:9000:9000"]  # the S3 API browsers fetch; no console
    for name, service in compose["services"].items():
        if name not in ("web", "minio"):
            assert "ports" not in service, name


def test_the_app_connects_as_its_own_role_and_migrations_as_the_owner(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://darkroom_app:")
    migrate = services["migrate"]
    assert migrate["environment"]["DATABASE_URL"].startswith("postgres://darkroom:")
    assert "manage.py db_app_role" in _command(migrate)
    assert services["db"]["environment"]["POSTGRES_USER"] == "darkroom"


def secrets_token() -> str:
    import secrets

    return secrets.token_urlsafe(40)


def test_check_deploy_is_clean_under_the_compose_settings(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The environment compose hands web, with the README's production .env beside it."""
    from tests.test_ops_security import _run, readme_production_env

    dotenv = readme_production_env()
    dotenv.update(
        SECRET_KEY=secrets_token(),
        POSTGRES_PASSWORD=secrets_token(),
        DARKROOM_APP_DB_PASSWORD=secrets_token(),
        MINIO_ROOT_USER="darkroom-minio",
        MINIO_ROOT_PASSWORD=secrets_token(),
    )
    web = yaml.safe_load(interpolate((ROOT / "compose.yaml").read_text(), dotenv))["services"][
        "web"
    ]
    env = {**dotenv, **{k: str(v) for k, v in web["environment"].items()}}  # compose's win
    env["MEDIA_ROOT"] = str(tmp_path)
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
