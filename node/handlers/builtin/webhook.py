"""The ``webhook`` handler: POST each item as JSON to an HTTPS endpoint, signed.

Headers sent with the body (``item.to_json()``, ``Content-Type: application/json``):

- ``X-Lali-Timestamp``: Unix seconds at the time of the attempt;
- ``X-Lali-Signature``: ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``;
- ``X-Lali-Message-Id`` and ``X-Lali-Kind`` (``alert`` or ``hit``): what the receiver
  de-duplicates on (a retry carries the same message id, a new timestamp and signature).

The secret is read from ``secret_file`` when the handler is built, never from the TOML.
Outcome by response: 2xx done; 408, 429 and 5xx, timeouts and connection errors are
transient (:class:`HandlerError`, retried by the runner); any other status, redirects
included, is permanent (:class:`PermanentHandlerError`). Response bodies are never read
into logs or errors: a receiver may echo content.

The helpers here (URL policy, secret files, client, status mapping) are shared with the
``stix`` handler's MISP output: exceptions are translated at this one boundary.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import ssl
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
import structlog
from pydantic import Field, model_validator

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Item,
    PermanentHandlerError,
)
from schemas.errors import ConfigError

__all__ = [
    "WebhookHandler",
    "check_http_url",
    "make_client",
    "post",
    "read_secret_file",
    "sign",
]

log = structlog.get_logger("lali.handlers.webhook")

_MIN_SECRET_BYTES = 16
_MAX_SECRET_BYTES = 4096
_USER_AGENT = "lali-node"


def check_http_url(url: str, allow_insecure_http: bool) -> str:
    """``url`` if it is https (or plain http to a loopback address, or explicitly allowed);
    credentials in the URL are refused, since the URL sits in the TOML file."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ValueError("not a valid URL") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise ValueError("URL must be http(s)://host/...")
    if parsed.userinfo:
        raise ValueError("credentials do not belong in the URL; use a secret file")
    if parsed.scheme == "http" and not (_is_loopback(parsed.host) or allow_insecure_http):
        raise ValueError("plain http is refused except to loopback (allow_insecure_http)")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_secret_file(path: Path, what: str) -> bytes:
    """The secret in ``path``, surrounding whitespace removed; ConfigError if unusable."""
    try:
        info = path.stat()
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file", path=str(path), errno=exc.errno) from None
    if not _MIN_SECRET_BYTES <= len(data) <= _MAX_SECRET_BYTES:
        raise ConfigError(
            f"the {what} file must hold {_MIN_SECRET_BYTES}..{_MAX_SECRET_BYTES} bytes",
            path=str(path),
        )
    if info.st_mode & stat.S_IROTH:
        log.warning("secret_file_world_readable", what=what, path=str(path))
    return data


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Lali-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def make_client(
    timeout_s: float, ca_file: Path | None = None, proxy: str | None = None
) -> httpx.AsyncClient:
    """An HTTP client that ignores proxy and CA variables in the node's environment
    (``trust_env=False``) and never follows redirects."""
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        try:
            verify = ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError):
            raise ConfigError("cannot load the CA file", path=str(ca_file)) from None
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        verify=verify,
        proxy=proxy,
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": _USER_AGENT},
    )


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST ``body``; return the 2xx status or raise by whose fault the failure is."""
    host = httpx.URL(url).host
    try:
        response = await client.post(url, content=body, headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise HandlerError("HTTP request timed out", host=host, error=type(exc).__name__) from None
    except httpx.TransportError as exc:
        raise HandlerError("HTTP request failed", host=host, error=type(exc).__name__) from None
    status = response.status_code
    if 200 <= status < 300:
        return status
    fields: dict[str, Any] = {"host": host, "status": status}
    if status in (408, 429) or status >= 500:
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.isdigit():
            fields["retry_after_s"] = int(retry_after)
        raise HandlerError(f"HTTP {status} from the receiver", **fields)
    raise PermanentHandlerError(f"HTTP {status} from the receiver", **fields)


class WebhookHandler:
    """POST each item, signed with HMAC-SHA256, to one URL."""

    spec: ClassVar[HandlerSpec] = HandlerSpec(
        name="webhook",
        description="HTTP POST of the item JSON with an HMAC-SHA256 signature header",
        external=True,
    )

    class Settings(HandlerSettings):
        url: str
        secret_file: Path  # relative to the config directory
        request_timeout_s: float = Field(default=10.0, gt=0, le=300)
        ca_file: Path | None = None  # a private CA bundle (PEM) for the receiver
        proxy: str | None = None
        allow_insecure_http: bool = False  # plain http to a non-loopback host

        @model_validator(mode="after")
        def _url_policy(self) -> Self:
            check_http_url(self.url, self.allow_insecure_http)
            return self

    def __init__(self, url: str, secret: bytes, client: httpx.AsyncClient) -> None:
        self._url = url
        self._secret = secret
        self._client = client
        self._host = httpx.URL(url).host

    @classmethod
    def from_settings(cls, settings: Settings, env: HandlerEnv) -> Self:
        if httpx.URL(settings.url).scheme == "http" and settings.allow_insecure_http:
            log.warning("webhook_insecure_http", host=httpx.URL(settings.url).host)
        secret = read_secret_file(env.path(settings.secret_file), "webhook secret")
        ca_file = env.path(settings.ca_file) if settings.ca_file is not None else None
        client = make_client(settings.request_timeout_s, ca_file, settings.proxy)
        return cls(settings.url, secret, client)

    async def __call__(self, item: Item, ctx: Context) -> None:
        body = item.to_json()
        timestamp = str(int(ctx.now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Lali-Timestamp": timestamp,
            "X-Lali-Signature": sign(self._secret, timestamp, body),
            "X-Lali-Message-Id": item.message_id,
            "X-Lali-Kind": item.kind,
        }
        status = await post(self._client, self._url, body, headers)
        await ctx.audit("webhook_posted", {"host": self._host, "status": status})

    async def aclose(self) -> None:
        await self._client.aclose()
