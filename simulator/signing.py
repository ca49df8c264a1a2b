"""Content credentials on simulated results, as OpenAI and Google sign theirs.

With `sign_results` configured (`POST /_sim/config` with `{"sign_results":
{"chain_pem": ..., "key_pem": ..., "alg": "es256"}}`, or `SimulatorServer.configure`),
every PNG the simulator publishes carries a C2PA manifest saying a trained model
made it, signed by that certificate chain; null turns it off.
"""

from __future__ import annotations

import io
import json
from typing import Any

import c2pa

from simulator.files import Content

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SIGNER_FIELDS = {"chain_pem", "key_pem", "alg"}


def check_signer(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != SIGNER_FIELDS:
        raise ValueError("sign_results takes null or {chain_pem, key_pem, alg}")
    return {k: str(v) for k, v in value.items()}


def signed(data: Content, signer: dict[str, str]) -> Content:
    """`data` signed, or, for a result drawn on its first download, signed when drawn."""
    if callable(data):
        return lambda: sign_png(data(), signer)
    return sign_png(data, signer)


def sign_png(data: bytes, signer: dict[str, str]) -> bytes:
    manifest = {
        "claim_generator_info": [{"name": "Simulated Upstream", "version": "1"}],
        "title": "result.png",
        "format": "image/png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED,
                            "softwareAgent": {"name": "Simulated Upstream"},
                        }
                    ]
                },
            }
        ],
    }
    info = c2pa.C2paSignerInfo(
        signer["alg"], signer["chain_pem"].encode(), signer["key_pem"].encode(), None
    )
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    with (
        c2pa.Signer.from_info(info) as sign,
        context,
        c2pa.Builder(json.dumps(manifest), context) as builder,
    ):
        out = io.BytesIO()
        builder.sign(sign, "image/png", io.BytesIO(data), out)
    return out.getvalue()
