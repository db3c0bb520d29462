"""The private CA of the NATS links (node/ops/tls.py) and `lali deploy tls`: what each
certificate is good for, checked by Python's own TLS stack in memory (no sockets), and
the files the command writes across issue, renewal and a CA rotation."""

from __future__ import annotations

import contextlib
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from node.cli.main import app
from node.ops.tls import (
    CertificateAuthority,
    Issued,
    TlsDir,
    local_server_tls,
    nats_tls_block,
    trust_bundle,
    write_tls_dir,
)
from schemas.errors import ConfigError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HUBS = ["hub-1.lali.example.org", "hub-2.lali.example.org", "hub-3.lali.example.org"]


def cert(issued: Issued) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert_pem)


def pem_files(tmp: Path, issued: Issued) -> tuple[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "own.pem").write_bytes(issued.cert_pem)
    (tmp / "own-key.pem").write_bytes(issued.key_pem)
    return str(tmp / "own.pem"), str(tmp / "own-key.pem")


def client_context(tmp: Path, ca: bytes, own: Issued | None = None) -> ssl.SSLContext:
    """As a node builds it: trust ``ca`` only, check the host name."""
    ctx = ssl.create_default_context(cadata=ca.decode("ascii"))
    if own is not None:
        ctx.load_cert_chain(*pem_files(tmp, own))
    return ctx


def server_context(
    tmp: Path, ca: bytes, own: Issued, *, require_client: bool = False
) -> ssl.SSLContext:
    """As nats-server holds it (``verify: true``: ``require_client``)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pem_files(tmp, own))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca.decode("ascii"))
    return ctx


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str) -> None:
    """A full TLS handshake between the two contexts through memory buffers; raises
    ``ssl.SSLError`` on the side that refuses."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, side in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            # TLS 1.3: the server judges the client's certificate after the client has
            # finished; a refusal reaches the client on its first read.
            s_in.write(c_out.read())
            with contextlib.suppress(ssl.SSLWantReadError):
                s.read(1)
            c_in.write(s_out.read())
            with contextlib.suppress(ssl.SSLWantReadError):
                c.read(1)
            return
    raise AssertionError("the handshake did not finish")


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.generate(NOW)


# --- what each certificate is --------------------------------------------------------------


def test_the_ca_is_a_p256_ca_that_issues_only_end_entities(ca: CertificateAuthority) -> None:
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert ca.cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert ca.not_after - NOW == timedelta(days=5 * 365)


def test_the_server_certificate_names_the_hubs_and_loopback(ca: CertificateAuthority) -> None:
    issued = cert(ca.issue_server(HUBS, NOW))
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [*HUBS, "localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    usage = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    # serverAuth for clients; clientAuth because a hub server dials its routes with it.
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert issued.not_valid_after_utc - NOW == timedelta(days=365)
    assert issued.issuer == ca.cert.subject


def test_a_member_certificate_names_no_host(ca: CertificateAuthority) -> None:
    issued = cert(ca.issue_client("WS", NOW))
    assert issued.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "WS"
    sans = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == []  # never a route peer, never a hub
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("hostname", "trusted", "accepted"),
    [
        ("hub-2.lali.example.org", "ours", True),
        ("127.0.0.1", "ours", True),
        ("localhost", "ours", True),
        ("evil.example.org", "ours", False),  # a name the certificate does not carry
        ("hub-2.lali.example.org", "another CA", False),  # a client trusting another CA
    ],
)
def test_a_client_accepts_the_server_only_by_our_ca_and_its_names(
    ca: CertificateAuthority, tmp_path: Path, hostname: str, trusted: str, accepted: bool
) -> None:
    server = server_context(tmp_path / "s", ca.cert_pem, ca.issue_server(HUBS, NOW))
    anchor = ca if trusted == "ours" else CertificateAuthority.generate(NOW)
    client = client_context(tmp_path / "c", anchor.cert_pem)
    if accepted:
        handshake(client, server, hostname)
    else:
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(client, server, hostname)


@pytest.mark.parametrize(("issuer", "accepted"), [("ours", True), ("another CA", False)])
def test_mutual_tls_accepts_member_certificates_of_our_ca_only(
    ca: CertificateAuthority, tmp_path: Path, issuer: str, accepted: bool
) -> None:
    server = server_context(
        tmp_path / "s", ca.cert_pem, ca.issue_server(HUBS, NOW), require_client=True
    )
    signer = ca if issuer == "ours" else CertificateAuthority.generate(NOW)
    client = client_context(tmp_path / "c", ca.cert_pem, signer.issue_client("WS", NOW))
    if accepted:
        handshake(client, server, HUBS[0])
    else:
        with pytest.raises(ssl.SSLError):
            handshake(client, server, HUBS[0])


def test_a_member_certificate_serves_the_leafs_loopback_listener(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    server = server_context(tmp_path / "s", ca.cert_pem, ca.issue_client("WS", NOW))
    handshake(client_context(tmp_path / "c", ca.cert_pem), server, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):  # and no other host
        handshake(client_context(tmp_path / "c", ca.cert_pem), server, "hub-1.lali.example.org")


# --- refusals and limits --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "bad name", "a_b.example.org", "-x.example.org"])
def test_server_names_that_are_not_hosts_are_refused(ca: CertificateAuthority, name: str) -> None:
    with pytest.raises(ConfigError):
        ca.issue_server([name] if name else [], NOW)


@pytest.mark.parametrize("code", ["ws", "WSM", "W1", ""])
def test_client_codes_that_are_not_member_codes_are_refused(
    ca: CertificateAuthority, code: str
) -> None:
    with pytest.raises(ConfigError, match="member code"):
        ca.issue_client(code, NOW)


def test_no_certificate_outlives_its_ca() -> None:
    short = CertificateAuthority.generate(NOW, timedelta(days=30))
    assert short.issue_server(HUBS, NOW).not_after == short.not_after
    with pytest.raises(ConfigError, match="expired"):
        short.issue_client("WS", NOW + timedelta(days=31))


@pytest.mark.parametrize(
    ("bundle", "key", "found"),
    [
        ("ca", "ca", "ca"),
        ("other+ca", "ca", "ca"),  # the CA is found wherever it sits in ca.pem
        ("ca+other", "other", "other"),
        ("other", "ca", None),  # the key matches no certificate
    ],
)
def test_the_ca_is_the_certificate_of_its_key(
    ca: CertificateAuthority, bundle: str, key: str, found: str | None
) -> None:
    cas = {"ca": ca, "other": CertificateAuthority.generate(NOW)}
    pem = b"".join(cas[name].cert_pem for name in bundle.split("+"))
    if found is None:
        with pytest.raises(ConfigError, match="belongs to the CA key"):
            CertificateAuthority.from_pem(pem, cas[key].key_pem)
    else:
        loaded = CertificateAuthority.from_pem(pem, cas[key].key_pem)
        assert loaded.cert == cas[found].cert


def test_an_end_entity_certificate_is_not_a_ca(ca: CertificateAuthority) -> None:
    issued = ca.issue_server(HUBS, NOW)
    with pytest.raises(ConfigError, match="not a CA"):
        CertificateAuthority.from_pem(issued.cert_pem, issued.key_pem)


def test_the_trust_bundle_puts_the_ca_first_and_lists_each_ca_once(
    ca: CertificateAuthority,
) -> None:
    old = CertificateAuthority.generate(NOW)
    bundle = trust_bundle(ca, [old.cert_pem + ca.cert_pem, old.cert_pem])
    assert x509.load_pem_x509_certificates(bundle) == [ca.cert, old.cert]


# --- files ------------------------------------------------------------------------------------


def test_keys_are_written_0600_and_certificates_0644(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    out = TlsDir(tmp_path / "tls")
    written = write_tls_dir(
        out,
        ca,
        trust=ca.cert_pem,
        server=ca.issue_server(HUBS, NOW),
        clients={"WS": ca.issue_client("WS", NOW)},
    )
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert modes == {
        "ca.pem": 0o644,
        "ca-key.pem": 0o600,
        "server.pem": 0o644,
        "server-key.pem": 0o600,
        "client-WS.pem": 0o644,
        "client-WS-key.pem": 0o600,
    }


def test_a_local_server_keeps_its_ca_across_restarts(tmp_path: Path) -> None:
    first = local_server_tls(tmp_path / "tls", NOW)
    ca_pem = first.ca.read_bytes()
    again = local_server_tls(tmp_path / "tls", NOW + timedelta(hours=1), clients=["WS"])
    assert again == first and again.ca.read_bytes() == ca_pem
    assert TlsDir(tmp_path / "tls").client_cert("WS").exists()


def test_the_nats_tls_block_requires_tls_first(tmp_path: Path) -> None:
    block = nats_tls_block(TlsDir(tmp_path).server)
    assert "handshake_first: true" in block and f'ca_file: "{tmp_path}/ca.pem"' in block
    with pytest.raises(ConfigError):
        nats_tls_block(TlsDir(Path('/etc/"nats')).server)


# --- lali deploy tls ----------------------------------------------------------------------


def deploy(*args: str) -> str:
    result = CliRunner().invoke(app, ["deploy", "tls", *args])
    assert result.exit_code == 0, result.output
    return result.output


def cas_in(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_deploy_tls_issues_renews_and_rotates(tmp_path: Path) -> None:
    hub, new = TlsDir(tmp_path / "hub"), TlsDir(tmp_path / "new")
    # 1. A new CA, the servers' certificate and two members'.
    out = deploy(
        "--out",
        str(hub.root),
        *(a for h in HUBS for a in ("--server-name", h)),
        "--client",
        "WS",
        "--client",
        "FJ",
    )
    assert "new CA" in out
    ca = CertificateAuthority.from_pem(hub.ca.read_bytes(), hub.ca_key.read_bytes())
    assert [c.subject for c in cas_in(hub.ca)] == [ca.cert.subject]
    assert stat.S_IMODE(hub.client_key("FJ").stat().st_mode) == 0o600
    # 2. Renewal: the same CA issues a fresh server certificate (and adds a member).
    key_before, server_before = hub.ca_key.read_bytes(), hub.server_cert.read_bytes()
    out = deploy("--out", str(hub.root), "--server-name", HUBS[0], "--client", "TO")
    assert "new CA" not in out
    assert hub.ca_key.read_bytes() == key_before
    assert hub.server_cert.read_bytes() != server_before
    assert x509.load_pem_x509_certificate(hub.server_cert.read_bytes()).issuer == ca.cert.subject
    # 3. Rotation: a new CA that also trusts the old one while certificates change...
    deploy("--out", str(new.root), "--server-name", HUBS[0], "--also-trust", str(hub.ca))
    trusted = cas_in(new.ca)
    assert len(trusted) == 2 and trusted[1] == ca.cert
    deploy("--out", str(new.root), "--client", "WS")  # ...kept by later runs...
    assert len(cas_in(new.ca)) == 2
    deploy("--out", str(new.root), "--drop-other-cas")  # ...until the rotation ends.
    assert len(cas_in(new.ca)) == 1 and cas_in(new.ca)[0] != ca.cert


def test_deploy_tls_refuses_a_directory_holding_only_a_ca_copy(tmp_path: Path) -> None:
    deploy("--out", str(tmp_path / "hub"), "--server-name", HUBS[0])
    copy = tmp_path / "server"
    copy.mkdir()
    (copy / "ca.pem").write_bytes((tmp_path / "hub" / "ca.pem").read_bytes())
    result = CliRunner().invoke(app, ["deploy", "tls", "--out", str(copy), "--client", "WS"])
    assert result.exit_code == 2
    assert "without ca-key.pem" in result.output
    assert not (copy / "ca-key.pem").exists()


def test_deploy_tls_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["deploy", "tls", "--out", str(tmp_path / "x"), "--client", "ws"]
    )
    assert result.exit_code == 2 and "member code" in result.output
    assert not (tmp_path / "x").exists()
