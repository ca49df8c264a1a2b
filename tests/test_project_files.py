"""The Dockerfile cannot be built here (no Docker engine): check it by reading."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Every top-level Python package but the tests: what the image and the wheel must carry.
PACKAGES = sorted(
    p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"}
)


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_the_image_runs_as_a_non_root_user() -> None:
    users = _instructions("USER")
    assert users
    assert users[-1].strip() not in {"root", "0"}


def test_the_image_copies_every_package_and_the_templates() -> None:
    copied = {c.split()[0] for c in _instructions("COPY")}
    assert {"boards", "presets", "accounts"} <= set(PACKAGES)
    for name in [*PACKAGES, "templates", "static", "locale", "manage.py", "pyproject.toml"]:
        assert name in copied, name
    for name in [*PACKAGES, "templates"]:
        assert (ROOT / name).is_dir()


def test_the_default_command_is_the_asgi_web_server() -> None:
    assert "config.asgi:application" in _instructions("CMD")[-1]


def test_pyproject_packages_cover_every_python_package() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = data["tool"]["setuptools"]["packages"]["find"]["include"]
    for name in PACKAGES:
        assert f"{name}*" in include


def test_the_env_example_lists_every_variable_settings_read() -> None:
    settings_text = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_text))
    # Listed as a setting or, for optional features, as a commented-out example.
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^(?:# )?([A-Z_]+)=", example, re.MULTILINE))
    assert read - listed == set()


def test_the_readme_and_env_example_name_every_variable_the_runners_read() -> None:
    """Command 1 (scripts/dev) and the Procfile read their ports from the environment."""
    runners = (ROOT / "Procfile").read_text() + (ROOT / "scripts" / "dev").read_text()
    read = set(re.findall(r"\$\{([A-Z_]+):-", runners))
    assert {"DARKROOM_WEB_PORT", "DARKROOM_SIMULATOR_PORT"} <= read
    readme = (ROOT / "README.md").read_text()
    example = set(re.findall(r"^(?:# )?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert [name for name in sorted(read) if name not in readme] == []
    assert read - example == set()


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    test_cmd = next(line.split("#")[0].strip() for line in readme_lines if "scripts/test" in line)
    assert test_cmd in (ROOT / ".ci" / "run").read_text().splitlines()
