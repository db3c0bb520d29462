"""Lali's private TLS certificate authority for the NATS links (`lali deploy tls`).

Every NATS connection of a Lali network is TLS: nodes to their server, the hub servers
to each other (routes) and country leaf nodes to the hub. Nkeys already say *who*
connects; TLS hides what the protocol carries in clear (subjects, headers, nkey public
keys, the server's INFO) from the path and stops a connection from being read,
hijacked or replayed on it (addresses, timing and volume stay visible). The certificates
come from a small private CA that the hub operator keeps: no public CA is involved and
no system trust store is consulted, so a certificate from anywhere else is refused.

Keys are ECDSA P-256: accepted by nats-server (Go's crypto/tls) and by Python's ssl
(OpenSSL) in every version we support, with small certificates for satellite links.

The builders do no I/O (the time in, PEM bytes out; each key is generated fresh);
``write_tls_dir`` and ``local_server_tls`` write the files, private keys mode 0600.

One directory holds one CA and what it issued:

    ca.pem                 the CA certificates to trust (servers' ``ca_file``, nodes'
                           ``nats_tls_ca``): this CA, then any CA still trusted during a
                           rotation (docs/operations.md, "TLS certificates")
    ca-key.pem             the CA's private key (keep it off the servers)
    server.pem, server-key.pem          the servers' certificate (clients, routes,
                                        leafnodes; SANs: the servers' names + loopback)
    client-<CODE>.pem, client-<CODE>-key.pem   a member's certificate: its leaf node's
                                        link to the hub (client), the leaf's loopback
                                        listener (server, 127.0.0.1 and ::1 only), a
                                        node's own mutual TLS where a server asks
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.files import write_atomic
from schemas.errors import ConfigError

# Why these periods: docs/operations.md, "TLS certificates".
CA_VALIDITY = timedelta(days=5 * 365)
SERVER_VALIDITY = timedelta(days=365)
CLIENT_VALIDITY = timedelta(days=365)
# Certificates start a little in the past: a peer whose clock is slightly behind must
# not refuse a certificate issued a minute ago.
BACKDATE = timedelta(minutes=5)
# Every server certificate also names the loopback addresses: nodes, link sidecars and
# operators on the server's own machine connect to 127.0.0.1.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
LOOPBACK_IPS = ("127.0.0.1", "::1")

_CODE = re.compile(r"^[A-Z]{2}$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def not_after(self) -> datetime:
        return x509.load_pem_x509_certificate(self.cert_pem).not_valid_after_utc


@dataclass(frozen=True)
class ServerTls:
    """The files a nats-server needs for TLS, and the CA file its clients trust."""

    ca: Path
    cert: Path
    key: Path


class CertificateAuthority:
    """A private CA: its certificate, its key, and the certificates it issues."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self._key = key

    @classmethod
    def generate(cls, now: datetime, valid_for: timedelta = CA_VALIDITY) -> CertificateAuthority:
        """A fresh CA. Its name carries the date and a random tag, so that the old and
        the new CA of a rotation are told apart in a trust bundle and in logs."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lali"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"Lali NATS CA {now:%Y-%m-%d} {secrets.token_hex(3)}"
                ),
            ]
        )
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def from_pem(cls, certs_pem: bytes, key_pem: bytes) -> CertificateAuthority:
        """The CA whose key this is, found among the certificates of ``certs_pem`` (a
        ``ca.pem`` may also hold a CA still trusted from before a rotation)."""
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
            certs = x509.load_pem_x509_certificates(certs_pem)
        except ValueError as exc:
            raise ConfigError(f"not a PEM CA certificate and key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError("the CA key is not an EC key")
        mine = key.public_key().public_numbers()
        for cert in certs:
            public = cert.public_key()
            if isinstance(public, ec.EllipticCurvePublicKey) and public.public_numbers() == mine:
                try:
                    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
                except x509.ExtensionNotFound:
                    constraints = None
                if constraints is None or not constraints.value.ca:
                    raise ConfigError("the certificate of the CA key is not a CA certificate")
                return cls(cert, key)
        raise ConfigError("no certificate in the CA file belongs to the CA key")

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key)

    @property
    def not_after(self) -> datetime:
        return self.cert.not_valid_after_utc

    def issue_server(
        self, names: Sequence[str], now: datetime, valid_for: timedelta = SERVER_VALIDITY
    ) -> Issued:
        """A certificate for nats-server: its DNS names and IP addresses ``names``
        (the hub servers' names; one certificate may serve all three) plus the loopback
        names. Good for both ends of a link (serverAuth and clientAuth): a hub server
        dials its routes, and a leaf dials the hub, presenting the same certificate."""
        if not names:
            raise ConfigError("a server certificate needs at least one name")
        sans = _subject_alt_names([*names, *(n for n in LOOPBACK_NAMES if n not in names)])
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        return self._issue(names[0], sans, usages, now, valid_for)

    def issue_client(
        self, code: str, now: datetime, valid_for: timedelta = CLIENT_VALIDITY
    ) -> Issued:
        """A certificate for member ``code`` (CN = the code): its leaf node presents it
        on the link to the hub, and serves its loopback listener with it (so it names
        127.0.0.1 and ::1, which reach only the machine the client is on); a node may
        present it where a server asks for client certificates. It names no DNS host,
        so it never passes a hub route's check of known names
        (``verify_cert_and_check_known_urls``) nor a dialled host name."""
        if not _CODE.match(code):
            raise ConfigError(f"not a member code: {code!r}")
        sans = _subject_alt_names(LOOPBACK_IPS)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
        return self._issue(code, sans, usages, now, valid_for)

    def _issue(
        self,
        common_name: str,
        sans: list[x509.GeneralName],
        usages: list[x509.ObjectIdentifier],
        now: datetime,
        valid_for: timedelta,
    ) -> Issued:
        # Never valid for longer than the CA itself.
        not_after = min(now + valid_for, self.not_after)
        if not_after <= now:
            raise ConfigError(f"the CA expired on {self.not_after:%Y-%m-%d}: make a new one")
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lali"),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _subject_alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            if not _DNS_NAME.match(name):
                raise ConfigError(f"not a host name or IP address: {name!r}") from None
            sans.append(x509.DNSName(name))
    return sans


def trust_bundle(ca: CertificateAuthority, others: Iterable[bytes] = ()) -> bytes:
    """``ca.pem``: ``ca`` first, then every other CA certificate in ``others`` (PEM,
    each possibly several), once each."""
    seen = {ca.cert.fingerprint(hashes.SHA256())}
    out = [ca.cert_pem]
    for pem in others:
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            raise ConfigError(f"not a PEM certificate file: {exc}") from exc
        for cert in certs:
            fingerprint = cert.fingerprint(hashes.SHA256())
            if fingerprint not in seen:
                seen.add(fingerprint)
                out.append(cert.public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def trusted_names(bundle: bytes) -> list[str]:
    """The subject and expiry of each CA certificate in ``bundle``, for people."""
    return [
        f"{cert.subject.rfc4514_string()} (until {cert.not_valid_after_utc:%Y-%m-%d})"
        for cert in x509.load_pem_x509_certificates(bundle)
    ]


@dataclass(frozen=True)
class TlsDir:
    """Where one CA's files are (the layout in this module's docstring)."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server-key.pem"

    def client_cert(self, code: str) -> Path:
        return self.root / f"client-{code}.pem"

    def client_key(self, code: str) -> Path:
        return self.root / f"client-{code}-key.pem"

    @property
    def server(self) -> ServerTls:
        return ServerTls(ca=self.ca, cert=self.server_cert, key=self.server_key)

    def load_ca(self) -> CertificateAuthority | None:
        """The CA kept here, or None if there is none yet."""
        if not self.ca_key.exists():
            return None
        return CertificateAuthority.from_pem(self.ca.read_bytes(), self.ca_key.read_bytes())


def write_tls_dir(
    out: TlsDir,
    ca: CertificateAuthority,
    *,
    trust: bytes,
    server: Issued | None = None,
    clients: dict[str, Issued] | None = None,
) -> list[Path]:
    """Write the CA, the trust bundle ``trust`` and what was issued; return the paths
    written. Private keys are mode 0600, certificates 0644; each file is replaced
    atomically."""
    out.root.mkdir(parents=True, exist_ok=True)
    files = [(out.ca, trust, 0o644), (out.ca_key, ca.key_pem, 0o600)]
    if server is not None:
        files += [
            (out.server_cert, server.cert_pem, 0o644),
            (out.server_key, server.key_pem, 0o600),
        ]
    for code, issued in (clients or {}).items():
        files += [
            (out.client_cert(code), issued.cert_pem, 0o644),
            (out.client_key(code), issued.key_pem, 0o600),
        ]
    for path, data, mode in files:
        write_atomic(path, data, mode)
    return [path for path, _, _ in files]


def local_server_tls(directory: Path, now: datetime, *, clients: Sequence[str] = ()) -> ServerTls:
    """TLS for a nats-server on this machine (``lali demo``, tests, the benchmark): a
    private CA and a certificate for the loopback names in ``directory``, made once and
    reused after (a restarted server keeps the CA its clients trust). ``clients``: also
    a client certificate for each of these codes, if missing."""
    out = TlsDir(directory)
    ca = out.load_ca()
    if ca is None:
        ca = CertificateAuthority.generate(now)
        write_tls_dir(out, ca, trust=ca.cert_pem, server=ca.issue_server(["localhost"], now))
    missing = [code for code in clients if not out.client_cert(code).exists()]
    if missing:
        issued = {code: ca.issue_client(code, now) for code in missing}
        write_tls_dir(out, ca, trust=out.ca.read_bytes(), clients=issued)
    return out.server


def nats_tls_block(tls: ServerTls) -> str:
    """The ``tls {}`` block of a nats-server config for client connections: TLS
    required, and first (``handshake_first``: the server says nothing in clear, and a
    client cannot be talked into plain text by a forged INFO); no client certificate
    asked (nkeys say who connects); a handshake timeout generous for satellite links."""
    lines = [
        "tls {",
        f"  cert_file: {_quoted(tls.cert)}",
        f"  key_file: {_quoted(tls.key)}",
        f"  ca_file: {_quoted(tls.ca)}",
        "  handshake_first: true",
        "  timeout: 5",
        "}",
    ]
    return "".join(f"{line}\n" for line in lines)


def _quoted(path: Path) -> str:
    text = str(path)
    if '"' in text or "\\" in text or "\n" in text:
        raise ConfigError(f"unusable path in a nats-server config: {text!r}")
    return f'"{text}"'
