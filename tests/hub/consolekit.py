"""The console in-process: a fake hub (no NATS) over a real SQLite file, the ASGI app
behind httpx, and a logged-in client. Used by the console's tests and by
``bench/console.py``."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from keys import Directory
from node.exchange.outbound import SendResult
from node.hub.auth import LoginThrottle, PasswordFile, Sessions, first_run_password
from node.hub.bulletin import Draft
from node.hub.console.app import Console
from node.hub.events import EventBus
from node.hub.settings import HubSettings
from node.storage.readonly import Reader

NEW = "a-much-better-passphrase"
OLDER = re.compile(r'<a href="([^"]+)" class="older"')
MID = "01a22874-59f1-7bf9-bd6a-6861ff3261c9"


@dataclass
class FakeHub:
    """The console's port onto the hub, without NATS."""

    settings: HubSettings
    reader: Reader
    dir: Directory
    code: str = "XH"
    bus: EventBus = field(default_factory=EventBus)
    sent: list[Draft] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    clock: datetime | None = None

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def directory(self) -> Directory:
        return self.dir

    async def send_bulletin(self, draft: Draft) -> SendResult:
        self.sent.append(draft)
        return SendResult(MID, tuple(draft.recipients), "published", 1)

    async def verify_audit(self) -> dict[str, Any]:
        return {"ok": True}


@dataclass
class App:
    client: httpx.AsyncClient
    hub: FakeHub
    one_time: str
    sessions: Sessions


@asynccontextmanager
async def console_app(
    database: Path, directory: Directory, root: Path, clock: datetime | None = None
) -> AsyncIterator[App]:
    """The console over ``database`` (a hub database), its operators' file in ``root``."""
    settings = HubSettings(node=root / "node.toml", password_file=root / "passwd.json")
    passwords = PasswordFile(settings.password_file)
    one_time = first_run_password(passwords)
    assert one_time is not None
    hub = FakeHub(settings, Reader(database), directory, clock=clock)
    sessions = Sessions(timedelta(minutes=30), timedelta(hours=12), hub.now)
    console = Console(hub, passwords, sessions, LoginThrottle(hub.now))
    transport = httpx.ASGITransport(app=console.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield App(client, hub, one_time, sessions)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def login(app: App, password: str) -> httpx.Response:
    form = await app.client.get("/login")
    return await app.client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "user": "operator", "password": password},
    )


async def logged_in(app: App) -> str:
    """Log in with the one-time password, replace it; the CSRF token of the session."""
    response = await login(app, app.one_time)
    assert response.status_code == 303 and response.headers["location"] == "/password"
    page = await app.client.get("/password")
    response = await app.client.post(
        "/password",
        data={"csrf": csrf_of(page.text), "current": app.one_time, "new": NEW, "again": NEW},
    )
    assert response.status_code == 303 and response.headers["location"] == "/network"
    return csrf_of((await app.client.get("/network")).text)


def copy_database(source: Path, target: Path) -> Path:
    """A copy of a (closed) SQLite database, with its WAL if any, to write to."""
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return target


SMALL_ALERTS = 5_000
FIXED_END = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_built: dict[str, tuple[Path, Any]] = {}


def small_year(root: Path) -> tuple[Path, Any]:
    """A year of traffic at test size (``SMALL_ALERTS`` alerts, 20 members), built once
    per test session under ``root``: (the database, its ``yearkit.Year``). Read it;
    to write, take a ``copy_database``."""
    import yearkit

    if "small" not in _built:
        path = root / "year.db"
        plan = yearkit.Plan(alerts=SMALL_ALERTS, end=FIXED_END)
        # In a thread of its own: the caller may be a fixture inside an event loop.
        with ThreadPoolExecutor(1) as pool:
            year = pool.submit(yearkit.build, path, plan).result()
        _built["small"] = (path, year)
    return _built["small"]


def rows_of(html: str, attribute: str = "data-message") -> list[str]:
    """The values of ``attribute`` on a list page's rows, in page order."""
    pattern = rf'<(?:tr|article)\b[^>]*\s{attribute}="([^"]*)"'
    return [v.replace("&amp;", "&") for v in re.findall(pattern, html)]


async def walk(app: App, url: str, attribute: str = "data-message") -> list[str]:
    """Every row of a list page, following its "older" links to the end."""
    seen: list[str] = []
    while True:
        response = await app.client.get(url)
        assert response.status_code == 200, url
        seen += rows_of(response.text, attribute)
        more = OLDER.search(response.text)
        if more is None:
            return seen
        url = more.group(1).replace("&amp;", "&")
