"""Sign an original: a C2PA manifest saying Darkroom made it with a trained model."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import threading
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

import c2pa
from django.utils import timezone

from common.images import ImageInfo
from generations.provenance.keys import signing_material
from generations.references import read_references

if TYPE_CHECKING:
    from generations.models import Generation

log = logging.getLogger(__name__)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SIGNED, FAILED = "signed", "failed"
# Thumbnails inside the manifest would add ~60 KB to every image for nothing we show.
_CONTEXT_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What to record on the Image row: whether its file carries a manifest, and whose."""

    status: str  # SIGNED | FAILED
    signer: str = ""

    def fields(self) -> dict[str, str]:
        return {"credentials": self.status, "credentials_signer": self.signer}


def sign_original(
    generation: Generation, data: bytes, info: ImageInfo
) -> tuple[bytes, ImageInfo, Credentials]:
    """The signed bytes and their info; the unsigned ones (and FAILED) if signing fails."""
    try:
        material = signing_material()
        signed = _sign(
            generation, data, info, material.chain_pem, material.key_pem, material.algorithm
        )
    except Exception:
        # Never lose an image over its credentials; FAILED on the row makes it visible.
        _per_thread.held = None  # the next image starts from a fresh Signer and Context
        log.exception("C2PA signing failed for generation %s", generation.pk)
        return data, info, Credentials(FAILED)
    signed_info = dataclasses.replace(
        info, bytes=len(signed), sha256=hashlib.sha256(signed).hexdigest()
    )
    return signed, signed_info, Credentials(SIGNED, material.signer_name)


def _sign(
    generation: Generation,
    data: bytes,
    info: ImageInfo,
    chain_pem: bytes,
    key_pem: bytes,
    algorithm: str,
) -> bytes:
    signer, context = _thread_signer(chain_pem, key_pem, algorithm)
    with c2pa.Builder(manifest_for(generation, info), context) as builder:
        if _carries_manifest(data, info.mime):
            # The upstream signed its result (OpenAI, Google do): keep its manifest as
            # the parent ingredient; signing over it alone would strip the credential,
            # which reads as tampering.
            builder.add_ingredient(
                {"title": f"upstream result ({_channel(generation)})", "relationship": "parentOf"},
                info.mime,
                io.BytesIO(data),
            )
        for title, mime, content in _references(generation):
            builder.add_ingredient(
                {"title": title, "relationship": "inputTo"}, mime, io.BytesIO(content)
            )
        out = io.BytesIO()
        builder.sign(signer, info.mime, io.BytesIO(data), out)
    return out.getvalue()


# One Signer and Context per worker thread, built again when the key material changes:
# building them per image cost ~1 ms. A Builder only borrows both (c2pa-python 0.38).
_per_thread = threading.local()


def _thread_signer(chain_pem: bytes, key_pem: bytes, algorithm: str) -> tuple[Any, Any]:
    material = (algorithm, chain_pem, key_pem)
    held = getattr(_per_thread, "held", None)
    if held is None or held[0] != material:
        if held is not None:
            held[1].close()
            held[2].close()
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(algorithm, chain_pem, key_pem, None))
        held = (material, signer, c2pa.Context.from_dict(_CONTEXT_SETTINGS))
        _per_thread.held = held
    return held[1], held[2]


def _carries_manifest(data: bytes, mime: str) -> bool:
    if mime == "image/png" and b"caBX" not in data:
        # A PNG's manifest lives in a caBX chunk: without one there is nothing to read.
        return False
    try:
        with c2pa.Reader(mime, io.BytesIO(data)):
            return True
    except c2pa.C2paError:
        return False


def manifest_for(generation: Generation, info: ImageInfo) -> dict[str, Any]:
    agent = {
        "name": "Darkroom",
        "version": _version(),
        "model": generation.model,
        "channel": _channel(generation),
    }
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "when": timezone.now().isoformat(),
        "parameters": {"model": generation.model, "channel": agent["channel"]},
    }
    return {
        "claim_generator_info": [{"name": "Darkroom", "version": _version()}],
        "title": f"{generation.pk}.{info.ext}",
        "format": info.mime,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [created]}}],
    }


def _channel(generation: Generation) -> str:
    # A synchronous upstream succeeds before generation.channel is saved; its
    # successful attempt (recorded first) names the channel.
    for attempt in reversed(generation.attempts or []):
        if attempt.get("ok"):
            return str(attempt.get("channel", ""))
    return generation.channel


def _references(generation: Generation) -> list[tuple[str, str, bytes]]:
    # all() uses references the caller prefetched.
    return [
        (f"{ref.param} {ref.position + 1}", ref.mime, ref.data)
        for ref in read_references(generation.references.all())
    ]


@cache
def _version() -> str:  # read from the installed metadata: ~0.1 ms, twice per image
    try:
        return metadata.version("darkroom")
    except metadata.PackageNotFoundError:
        return "dev"
