"""The webhook handler against a real HTTP server on 127.0.0.1 that verifies the
signature the way a receiver would."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from handlerkit import AuditLog, example_item, fake_ctx
from pydantic import ValidationError

from node.handlers.base import Context, HandlerEnv, HandlerError, Item, PermanentHandlerError
from node.handlers.builtin.webhook import WebhookHandler
from schemas.errors import ConfigError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"


class Receiver(ThreadingHTTPServer):
    """Records each POST and answers ``status``; 401 when the signature does not verify."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = secret
        self.status = 200
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/lali/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers.get("X-Lali-Timestamp", "")
        mac = hmac.new(self.server.secret, timestamp.encode() + b"." + body, hashlib.sha256)
        expected = "sha256=" + mac.hexdigest()
        verified = hmac.compare_digest(expected, self.headers.get("X-Lali-Signature", ""))
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body, "verified": verified}
        )
        status = self.server.status if verified else 401
        reply = b'{"echo": "TN4827193"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(secret: bytes) -> Iterator[Receiver]:
    server = Receiver(secret)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve(SECRET)


def make_item(name: str = "maritime.json") -> Item:
    return example_item(name, NOW)


def make_ctx(audit: AuditLog) -> Context:
    return fake_ctx(audit, "case-system", NOW)


def build(tmp_path: Path, url: str, secret: bytes = SECRET, **more: Any) -> WebhookHandler:
    (tmp_path / "webhook.key").write_bytes(secret + b"\n")
    settings = WebhookHandler.Settings(url=url, secret_file=Path("webhook.key"), **more)
    env = HandlerEnv(code="FJ", config_dir=tmp_path, state_dir=tmp_path)
    return WebhookHandler.from_settings(settings, env)


async def test_signed_post_verifies_on_the_receiver(tmp_path: Path, receiver: Receiver) -> None:
    handler = build(tmp_path, receiver.url)
    item, audit = make_item(), AuditLog()
    try:
        await handler(item, make_ctx(audit))
    finally:
        await handler.aclose()
    [request] = receiver.requests
    assert request["verified"] is True
    assert request["path"] == "/lali/hook"
    assert request["body"] == item.to_json()
    headers = request["headers"]
    assert headers["X-Lali-Timestamp"] == str(int(NOW.timestamp()))
    assert headers["X-Lali-Message-Id"] == item.message_id
    assert headers["X-Lali-Kind"] == "alert"
    assert headers["Content-Type"] == "application/json"
    assert audit.entries == [("webhook_posted", {"host": "127.0.0.1", "status": 200})]


async def test_wrong_secret_is_refused_permanently(tmp_path: Path, receiver: Receiver) -> None:
    handler = build(tmp_path, receiver.url, secret=b"another-secret-of-32-bytes-long!")
    try:
        with pytest.raises(PermanentHandlerError) as info:
            await handler(make_item(), make_ctx(AuditLog()))
    finally:
        await handler.aclose()
    assert receiver.requests[0]["verified"] is False
    assert info.value.fields == {"host": "127.0.0.1", "status": 401}


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (404, True), (302, True), (408, False), (429, False), (500, False), (503, False)],
)
async def test_status_decides_retry(
    tmp_path: Path, receiver: Receiver, status: int, permanent: bool
) -> None:
    receiver.status = status
    handler = build(tmp_path, receiver.url)
    audit = AuditLog()
    try:
        with pytest.raises(HandlerError) as info:
            await handler(make_item(), make_ctx(audit))
    finally:
        await handler.aclose()
    assert isinstance(info.value, PermanentHandlerError) is permanent
    assert info.value.fields["status"] == status
    assert "TN4827193" not in str(info.value)  # the response body is never echoed
    assert audit.entries == []


async def test_connection_refused_is_transient(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = build(tmp_path, f"http://127.0.0.1:{port}/hook")
    try:
        with pytest.raises(HandlerError) as info:
            await handler(make_item(), make_ctx(AuditLog()))
    finally:
        await handler.aclose()
    assert not isinstance(info.value, PermanentHandlerError)


@pytest.mark.parametrize(
    "url",
    [
        "http://cases.example.gov/lali",
        "http://10.0.0.5/lali",
        "https://user:pw@cases.example.gov/lali",
        "ftp://cases.example.gov/lali",
        "cases.example.gov/lali",
    ],
)
def test_unsafe_urls_are_refused_in_settings(url: str) -> None:
    with pytest.raises(ValidationError):
        WebhookHandler.Settings(url=url, secret_file=Path("k"))


@pytest.mark.parametrize(
    "url", ["https://cases.example.gov/lali", "http://127.0.0.1:8080/x", "http://[::1]/x"]
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert WebhookHandler.Settings(url=url, secret_file=Path("k")).url == url


def test_remote_http_needs_the_explicit_switch() -> None:
    settings = WebhookHandler.Settings(
        url="http://cases.example.gov/lali", secret_file=Path("k"), allow_insecure_http=True
    )
    assert settings.allow_insecure_http


def test_secret_is_not_accepted_inline() -> None:
    with pytest.raises(ValidationError):
        WebhookHandler.Settings.model_validate(
            {"url": "https://cases.example.gov/lali", "secret": "inline"}
        )


@pytest.mark.parametrize("secret", [b"", b"short"])
def test_short_or_missing_secret_is_a_config_error(tmp_path: Path, secret: bytes) -> None:
    with pytest.raises(ConfigError):
        build(tmp_path, "https://cases.example.gov/lali", secret=secret)
    with pytest.raises(ConfigError):
        settings = WebhookHandler.Settings(
            url="https://cases.example.gov/lali", secret_file=Path("absent.key")
        )
        WebhookHandler.from_settings(settings, HandlerEnv("FJ", tmp_path, tmp_path))
