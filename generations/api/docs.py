from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse


def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})


def docs_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")
