"""Secrets an operator copied from an example instead of generating: refused at start."""

from __future__ import annotations

# Below this a key is guessable or typed by hand; generated keys are 50+ characters. The
# floor stays under the test suite's key (23 characters) so tests run as production does.
MIN_SECRET_LENGTH = 20
# The example values this project has ever shipped (.env.example, README, Dockerfile) and
# the usual stand-ins.
PLACEHOLDERS = frozenset(
    {
        "change-me",
        "changeme",
        "change-me-please",
        "generate-one",
        "secret",
        "build-only",
        "dev-only-insecure-key",
        "your-secret-key",
        "django-insecure",
    }
)


def secret_key_weakness(key: str) -> str | None:
    """Why this key must not sign anything in production, or None."""
    lowered = key.strip().lower()
    if lowered in PLACEHOLDERS or lowered.startswith(("change-me", "changeme", "django-insecure")):
        return "a placeholder from an example file"
    if len(key) < MIN_SECRET_LENGTH:
        return f"too short ({len(key)} characters; at least {MIN_SECRET_LENGTH})"
    if len(set(key)) < 5:
        return "too repetitive (fewer than 5 distinct characters)"
    return None
