"""The lockout check (django-axes) for sign-ins that come through a web request."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LockoutBackend(AxesStandaloneBackend):
    """Refuse a locked-out account or address; pass sign-ins without a request.

    Password guessing arrives over HTTP. Code that checks a password without a
    request (a script, Django's test client) has no address to count and is not
    what lockouts defend against; axes would raise there instead of answering.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
