"""The image page's "Manifest (JSON)" link: the credentials read back from the served file."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from accounts.models import User
from common.images import MIME
from generations.portal import services as portal_services
from generations.provenance.reading import ManifestMissing, read_manifest


@login_required
@require_GET
def image_credentials(request: HttpRequest, pk: Any) -> JsonResponse:
    user = cast(User, request.user)
    image = portal_services.image_open(user=user, image_id=pk, how="credentials")
    with image.file.open("rb") as fh:
        data = fh.read()
    try:
        manifest = read_manifest(data, MIME[image.format])
    except ManifestMissing:
        return JsonResponse({"error": "This image carries no content credentials."}, status=404)
    return JsonResponse(manifest, json_dumps_params={"indent": 2})
