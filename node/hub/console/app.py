"""The operator's console: a small Starlette application, rendered on the server.

``Console`` holds the routes; ``security.py`` the defences every request meets (host
check, session cookie, CSRF and Origin, form limits, response headers); ``pages.py``
what each page shows. Output is Jinja2 with autoescaping on for everything and no
inline script or style. Live updates fetch server-rendered, escaped fragments; event
payloads carry ids and kinds, never content.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from node.hub import store
from node.hub.auth import LoginThrottle, PasswordFile, Session, Sessions
from node.hub.bulletin import Draft
from node.hub.console import export, pages, search
from node.hub.console.display import time_tag
from node.hub.console.security import (
    Forbidden,
    FormTooLarge,
    SecurityHeaders,
    check_post,
    clear_session_cookie,
    first,
    read_form,
    session_of,
    set_session_cookie,
)
from schemas.alert import Priority, Tlp
from schemas.errors import LaliError

log = structlog.get_logger("lali.hub.console")

FULL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EXPORT_TYPES = {
    "csv": ("csv", "text/csv; charset=utf-8"),
    "stix": ("stix.json", "application/stix+json;version=2.1"),
}

HERE = Path(__file__).resolve().parent
PAGES = ("network", "traffic", "alerts", "correlations", "bulletins", "audit")
# Which live events refresh which page.
LIVE = {
    "network": "heartbeat status lag checkpoint",
    "traffic": "traffic",
    "alerts": "alert link",
    "correlations": "link",
    "bulletins": "bulletin receipt traffic link alert",
    "audit": "checkpoint heartbeat audit",
}


class Console:
    """The console's routes over a running hub (``pages.HubPort``), its operators'
    password file, sessions and login throttle."""

    def __init__(
        self,
        hub: pages.HubPort,
        passwords: PasswordFile,
        sessions: Sessions,
        throttle: LoginThrottle,
    ) -> None:
        self.hub = hub
        self.passwords = passwords
        self.sessions = sessions
        self.throttle = throttle
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["utc"] = time_tag
        self.env.filters["utc_short"] = partial(time_tag, short=True)
        self.env.filters["utc_local"] = partial(time_tag, inline=True)

    # --- plumbing ---------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A page in the layout, or only its fragment for a live update (``partial=1``)."""
        page = template.removesuffix(".html")
        values = {
            "hub": self.hub.code,
            "page": page,
            "pages": PAGES,
            "live": LIVE.get(page, ""),
            "user": session.user if session else None,
            "must_change": bool(session and session.must_change),
            "csrf": session.csrf if session else "",
            **context,
        }
        if request.query_params.get("partial") == "1":
            html = self.env.get_template(template).render(values)
        else:
            html = self.env.get_template("layout.html").render(values, content=template)
        return HTMLResponse(html, status_code=status_code)

    def session(self, request: Request) -> Session | None:
        """The request's live session, if any."""
        return session_of(request, self.sessions)

    def set_cookie(self, response: Response, session: Session) -> None:
        """Name ``session`` in the response's cookie."""
        set_session_cookie(response, session, secure=self.hub.settings.cookie_secure)

    def page(
        self, handler: Callable[[Request, Session], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Logged-in pages: otherwise to the login form (or to the password change)."""

        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None or session.user is None:
                if request.query_params.get("partial") == "1" or request.method != "GET":
                    return Response("login required", status_code=401)
                return RedirectResponse("/login", status_code=303)
            if session.must_change and request.url.path not in ("/password", "/logout"):
                return RedirectResponse("/password", status_code=303)
            try:
                return await handler(request, session)
            except Forbidden as exc:
                log.warning("console_forbidden", path=request.url.path, error=str(exc))
                return Response(f"forbidden: {exc}", status_code=403)
            except FormTooLarge:
                return Response("form too large", status_code=413)

        return endpoint

    # --- login ------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """GET /login: the login form, with a session for its CSRF token."""
        session = self.session(request)
        if session is not None and session.user is not None:
            return RedirectResponse("/network", status_code=303)
        if session is None:
            session = self.sessions.anonymous()
        response = self.render(request, "login.html", session, error=None, name="")
        self.set_cookie(response, session)
        return response

    async def login(self, request: Request) -> Response:
        """POST /login: check the password (throttled); a fresh session on success."""
        session = self.session(request)
        try:
            form = await read_form(request)
            check_post(request, session, form)
        except (Forbidden, FormTooLarge):
            # Most often an expired login form: start again with a fresh one.
            return RedirectResponse("/login", status_code=303)
        user = first(form, "user").strip()[:64]
        password = first(form, "password")
        if not self.throttle.allowed(user):
            log.warning("console_login_throttled", user=user)
            return self.render(
                request, "login.html", session, 429,
                error="Too many failed attempts: wait a few minutes.", name=user,
            )  # fmt: skip
        account = await asyncio.to_thread(self.passwords.verify, user, password)
        if account is None:
            self.throttle.failed(user)
            log.warning("console_login_failed", user=user)
            return self.render(
                request, "login.html", session, 401,
                error="Wrong user name or password.", name=user,
            )  # fmt: skip
        self.throttle.succeeded(user)
        fresh = self.sessions.login(session, account)
        log.info("console_login", user=account.user, one_time=account.one_time)
        target = "/password" if fresh.must_change else "/network"
        response = RedirectResponse(target, status_code=303)
        self.set_cookie(response, fresh)
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        """POST /logout: end the session."""
        check_post(request, session, await read_form(request))
        self.sessions.drop(session)
        log.info("console_logout", user=session.user)
        response = RedirectResponse("/login", status_code=303)
        clear_session_cookie(response)
        return response

    async def password_form(self, request: Request, session: Session) -> Response:
        """GET /password: the form to change one's password."""
        return self.render(
            request, "password.html", session, error=None, forced=session.must_change
        )

    async def password(self, request: Request, session: Session) -> Response:
        """POST /password: replace the password; every other session of the user ends."""
        form = await read_form(request)
        check_post(request, session, form)
        current, new, again = (first(form, k) for k in ("current", "new", "again"))
        error = None
        assert session.user is not None
        if await asyncio.to_thread(self.passwords.verify, session.user, current) is None:
            error = "The current password is wrong."
        elif new != again:
            error = "The new passwords differ."
        elif new == current:
            error = "Choose a password different from the current one."
        else:
            try:
                await asyncio.to_thread(self.passwords.set, session.user, new)
            except ValueError as exc:
                error = str(exc)
        if error:
            return self.render(
                request, "password.html", session, 400, error=error, forced=session.must_change
            )
        self.sessions.password_changed(session)
        log.info("console_password_changed", user=session.user)
        return RedirectResponse("/network", status_code=303)

    # --- pages ------------------------------------------------------------------------

    async def network(self, request: Request, session: Session) -> Response:
        """GET /network: members, liveness and lag."""
        return self.render(request, "network.html", session, **await pages.network(self.hub))

    async def traffic(self, request: Request, session: Session) -> Response:
        """GET /traffic: the metadata feed, filtered, a page at a time."""
        data = await pages.traffic(self.hub, dict(request.query_params))
        return self.render(request, "traffic.html", session, **data)

    async def alerts(self, request: Request, session: Session) -> Response:
        """GET /alerts: alerts addressed to the hub, searched and filtered."""
        data = await pages.alerts(self.hub, dict(request.query_params))
        return self.render(request, "alerts.html", session, **data)

    async def alert(self, request: Request, session: Session) -> Response:
        """GET /alerts/{message_id}: one alert in full (only from the hub's inbox)."""
        data = await pages.alert(self.hub, str(request.path_params["message_id"]))
        if data is None:
            # Not in the hub's inbox: not addressed to the hub, so nothing to show.
            return self.render(request, "missing.html", session, 404)
        log.info("console_alert_viewed", user=session.user, message_id=data["message_id"])
        return self.render(request, "alert.html", session, **data)

    async def correlations(self, request: Request, session: Session) -> Response:
        """GET /correlations: links, timeline and member graph."""
        data = await pages.correlations(self.hub, dict(request.query_params))
        return self.render(request, "correlations.html", session, **data)

    async def bulletins(self, request: Request, session: Session) -> Response:
        """GET /bulletins: the compose form and the bulletins sent."""
        data = await pages.bulletins(self.hub, dict(request.query_params))
        sent = request.query_params.get("sent")
        return self.render(request, "bulletins.html", session, error=None, sent_id=sent, **data)

    async def send_bulletin(self, request: Request, session: Session) -> Response:
        """POST /bulletins: compose, check and send a bulletin."""
        form = await read_form(request)
        check_post(request, session, form)
        error = None
        try:
            draft = Draft(
                title=first(form, "title").strip(),
                summary=first(form, "summary").strip(),
                analysis=first(form, "analysis").strip(),
                priority=Priority(first(form, "priority", "routine")),
                tlp=Tlp(first(form, "tlp", "AMBER")),
                confidence=first(form, "confidence") or None,
                recipients=[c for c in form.get("to", []) if c],
                references=[m for m in form.get("ref", []) if m],
                links=[link for link in form.get("link", []) if link],
                include_entities=first(form, "entities") == "1",
            )
            result = await self.hub.send_bulletin(draft)
        except ValueError:
            error = "Choose a priority and a TLP from the lists."
        except LaliError as exc:
            error = exc.message
        if error is not None:
            data = await pages.bulletins(self.hub, {})
            return self.render(
                request, "bulletins.html", session, 400, error=error, sent_id=None, **data
            )
        log.info("console_bulletin_sent", user=session.user, message_id=result.message_id)
        return RedirectResponse(f"/bulletins?sent={result.message_id}", status_code=303)

    # --- exports ----------------------------------------------------------------------

    def download(
        self,
        session: Session,
        what: str,
        params: Mapping[str, str],
        body: AsyncIterator[bytes],
        kind: str,
    ) -> Response:
        """A streamed file of ``what`` (named with the time), logged by filter names
        only: the values may be entity names, and logs carry no content."""
        stamp = self.hub.now().strftime("%Y%m%dT%H%MZ")
        suffix, media = EXPORT_TYPES[kind]
        log.info(
            "console_export", user=session.user, what=what, format=kind, filters=sorted(params)
        )
        return StreamingResponse(
            body,
            media_type=media,
            headers={"content-disposition": f'attachment; filename="lali-{what}-{stamp}.{suffix}"'},
        )

    async def traffic_csv(self, request: Request, session: Session) -> Response:
        """GET /traffic/export.csv: the traffic matching the page's filters (metadata)."""
        q, view = search.traffic_request(
            dict(request.query_params), self.hub.directory(), self.hub.now()
        )
        body = export.traffic_csv(self.hub.reader, q)
        return self.download(session, "traffic", view.params, body, "csv")

    async def alerts_csv(self, request: Request, session: Session) -> Response:
        """GET /alerts/export.csv: the inbox alerts matching the page's filters."""
        q, view = search.alerts_request(
            dict(request.query_params), self.hub.directory(), self.hub.now()
        )
        body = export.alerts_csv(self.hub.reader, q)
        return self.download(session, "alerts", view.params, body, "csv")

    async def alerts_stix(self, request: Request, session: Session) -> Response:
        """GET /alerts/export.stix.json: the same as a STIX 2.1 bundle (the latest
        ``export.STIX_MAX``)."""
        q, view = search.alerts_request(
            dict(request.query_params), self.hub.directory(), self.hub.now()
        )
        body = export.alerts_stix(self.hub.reader, q, self.hub.code)
        return self.download(session, "alerts", view.params, body, "stix")

    async def alert_stix(self, request: Request, session: Session) -> Response:
        """GET /alerts/{message_id}/stix.json: one inbox alert as a STIX 2.1 bundle."""
        message_id = str(request.path_params["message_id"]).lower()
        if (
            not FULL_ID.match(message_id)
            or await store.inbox_alert(self.hub.reader, message_id) is None
        ):
            return self.render(request, "missing.html", session, 404)
        q = store.AlertQuery(message_id=message_id)
        body = export.alerts_stix(self.hub.reader, q, self.hub.code, limit=1)
        return self.download(session, f"alert-{message_id}", {}, body, "stix")

    async def links_csv(self, request: Request, session: Session) -> Response:
        """GET /correlations/export.csv: the links matching the page's filters."""
        q, view = search.links_request(
            dict(request.query_params), self.hub.directory(), self.hub.now()
        )
        body = export.links_csv(self.hub.reader, q)
        return self.download(session, "links", view.params, body, "csv")

    async def bulletins_csv(self, request: Request, session: Session) -> Response:
        """GET /bulletins/export.csv: the bulletins matching the page's filters."""
        q, view = search.bulletins_request(
            dict(request.query_params), self.hub.directory(), self.hub.now()
        )
        body = export.bulletins_csv(self.hub.reader, q)
        return self.download(session, "bulletins", view.params, body, "csv")

    async def audit(self, request: Request, session: Session) -> Response:
        """GET /audit: the hub's own chain and the members' checkpoints."""
        return self.render(request, "audit.html", session, **await pages.audit(self.hub))

    async def verify_audit(self, request: Request, session: Session) -> Response:
        """POST /audit/verify: verify the hub's own chain now."""
        check_post(request, session, await read_form(request))
        await self.hub.verify_audit()
        self.hub.bus.publish("audit")
        return RedirectResponse("/audit", status_code=303)

    async def events(self, request: Request, session: Session) -> Response:
        """GET /events: server-sent events naming what changed (never content)."""
        queue = self.hub.bus.subscribe()
        if queue is None:
            return Response("too many live views open", status_code=503)
        return StreamingResponse(
            self.hub.bus.stream(queue),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    async def root(self, request: Request) -> Response:
        """GET /: to the network page."""
        return RedirectResponse("/network", status_code=303)

    # --- the application --------------------------------------------------------------

    def app(self) -> Starlette:
        """The ASGI application: routes, static files, host check and security headers."""
        p = self.page
        routes = [
            Route("/", self.root),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", p(self.logout), methods=["POST"]),
            Route("/password", p(self.password_form), methods=["GET"]),
            Route("/password", p(self.password), methods=["POST"]),
            Route("/network", p(self.network)),
            Route("/traffic", p(self.traffic)),
            Route("/traffic/export.csv", p(self.traffic_csv)),
            Route("/alerts", p(self.alerts)),
            Route("/alerts/export.csv", p(self.alerts_csv)),
            Route("/alerts/export.stix.json", p(self.alerts_stix)),
            Route("/alerts/{message_id}/stix.json", p(self.alert_stix)),
            Route("/alerts/{message_id}", p(self.alert)),
            Route("/correlations", p(self.correlations)),
            Route("/correlations/export.csv", p(self.links_csv)),
            Route("/bulletins", p(self.bulletins), methods=["GET"]),
            Route("/bulletins/export.csv", p(self.bulletins_csv)),
            Route("/bulletins", p(self.send_bulletin), methods=["POST"]),
            Route("/audit", p(self.audit), methods=["GET"]),
            Route("/audit/verify", p(self.verify_audit), methods=["POST"]),
            Route("/events", p(self.events)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        hosts = list(self.hub.settings.allowed_hosts)
        return Starlette(
            routes=routes,
            middleware=[
                Middleware(SecurityHeaders),
                Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            ],
        )
