"""s1/data/select.py: the quality and difficulty filters and the s1 selection (domain-uniform, long traces first).

Run: .venv/bin/python -m pytest -q tests/data/test_select.py
"""

from __future__ import annotations

import json
import random

import pytest

from helpers import good_row

from s1.data import CurateError
from s1.data.rowfiles import iter_rows, write_rows
from s1.data.schema import S1K11_COLUMNS, normalize_row
from s1.data.select import Candidate, QUALITY_FILTERS, choose, difficulty, numbering_broken, quality_verdict, select


@pytest.mark.parametrize("name,change", [
    ("missing_fields", {"thinking": "  "}),
    ("missing_fields", {"attempt": None}),
    ("trace_error", {"trace_error": "HTTP 500 after 3 tries"}),
    ("feature_error", {"feature_error": "solver crashed"}),
    ("image_reference", {"question": "In the figure ![fig](a.png) find the area."}),
    ("image_reference", {"solution": "see diagram.JPG"}),
    ("image_reference", {"question": "As drawn: <img src='x'> what is AB?"}),
    ("image_reference", {"question": "\\includegraphics{tri} Find the angle."}),
    ("asymptote", {"question": "[asy] draw((0,0)--(1,1)); [/asy] Find the slope."}),
    ("broken_numbering", {"question": "Answer:\n1. first part\n2. second\n4. fourth"}),
])
def test_each_quality_filter_drops_its_row(name, change):
    assert quality_verdict(good_row(1)) is None
    assert quality_verdict(good_row(1, **change)) == name
    assert [n for n, _ in QUALITY_FILTERS] == ["missing_fields", "trace_error", "feature_error", "image_reference",
                                               "asymptote", "broken_numbering"]


def test_numbering_rules():
    assert not numbering_broken("1. a\n2. b\n3. c")
    assert not numbering_broken("(1) a\n(2) b\n\n1. again\n2. b")  # a new list restarts at 1
    assert not numbering_broken("1. a\n  (1) sub\n  (2) sub\n2. b\n  (1) sub")  # styles are separate lists
    assert not numbering_broken("3.5 is a number\n7.2 too")  # decimals are not items
    assert not numbering_broken("Problem 3. Find x.")
    assert numbering_broken("1) a\n3) b")  # skips
    assert numbering_broken("(1) a\n(2) b\n(2) c")  # repeats
    assert numbering_broken("1. a\n2. b\n2. c")


def test_difficulty_verdicts():
    assert difficulty({"solver_correct": {"a": False, "b": True}}) == "solved"
    assert difficulty({"solver_correct": {"a": False, "b": False}}) == "unsolved"
    assert difficulty({"solver_correct": {"a": False, "b": None}}) == "unknown"
    assert difficulty({"solver_correct": None}) == difficulty({}) == "unknown"


# -- selection ------------------------------------------------------------------------------------

def synthetic_pool(sizes: dict[str, int], seed: int = 0) -> list[Candidate]:
    rng = random.Random(seed)  # trace lengths skewed as real ones are: many short, a long tail
    return [Candidate(f"{d}-{i}", d, 50 + int(rng.expovariate(1 / 2000))) for d, size in sizes.items()
            for i in range(size)]


def test_s1_selection_is_domain_uniform_and_prefers_long_traces():
    pool = synthetic_pool({"big": 3000, "mid": 600, "small": 40})
    dom = {c.id: c.domain for c in pool}
    length = {c.id: c.length for c in pool}
    s1 = choose(pool, 60, seed=0, method="s1")
    rnd = choose(pool, 60, seed=0, method="random")
    assert len(s1) == len(set(s1)) == 60
    share = lambda ids: sum(dom[i] == "small" for i in ids) / len(ids)  # noqa: E731
    assert share(s1) > 0.2 and share(rnd) < 0.05  # ~1/3 vs ~1%
    mean = lambda ids: sum(length[i] for i in ids) / len(ids)  # noqa: E731
    pool_mean = sum(length.values()) / len(length)
    assert mean(s1) > 2 * pool_mean and mean(s1) > 2 * mean(rnd)
    big = sorted((c for c in pool if c.domain == "big"), key=lambda c: -c.length)
    picked_big = [i for i in s1 if dom[i] == "big"]
    top = {c.id for c in big[:30]}
    assert sum(i in top for i in picked_big) >= 0.9 * len(picked_big)  # 2^-rank: nearly all from the very top
    div = choose(pool, 60, seed=0, method="diverse")
    assert share(div) > 0.2 and mean(div) < 1.3 * pool_mean  # diverse: uniform domain, no length preference
    longest = choose(pool, 60, method="longest")
    assert longest == [c.id for c in sorted(pool, key=lambda c: (-c.length, c.id))[:60]]


def test_selection_is_seeded():
    pool = synthetic_pool({"a": 300, "b": 200, "c": 50})
    assert choose(pool, 50, seed=1) == choose(list(reversed(pool)), 50, seed=1)  # input order does not matter
    assert choose(pool, 50, seed=1) != choose(pool, 50, seed=2)
    assert choose(pool, 50, seed=1, method="random") == choose(pool, 50, seed=1, method="random")
    assert choose(pool, 50, seed=1, method="random") != choose(pool, 50, seed=2, method="random")
    first = choose(pool, 50, seed=1, seed_ids=["c-3", "a-7", "missing"])
    assert first[:2] == ["c-3", "a-7"] and len(set(first)) == 50


def _select_pool(tmp_path) -> tuple[list[dict], object]:
    rows = [good_row(i, domain=["05", "11", "60"][i % 3]) for i in range(12)]
    rows += [
        good_row(100, thinking=None),  # missing_fields
        good_row(101, trace_error="timeout"),
        good_row(102, feature_error="boom"),
        good_row(103, question="See ![x](y.png)"),
        good_row(104, question="[asy]draw(unitcircle);[/asy]"),
        good_row(105, question="1. a\n3. b"),
        good_row(0),  # same question as row 0: duplicate
        good_row(106, solver_correct={"small": False, "big": True}),  # difficulty: solved
        good_row(107, solver_correct=None),  # difficulty: unknown
    ]
    p = tmp_path / "feat.parquet"
    write_rows(p, [normalize_row(r) for r in rows])
    return rows, p


def test_select_funnel_output_layout_and_report(tmp_path):
    rows, p = _select_pool(tmp_path)
    stats = select(p, tmp_path / "s1k.jsonl", n=5, seed=3, report_dir=tmp_path / "rep")
    out = list(iter_rows(tmp_path / "s1k.jsonl", normalize=False))
    assert len(out) == 5 and stats["selected"] == 5
    assert list(out[0]) == list(S1K11_COLUMNS) + ["id", "domain", "trace_tokens"]
    assert all(r["deepseek_thinking_trajectory"].startswith("step") and r["gemini_attempt"] is None for r in out)
    assert stats["dropped"] == {"missing_fields": 1, "trace_error": 1, "feature_error": 1, "image_reference": 1,
                                "asymptote": 1, "broken_numbering": 1, "duplicate": 1, "difficulty": 2}
    funnel = stats["funnel"]
    assert funnel[0] == ["input", len(rows)] and funnel[-1] == ["selected", 5]
    for (name, after), (_, before) in zip(funnel[1:-1], funnel[:-2]):
        assert before - after == stats["dropped"][name]  # each step removes exactly its count
    assert funnel[-2] == ["difficulty", 12] and stats["candidates"] == 12
    assert sum(d["selected"] for d in stats["domains"].values()) == 5
    assert json.loads((tmp_path / "rep" / "select.json").read_text())["funnel"] == funnel
    cands = [json.loads(line) for line in (tmp_path / "rep" / "candidates.jsonl").read_text().splitlines()]
    assert len(cands) == len(rows) and sum(c["pick"] is not None for c in cands) == 5
    # unknown solver verdicts kept on request
    loose = select(p, tmp_path / "loose.jsonl", n=100, solvers_must_fail=False)
    assert loose["dropped"]["difficulty"] == 1 and loose["selected"] == 13


def test_select_more_than_the_pool_takes_all_with_a_note(tmp_path):
    rows, p = _select_pool(tmp_path)
    stats = select(p, tmp_path / "all.parquet", n=1000, method="s1")
    assert stats["selected"] == 12 and len(list(iter_rows(tmp_path / "all.parquet"))) == 12
    assert any("only 12 rows passed the filters" in note for note in stats["notes"])
    a = select(p, tmp_path / "a.jsonl", n=6, seed=5)
    b = select(p, tmp_path / "b.jsonl", n=6, seed=5)
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text() and a["funnel"] == b["funnel"]
    with pytest.raises(CurateError, match="method"):
        select(p, tmp_path / "c.jsonl", method="best")
