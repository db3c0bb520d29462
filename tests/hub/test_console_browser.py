"""The console in a real browser (headless Chromium, Playwright) against a real hub and
members on a real nats-server: log in, watch a member go offline and come back, see a
correlation appear, send a bulletin and see its receipts.

Screenshots of every page go to ``$LALI_SCREENSHOTS`` (``docs/img`` to refresh the ones
in the repository), else to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hubkit import BusWatch, HubNet, MemberProcess, passport_alert, start_hubnet, until
from nodekit import accepted
from playwright.async_api import Locator, Page, async_playwright, expect
from testkit import sample_alert

from node.hub import store
from schemas.alert import Topic

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NEW_PASSWORD = "tide-chart-lantern-42"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists() and shutil.which("chromium") is None,
        reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
    ),
]


def chromium_path() -> str:
    return str(CHROMIUM) if CHROMIUM.exists() else str(shutil.which("chromium"))


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("LALI_SCREENSHOTS")
    out = Path(target).resolve() if target else tmp_path / "img"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 900})
            yield await context.new_page()
            await context.close()
        finally:
            await browser.close()


async def shot(page: Page, shots: Path, name: str) -> None:
    if await page.locator("#live-state").count():  # logged in: live updates connected
        await expect(page.locator("#live-state.on")).to_have_count(1)
    await page.screenshot(path=str(shots / f"console-{name}.png"), full_page=True)


async def log_in(page: Page, net: HubNet) -> None:
    await page.goto(f"{net.url}/network")
    await expect(page).to_have_url(f"{net.url}/login")
    await page.fill("input[name=user]", "operator")
    await page.fill("input[name=password]", "wrong password!")
    await page.click("main button[type=submit]")
    await expect(page.locator("p.error")).to_contain_text("Wrong user name or password")
    await page.fill("input[name=password]", net.one_time_password)
    await page.click("main button[type=submit]")
    # A one-time password must be replaced before anything else opens.
    await expect(page).to_have_url(f"{net.url}/password")
    await page.goto(f"{net.url}/alerts")
    await expect(page).to_have_url(f"{net.url}/password")
    await page.fill("input[name=current]", net.one_time_password)
    await page.fill("input[name=new]", NEW_PASSWORD)
    await page.fill("input[name=again]", NEW_PASSWORD)
    await page.click("main button[type=submit]")
    await expect(page).to_have_url(f"{net.url}/network")
    cookies = await page.context.cookies()
    (session,) = [c for c in cookies if c["name"] == "lali_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"


def member_row(page: Page, code: str, status: str) -> Locator:
    return page.locator(f"#members tr[data-member={code}][data-status={status}]")


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[HubNet]:
    """The hub and WS, FJ in this process; TO runs as its own process (see the test)."""
    hubnet = await start_hubnet(tmp_path, members=("WS", "FJ"))
    try:
        yield hubnet
    finally:
        try:
            await hubnet.close()
        finally:
            await asyncio.to_thread(hubnet.server.stop)


async def test_console_in_a_browser(net: HubNet, page: Page, shots: Path) -> None:
    bus = BusWatch(net.hub)
    to = MemberProcess(net.network, "TO")
    await to.start()
    try:
        await bus.status("TO", "online")
        await page.goto(f"{net.url}/login")
        await shot(page, shots, "login")
        await log_in(page, net)

        # 1. Network: everyone online; TO crashes (no goodbye), goes late then offline;
        #    it restarts and comes back — all by live updates, no reload.
        for code in ("XH", "WS", "FJ", "TO"):
            await expect(member_row(page, code, "online")).to_have_count(1, timeout=20_000)
        await expect(page.locator("#live-state.on")).to_have_count(1)
        await to.kill()
        await expect(member_row(page, "TO", "offline")).to_have_count(1, timeout=20_000)
        # While it is away, what is sent to it waits in its consumer: lag, then catch-up.
        waiting = await net.nodes["WS"].send(sample_alert(Topic.IRREGULAR_MIGRATION), ["TO"])
        assert waiting.state == "published"
        lagging = page.locator(
            "#members tr[data-member=TO][data-status=offline]:not([data-lag='0'])"
        )
        await expect(lagging).to_have_count(1, timeout=20_000)
        await shot(page, shots, "network-offline")
        await to.start()
        await expect(member_row(page, "TO", "online")).to_have_count(1, timeout=30_000)
        caught_up = page.locator("#members tr[data-member=TO][data-lag='0']")
        await expect(caught_up).to_have_count(1, timeout=30_000)
        # A clean stop shows at once as "stopped".
        await net.stop_member("WS")
        await expect(member_row(page, "WS", "stopped")).to_have_count(1, timeout=20_000)
        await net.start_member("WS")
        await expect(member_row(page, "WS", "online")).to_have_count(1, timeout=20_000)

        # 2. Traffic the hub cannot read, and alerts addressed to it.
        maritime = await net.nodes["FJ"].send(sample_alert(Topic.MARITIME), ["WS"])
        await net.watchers["WS"].wait(accepted(maritime.message_id))
        people = await net.nodes["FJ"].send(sample_alert(Topic.PEOPLE_SMUGGLING), ["all"])
        for sender, topic, recipients in (  # a little more traffic, for the screenshots
            ("WS", Topic.HUMAN_TRAFFICKING, ["XH", "FJ"]),
            ("FJ", Topic.ASYLUM, ["XH"]),
            ("WS", Topic.DRUG_SMUGGLING, ["FJ", "TO"]),
            ("FJ", Topic.MARITIME, ["XH", "WS"]),
        ):
            await net.nodes[sender].send(sample_alert(topic), recipients)
        stolen = await net.nodes["FJ"].send(sample_alert(Topic.IDENTITY_FRAUD), ["XH", "WS"])
        await page.goto(f"{net.url}/traffic")
        row = page.locator("#traffic tr[data-kind=alert][data-sender=FJ]")
        await expect(row.first).to_be_visible(timeout=20_000)

        # 3. Two members report the same passport: a link appears on the open page.
        await page.goto(f"{net.url}/correlations")
        await expect(page.locator("article.link")).to_have_count(0)
        first = await net.nodes["WS"].send(
            passport_alert("N1234567", "TUPOU", "SIONE", "1990-04-02", "Impostor at Fua'amotu"),
            ["XH"],
        )
        second = await net.nodes["FJ"].send(
            passport_alert("N1234567", "Tupou", "Sione", "1990-04-02", "Same passport at Nadi"),
            ["XH", "TO"],
        )
        document = page.locator("article.link[data-kind=document]")
        await expect(document).to_have_count(1, timeout=20_000)
        await expect(document).to_contain_text("N1234567")
        await expect(document).to_contain_text("reported by 2 members: FJ, WS")
        await expect(page.locator("article.link[data-kind=person]")).to_have_count(1)
        await expect(page.locator("svg#timeline circle")).to_have_count(4)
        await shot(page, shots, "correlations")

        await page.goto(f"{net.url}/alerts")
        await expect(
            page.locator(f"#alerts tr[data-message='{second.message_id}']")
        ).to_be_visible()
        await expect(
            page.locator(f"#alerts tr[data-message='{people.message_id}']")
        ).to_be_visible()
        # The maritime alert went to WS only: the hub lists it as traffic, never as content.
        await expect(
            page.locator(f"#alerts tr[data-message='{maritime.message_id}']")
        ).to_have_count(0)
        await shot(page, shots, "alerts")
        # The search box: a passport number finds the two alerts that name it.
        await page.fill("input[name=q]", "n123 4567")
        await page.click("form.filters button[type=submit]")
        await expect(page.locator("#alerts tbody tr[data-message]")).to_have_count(2)
        for found in (first, second):
            await expect(
                page.locator(f"#alerts tr[data-message='{found.message_id}']")
            ).to_be_visible()
        await page.goto(f"{net.url}/alerts/{maritime.message_id}")
        await expect(page.locator("h1")).to_have_text("Not here")
        await page.goto(f"{net.url}/alerts/{first.message_id}")
        await expect(page.locator("h1")).to_have_text("Impostor at Fua'amotu")

        # A readable alert: tables, and the MRZ in a monospace block inside its column,
        # even in a narrow window; UTC times get the browser's local time beside them.
        async def held() -> bool:
            return await store.inbox_alert(net.hub.reader, stolen.message_id) is not None

        await until("the hub holds the stolen-passport alert", held)
        await page.goto(f"{net.url}/alerts/{stolen.message_id}")
        await expect(page.locator("#documents pre.mrz")).to_contain_text("P<TONFINAU<<SIOSAIA")
        await expect(page.locator("#persons tbody tr")).to_have_count(2)
        await expect(page.locator("time[data-local=inline] + span.local").first).to_be_visible()
        assert "local" in (await page.locator("time[datetime]").first.get_attribute("title") or "")
        await shot(page, shots, "alert")
        await page.set_viewport_size({"width": 760, "height": 900})
        fits = await page.evaluate(
            """() => {
                const mrz = document.querySelector("pre.mrz").getBoundingClientRect();
                const table = document.querySelector("#documents").getBoundingClientRect();
                const font = getComputedStyle(document.querySelector("pre.mrz")).fontFamily;
                const wide = document.documentElement.scrollWidth;
                return {inside: mrz.right <= table.right + 1, page: wide <= window.innerWidth,
                        mono: /mono/i.test(font)};
            }"""
        )
        assert fits == {"inside": True, "page": True, "mono": True}, fits
        await page.set_viewport_size({"width": 1440, "height": 900})
        # Traffic: one row per alert, its receipts counted in (seen / recipients).
        await page.goto(f"{net.url}/traffic")
        row = page.locator(f"#traffic tr[data-message='{people.message_id}'] td.receipts")
        await expect(row).to_have_text("3/3", timeout=30_000)
        await expect(page.locator("#traffic tr[data-kind=receipt]")).to_have_count(0)
        await shot(page, shots, "traffic")

        # 4. A bulletin citing the link, to WS and FJ; receipts come back live.
        await page.goto(f"{net.url}/bulletins")
        await page.fill("input[name=title]", "Stolen Tongan passport N1234567 used twice")
        await page.fill("textarea[name=summary]", "Two members saw the same passport in a week.")
        await page.fill(
            "textarea[name=analysis]",
            "Same document, same holder details, two ports: likely one impostor.\n"
            "Recommendation: refer N1234567 to secondary at every port.",
        )
        await page.select_option("select[name=priority]", "urgent")
        await page.select_option("select[name=confidence]", "moderate")
        await page.check("input[name=to][value=WS]")
        await page.check("input[name=to][value=FJ]")
        await page.locator("input[name=link]").first.check()
        await page.check("input[name=entities]")
        await page.click("#compose button[type=submit]")
        sent = page.locator("article.bulletin.highlight")
        await expect(sent).to_have_count(1, timeout=20_000)
        for code in ("WS", "FJ"):
            await expect(
                sent.locator(f"tr[data-recipient={code}][data-state=delivered]")
            ).to_have_count(1, timeout=30_000)
        await shot(page, shots, "bulletins")

        # 5. Audit: every member's checkpoints, consistent.
        await page.goto(f"{net.url}/audit")
        for code in ("WS", "FJ", "TO"):
            await expect(
                page.locator(f"#checkpoints tr[data-member={code}][data-state=ok]")
            ).to_have_count(1, timeout=30_000)
        await page.click("text=Verify now")
        await expect(page.locator("text=chain ok")).to_have_count(1)
        await shot(page, shots, "audit")
        await page.goto(f"{net.url}/network")
        await expect(member_row(page, "TO", "online")).to_have_count(1)
        await shot(page, shots, "network")

        # 6. Logging out ends the session: the next page asks for a login again.
        await page.click("text=Log out")
        await expect(page).to_have_url(f"{net.url}/login")
        await page.goto(f"{net.url}/network")
        await expect(page).to_have_url(f"{net.url}/login")
    finally:
        await to.kill()
