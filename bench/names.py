"""Precision and recall of person-name matching on a labelled set of name pairs
(``tests/data/name_pairs.csv``: Latin with diacritics, Chinese, Arabic, Cyrillic,
Devanagari), before and after names in every script (issue "names in every script").

Two matchers, each in two settings:

- **watch list** (``node.handlers.builtin.watchlist_core``): ``name_a`` is a list entry,
  ``name_b`` a person in an alert; "same" when the entry is hit. Without a date of
  birth (the name score must reach 88), and with the same date of birth on both sides
  (the bar drops to 76).
- **hub** (``node.hub.correlate``: ``mentions`` and ``find_links``): ``name_a`` and
  ``name_b`` are persons in alerts from two members; "same" when a person link joins
  them. With the same date of birth (names alike: token-sorted similarity >= 88), and
  without one (equal names only: the weak rule).

"Before" is the code as it was (``normalise_name`` folded to ASCII by dropping what does
not decompose); its name functions are kept below verbatim so the figures can be
reproduced. "After" runs the code as it is.

examples:
  .venv/bin/python bench/names.py                  table of figures
  .venv/bin/python bench/names.py --markdown       the same, as the docs print it
  .venv/bin/python bench/names.py --errors after:watchlist   the pairs it gets wrong
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rapidfuzz import fuzz

if __package__ in (None, ""):  # run as a script: bench/names.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.handlers.builtin.watchlist_core import Entry, MatchRules, WatchList
from node.hub.correlate import Sighting, find_links, mentions
from schemas.alert import Alert, parse_alert
from schemas.domain import Person
from schemas.entities import Entities

REPO = Path(__file__).resolve().parent.parent
PAIRS = REPO / "tests" / "data" / "name_pairs.csv"
EXAMPLE = REPO / "schemas" / "examples" / "valid" / "people_smuggling.json"
DOB = date(1985, 6, 15)
THRESHOLD = 88
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Pair:
    name_a: str
    name_b: str
    script: str
    same: bool
    kind: str


def split_name(name: str) -> tuple[str, str]:
    """``(family, given)``: ``"family, given"``, or a whole name as the family name."""
    family, _, given = name.partition(",")
    return family.strip(), given.strip()


def load(path: Path) -> list[Pair]:
    with path.open(encoding="utf-8", newline="") as f:
        return [
            Pair(r["name_a"], r["name_b"], r["script"], r["same_person"] == "1", r["kind"])
            for r in csv.DictReader(f)
        ]


# --- before: the name functions as they were (schemas/entities.py, watchlist_core.py,
# correlate.py at the commit before this issue), verbatim ----------------------------------

_NOT_LETTER = re.compile(r"[^a-z ]+")


def old_normalise_name(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(_NOT_LETTER.sub(" ", folded.lower()).split())


_PARTICLES = frozenset({
    "al", "el", "ul", "bin", "ibn", "bint", "binti", "abu", "abd", "abdul", "abdel",
    "van", "von", "der", "den", "de", "da", "di", "del", "dela", "della", "la", "le",
    "dos", "das", "du",
})  # fmt: skip
_PLACEHOLDERS = frozenset({"unknown", "unk", "fnu", "lnu", "nfn"})
_FOLDS = (
    ("ph", "f"), ("kh", "k"), ("gh", "g"), ("th", "t"), ("dh", "d"), ("sh", "s"),
    ("dj", "j"), ("ck", "k"), ("q", "k"), ("c", "k"), ("z", "s"), ("w", "v"), ("y", "i"),
)  # fmt: skip
_VOWELS = str.maketrans("eiou", "aaaa")
_REPEATS = re.compile(r"(.)\1+")


@functools.lru_cache(maxsize=1 << 16)
def _sound(word: str) -> str:
    for old, new in _FOLDS:
        word = word.replace(old, new)
    return _REPEATS.sub(r"\1", word.translate(_VOWELS))


def old_name_keys(name: str) -> tuple[str, str]:
    words: list[str] = []
    pending = ""
    for word in old_normalise_name(name).split():
        if word in _PLACEHOLDERS:
            continue
        if word in _PARTICLES:
            pending += word
        else:
            words.append(pending + word)
            pending = ""
    if pending:
        words.append(pending)
    words.sort()
    return " ".join(words), " ".join(sorted(_sound(w) for w in words))


def old_name_score(a: tuple[str, str], b: tuple[str, str]) -> float:
    spelling = fuzz.ratio(a[0], b[0])
    return max(spelling, (spelling + fuzz.ratio(a[1], b[1])) / 2)


def before_watchlist(pair: Pair, *, dob: bool) -> bool:
    """One entry, one alert person: the old ``WatchList._match_person``."""
    keys = []
    for name in (pair.name_a, pair.name_b):
        family, given = split_name(name)
        keys.append(old_name_keys(f"{given} {family}".strip()))
    if not keys[0][0] or not keys[1][0]:
        return False
    score = old_name_score(keys[0], keys[1])
    if dob:
        score += (100 - score) / 2
    return score >= THRESHOLD


def before_hub(pair: Pair, *, dob: bool) -> bool:
    """Two alerts from two members: the old person rules of ``find_links``."""
    names = []
    for name in (pair.name_a, pair.name_b):
        family, given = split_name(name)
        names.append(old_normalise_name(f"{given} {family}"))
    if not names[0] or not names[1]:
        return False  # no mention at all
    if dob:
        return round(fuzz.token_sort_ratio(names[0], names[1])) >= THRESHOLD
    return names[0] == names[1]


# --- after: the code as it is ---------------------------------------------------------------


def _person(name: str, dob: bool) -> Person:
    family, given = split_name(name)
    return Person(family_name=family, given_names=given, date_of_birth=DOB if dob else None)


def after_watchlist(pair: Pair, *, dob: bool) -> bool:
    family, given = split_name(pair.name_a)
    entry = Entry(
        id="A",
        kind="person",
        family_name=family,
        given_names=given or None,
        date_of_birth=DOB if dob else None,
    )
    person = _person(pair.name_b, dob)
    return bool(WatchList([entry]).match(Entities(persons=[person]), MatchRules()))


@functools.cache
def _template() -> dict[str, object]:
    data: dict[str, object] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    payload = data["payload"]
    assert isinstance(payload, dict)
    for key in ("vessels", "movements"):  # only the person may link the two alerts
        payload.pop(key, None)
    data["contact"] = None
    return data


def _alert(person: Person) -> Alert:
    data = copy.deepcopy(_template())
    payload = data["payload"]
    assert isinstance(payload, dict)
    payload["persons"] = [person.model_dump(mode="json", exclude_none=True)]
    return parse_alert(json.dumps(data).encode())


def after_hub(pair: Pair, *, dob: bool) -> bool:
    sightings = []
    for n, (name, sender) in enumerate(((pair.name_a, "WS"), (pair.name_b, "FJ"))):
        for mention in mentions(_alert(_person(name, dob))):
            if mention.kind == "person":
                sightings.append(Sighting(f"m{n}", sender, T0 + timedelta(days=n), mention))
    links = find_links(sightings, window=WINDOW, threshold=THRESHOLD)
    return any(link.kind == "person" and len(link.alerts) == 2 for link in links)


MATCHERS: dict[str, Callable[[Pair], bool]] = {
    "before:watchlist": lambda p: before_watchlist(p, dob=False),
    "after:watchlist": lambda p: after_watchlist(p, dob=False),
    "before:watchlist+dob": lambda p: before_watchlist(p, dob=True),
    "after:watchlist+dob": lambda p: after_watchlist(p, dob=True),
    "before:hub+dob": lambda p: before_hub(p, dob=True),
    "after:hub+dob": lambda p: after_hub(p, dob=True),
    "before:hub": lambda p: before_hub(p, dob=False),
    "after:hub": lambda p: after_hub(p, dob=False),
}


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(pairs: Iterable[Pair], predicted: dict[tuple[str, str], bool]) -> Score:
    tp = fp = fn = tn = 0
    for p in pairs:
        said = predicted[p.name_a, p.name_b]
        tp += said and p.same
        fp += said and not p.same
        fn += not said and p.same
        tn += not said and not p.same
    return Score(tp, fp, fn, tn)


def evaluate(pairs: list[Pair]) -> dict[str, dict[tuple[str, str], bool]]:
    return {
        name: {(p.name_a, p.name_b): matcher(p) for p in pairs}
        for name, matcher in MATCHERS.items()
    }


def table(pairs: list[Pair], results: dict[str, dict[tuple[str, str], bool]]) -> list[str]:
    scripts = sorted({p.script for p in pairs})
    groups = [("all", pairs)] + [(s, [p for p in pairs if p.script == s]) for s in scripts]
    head = "| matcher | " + " | ".join(f"{g} P / R" for g, _ in groups) + " |"
    lines = [head, "|---" * (len(groups) + 1) + "|"]
    for name in MATCHERS:
        cells = []
        for _, members in groups:
            s = score(members, results[name])
            cells.append(f"{s.precision:.2f} / {s.recall:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=PAIRS, help="labelled pairs")
    parser.add_argument("--markdown", action="store_true", help="markdown table only")
    parser.add_argument("--errors", choices=list(MATCHERS), help="list this matcher's errors")
    args = parser.parse_args(argv)
    pairs = load(args.csv)
    results = evaluate(pairs)
    if args.errors:
        for p in pairs:
            said = results[args.errors][p.name_a, p.name_b]
            if said != p.same:
                what = "false match" if said else "missed"
                print(f"{what}\t{p.script}\t{p.kind}\t{p.name_a}\t{p.name_b}")
        return 0
    if not args.markdown:
        positives = sum(p.same for p in pairs)
        print(f"{len(pairs)} pairs ({positives} same person, {len(pairs) - positives} not)")
        print("P = precision, R = recall; date of birth: the same on both sides (+dob)")
    print("\n".join(table(pairs, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
