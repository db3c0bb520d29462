"""The console's defences that every request meets, apart from the pages themselves.

In the order a request meets them:

1. Host check (``allowed_hosts``, in ``app.py``: no DNS rebinding onto the loopback
   console).
2. Session: a random id in an HttpOnly, SameSite=Strict cookie (Secure with TLS),
   looked up server-side (``auth.Sessions``: idle and absolute expiry; login issues a
   fresh id).
3. Every POST carries the session's CSRF token (and, if the browser sends one, an
   Origin equal to ours); bodies are url-encoded only and capped at ``MAX_FORM``.
4. Every response carries ``HEADERS``: the Content-Security-Policy allows no inline
   script or style, no framing and forms only to ourselves.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.hub.auth import Session, Sessions, csrf_ok

COOKIE = "lali_session"
MAX_FORM = 256 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none';"
    " object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Not "no-referrer": with it Chromium sends "Origin: null" on our own forms.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]

Form = dict[str, list[str]]


class SecurityHeaders:
    """ASGI middleware: adds ``HEADERS`` to every response (streaming ones too), unless
    the response set that header itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class Forbidden(Exception):
    """A request refused for what it is (wrong CSRF token, cross-origin, not a form)."""


class FormTooLarge(Exception):
    """A form body over ``MAX_FORM`` bytes."""


async def read_form(request: Request) -> Form:
    """A url-encoded body, at most ``MAX_FORM`` bytes (read no further than that)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Forbidden("forms only")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise FormTooLarge
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=2000)


def first(form: Form, name: str, default: str = "") -> str:
    """The first value of field ``name``, else ``default``."""
    values = form.get(name)
    return values[0] if values else default


def check_post(request: Request, session: Session | None, form: Form) -> None:
    """Raise ``Forbidden`` unless a POST comes from our own page: an Origin (if the
    browser sent one) equal to ours, and the session's CSRF token in the form."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("cross-origin form")
    if not csrf_ok(session, first(form, "csrf") or None):
        raise Forbidden("missing or wrong CSRF token")


def session_of(request: Request, sessions: Sessions) -> Session | None:
    """The live session named by the request's cookie, if any."""
    return sessions.get(request.cookies.get(COOKIE))


def set_session_cookie(response: Response, session: Session, *, secure: bool) -> None:
    """Name ``session`` in the cookie: HttpOnly, SameSite=Strict, Secure with TLS."""
    response.set_cookie(
        COOKIE, session.id, httponly=True, samesite="strict", secure=secure, path="/"
    )


def clear_session_cookie(response: Response) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(COOKIE, path="/")
