"""Who may talk to the fleet: the loopback rule, scheduler addresses, and TLS certificates.

A Dask scheduler runs whatever code a connected client sends it, and so does every worker. So:
nothing listens on, or connects to, an address other than loopback without TLS; and with TLS,
both sides of every connection show a certificate signed by the fleet's own CA (Dask's
`Security` requires the peer's certificate: mutual authentication). `make_certs` writes such a
CA and one certificate per role; anyone holding any of those keys can run code on the fleet.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgebench.errors import UserError
from edgebench.fleet.names import DEFAULT_PORT

ROLES = ("scheduler", "worker", "client")
CA_FILE, CA_KEY_FILE = "ca.pem", "ca-key.pem"
MAX_CERT_DAYS = 3650


def cert_files(role: str) -> tuple[str, str]:
    """File names of a role's certificate and key in a certificates directory."""
    return f"{role}.pem", f"{role}-key.pem"


@dataclass(frozen=True)
class Address:
    scheme: str   # tcp | tls
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """True when every address the host name resolves to is a loopback address."""
    if not host:
        return False  # "" and "0.0.0.0" mean every interface
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback
                               for info in infos)


def parse_address(text: str, tls: bool) -> Address:
    """A scheduler address from `--scheduler`: tcp://HOST:PORT, tls://HOST:PORT, or HOST[:PORT]
    (tls:// when certificates are given). A tcp:// address must be loopback, and tls:// needs
    certificates: the fleet never talks to another machine unencrypted and unauthenticated."""
    raw = text.strip()
    if not raw:
        raise UserError("no scheduler address given (e.g. tcp://127.0.0.1:8786)")
    if "://" not in raw:
        raw = f"{'tls' if tls else 'tcp'}://{raw}"
    try:
        parts = urlsplit(raw)
        port = parts.port if parts.port is not None else DEFAULT_PORT
    except ValueError as exc:
        raise UserError(f"invalid scheduler address {text!r}: {exc}") from None
    if port == 0:   # no scheduler listens on "any free port"
        raise UserError(f"invalid scheduler address {text!r}: port 0")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.path not in ("", "/"):
        raise UserError(f"invalid scheduler address {text!r}: expected tcp://HOST:PORT or tls://HOST:PORT")
    address = Address(parts.scheme, parts.hostname, port)
    if address.scheme == "tls" and not tls:
        raise UserError(f"{address} uses TLS: give the certificates directory (made by `edgebench fleet "
                        "certs`)", "tls")
    if address.scheme == "tcp" and tls:
        raise UserError(f"certificates were given but the scheduler address is {address}: use tls://", "tls")
    if address.scheme == "tcp" and not is_loopback(address.host):
        check_resolves(address)   # a typo is named as one, not as a security refusal
        raise UserError(f"refusing {address} without TLS: a Dask scheduler runs any code a client "
                        "sends it, so any address other than loopback needs --tls DIR and tls://")
    return address


def check_resolves(address: Address) -> None:
    """One line for a scheduler host name that does not resolve, before Dask would try it again
    and again for its whole timeout."""
    try:
        socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise UserError(f"cannot resolve the scheduler's host name {address.host!r} ({why}): check "
                        "--scheduler") from None


def check_listen_host(host: str, tls: bool, what: str) -> None:
    """Listening beyond loopback needs TLS (with mutual authentication)."""
    if not tls and not is_loopback(host):
        shown = host or "every interface"
        raise UserError(f"refusing to listen on {shown} without TLS: the {what} would run code "
                        "from anyone who can reach it. Give --tls DIR (see `edgebench fleet certs`) "
                        "or keep the default 127.0.0.1")


def tls_paths(directory: Path, role: str) -> tuple[Path, Path, Path]:
    """(CA certificate, the role's certificate, its key) in a certificates directory."""
    directory = Path(directory).expanduser()
    cert, key = cert_files(role)
    paths = (directory / CA_FILE, directory / cert, directory / key)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"{directory}: missing {', '.join(missing)} for the {role} "
                        "(make them with `edgebench fleet certs DIR`)")
    return paths


def security_for(directory: Path | None, role: str):
    """Dask's Security for a role: None without a directory (plain tcp on loopback), else TLS
    that requires encryption and a CA-signed certificate from the other side."""
    if directory is None:
        return None
    from distributed.security import Security

    ca, cert, key = tls_paths(directory, role)
    return Security(require_encryption=True, tls_ca_file=str(ca),
                    **{f"tls_{role}_cert": str(cert), f"tls_{role}_key": str(key)})


# -- certificates -------------------------------------------------------------------------------

def make_certs(directory: Path, hosts: list[str], days: int = 365, force: bool = False) -> list[Path]:
    """A fleet CA and a certificate + key for each role (scheduler, worker, client), EC P-256,
    valid `days`. Keys are written 0600. hosts: extra names/IPs for the certificates' subject
    alternative names (Dask checks the CA signature, not host names, but other TLS tools do)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not isinstance(days, int) or not 1 <= days <= MAX_CERT_DAYS:
        raise UserError(f"certificate days must be from 1 to {MAX_CERT_DAYS}, got {days!r}", "days")
    directory = Path(directory).expanduser()
    names = [CA_FILE, CA_KEY_FILE] + [f for role in ROLES for f in cert_files(role)]
    existing = [n for n in names if (directory / n).exists()]
    if existing and not force:
        raise UserError(f"{directory} already has {', '.join(existing)}: refusing to overwrite "
                        "(--force replaces them; every device then needs the new files)")
    sans = _subject_alt_names(hosts)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {directory}: {exc.strerror}") from None

    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgebench fleet"),
                         x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"edgebench fleet CA {os.urandom(4).hex()}")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True, crl_sign=True,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(ca_ski, critical=False)
               .sign(ca_key, hashes.SHA256()))
    written = [_write(directory / CA_FILE, ca_cert.public_bytes(serialization.Encoding.PEM), secret=False),
               _write(directory / CA_KEY_FILE, _key_pem(ca_key), secret=True)]
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgebench fleet"),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"edgebench fleet {role}")])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=True, key_cert_sign=False, crl_sign=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                # Every role both listens and connects (the scheduler dials workers, too).
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_name, key_name = cert_files(role)
        written.append(_write(directory / cert_name, cert.public_bytes(serialization.Encoding.PEM), secret=False))
        written.append(_write(directory / key_name, _key_pem(key), secret=True))
    return written


def _subject_alt_names(hosts: list[str]):
    from cryptography import x509

    sans, seen = [], set()
    for host in ["localhost", "127.0.0.1", "::1", *hosts]:
        host = host.strip()
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not all(part and len(part) <= 63 and part.replace("-", "").replace("_", "").isalnum()
                       for part in host.split(".")) or len(host) > 253:
                raise UserError(f"host {host!r} is neither an IP address nor a DNS name", "host") from None
            sans.append(x509.DNSName(host))
    return sans


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, secret: bool) -> Path:
    """Write via a temporary file; keys are created 0600 from the start, never readable by others."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path
