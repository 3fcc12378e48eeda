"""HTTPS for the preview: phones only open the camera on a secure origin.

`--tls` makes a self-signed certificate (ECDSA P-256) with `cryptography`, naming every address
of this machine, so the phone shows one warning and then treats the page as secure. The
certificate and key are kept in the user cache dir (key readable by its owner only) and reused
while they still name the same addresses and have more than a day left, so a phone that accepted
the certificate once is not asked again on every start. `--cert/--key` serve the user's own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import UserError

VALID_DAYS = 30
RENEW_BEFORE = dt.timedelta(days=1)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    self_signed: bool
    fingerprint_sha256: str          # colon-separated hex, as browsers show it
    names: tuple[str, ...] = ()      # the DNS names and addresses the certificate covers


def self_signed(directory: Path, names: list[str]) -> TlsFiles:
    """A self-signed certificate for `names` (host names and IP addresses) in `directory`:
    reused when the one there covers the same names and is not about to expire."""
    names = sorted(dict.fromkeys(n.strip("[]") for n in names if n))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path, meta_path = (directory / "preview-cert.pem", directory / "preview-key.pem",
                                      directory / "preview-cert.json")
    existing = _reusable(cert_path, key_path, meta_path, names)
    if existing is not None:
        return existing
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgebench preview"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgebench (self-signed)")])
    alt_names = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(meta_path, json.dumps({"names": names}).encode())
    return TlsFiles(cert_path, key_path, True, fingerprint(cert), tuple(names))


def own(cert: Path, key: Path) -> TlsFiles:
    """The user's certificate and key, checked now (a wrong pair is one line, not a traceback
    from inside the server)."""
    import ssl

    for what, path in (("certificate", cert), ("key", key)):
        if not Path(path).is_file():
            raise UserError(f"TLS {what} file not found: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UserError(f"cannot use {cert} with {key}: {getattr(exc, 'reason', None) or exc}") from None
    from cryptography import x509

    try:
        loaded = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    except ValueError:
        return TlsFiles(Path(cert), Path(key), False, "", ())
    return TlsFiles(Path(cert), Path(key), _is_self_signed(loaded), fingerprint(loaded), _names(loaded))


def fingerprint(cert) -> str:
    from cryptography.hazmat.primitives import hashes

    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _reusable(cert_path: Path, key_path: Path, meta_path: Path, names: list[str]) -> TlsFiles | None:
    from cryptography import x509

    try:
        if json.loads(meta_path.read_text()).get("names") != names or not key_path.is_file():
            return None
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return None
    return TlsFiles(cert_path, key_path, True, fingerprint(cert), tuple(names))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _is_self_signed(cert) -> bool:
    return cert.issuer == cert.subject


def _names(cert) -> tuple[str, ...]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(n.value) for n in san)
