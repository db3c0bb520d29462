"""The labelled name pairs (``tests/data/name_pairs.csv``) and the figures
``bench/names.py`` computes on them: the set is what its generator writes, covers five
script groups with both labels, and the matchers keep the precision and recall that
docs/handlers.md and docs/hub.md quote (a floor a little under them)."""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PAIRS = REPO / "tests" / "data" / "name_pairs.csv"
SCRIPTS = {"latin-diacritics", "chinese", "arabic", "cyrillic", "devanagari"}


def module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # dataclasses look their module up
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return module(REPO / "bench" / "names.py", "bench_names_under_test")


def rows() -> list[dict[str, str]]:
    with PAIRS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_set_is_what_its_generator_writes() -> None:
    maker = module(REPO / "tests" / "data" / "make_name_pairs.py", "make_name_pairs_under_test")
    expected = [
        [r.name_a, r.name_b, r.script, str(r.same_person), r.kind, r.source] for r in maker.build()
    ]
    assert [list(r.values()) for r in rows()] == expected


def test_the_set_covers_five_scripts_with_both_labels_and_says_where_it_came_from() -> None:
    pairs = rows()
    assert len(pairs) >= 500
    labels = Counter((r["script"], r["same_person"]) for r in pairs)
    assert {script for script, _ in labels} == SCRIPTS
    for script in SCRIPTS:
        assert labels[script, "1"] >= 50 and labels[script, "0"] >= 40
    assert all(r["source"].startswith("generated: ") for r in pairs)
    assert len({(r["name_a"], r["name_b"]) for r in pairs}) == len(pairs)


def figures(bench: ModuleType, matcher: str, pairs: list[Any]) -> Any:
    """The bench's Score (precision, recall) of one matcher on ``pairs``."""
    return bench.score(pairs, {(p.name_a, p.name_b): bench.MATCHERS[matcher](p) for p in pairs})


@pytest.mark.parametrize(
    ("matcher", "precision", "recall"),
    [
        ("after:watchlist", 0.78, 0.95),
        ("after:watchlist+dob", 0.70, 0.98),
        ("after:hub+dob", 0.78, 0.88),
        ("after:hub", 0.90, 0.75),
    ],
)
def test_the_matchers_keep_their_figures(
    bench: ModuleType, matcher: str, precision: float, recall: float
) -> None:
    score = figures(bench, matcher, bench.load(PAIRS))
    assert score.precision >= precision and score.recall >= recall


def test_every_script_is_found_far_more_often_than_before(bench: ModuleType) -> None:
    pairs = bench.load(PAIRS)
    for script in SCRIPTS - {"latin-diacritics"}:
        members = [p for p in pairs if p.script == script]
        for where in ("watchlist", "hub+dob"):
            before = figures(bench, f"before:{where}", members).recall
            after = figures(bench, f"after:{where}", members).recall
            assert after >= before + 0.5, (script, where)
