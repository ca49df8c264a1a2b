"""Content credentials (C2PA): every original Darkroom stores is signed by the instance.

`sign_original` is the one seam, called where originals are stored
(generations.results). It never refuses an image: when signing fails the unsigned
bytes are kept and served, the failure is logged and recorded on the image row.
"""

from __future__ import annotations

from generations.provenance.reading import ManifestMissing, read_manifest
from generations.provenance.signing import Credentials, sign_original

__all__ = ["Credentials", "ManifestMissing", "read_manifest", "sign_original"]
