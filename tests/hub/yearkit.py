"""A year of a hub's traffic, written straight into a hub database: the fixture of the
console's tests (a few thousand alerts) and of ``bench/console.py`` (a year: 100,000+
alerts from 20 members).

``build(path, Plan(...))`` writes what a hub that watched 20 members for ``days`` days
holds: the traffic metadata of every alert and receipt (``hub_traffic``, in stream
order), the alerts addressed to the hub (the node's inbox, each with its ``received``
audit entry), their entities and search terms, the links among them (computed by
``correlate.find_links`` and stored by ``store.save_links``), the members' checkpoints
(one per five minutes in which a member's audit log moved), heartbeats and lag, and
the bulletins the hub sent with their receipts.

Everything is drawn from a seeded random generator, so one plan gives one database:
senders weighted (Fiji, New Zealand, Australia and Papua New Guinea report most),
fewer alerts on weekends, a slow growth over the year and a few surge days; topics,
TLP and priority in realistic shares; persons, documents, vessels and phone numbers
from pools where a few recur often (so links exist), some names misspelt (medium
links), some dates of birth missing (weak links). Every alert in the inbox validates
(``parse_alert``): check digits, MRZ, UN/LOCODEs.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from testkit import Keyring, make_keyring

from node.hub import store
from node.hub.correlate import Sighting, find_links, mentions
from node.protocol.wire import message_time, new_message_id
from node.storage.database import Database, utc_now_text
from schemas.alert import Alert, parse_alert
from schemas.checks import icao_check_digit

HUB = "XH"
MEMBERS = (
    "FJ", "NZ", "AU", "PG", "WS", "TO", "VU", "SB", "NC", "PF",
    "KI", "FM", "MH", "GU", "AS", "PW", "CK", "TV", "NR", "NU",
)  # fmt: skip
SENDER_WEIGHTS = (14, 12, 12, 10, 7, 6, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 1.5, 1.5, 1)
ALPHA3 = {
    "FJ": "FJI", "NZ": "NZL", "AU": "AUS", "PG": "PNG", "WS": "WSM", "TO": "TON",
    "VU": "VUT", "SB": "SLB", "NC": "NCL", "PF": "PYF", "KI": "KIR", "FM": "FSM",
    "MH": "MHL", "GU": "GUM", "AS": "ASM", "PW": "PLW", "CK": "COK", "TV": "TUV",
    "NR": "NRU", "NU": "NIU",
}  # fmt: skip
CALLING = {
    "FJ": "679",
    "TO": "676",
    "WS": "685",
    "VU": "678",
    "SB": "677",
    "PG": "675",
    "NZ": "64",
    "AU": "61",
    "KI": "686",
    "NC": "687",
}
# Maritime identification digits (ITU) of the flags vessels fly here: an MMSI starts with one.
MIDS = {"FJ": "520", "NZ": "512", "AU": "503", "PG": "553", "WS": "561", "TO": "570",
        "VU": "576", "SB": "557", "NC": "540", "PF": "546", "KI": "529", "FM": "510"}  # fmt: skip
FAR = ("IND", "CHN", "LKA", "BGD", "PAK", "IDN", "PHL", "VNM")
PORTS = (
    "FJSUV", "FJNAN", "FJLTK", "TONUK", "WSAPW", "VUVLI", "VUSAN", "SBHIR", "PGPOM",
    "PGLAE", "KITRW", "TVFUN", "NRINU", "PWROR", "FMPNI", "MHMAJ", "CKRAR", "NUALO",
    "NZAKL", "NZWLG", "AUBNE", "AUSYD", "NCNOU", "PFPPT", "ASPPG", "GUGUM",
)  # fmt: skip
GIVEN = (
    "SIONE", "SIOSAIA", "TEVITA", "VILIAME", "JONE", "EPELI", "TOMASI", "IOSEFA",
    "SAMUELU", "FETU", "MIKAELE", "LOSANA", "MELE", "SALOTE", "LITIA", "AKANISI",
    "MALIA", "LUSIA", "ANA", "KALOLAINE", "TALIA", "SEINI", "JOHN", "PETER", "DAVID",
    "MARY", "GRACE", "ROHIT", "ANIL", "PRIYA", "SUNIL", "WEI", "MING", "RAJ", "AHMED",
    "FATIMA", "HASAN", "KARIM", "ALI", "CARLOS", "MARIA", "JOSEPH", "PAULO", "FILIPO",
)  # fmt: skip
FAMILY = (
    "TUPOU", "FINAU", "FIFITA", "TAUFA", "NAWALU", "LATU", "MOALA", "HAVILI", "VAIPULU",
    "KATA", "MAHE", "HOPOATE", "TUILAGI", "LEOTA", "FALEOLO", "SOLIAI", "AUMUA", "IOANE",
    "SAPOLU", "RATUVOU", "NAIDU", "SINGH", "CHAND", "PRAKASH", "KUMAR", "BARAVILALA",
    "VUNIWAQA", "QARASE", "KOROI", "TABUA", "WAQA", "TAMATA", "KALSAKAU", "NATAPEI",
    "MOLI", "WANI", "TOMBE", "ZHANG", "WANG", "CHEN", "HUSSAIN", "RAHMAN", "KHAN",
    "PERERA", "FERNANDO", "REYES", "SANTOS", "CRUZ",
)  # fmt: skip
SHIP_WORDS = (
    ("KAIVITI", "CORAL", "OCEAN", "PACIFIC", "SOUTHERN", "BLUE", "GOLDEN", "ISLAND", "REEF",
     "TASMAN", "LAGOON", "SAMOAN", "TONGAN", "MELANESIAN", "SUNRISE"),
    ("STAR", "MERIDIAN", "SPIRIT", "PRINCESS", "VOYAGER", "TRADER", "HARVEST", "CROWN",
     "WIND", "PEARL", "DAWN", "QUEEN", "EXPLORER", "MARINER", "BREEZE"),
)  # fmt: skip
TOPICS = (
    ("irregular_migration", 25), ("maritime", 20), ("identity_fraud", 18),
    ("people_smuggling", 10), ("drug_smuggling", 10), ("human_trafficking", 9),
    ("asylum", 8),
)  # fmt: skip
TLPS = (("CLEAR", 8), ("GREEN", 35), ("AMBER", 40), ("AMBER+STRICT", 11), ("RED", 6))
PRIORITIES = (("routine", 60), ("urgent", 32), ("flash", 8))
REJECTIONS = ("bad_signature", "unknown_key", "key_not_valid", "sender_mismatch", "malformed")
CHECKPOINT_SLOT = timedelta(minutes=5)


@dataclass(frozen=True)
class Plan:
    """What to generate. ``alerts`` counts every alert on the network (the hub sees
    them all as metadata); about ``hub_share`` of them are addressed to the hub too."""

    alerts: int = 125_000
    days: int = 365
    end: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    seed: int = 7
    hub_share: float = 0.85
    bulletins_per_day: float = 0.8
    checkpoints: bool = True


@dataclass
class Year:
    """What was written: the database, the directory of its members, and counts."""

    path: Path
    keyring: Keyring
    plan: Plan
    counts: dict[str, int]


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _popular(rng: random.Random, n: int) -> int:
    """An index into a pool of ``n``, the first ones far more often (u³)."""
    return min(n - 1, int(n * rng.random() ** 3))


def _imo(rng: random.Random) -> str:
    digits = [9, *(rng.randrange(10) for _ in range(5))]
    check = sum(d * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10
    return "".join(map(str, digits)) + str(check)


def _yymmdd(d: date) -> str:
    return d.strftime("%y%m%d")


def _mrz(
    surname: str, given: str, number: str, state: str, born: date, sex: str, expiry: date
) -> list[str]:
    """A TD3 (passport) machine-readable zone whose check digits verify."""
    line1 = f"P<{state}{surname.replace(' ', '<')}<<{given.replace(' ', '<')}".ljust(44, "<")
    number9 = number.ljust(9, "<")
    head = f"{number9}{icao_check_digit(number9)}{state}"
    birth = f"{_yymmdd(born)}{icao_check_digit(_yymmdd(born))}"
    until = f"{_yymmdd(expiry)}{icao_check_digit(_yymmdd(expiry))}"
    line2 = f"{head}{birth}{sex}{until}{'<' * 14}<"
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    return [line1[:44], line2 + str(icao_check_digit(composite))]


class Pools:
    """Persons (with their passports), vessels and phone numbers that alerts name."""

    def __init__(self, rng: random.Random, alerts: int) -> None:
        self.rng = rng
        self.persons = [self._person(i) for i in range(max(300, alerts // 4))]
        self.vessels = [self._vessel() for _ in range(max(60, alerts // 80))]
        self.phones = [self._phone() for _ in range(max(100, alerts // 25))]

    def _person(self, i: int) -> dict[str, Any]:
        rng = self.rng
        far = rng.random() < 0.3
        nationality = rng.choice(FAR) if far else ALPHA3[rng.choice(MEMBERS)]
        given = " ".join(rng.sample(GIVEN, 2 if rng.random() < 0.3 else 1))
        person: dict[str, Any] = {
            "family_name": rng.choice(FAMILY),
            "given_names": given,
            "sex": rng.choice("MF"),
            "nationality": nationality,
        }
        if rng.random() < 0.7:
            person["date_of_birth"] = date(1955, 1, 1) + timedelta(days=rng.randrange(18000))
        if rng.random() < 0.05:
            person["aliases"] = [f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"]
        number = "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=2)) + str(
            rng.randrange(1_000_000, 9_999_999)
        )
        person["passport"] = {
            "kind": "passport",
            "number": number,
            "issuing_state": nationality,
            "expiry": date(2027, 1, 1) + timedelta(days=rng.randrange(3000)),
        }
        return person

    def _vessel(self) -> dict[str, Any]:
        rng = self.rng
        flag = rng.choice(MEMBERS[:12])
        vessel = {
            "name": f"{rng.choice(SHIP_WORDS[0])} {rng.choice(SHIP_WORDS[1])}",
            "imo": _imo(rng),
            "mmsi": f"{MIDS.get(flag, '503')}{rng.randrange(100_000, 999_999)}",
            "call_sign": "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=5)),
            "flag": flag,
            "kind": rng.choice(("fishing", "cargo", "yacht", "cruise", "other")),
        }
        if rng.random() < 0.2:
            del vessel["imo"]
        return vessel

    def _phone(self) -> str:
        code = self.rng.choice(list(CALLING.values()))
        n = self.rng.randrange(2_000_000, 9_999_999)
        return f"+{code} {str(n)[:3]} {str(n)[3:]}"

    def person(self, role: str, at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        """A person (as the alert writes it) and their passport."""
        base = self.persons[_popular(self.rng, len(self.persons))]
        p = {k: v for k, v in base.items() if k != "passport"}
        if "date_of_birth" in p:
            p["date_of_birth"] = p["date_of_birth"].isoformat()
        if self.rng.random() < 0.03:  # a misspelt family name: two letters swapped
            name = p["family_name"]
            k = self.rng.randrange(len(name) - 1)
            p["family_name"] = name[:k] + name[k + 1] + name[k] + name[k + 2 :]
        p["role"] = role
        doc = dict(base["passport"])
        doc["status"] = self.rng.choice(("stolen", "lost", "fraudulent", "valid", "unknown"))
        if "date_of_birth" in base and self.rng.random() < 0.4:
            doc["mrz"] = _mrz(
                base["family_name"], base["given_names"], doc["number"], doc["issuing_state"],
                base["date_of_birth"], base["sex"], doc["expiry"],
            )  # fmt: skip
        doc["expiry"] = doc["expiry"].isoformat()
        return p, doc

    def vessel(self) -> dict[str, Any]:
        v = dict(self.vessels[_popular(self.rng, len(self.vessels))])
        v["last_port"], v["next_port"] = self.rng.sample(PORTS, 2)
        return v

    def phone(self) -> str:
        return self.phones[_popular(self.rng, len(self.phones))]


def _movement(rng: random.Random, at: datetime, mode: str = "sea") -> dict[str, Any]:
    return {
        "port": rng.choice(PORTS),
        "mode": mode,
        "flight_or_voyage": rng.choice(("NZ", "FJ", "QF", "PX", "KS")) + str(rng.randrange(999)),
        "direction": rng.choice(("inbound", "outbound", "transit")),
        "time": (at - timedelta(hours=rng.randrange(1, 48))).isoformat(),
    }


def _content(
    rng: random.Random, pools: Pools, topic: str, sender: str, at: datetime
) -> dict[str, Any]:
    """The title, summary and payload of one alert on ``topic``."""
    state = ALPHA3[sender]
    phone = pools.phone() if rng.random() < 0.25 else None
    contact = f"Border intelligence unit {state}, duty officer" + (f", {phone}" if phone else "")
    payload: dict[str, Any] = {"topic": topic}
    persons: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []

    def people(n: int, role: str) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            p, d = pools.person(role, at)
            out.append(p)
            if rng.random() < 0.6:
                docs.append(d)
        return out

    if topic == "identity_fraud":
        persons = people(rng.randint(1, 2), "suspect")
        if not docs:
            docs.append(pools.person("other", at)[1])
        kind = rng.choice(("impostor", "counterfeit", "forgery", "lost_or_stolen_in_use"))
        payload |= {
            "fraud_type": kind,
            "modus_operandi": "Document examined at primary line; "
            "referred to secondary for interview.",
        }
        what = kind.replace("_", " ").capitalize()
        title = f"{what} {docs[0]['issuing_state']} passport at primary line"
        summary = f"{persons[0]['family_name']} presented a passport that failed examination."
        payload["movements"] = [_movement(rng, at, "air")]
    elif topic == "maritime":
        vessel = pools.vessel()
        activity = rng.choice(
            ("arrival", "unscheduled_arrival", "loitering", "ais_gap", "transshipment")
        )
        payload |= {
            "vessel": vessel,
            "activity": activity,
            "position": {
                "latitude": round(rng.uniform(-25, 5), 4),
                "longitude": round(rng.uniform(150, 179), 4),
            },
            "persons_on_board": rng.randint(2, 40),
        }
        persons = people(rng.randint(0, 2), "crew")
        payload["movements"] = [_movement(rng, at)]
        title = f"{vessel['name']}: {activity.replace('_', ' ')}"
        summary = f"Vessel {vessel['name']} reported; please report any sighting."
    elif topic == "people_smuggling":
        persons = people(rng.randint(1, 5), "passenger") + people(1, "facilitator")
        payload |= {
            "number_of_persons": rng.randint(len(persons), 40),
            "destination_country": rng.choice(("AU", "NZ")),
            "route_description": "Assessed route through neighbouring waters.",
        }
        if rng.random() < 0.6:
            payload["vessels"] = [pools.vessel()]
        payload["movements"] = [_movement(rng, at)]
        title = f"Smuggling venture towards {payload['destination_country']}"
        summary = "Informant reporting indicates an organised departure without clearance."
    elif topic == "human_trafficking":
        payload["victims"] = people(rng.randint(1, 3), "victim")
        payload["suspects"] = people(rng.randint(0, 2), "suspect")
        payload |= {
            "exploitation": rng.choice(("labour", "sexual", "domestic_servitude")),
            "indicators": rng.sample(
                ["debt_bondage", "documents_withheld", "restricted_movement", "scripted_answers"], 2
            ),
        }
        payload["movements"] = [_movement(rng, at, "air")]
        title = f"Possible trafficking for {payload['exploitation'].replace('_', ' ')} exploitation"
        summary = "Travellers showed several trafficking indicators at arrival."
    elif topic == "drug_smuggling":
        persons = people(rng.randint(0, 2), "suspect")
        payload |= {
            "substance": rng.choice(("methamphetamine", "cocaine", "cannabis")),
            "quantity_kg": round(rng.uniform(0.2, 400), 1),
            "concealment": "Concealed in a false compartment.",
        }
        if rng.random() < 0.5:
            payload["vessels"] = [pools.vessel()]
        payload["movements"] = [_movement(rng, at)]
        title = f"{payload['substance'].capitalize()} seizure"
        summary = "Consignment intercepted after a targeted search."
    elif topic == "irregular_migration":
        persons = people(rng.randint(1, 3), "migrant")
        payload |= {
            "category": rng.choice(
                ("overstay", "illegal_entry", "absconded_crew", "refused_entry")
            ),
            "details": "Located during a compliance operation.",
        }
        payload["movements"] = [_movement(rng, at, rng.choice(("air", "sea")))]
        title = f"{payload['category'].replace('_', ' ').capitalize()}: {persons[0]['family_name']}"
        summary = "Person located and interviewed; immigration status under review."
    else:  # asylum
        persons = people(rng.randint(1, 4), "asylum_seeker")
        payload |= {
            "claim_status": rng.choice(("intention_expressed", "lodged", "under_assessment")),
            "group_size": len(persons) + rng.randint(0, 3),
            "transit_countries": rng.sample(list(FAR), 2),
        }
        payload["movements"] = [_movement(rng, at, "air")]
        title = "Asylum intention expressed at arrival"
        summary = (
            "Group expressed an intention to seek protection; referred to the protection unit."
        )
    if persons and topic != "human_trafficking":
        payload["persons"] = persons
    if docs and topic not in ("maritime", "drug_smuggling"):  # no documents in those
        unique = {d["number"]: d for d in docs}
        payload["documents"] = list(unique.values())[:50]
    if phone and rng.random() < 0.5:
        summary += f" Calls to {phone} traced."
    return {"title": title[:200], "summary": summary, "contact": contact, "payload": payload}


def _times(rng: random.Random, plan: Plan) -> list[datetime]:
    """Alert times over the year: weekdays busier, slow growth, a few surge days,
    most of them in Pacific office hours."""
    start = plan.end - timedelta(days=plan.days)
    weights = []
    for d in range(plan.days):
        day = start + timedelta(days=d)
        w = (1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.5)[day.weekday()] * (0.85 + 0.3 * d / plan.days)
        weights.append(w * (3.0 if rng.random() < 0.04 else 1.0))
    cumulative = list(_accumulate(weights))
    out = []
    for _ in range(plan.alerts):
        d = bisect.bisect_left(cumulative, rng.random() * cumulative[-1])
        hour = (rng.randrange(20, 31) % 24) if rng.random() < 0.8 else rng.randrange(24)
        at = start + timedelta(days=d, hours=hour, seconds=rng.randrange(3600))
        out.append(min(at, plan.end - timedelta(seconds=5)))
    return sorted(out)


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


@dataclass
class _Writer:
    """Rows gathered in memory, then written in a few large transactions."""

    traffic: list[tuple[Any, ...]] = field(default_factory=list)  # (time, row without seq)
    inbox: list[tuple[str, datetime, str, str, str, str, str]] = field(default_factory=list)
    activity: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))


def _alert_row(
    at: datetime,
    mid: str | None,
    sender: str,
    topic: str,
    tlp: str | None,
    priority: str | None,
    size: int,
    recipients: int | None,
    status: str = "verified",
) -> tuple[Any, ...]:
    subject = f"lali.alert.{topic}.{sender}"
    return (
        at,
        "alert",
        subject,
        sender,
        None,
        topic,
        tlp,
        priority,
        size,
        recipients,
        mid,
        at,
        status,
    )


def _receipt_row(at: datetime, mid: str, sender: str, recipient: str) -> tuple[Any, ...]:
    subject = f"lali.receipt.{sender}.{recipient}"
    return (
        at,
        "receipt",
        subject,
        recipient,
        sender,
        None,
        None,
        None,
        152,
        None,
        mid,
        at,
        "verified",
    )


def _receipts(
    rng: random.Random,
    w: _Writer,
    at: datetime,
    mid: str,
    sender: str,
    recipients: list[str],
    end: datetime,
) -> datetime | None:
    """Receipts from ``recipients`` (a few missing, a few hours late); the hub's time."""
    hub_at = None
    for r in recipients:
        if rng.random() < 0.03:
            continue  # never confirmed (member down, or the receipt lost)
        delay = timedelta(seconds=rng.lognormvariate(1.2, 1.0))
        if rng.random() < 0.02:
            delay += timedelta(hours=rng.uniform(1, 30))
        when = at + delay
        if when >= end:
            continue
        w.traffic.append(_receipt_row(when, mid, sender, r))
        w.activity[r].append(when)
        w.activity[sender].append(when + timedelta(milliseconds=300))
        if r == HUB:
            hub_at = when
    return hub_at


async def generate(path: Path, plan: Plan) -> Year:
    """Write the year of ``plan`` into a new hub database at ``path``."""
    rng = random.Random(plan.seed)
    keyring = make_keyring(codes=(HUB, *MEMBERS), now=plan.end)
    pools = Pools(rng, plan.alerts)
    w = _Writer()
    parsed: dict[str, Alert] = {}
    for at in _times(rng, plan):
        sender = rng.choices(MEMBERS, weights=SENDER_WEIGHTS)[0]
        topic = _weighted(rng, TOPICS)
        tlp = _weighted(rng, TLPS)
        priority = _weighted(rng, PRIORITIES)
        others = [m for m in MEMBERS if m != sender]
        if tlp not in ("RED", "AMBER+STRICT") and rng.random() < 0.15:
            recipients = [*others, HUB]  # "all"
        else:
            recipients = rng.sample(others, rng.randint(1, 5))
            if rng.random() < (plan.hub_share - 0.15) / 0.85:
                recipients.append(HUB)
        mid = new_message_id(at, rng.randbytes(10))
        size = 640 + 60 * len(recipients) + rng.randrange(900)
        if rng.random() < 0.002:  # failed verification at the hub: metadata only
            row = _alert_row(
                at, None, sender, topic, None, None, size, None, rng.choice(REJECTIONS)
            )
            w.traffic.append(row)
            continue
        w.traffic.append(_alert_row(at, mid, sender, topic, tlp, priority, size, len(recipients)))
        w.activity[sender].append(at)
        hub_at = _receipts(rng, w, at, mid, sender, recipients, plan.end)
        if HUB in recipients and hub_at is not None:
            content = _content(rng, pools, topic, sender, at)
            data = {
                **content,
                "priority": priority,
                "tlp": tlp,
                "observed_at": (at - timedelta(minutes=rng.randrange(5, 300))).isoformat(),
            }
            text = json.dumps(data)
            parsed[mid] = parse_alert(text)
            w.inbox.append(
                (mid, hub_at - timedelta(milliseconds=200), sender, topic, tlp, priority, text)
            )
    db = await Database.open(path)
    try:
        await store.create_tables(db)
        counts = await _write(db, rng, plan, w, parsed, keyring)
    finally:
        await db.close()
    return Year(path, keyring, plan, counts)


async def _write(
    db: Database,
    rng: random.Random,
    plan: Plan,
    w: _Writer,
    parsed: dict[str, Alert],
    keyring: Keyring,
) -> dict[str, int]:
    bulletins = await _bulletins(db, rng, plan, w, parsed)
    w.traffic.sort(key=lambda r: r[0])
    insert = (
        "INSERT INTO hub_traffic (stream_seq, kind, subject, sender, peer, topic, tlp,"
        " priority, size, recipients, message_id, sent_at, stored_at, seen_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for start in range(0, len(w.traffic), 50_000):
        rows = []
        for n, r in enumerate(w.traffic[start : start + 50_000], start=start + 1):
            t = utc_now_text(r[0])
            sent = None if r[11] is None else utc_now_text(r[11])
            rows.append((n, *r[1:11], sent, t, t, r[12]))
        async with db.transaction() as tx:
            await tx.executemany(insert, rows)
    w.inbox.sort(key=lambda r: r[1])
    sightings = []
    for start in range(0, len(w.inbox), 5_000):
        async with db.transaction() as tx:
            await tx.load_head()
            inbox, indexed, terms, found = [], [], [], []
            for mid, received, sender, topic, tlp, priority, text in w.inbox[start : start + 5000]:
                entry = tx.append_audit(
                    "received", at=received, message_id=mid, peer=sender, topic=topic
                )
                inbox.append(
                    (
                        mid,
                        utc_now_text(received),
                        sender,
                        topic,
                        tlp,
                        priority,
                        text,
                        entry.entry.seq,
                    )
                )
                alert = parsed[mid]
                sent = message_time(mid)  # as the correlation index dates a mention
                for m in mentions(alert):
                    found.append(
                        (
                            mid,
                            sender,
                            utc_now_text(sent),
                            m.kind,
                            m.key,
                            m.label,
                            m.dob,
                            json.dumps(list(m.names)),
                        )
                    )
                    sightings.append((mid, sender, sent, m))
                terms += [(k, t, mid) for k, t in store.search_terms(alert)]
                indexed.append((mid, utc_now_text(received), 0))
            await tx.executemany(
                "INSERT INTO inbox (message_id, received_at, sender, topic, tlp, priority, alert,"
                " audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                inbox,
            )
            await tx.executemany(
                "INSERT OR IGNORE INTO hub_mentions (message_id, sender, at, kind, key, label,"
                " dob, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                found,
            )
            await tx.executemany(
                "INSERT OR IGNORE INTO hub_terms (kind, term, message_id) VALUES (?, ?, ?)", terms
            )
            await tx.executemany(
                "INSERT OR IGNORE INTO hub_indexed (message_id, indexed_at, mentions)"
                " VALUES (?, ?, ?)",
                indexed,
            )
    links = await _links(db, plan, sightings)
    checkpoints = await _checkpoints(db, rng, plan, w) if plan.checkpoints else 0
    await _members(db, rng, plan, w)
    await store.set_state(db, store.TERMS_DONE, True)
    await store.set_state(
        db, "audit_verify", {"ok": True, "count": len(w.inbox), "head": "00" * 8,
                             "at": plan.end.isoformat()},
    )  # fmt: skip
    return {
        "traffic": len(w.traffic),
        "alerts": sum(1 for r in w.traffic if r[1] == "alert"),
        "receipts": sum(1 for r in w.traffic if r[1] == "receipt"),
        "inbox": len(w.inbox),
        "links": links,
        "checkpoints": checkpoints,
        "bulletins": bulletins,
        "members": len(MEMBERS),
    }


async def _links(db: Database, plan: Plan, sightings: list[tuple[Any, ...]]) -> int:
    """The links among the inbox's alerts, as the correlation index would hold them at
    the end of the year; each dated by its alerts (formed at the second, changed at
    the last)."""
    found = find_links(
        [Sighting(mid, sender, at, m) for mid, sender, at, m in sightings],
        window=timedelta(days=30),
    )
    await store.save_links(db, found, plan.end)
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE hub_links SET"
            " first_seen = COALESCE((SELECT at FROM hub_link_alerts a"
            "  WHERE a.link_id = hub_links.id ORDER BY at LIMIT 1 OFFSET 1), first_seen),"
            " updated_at = COALESCE((SELECT MAX(at) FROM hub_link_alerts a"
            "  WHERE a.link_id = hub_links.id), updated_at)"
        )
    return len(found)


async def _checkpoints(db: Database, rng: random.Random, plan: Plan, w: _Writer) -> int:
    """One signed checkpoint per member per five minutes in which its log moved."""
    total = 0
    for member, times in w.activity.items():
        if member == HUB:
            continue
        times.sort()
        rows, slot = [], None
        for count, t in enumerate(times, start=1):
            s = int(t.timestamp() // CHECKPOINT_SLOT.total_seconds())
            if s != slot and slot is not None:
                at = datetime.fromtimestamp((slot + 1) * CHECKPOINT_SLOT.total_seconds(), UTC)
                rows.append((member, count - 1, rng.randbytes(32), utc_now_text(at), b"\x00"))
            slot = s
        total += len(rows)
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT OR IGNORE INTO checkpoints (member, count, head, at, checkpoint)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
    return total


async def _members(db: Database, rng: random.Random, plan: Plan, w: _Writer) -> None:
    """Heartbeats and lag: everyone online but Nauru (offline two hours, with lag)."""
    rows = []
    for member in (HUB, *MEMBERS):
        away = timedelta(hours=2) if member == "NR" else timedelta(seconds=rng.randrange(1, 25))
        seen = plan.end - away
        audit = len(w.activity.get(member, [])) + 10
        rows.append(
            (
                member,
                utc_now_text(seen),
                utc_now_text(seen),
                utc_now_text(plan.end - timedelta(days=20)),
                30.0,
                audit,
                0,
                0,
                50_000,
                57 if member == "NR" else 0,
                0,
                0,
                utc_now_text(plan.end),
            )
        )
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT OR REPLACE INTO hub_members (member, last_seen, beat_at, started_at,"
            " interval_s, audit_count, outbox_depth, stopping, beats, lag_pending, lag_ack_pending,"
            " lag_redelivered, lag_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def _bulletins(
    db: Database, rng: random.Random, plan: Plan, w: _Writer, parsed: dict[str, Alert]
) -> int:
    """About one bulletin a day from the hub, citing recent alerts of one or two
    members, with its outbox row, receipts and traffic."""
    order = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
    inbox = sorted(w.inbox, key=lambda r: r[1])
    times = [r[1] for r in inbox]
    rows, outbox, receipts = [], [], []
    start = plan.end - timedelta(days=plan.days)
    for day in range(plan.days):
        if rng.random() > plan.bulletins_per_day:
            continue
        at = start + timedelta(days=day, hours=rng.randrange(20, 30), minutes=rng.randrange(60))
        if at >= plan.end - timedelta(minutes=5):
            continue
        i = bisect.bisect_left(times, at)
        cited = [r for r in inbox[max(0, i - 200) : i] if r[4] not in ("RED", "AMBER+STRICT")]
        if len(cited) < 2:
            continue
        cited = rng.sample(cited, min(len(cited), rng.randint(2, 4)))
        tlp = max((r[4] for r in cited), key=order.index)
        recipients = sorted({r[2] for r in cited} | set(rng.sample(MEMBERS, rng.randint(1, 3))))
        mid = new_message_id(at, rng.randbytes(10))
        title = f"Regional analysis: {parsed[cited[0][0]].title}"[:200]
        alert = {
            "title": title,
            "summary": "Alerts from several members describe one pattern.",
            "priority": rng.choice(("routine", "urgent")),
            "tlp": tlp,
            "references": [r[0] for r in cited],
            "payload": {
                "topic": "bulletin",
                "analysis": "Same persons and documents across members; assess as one network.",
                "referenced_alerts": [r[0] for r in cited],
                "confidence": rng.choice(("low", "moderate", "high")),
            },
        }
        text = parse_alert(json.dumps(alert)).model_dump_json(exclude_none=True)
        created = utc_now_text(at)
        rows.append((mid, created, title, tlp, alert["priority"], ",".join(recipients), text, "[]"))
        outbox.append(
            (
                mid,
                "alert",
                "lali.alert.bulletin.XH",
                b"",
                1,
                ",".join(recipients),
                created,
                "published",
                created,
            )
        )
        w.traffic.append(
            _alert_row(at, mid, HUB, "bulletin", tlp, str(alert["priority"]), 1500, len(recipients))
        )
        for r in recipients:
            if rng.random() < 0.05 and at > plan.end - timedelta(days=3):
                continue  # overdue: a recent bulletin some member has not confirmed
            when = at + timedelta(seconds=rng.uniform(1, 90))
            receipts.append((mid, r, utc_now_text(when), utc_now_text(when), b"\x00"))
            w.traffic.append(_receipt_row(when, mid, HUB, r))
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO hub_bulletins (message_id, created_at, title, tlp, priority, recipients,"
            " alert, links) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        await tx.executemany(
            "INSERT INTO outbox (message_id, kind, subject, envelope, priority, recipients,"
            " created_at, state, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            outbox,
        )
        await tx.executemany(
            "INSERT INTO receipts (message_id, recipient, received_at, recorded_at, receipt)"
            " VALUES (?, ?, ?, ?, ?)",
            receipts,
        )
    return len(rows)


def build(path: Path, plan: Plan) -> Year:
    """``generate``, from synchronous code (a fixture, the benchmark's set-up)."""
    return asyncio.run(generate(path, plan))
