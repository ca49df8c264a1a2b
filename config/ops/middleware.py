"""First in MIDDLEWARE: probes and scrapes, then the request context and its timing.

`/healthz`, `/readyz` and `/metrics` are answered here, before anything reads the
Host header: a load balancer or Prometheus reaches a container by its address, not
by a name in ALLOWED_HOSTS, and over plain HTTP inside the network (no HTTPS
redirect). These answers build no URL from the Host, so skipping the check is safe.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from common.addresses import address_in
from common.ops import context, metrics, shutdown
from config.ops import exposition, health

Handler = Callable[[HttpRequest], Any]


def healthz(request: HttpRequest) -> HttpResponse:  # noqa: ARG001
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:  # noqa: ARG001
    failed = health.failed_parts()
    if shutdown.draining():  # stopping: the balancer should send new requests elsewhere
        failed.append("process")
    failed.sort()
    body = {"status": "unavailable" if failed else "ok", "failed": failed}
    return JsonResponse(body, status=503 if failed else 200)


def _may_scrape(request: HttpRequest) -> bool:
    """The metrics token, or an address in DARKROOM_METRICS_NETWORKS."""
    token = settings.DARKROOM_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    return address_in(request.META.get("REMOTE_ADDR", ""), settings.DARKROOM_METRICS_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        response = HttpResponse("metrics need Authorization: Bearer <token>\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(exposition.exposition(), content_type=CONTENT_TYPE_LATEST)


PROBES: dict[str, Handler] = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}


def _probe(request: HttpRequest) -> Handler | None:
    if request.method not in ("GET", "HEAD"):
        return None
    return PROBES.get(request.path_info.rstrip("/") or "/")


def _closing(probe: Handler, request: HttpRequest) -> HttpResponse:
    try:
        return probe(request)
    finally:
        close_old_connections()
        connection.close()


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match else "") or "unresolved"


def _finish(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    response["x-request-id"] = response.get("x-request-id") or context.get("request_id")
    metrics.HTTP_SECONDS.labels(
        view=_view_name(request),
        method=request.method or "",
        status=f"{response.status_code // 100}xx",
    ).observe(time.perf_counter() - started)


class OpsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        probe = _probe(request)
        if probe is not None:
            return probe(request)
        started = time.perf_counter()
        context.clear()
        context.bind(request_id=context.accepted_request_id(request.headers.get("x-request-id")))
        response = self.get_response(request)
        _finish(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        probe = _probe(request)
        if probe is not None:
            # readyz and metrics do blocking I/O: off the event loop, in a pool thread
            # whose database connection is closed after, as Django would for a request.
            return await sync_to_async(_closing, thread_sensitive=False)(probe, request)
        started = time.perf_counter()
        context.clear()
        context.bind(request_id=context.accepted_request_id(request.headers.get("x-request-id")))
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        response = await get_response(request)
        _finish(request, response, started)
        return response
