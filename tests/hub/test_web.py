"""The console's security in-process (httpx against the ASGI app, a fake hub over a
real SQLite file): login, one-time password, sessions, CSRF, escaping, headers."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from consolekit import MID, NEW, App, console_app, csrf_of, logged_in, login
from testkit import make_keyring

from node.hub import store
from node.hub.console.security import COOKIE
from node.storage.database import Database, utc_now_text

EVIL = "<script>alert('x')</script>"


async def checkpoint_rows(db: Database) -> None:
    """WS: checkpoints that went back and a heartbeat behind them; FJ: a conflicting
    head refused; TO: consistent."""
    now = datetime.now(UTC)
    rows = [
        ("WS", 10, now - timedelta(minutes=3)),
        ("WS", 30, now - timedelta(minutes=2)),
        ("WS", 20, now - timedelta(minutes=1)),
        ("TO", 5, now - timedelta(minutes=1)),
        ("FJ", 7, now - timedelta(minutes=1)),
    ]
    async with db.transaction() as tx:
        for member, count, at in rows:
            await tx.execute(
                "INSERT INTO checkpoints (member, count, head, at, checkpoint)"
                " VALUES (?, ?, ?, ?, x'00')",
                (member, count, bytes([count]) * 32, utc_now_text(at)),
            )
        for member, audit_count in (("WS", 12), ("TO", 5)):
            await tx.execute(
                "INSERT INTO hub_members (member, audit_count) VALUES (?, ?)",
                (member, audit_count),
            )
        await tx.audit("rejected", peer="FJ", reason="checkpoint_conflict", envelope=b"x")


async def hostile_rows(db: Database) -> None:
    """An alert for the hub and a link whose text is markup: it must come out inert."""
    alert = {
        "title": EVIL,
        "summary": f"summary {EVIL}",
        "priority": "urgent",
        "tlp": "AMBER",
        "payload": {
            "topic": "identity_fraud",
            "fraud_type": "impostor",
            "documents": [{"kind": "passport", "number": "N1", "issuing_state": "TON"}],
            "persons": [{"family_name": EVIL[:100], "role": "suspect"}],
        },
    }
    async with db.transaction() as tx:
        entry = await tx.audit("received", message_id=MID, peer="WS", topic="identity_fraud")
        await tx.execute(
            "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
            " audit_seq) VALUES (?, ?, 'WS', 'identity_fraud', 'AMBER', 'urgent', ?, ?)",
            (MID, utc_now_text(), json.dumps(alert), entry.entry.seq),
        )
        await tx.execute(
            "INSERT INTO hub_links (id, kind, label, strength, rule, alerts, reasons, keys, count,"
            " first_seen, updated_at) VALUES ('abc', 'person', ?, 'weak', 'members', ?, ?, '[]',"
            " 2, ?, ?)",
            (
                EVIL,
                json.dumps(
                    [
                        {"message_id": MID, "sender": "WS", "at": utc_now_text(), "label": EVIL},
                        {"message_id": MID, "sender": "FJ", "at": utc_now_text(), "label": EVIL},
                    ]
                ),
                json.dumps([EVIL]),
                utc_now_text(),
                utc_now_text(),
            ),
        )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    db = await Database.open(tmp_path / "hub.db")
    await store.create_tables(db)
    await hostile_rows(db)
    await checkpoint_rows(db)
    await db.close()
    async with console_app(tmp_path / "hub.db", make_keyring().directory, tmp_path) as app:
        yield app


async def test_pages_need_a_login(app: App) -> None:
    for path in ("/network", "/traffic", "/alerts", "/correlations", "/bulletins", "/audit"):
        response = await app.client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await app.client.get("/events")).status_code == 303
    assert (await app.client.get("/network?partial=1")).status_code == 401


async def test_login_cookie_and_one_time_password(app: App) -> None:
    response = await login(app, "not the password")
    assert response.status_code == 401 and "Wrong user name or password" in response.text
    before = app.client.cookies.get(COOKIE)
    response = await login(app, app.one_time)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert app.client.cookies.get(COOKIE) != before  # a fresh id at login
    # Until the one-time password is replaced, every page sends you to /password.
    assert (await app.client.get("/alerts")).headers["location"] == "/password"
    page = await app.client.get("/password")
    weak = await app.client.post(
        "/password",
        data={
            "csrf": csrf_of(page.text),
            "current": app.one_time,
            "new": "short",
            "again": "short",
        },
    )
    assert weak.status_code == 400 and "12 to 1024 characters" in weak.text
    stored = json.loads(app.hub.settings.password_file.read_text())
    assert stored["users"]["operator"]["hash"].startswith("$argon2id$")
    assert app.hub.settings.password_file.stat().st_mode & 0o777 == 0o600
    await logged_in_after(app, page.text)
    assert not json.loads(app.hub.settings.password_file.read_text())["users"]["operator"][
        "one_time"
    ]


async def logged_in_after(app: App, page: str) -> None:
    response = await app.client.post(
        "/password", data={"csrf": csrf_of(page), "current": app.one_time, "new": NEW, "again": NEW}
    )
    assert response.headers["location"] == "/network"
    assert (await app.client.get("/alerts")).status_code == 200


async def test_posts_without_the_csrf_token_are_refused(app: App) -> None:
    token = await logged_in(app)
    form = {"title": "t", "analysis": "a", "to": "WS", "priority": "routine", "tlp": "AMBER"}
    for data in (form, {**form, "csrf": "wrong"}):
        response = await app.client.post("/bulletins", data=data)
        assert response.status_code == 403
    response = await app.client.post(
        "/bulletins", data={**form, "csrf": token}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert app.hub.sent == []
    response = await app.client.post("/bulletins", data={**form, "csrf": token})
    assert response.status_code == 303 and response.headers["location"] == f"/bulletins?sent={MID}"
    assert app.hub.sent[0].recipients == ["WS"]
    assert (await app.client.post("/logout", data={"csrf": "wrong"})).status_code == 403


async def test_content_is_escaped_and_headers_are_strict(app: App) -> None:
    await logged_in(app)
    for path in ("/alerts", f"/alerts/{MID}", "/correlations?weak=1", "/bulletins"):
        response = await app.client.get(path)
        assert response.status_code == 200, path
        assert EVIL not in response.text, path
        assert "&lt;script&gt;" in response.text, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    assert (await app.client.get("/alerts/01a22874-0000-7000-8000-000000000000")).status_code == 404


async def test_unknown_host_is_refused(app: App) -> None:
    response = await app.client.get("/login", headers={"host": "attacker.example"})
    assert response.status_code == 400


async def test_failed_logins_are_throttled(app: App) -> None:
    for _ in range(5):
        assert (await login(app, "guess-guess-guess")).status_code == 401
    response = await login(app, app.one_time)  # even the right password, for a while
    assert response.status_code == 429


async def test_logout_ends_the_session(app: App) -> None:
    token = await logged_in(app)
    response = await app.client.post("/logout", data={"csrf": token})
    assert response.status_code == 303
    assert (await app.client.get("/network")).status_code == 303


async def test_audit_page_raises_the_alarms(app: App) -> None:
    await logged_in(app)
    page = (await app.client.get("/audit")).text

    def state(code: str) -> str:
        match = re.search(rf'data-member="{code}" data-state="(\w+)"', page)
        assert match, code
        return match.group(1)

    assert (state("WS"), state("FJ"), state("TO"), state("XH")) == ("alarm", "alarm", "ok", "none")
    assert "a later checkpoint has fewer entries than an earlier one" in page
    assert "its heartbeat reports 12 entries, fewer than checkpoint 30" in page
    assert "1 conflicting checkpoint(s): two heads for one count" in page


async def test_traffic_filters_keep_known_values_only(app: App) -> None:
    await logged_in(app)
    response = await app.client.get("/traffic?sender=WS&topic=x'%20OR%201=1&kind=alert")
    assert response.status_code == 200
    assert '<option value="WS" selected>' in response.text
    assert "selected>x" not in response.text
    with pytest.raises(ValueError, match="no such traffic kind"):
        await store.traffic_page(app.hub.reader, store.TrafficQuery(kind="1=1; --"), store.Window())
