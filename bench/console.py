"""The hub console on a year of traffic: how long each page and each search takes.

Generates (once; ``--db`` keeps it for the next run) a hub database holding a year
of a 20-member network (``tests/hub/yearkit.py``: 125,000 alerts by default, over
100,000 of them addressed to the hub, their receipts, links, checkpoints and
bulletins), then renders every console page, and every search and filter on it,
through the ASGI app in this process (httpx.ASGITransport, logged in): the time is
the server's, from request to the last byte, without a network. Each case runs
``--rounds`` times; the table shows the median and the slowest. Nothing is asserted:
the target is every page under 1 s; cases over it are marked.

  python bench/console.py                       # generate into a temporary file
  python bench/console.py --db /tmp/year.db     # generate once, reuse afterwards
  python bench/console.py --alerts 20000 --rounds 3

Writes bench/results/console.json (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "hub")]

import yearkit  # noqa: E402
from consolekit import App, console_app, logged_in  # noqa: E402

from node.hub.console.search import cursor  # noqa: E402
from node.storage.readonly import read_only  # noqa: E402

TARGET_S = 1.0


@dataclass
class Case:
    page: str
    what: str
    url: str


def samples(db: Path) -> dict[str, Any]:
    """Values to search for, taken from the database: an often-seen and a rarely-seen
    document, vessel and person, a phone, ids, a large link and keys deep in each list."""
    with read_only(db) as snap:

        def one(sql: str, params: tuple[Any, ...] = ()) -> Any:
            row = snap.one(sql, params)
            return row[0] if row else None

        def term(kind: str, order: str) -> str:
            return str(
                one(
                    "SELECT term FROM hub_terms WHERE kind = ? GROUP BY term"  # noqa: S608
                    f" ORDER BY COUNT(*) {order}, term LIMIT 1",
                    (kind,),
                )
            )

        inbox = one("SELECT COUNT(*) FROM inbox")
        mid_inbox = snap.one(
            "SELECT received_at, message_id FROM inbox ORDER BY received_at, message_id"
            " LIMIT 1 OFFSET ?",
            (inbox // 2,),
        )
        traffic = one("SELECT MAX(stream_seq) FROM hub_traffic")
        richest = one(
            "SELECT message_id FROM hub_mentions GROUP BY message_id ORDER BY COUNT(*) DESC LIMIT 1"
        )
        with_mrz = one("SELECT message_id FROM inbox WHERE alert LIKE '%\"mrz\"%' LIMIT 1")
        links = one("SELECT COUNT(*) FROM hub_links")
        mid_link = snap.one(
            "SELECT updated_at, id FROM hub_links ORDER BY updated_at, id LIMIT 1 OFFSET ?",
            (links // 2,),
        )
        return {
            "doc_often": term("document", "DESC"),
            "doc_rare": term("document", "ASC"),
            "doc_some": one(
                "SELECT term FROM hub_terms WHERE kind = 'document' GROUP BY term"
                " HAVING COUNT(*) BETWEEN 20 AND 40 LIMIT 1"
            ),
            "imo": one(
                "SELECT term FROM hub_terms WHERE kind = 'vessel' AND length(term) = 7"
                " AND term GLOB '[0-9]*' LIMIT 1"
            ),
            "mmsi": one(
                "SELECT term FROM hub_terms WHERE kind = 'vessel' AND length(term) = 9"
                " AND term GLOB '[0-9]*' LIMIT 1"
            ),
            "vessel_name": one(
                "SELECT term FROM hub_terms WHERE kind = 'vessel' AND term LIKE '% %' LIMIT 1"
            ),
            "person": one(
                "SELECT term FROM hub_terms WHERE kind = 'person' AND term LIKE '% %'"
                " GROUP BY term ORDER BY COUNT(*) DESC LIMIT 1"
            ),
            "family": term("person", "DESC"),
            "phone": one(
                "SELECT term FROM hub_terms WHERE kind = 'phone' AND length(term) > 9 LIMIT 1"
            ),
            "id_prefix": str(one("SELECT message_id FROM inbox LIMIT 1 OFFSET ?", (inbox // 3,)))[
                :13
            ],
            "traffic_id_prefix": str(
                one(
                    "SELECT message_id FROM hub_traffic WHERE kind = 'alert' AND stream_seq > ?"
                    " AND message_id IS NOT NULL LIMIT 1",
                    (traffic // 4,),
                )
            )[:13],
            "richest": richest,
            "with_mrz": with_mrz,
            "big_link": one("SELECT id FROM hub_links ORDER BY count DESC LIMIT 1"),
            "strong_link": one(
                "SELECT id FROM hub_links WHERE strength = 'strong' ORDER BY count DESC LIMIT 1"
            ),
            "inbox_middle": cursor((mid_inbox[0], mid_inbox[1])),
            "traffic_middle": str(traffic // 2),
            "link_middle": cursor((mid_link[0], mid_link[1])),
            "bulletin_middle": cursor(
                tuple(
                    snap.one(
                        "SELECT created_at, message_id FROM hub_bulletins"
                        " ORDER BY created_at LIMIT 1 OFFSET ?",
                        ((one("SELECT COUNT(*) FROM hub_bulletins") or 2) // 2,),
                    )
                    or ("", "")
                )
            ),
        }


def cases(s: dict[str, Any], end: datetime) -> list[Case]:
    def q(text: str) -> str:
        return quote(text, safe=":")

    old = (end - timedelta(days=300)).date().isoformat()
    month = (end - timedelta(days=200)).date()
    month_range = f"since={month.isoformat()}&until={(month + timedelta(days=30)).isoformat()}"
    return [
        Case("network", "members", "/network"),
        Case("traffic", "newest alerts (receipts folded)", "/traffic"),
        Case("traffic", "200 rows", "/traffic?n=200"),
        Case("traffic", "receipts", "/traffic?kind=receipt"),
        Case("traffic", "alerts and receipts", "/traffic?kind=all"),
        Case("traffic", "from FJ", "/traffic?sender=FJ"),
        Case("traffic", "topic asylum", "/traffic?topic=asylum"),
        Case("traffic", "TLP RED", "/traffic?tlp=RED"),
        Case("traffic", "priority flash", "/traffic?priority=flash"),
        Case("traffic", "failed verification", "/traffic?kind=all&status=rejected"),
        Case("traffic", "NU + asylum + RED (rare)", "/traffic?sender=NU&topic=asylum&tlp=RED"),
        Case("traffic", "message id prefix", f"/traffic?q={s['traffic_id_prefix']}"),
        Case("traffic", "last 7 days", "/traffic?since=7d"),
        Case("traffic", "until 300 days ago", f"/traffic?until={old}"),
        Case("traffic", "one month, 200 days ago", f"/traffic?{month_range}"),
        Case("traffic", "a page mid-year", f"/traffic?before={s['traffic_middle']}"),
        Case("traffic", "newer from mid-year", f"/traffic?after={s['traffic_middle']}"),
        Case("alerts", "newest", "/alerts"),
        Case("alerts", "200 rows", "/alerts?n=200"),
        Case("alerts", "document (often seen)", f"/alerts?q=doc:{q(s['doc_often'])}"),
        Case("alerts", "document (seen once)", f"/alerts?q={q(s['doc_rare'])}"),
        Case("alerts", "vessel IMO", f"/alerts?q={s['imo']}"),
        Case("alerts", "vessel MMSI", f"/alerts?q=mmsi:{s['mmsi']}"),
        Case("alerts", "vessel name", f"/alerts?q=vessel:{q(s['vessel_name'])}"),
        Case("alerts", "person name", f"/alerts?q=person:{q(s['person'])}"),
        Case("alerts", "a common word of a name", f"/alerts?q={q(s['family'])}"),
        Case("alerts", "name prefix (2 letters)", f"/alerts?q={q(s['family'][:2])}"),
        Case("alerts", "phone", f"/alerts?q=phone:{s['phone']}"),
        Case("alerts", "message id prefix", f"/alerts?q={s['id_prefix']}"),
        Case("alerts", "from FJ", "/alerts?sender=FJ"),
        Case("alerts", "topic maritime", "/alerts?topic=maritime"),
        Case("alerts", "TLP RED", "/alerts?tlp=RED"),
        Case("alerts", "last 30 days", "/alerts?since=30d"),
        Case("alerts", "one month, 200 days ago", f"/alerts?{month_range}"),
        Case(
            "alerts",
            "name + from + TLP + month",
            f"/alerts?q={q(s['family'])}&sender=FJ&tlp=AMBER&{month_range}",
        ),
        Case("alerts", "alerts of the largest link", f"/alerts?link={s['big_link']}"),
        Case("alerts", "a page mid-year", f"/alerts?before={q(s['inbox_middle'])}"),
        Case("alert", "most entities", f"/alerts/{s['richest']}"),
        Case("alert", "with an MRZ", f"/alerts/{s['with_mrz']}"),
        Case("correlations", "newest links (no weak)", "/correlations"),
        Case("correlations", "with weak links", "/correlations?weak=1"),
        Case("correlations", "persons", "/correlations?kind=person"),
        Case("correlations", "medium", "/correlations?strength=medium"),
        Case("correlations", "ports (weak)", "/correlations?kind=port&strength=weak"),
        Case("correlations", "member FJ", "/correlations?sender=FJ"),
        Case("correlations", "document search", f"/correlations?q={q(s['doc_often'])}"),
        Case("correlations", "person search", f"/correlations?q={q(s['person'])}"),
        Case("correlations", "links of an alert", f"/correlations?alert={s['richest']}&weak=1"),
        Case("correlations", "last 30 days", "/correlations?since=30d"),
        Case("correlations", "a page mid-year", f"/correlations?before={q(s['link_middle'])}"),
        Case("bulletins", "newest, with delivery", "/bulletins"),
        Case("bulletins", "TLP AMBER", "/bulletins?tlp=AMBER"),
        Case("bulletins", "to FJ", "/bulletins?recipient=FJ"),
        Case("bulletins", "title words", "/bulletins?q=analysis"),
        Case("bulletins", "a page mid-year", f"/bulletins?before={q(s['bulletin_middle'])}"),
        Case("bulletins", "citing a link", f"/bulletins?link={s['strong_link']}"),
        Case("audit", "members' checkpoints", "/audit"),
        Case("export", "traffic CSV, last 7 days", "/traffic/export.csv?since=7d"),
        Case("export", "alerts CSV, last 30 days", "/alerts/export.csv?since=30d"),
        Case(
            "export", "alerts STIX, one document", f"/alerts/export.stix.json?q={q(s['doc_some'])}"
        ),
        Case("export", "links CSV, persons", "/correlations/export.csv?kind=person"),
    ]


async def timed(app: App, url: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    response = await app.client.get(url)
    body = response.content
    return time.perf_counter() - start, response.status_code, len(body)


async def run(db: Path, end: datetime, rounds: int) -> list[dict[str, Any]]:
    s = samples(db)
    results = []
    with tempfile.TemporaryDirectory() as root:
        keyring = yearkit.make_keyring(codes=(yearkit.HUB, *yearkit.MEMBERS), now=end)
        async with console_app(db, keyring.directory, Path(root), clock=end) as app:
            await logged_in(app)
            for case in cases(s, end):
                times, status, size = [], 0, 0
                for _ in range(rounds):
                    t, status, size = await timed(app, case.url)
                    times.append(t)
                results.append(
                    {
                        "page": case.page,
                        "what": case.what,
                        "url": case.url,
                        "status": status,
                        "bytes": size,
                        "median_ms": round(statistics.median(times) * 1000, 1),
                        "max_ms": round(max(times) * 1000, 1),
                    }
                )
                print_row(results[-1])
    return results


def print_row(r: dict[str, Any]) -> None:
    flag = " OVER 1 s" if r["max_ms"] > TARGET_S * 1000 and r["page"] != "export" else ""
    status = "" if r["status"] == 200 else f" HTTP {r['status']}"
    print(
        f"{r['page']:<13} {r['what']:<34} {r['median_ms']:>9.1f} {r['max_ms']:>9.1f}"
        f" {r['bytes'] / 1024:>8.0f}{status}{flag}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench/console.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", type=Path, help="the year's database: made if missing, else reused")
    parser.add_argument("--alerts", type=int, default=125_000, help="alerts in the year")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5, help="renders of each case")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "console.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "year.db"
        meta = db.with_name(db.name + ".json")
        if not db.exists():
            print(f"generating {args.alerts} alerts into {db} …", flush=True)
            started = time.perf_counter()
            plan = yearkit.Plan(alerts=args.alerts, seed=args.seed)
            year = yearkit.build(db, plan)
            took = round(time.perf_counter() - started, 1)
            meta.write_text(
                json.dumps({"end": plan.end.isoformat(), "counts": year.counts, "seconds": took})
            )
            print(f"generated in {took} s: {year.counts}", flush=True)
        fixture = json.loads(meta.read_text())
        end = datetime.fromisoformat(fixture["end"])
        print(f"{'page':<13} {'case':<34} {'median ms':>9} {'max ms':>9} {'KiB':>8}")
        results = asyncio.run(run(db, end, args.rounds))
        size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p != meta)
    pages = [r for r in results if r["page"] != "export"]
    slowest = max(pages, key=lambda r: r["max_ms"])
    print(
        f"\n{len(pages)} page cases: slowest {slowest['max_ms']} ms ({slowest['page']}:"
        f" {slowest['what']}); {sum(r['max_ms'] > TARGET_S * 1000 for r in pages)} over 1 s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"python": platform.python_version(), "platform": platform.platform()},
                "fixture": {**fixture, "database_bytes": size},
                "rounds": args.rounds,
                "target_ms": TARGET_S * 1000,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
