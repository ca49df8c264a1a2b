"""The instance's signing certificate chain and key.

From DARKROOM_C2PA_CERT / DARKROOM_C2PA_KEY (PEM text or a path to a PEM file) when
set; otherwise a local chain (a CA and a signing certificate it issued) made once
under DARKROOM_C2PA_DIR. C2PA validators refuse a self-signed end-entity
certificate, so the local chain has two links. Nobody trusts the local CA but this
instance: such a signature proves integrity, not identity.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer-key.pem"
CA_FILE = "local-ca.pem"
_VALIDITY = datetime.timedelta(days=10 * 365)


@dataclass(frozen=True)
class SigningMaterial:
    chain_pem: bytes  # signing certificate first, then its issuers
    key_pem: bytes
    algorithm: str  # c2pa's name: es256, es384, ps256, ed25519
    signer_name: str  # the signing certificate's organisation or common name
    local: bool  # made by this instance, not publicly trusted


@lru_cache(maxsize=1)
def signing_material() -> SigningMaterial:
    cert, key = settings.DARKROOM_C2PA_CERT, settings.DARKROOM_C2PA_KEY
    if cert and key:
        return _material(_pem(cert), _pem(key), local=False)
    folder = Path(settings.DARKROOM_C2PA_DIR)
    if not (folder / KEY_FILE).exists():
        _make_local_chain(folder)
    return _material(
        (folder / CHAIN_FILE).read_bytes(), (folder / KEY_FILE).read_bytes(), local=True
    )


def _pem(value: str) -> bytes:
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    return Path(value).read_bytes()


def _material(chain_pem: bytes, key_pem: bytes, *, local: bool) -> SigningMaterial:
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    key = serialization.load_pem_private_key(key_pem, password=None)
    return SigningMaterial(
        chain_pem=chain_pem,
        key_pem=key_pem,
        algorithm=_algorithm(key),
        signer_name=_display_name(leaf.subject),
        local=local,
    )


def _algorithm(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ValueError(f"unsupported C2PA signing key type: {type(key).__name__}")


def _display_name(subject: x509.Name) -> str:
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        found = subject.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return subject.rfc4514_string()


def _make_local_chain(folder: Path) -> None:
    """Write the chain into a fresh folder, then move it into place in one rename.

    Workers and web processes may start together; whoever renames first wins and
    the others use its files, so the key and the chain always match.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".c2pa-", dir=folder.parent))
    try:
        ca_pem, chain_pem, key_pem = _new_chain(settings.DARKROOM_C2PA_LOCAL_NAME)
        (staging / CA_FILE).write_bytes(ca_pem)
        (staging / CHAIN_FILE).write_bytes(chain_pem)
        (staging / KEY_FILE).write_bytes(key_pem)
        os.chmod(staging / KEY_FILE, 0o600)
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / KEY_FILE).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _new_chain(organisation: str) -> tuple[bytes, bytes, bytes]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organisation} local C2PA CA", organisation)
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _builder(
            _name(f"{organisation} content signer", organisation), ca_name, key.public_key(), now
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        # C2PA refuses anyExtendedKeyUsage; e-mail protection is on its accepted list.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca_pem = ca.public_bytes(pem)
    return ca_pem, leaf.public_bytes(pem) + ca_pem, key_pem


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
