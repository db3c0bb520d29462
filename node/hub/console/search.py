"""What an analyst asks a list page for: its query string read into the store's typed
queries (``store.TrafficQuery``, ``AlertQuery``, ``LinkQuery``, ``BulletinQuery``) and
a page window, and written back into links that keep the filters. Pure: a mapping and
the time in, typed values out. A value outside its known set is dropped and named in
``notes``; what is typed reaches SQL only as a parameter.

The search box (``q``) takes words and ``key:value`` words:

- ``key:value`` with a filter key sets that filter, as the form's fields do:
  ``from:WS`` (or ``sender:``), ``topic:maritime``, ``tlp:amber``, ``priority:flash``,
  ``since:2025-03-01``, ``until:2025-03-31``, ``since:7d`` (also ``12h``, ``2w``),
  ``to:FJ`` (bulletins), ``kind:`` and ``status:`` (traffic), ``strength:`` (links).
  Where the form and the box disagree, the box wins.
- ``id:``, ``doc:``, ``vessel:`` (or ``imo:``, ``mmsi:``, ``ship:``), ``person:`` (or
  ``name:``) and ``phone:`` say what the rest of the words are; without one, words
  that begin like a message id (``01a22874-…``) are one, and anything else is looked
  for in every kind of entity.
- The words are matched from the start of a name, word or number, whatever the case
  and accents: ``tupou``, ``sione tup``, ``TN48271``, ``9074729``, ``+679 912``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from keys import Directory
from node.hub import store
from schemas.alert import Priority, Tlp, Topic

PAGE_SIZES = (20, 25, 50, 100, 200)
DEFAULT_PAGE = 50  # rows; a link (with its alerts) and a bulletin (with its receipts)
LINKS_PAGE = 25  # take more room, so fewer of them make a page
BULLETINS_PAGE = 20
LINK_KINDS = ("document", "vessel", "person", "phone", "port")
# Words of the box that name the kind of what follows.
SEARCH_WORDS = {
    "id": "id",
    "doc": "document",
    "document": "document",
    "passport": "document",
    "vessel": "vessel",
    "ship": "vessel",
    "imo": "vessel",
    "mmsi": "vessel",
    "person": "person",
    "name": "person",
    "phone": "phone",
    "tel": "phone",
}
# Words of the box that set a filter, and the filter they set.
FILTER_WORDS = {
    "from": "sender",
    "sender": "sender",
    "topic": "topic",
    "tlp": "tlp",
    "priority": "priority",
    "since": "since",
    "until": "until",
    "to": "recipient",
    "kind": "kind",
    "status": "status",
    "strength": "strength",
    "rule": "rule",
}

_ID_START = re.compile(r"^[0-9a-f]{8}-[0-9a-f-]{0,27}$")
_ID_PREFIX = re.compile(r"^[0-9a-f][0-9a-f-]{3,35}$")
_FULL_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LINK_ID = re.compile(r"^[0-9a-f]{16}$")
_RELATIVE = re.compile(r"^(\d{1,4})([hdw])$")
_CURSOR_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]+\+00:00$")
_CURSOR_ID = re.compile(r"^[0-9a-f-]{1,64}$")


@dataclass
class ListView:
    """One list request, read and checked: the filters as text (for the form and the
    links), the search, the page window and what was dropped (``notes``)."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
    search: store.Search | None = None
    message_id: str | None = None
    window: store.Window = field(default_factory=store.Window)
    notes: list[str] = field(default_factory=list)

    def href(self, path: str | None = None, **changes: str | None) -> str:
        """This list's address with the filters kept and ``changes`` made (None drops
        a parameter); the page position is not kept unless given."""
        params = {k: v for k, v in self.params.items() if k not in ("before", "after")}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        query = urlencode(sorted(params.items()))
        return (path or self.path) + (f"?{query}" if query else "")

    def pager(self, page: store.Page) -> dict[str, str | None]:
        """The addresses of the older and newer pages and of the newest one."""
        return {
            "older": self.href(before=cursor(page.older)) if page.older else None,
            "newer": self.href(after=cursor(page.newer)) if page.newer else None,
            "newest": self.href() if page.newer else None,
        }


def cursor(key: store.Key | None) -> str | None:
    """A page key as it travels in a link: ``<time>~<seq>`` or ``<time>~<id>``."""
    if key is None:
        return None
    return "~".join(str(part) for part in key)


def _read_cursor(text: str, shape: str) -> store.Key | None:
    """A key from a link, if it has the list's shape (``time~seq`` or ``time~id``)."""
    at, _, ident = text.partition("~")
    if not _CURSOR_TIME.match(at):
        return None
    if shape == "time~seq":
        return (at, int(ident)) if ident.isdigit() and len(ident) < 19 else None
    return (at, ident) if _CURSOR_ID.match(ident) else None


def parse_time(text: str, now: datetime, *, end: bool = False) -> datetime | None:
    """``2025-03-14`` (UTC; as an end, the end of that day), ``2025-03-14T09:30``
    (UTC unless an offset is given), or ``7d``/``12h``/``2w`` before ``now``."""
    text = text.strip()
    relative = _RELATIVE.match(text.lower())
    if relative:
        unit = {"h": "hours", "d": "days", "w": "weeks"}[relative.group(2)]
        return now - timedelta(**{unit: int(relative.group(1))})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        t = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _choices(directory: Directory, kinds: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {
        "sender": tuple(sorted(directory.codes())),
        "recipient": tuple(sorted(directory.codes())),
        "topic": tuple(t.value for t in Topic),
        "tlp": tuple(t.value for t in Tlp),
        "priority": tuple(p.value for p in Priority),
        "kind": kinds,
        "status": store.STATUSES,
        "strength": store.STRENGTHS,
        "rule": store.RULES,
    }


def options(
    directory: Directory, names: tuple[str, ...], kinds: tuple[str, ...] = ()
) -> dict[str, tuple[str, ...]]:
    """The values each of the ``names`` filters offers (for the form's lists)."""
    choices = _choices(directory, kinds)
    return {name: choices[name] for name in names}


def _canonical(name: str, value: str, allowed: tuple[str, ...]) -> str | None:
    """``value`` as spelt in ``allowed`` (codes and TLP in any case), or None."""
    for choice in allowed:
        if value == choice or value.upper() == choice.upper():
            return choice
    return None


def _read(
    path: str,
    query: Mapping[str, str],
    directory: Directory,
    now: datetime,
    filters: tuple[str, ...],
    shape: str,
    kinds: tuple[str, ...] = (),
    default: int = DEFAULT_PAGE,
) -> ListView:
    """The parts every list shares: filters (fields, then the box), search, window."""
    view = ListView(path)
    choices = _choices(directory, kinds)
    given: dict[str, str] = {}
    for name in (*filters, "since", "until"):
        value = query.get(name, "").strip()
        if value:
            given[name] = value
    words: list[str] = []
    kind: str | None = None
    for word in query.get("q", "").split()[:40]:
        key, colon, value = word.partition(":")
        key = key.lower()
        if colon and key in FILTER_WORDS and value:
            if FILTER_WORDS[key] in (*filters, "since", "until"):
                given[FILTER_WORDS[key]] = value
            else:
                view.notes.append(f"{key}: is not a filter of this list")
        elif colon and key in SEARCH_WORDS:
            kind = SEARCH_WORDS[key]
            if value:
                words.append(value)
        else:
            words.append(word)
    for name, value in given.items():
        if name in ("since", "until"):
            t = parse_time(value, now, end=name == "until")
            if t is None:
                view.notes.append(f"{name}: not a date or time ({value[:40]})")
                continue
            view.params[name] = value
        else:
            canonical = _canonical(name, value, choices[name])
            if canonical is None:
                view.notes.append(f"{name}: no such value ({value[:40]})")
                continue
            view.params[name] = canonical
    text = " ".join(words)[:200]
    if query.get("q", "").strip():
        view.params["q"] = query["q"].strip()[:400]
    if text:
        lowered = text.lower()
        if kind == "id" or (kind is None and _ID_START.match(lowered)):
            if _ID_PREFIX.match(lowered):
                view.message_id = lowered
            else:
                view.notes.append("id: a message id is hexadecimal digits and hyphens")
                view.message_id = "~"  # matches nothing
        else:
            view.search = store.Search(text, kind)
            if not view.search.prefixes():
                view.notes.append("search: type at least two letters or digits")
    size = query.get("n", "")
    limit = int(size) if size.isdigit() and int(size) in PAGE_SIZES else default
    if limit != default:
        view.params["n"] = str(limit)
    before = _read_cursor(query["before"], shape) if query.get("before") else None
    after = _read_cursor(query["after"], shape) if query.get("after") and not before else None
    if (query.get("before") and before is None) or (query.get("after") and not (before or after)):
        view.notes.append("the page position in the address is not valid: newest page")
    view.window = store.Window(limit, before=before, after=after)
    return view


def _times(view: ListView, now: datetime) -> dict[str, Any]:
    since, until = view.params.get("since"), view.params.get("until")
    return {
        "since": parse_time(since, now) if since else None,
        "until": parse_time(until, now, end=True) if until else None,
    }


def traffic_request(
    query: Mapping[str, str], directory: Directory, now: datetime
) -> tuple[store.TrafficQuery, ListView]:
    """The traffic page's query: kind (alerts by default, receipts folded in), sender,
    topic, TLP, priority, verification, a message id, a time range."""
    filters = ("kind", "sender", "topic", "tlp", "priority", "status")
    view = _read("/traffic", query, directory, now, filters, "time~seq", store.TRAFFIC_KINDS)
    if view.search is not None:
        view.notes.append(
            "the traffic page holds metadata only: search entities on the alerts page"
        )
    p = view.params
    q = store.TrafficQuery(
        kind=p.get("kind", "alert"),
        sender=p.get("sender"),
        topic=p.get("topic"),
        tlp=p.get("tlp"),
        priority=p.get("priority"),
        status=p.get("status"),
        message_id=view.message_id,
        **_times(view, now),
    )
    return q, view


def alerts_request(
    query: Mapping[str, str], directory: Directory, now: datetime
) -> tuple[store.AlertQuery, ListView]:
    """The alerts page's query: the search box, sender, topic, TLP, priority, a link,
    a time range (when the hub received the alert)."""
    filters = ("sender", "topic", "tlp", "priority")
    view = _read("/alerts", query, directory, now, filters, "time~id")
    link = query.get("link", "")
    if link and _LINK_ID.match(link):
        view.params["link"] = link
    elif link:
        view.notes.append("link: not a link id")
    p = view.params
    q = store.AlertQuery(
        search=view.search,
        message_id=view.message_id,
        sender=p.get("sender"),
        topic=p.get("topic"),
        tlp=p.get("tlp"),
        priority=p.get("priority"),
        link=p.get("link"),
        **_times(view, now),
    )
    return q, view


def links_request(
    query: Mapping[str, str], directory: Directory, now: datetime
) -> tuple[store.LinkQuery, ListView]:
    """The correlations page's query: the search box (in labels and the entities
    joined), kind, strength (weak ones only when asked), rule, a member, an alert, a
    time range (when the link last changed)."""
    filters = ("kind", "sender", "strength", "rule")
    view = _read("/correlations", query, directory, now, filters, "time~id", LINK_KINDS, LINKS_PAGE)
    if query.get("weak") == "1" and "strength" not in view.params:
        view.params["weak"] = "1"
    alert = view.message_id or query.get("alert", "").lower()
    if alert and _FULL_ID.match(alert):
        view.params["alert"] = alert
    elif alert:
        view.notes.append("alert: give the whole message id to see its links")
    p = view.params
    if "strength" in p:
        strengths: tuple[str, ...] = (p["strength"],)
    elif p.get("weak") == "1":
        strengths = store.STRENGTHS
    else:
        strengths = ("strong", "medium")
    q = store.LinkQuery(
        search=view.search,
        alert=p.get("alert"),
        kind=p.get("kind"),
        strengths=strengths,
        rule=p.get("rule"),
        sender=p.get("sender"),
        **_times(view, now),
    )
    return q, view


def bulletins_request(
    query: Mapping[str, str], directory: Directory, now: datetime
) -> tuple[store.BulletinQuery, ListView]:
    """The bulletins list's query: words of the title, TLP, priority, a recipient, a
    time range (when it was sent)."""
    filters = ("tlp", "priority", "recipient")
    view = _read("/bulletins", query, directory, now, filters, "time~id", default=BULLETINS_PAGE)
    p = view.params
    q = store.BulletinQuery(
        text=view.search.text if view.search else None,
        message_id=view.message_id,
        tlp=p.get("tlp"),
        priority=p.get("priority"),
        recipient=p.get("recipient"),
        **_times(view, now),
    )
    return q, view
