"""Core curation stages: row I/O and resume, collect, decontaminate, quality filters and the s1 selection.

Run: .venv/bin/pytest -q tests/data/test_curate_core.py
"""

from __future__ import annotations

import json
import random

import pytest

from s1.data.collect import Source, collect
from s1.data.decontaminate import build_index, decontaminate, words
from s1.data import CurateError
from s1.data.checkpoint import Checkpoint, work_path
from s1.data.rowfiles import RowWriter, iter_rows, write_rows
from s1.data.schema import S1K11_COLUMNS, normalize_row, row_id, to_s1k11
from s1.data.select import (QUALITY_FILTERS, Candidate, choose, difficulty, numbering_broken, quality_verdict,
                            select)

LOREM = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega").split()


def sentence(seed: int, n: int = 30) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(LOREM) + str(rng.randrange(100)) for _ in range(n))


def good_row(i: int, **kw) -> dict:
    row = {"question": f"Question {i}: {sentence(i)}?", "solution": f"\\boxed{{{i}}}", "cot_type": "math",
           "source_type": "synthetic", "metadata": {"i": i}, "thinking": "step " * (10 + i), "attempt": f"{i}",
           "trace_error": None, "feature_error": None, "trace_tokens": 10 + i, "domain": "05",
           "solver_correct": {"small": False}}
    row.update(kw)
    return row


# -- io ------------------------------------------------------------------------------------------

def test_row_id_normalizes_case_and_space():
    assert row_id("What is  2+2?\n") == row_id("what is 2+2?")
    assert row_id("What is 2+2?") != row_id("What is 2+3?")
    assert row_id("x").startswith("q-") and len(row_id("x")) == 18


def test_normalize_s1k_row():
    row = {"solution": "42", "question": "Find x.", "cot_type": "math", "source_type": "qq8933/AIME_1983_2024",
           "metadata": "{'ID': '1991-1', 'Year': 1991, 'Part': None}", "cot": None,
           "thinking_trajectories": ["first trace", "second"], "attempt": "x = 42"}
    out = normalize_row(row)
    assert out["thinking"] == "first trace" and out["attempt"] == "x = 42"
    assert out["metadata"] == {"ID": "1991-1", "Year": 1991, "Part": None}
    assert out["id"] == row_id("Find x.") and out["source_type"] == "qq8933/AIME_1983_2024"
    assert "thinking_trajectories" not in out and "cot" not in out
    assert out["teacher"].startswith("gemini")


def test_normalize_s1k11_row_prefers_deepseek_then_gemini():
    row = {"solution": "1", "question": "Q?", "cot_type": "science", "source_type": "gpqa", "metadata": "{}",
           "gemini_thinking_trajectory": "g think", "gemini_attempt": "g att",
           "deepseek_thinking_trajectory": "d think", "deepseek_attempt": "d att", "gemini_grade": "Yes",
           "gemini_grade_reason": "ok", "deepseek_grade": "Yes", "deepseek_grade_reason": "ok"}
    out = normalize_row(row)
    assert (out["thinking"], out["attempt"], out["cot_type"]) == ("d think", "d att", "science")
    assert out["teacher"].startswith("deepseek") and not any(k.startswith("gemini") for k in out)
    only_gemini = normalize_row({**row, "deepseek_thinking_trajectory": None, "deepseek_attempt": None})
    assert (only_gemini["thinking"], only_gemini["attempt"]) == ("g think", "g att")
    back = to_s1k11({**out, "domain": "05", "trace_tokens": 7})
    assert list(back)[:len(S1K11_COLUMNS)] == list(S1K11_COLUMNS)
    assert back["deepseek_thinking_trajectory"] == "d think" and back["gemini_thinking_trajectory"] is None
    assert (back["id"], back["domain"], back["trace_tokens"]) == (out["id"], "05", 7)
    assert normalize_row(back)["thinking"] == "d think"  # our own output reads back


def test_iter_rows_jsonl_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"question": "a"}\n\n{"question": "b"}\n{not json\n[1, 2]\n{"question": "c"}\n')
    with pytest.raises(CurateError, match=r"bad\.jsonl:4: not valid JSON"):
        list(iter_rows(p))
    errors: list[str] = []
    rows = list(iter_rows(p, on_error="skip", errors=errors))
    assert [r["question"] for r in rows] == ["a", "b", "c"]
    assert len(errors) == 2 and errors[0].endswith(tuple("0123456789)")) and "bad.jsonl:5" in errors[1]
    with pytest.raises(CurateError, match="unsupported format"):
        list(iter_rows(tmp_path / "x.csv"))
    with pytest.raises(CurateError, match="no such file"):
        list(iter_rows(tmp_path / "missing.jsonl"))


def test_parquet_and_json_round_trip(tmp_path):
    # trace_error is None in the whole first batch and a string later: the schema must not freeze it as null
    rows = [normalize_row(good_row(i, trace_error=None if i < 3 else "boom")) for i in range(7)]
    p = tmp_path / "rows.parquet"
    with RowWriter(p, batch=2) as w:
        w.write_all(rows)
    back = list(iter_rows(p, batch=3))
    assert back == rows
    assert isinstance(back[0]["metadata"], dict) and back[0]["solver_correct"] == {"small": False}
    j = tmp_path / "rows.json"
    j.write_text(json.dumps([{"question": "q1"}, {"question": "q2"}]))
    assert [r["question"] for r in iter_rows(j)] == ["q1", "q2"]
    write_rows(tmp_path / "rows.jsonl", rows)
    assert list(iter_rows(tmp_path / "rows.jsonl")) == rows


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_row_writer_is_atomic(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    with pytest.raises(RuntimeError):
        with RowWriter(target, batch=1) as w:
            w.write(good_row(1))
            w.write(good_row(2))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp file
    write_rows(target, [good_row(1)])
    with pytest.raises(RuntimeError):
        with RowWriter(target) as w:
            w.write(good_row(5))
            raise RuntimeError("killed")
    assert [r["question"] for r in iter_rows(target)] == [good_row(1)["question"]]  # old output intact
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


# -- Checkpoint ----------------------------------------------------------------------------------

def _stage(inp, out, calls: list, fail_after: int | None = None, meta: dict | None = None) -> None:
    """A resumable stage as traces/featurize write it: skip done ids, record each finished row."""
    ck = Checkpoint(out, every=2, meta=meta)
    done = ck.done_ids()
    with ck:
        for row in iter_rows(inp):
            if row["id"] in done:
                continue
            if fail_after is not None and len(calls) >= fail_after:
                raise KeyboardInterrupt  # the process is killed mid-run
            calls.append(row["id"])
            ck.add({**row, "thinking": row["question"].upper(), "attempt": "a"})
    ck.finish(out, order=(r["id"] for r in iter_rows(inp)))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_checkpoint_resume_equals_uninterrupted_run(tmp_path, suffix):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, [normalize_row({"question": f"q {i} {sentence(i, 5)}"}) for i in range(23)])
    full_calls: list = []
    _stage(inp, tmp_path / f"full{suffix}", full_calls)
    out = tmp_path / f"resumed{suffix}"
    calls: list = []
    with pytest.raises(KeyboardInterrupt):
        _stage(inp, out, calls, fail_after=9)
    assert not out.exists() and work_path(out).exists()
    with open(work_path(out), "a") as f:  # killed mid-write too: a torn last line
        f.write('{"id": "q-torn", "quest')
    _stage(inp, out, calls)
    assert sorted(calls) == sorted(full_calls) and len(calls) == len(set(calls)) == 23  # nobody paid twice
    assert list(iter_rows(out)) == list(iter_rows(tmp_path / f"full{suffix}"))
    assert not work_path(out).exists()


def test_checkpoint_refuses_other_settings(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, [normalize_row({"question": f"q{i}"}) for i in range(5)])
    with pytest.raises(KeyboardInterrupt):
        _stage(inp, tmp_path / "o.jsonl", [], fail_after=2, meta={"teacher": "a"})
    with pytest.raises(CurateError, match="other settings"):
        _stage(inp, tmp_path / "o.jsonl", [], meta={"teacher": "b"})
    calls: list = []
    _stage(inp, tmp_path / "o.jsonl", calls, meta={"teacher": "a"})
    assert len(calls) == 3 and len(list(iter_rows(tmp_path / "o.jsonl"))) == 5


# -- collect -------------------------------------------------------------------------------------

def test_collect_local_sources_with_mapping_and_limit(tmp_path):
    a = tmp_path / "a.jsonl"
    write_rows(a, [{"problem": "P1?", "answer": "1", "id": 7}, {"problem": "", "answer": "2"},
                   {"problem": "P3?", "answer": "3"}, {"problem": "P4?", "answer": "4"}])
    b = tmp_path / "b.parquet"
    write_rows(b, [{"question": "B1?", "solution": "x", "source_type": "orig/b"}])
    stats = collect([Source("a", str(a), {"question": "problem", "solution": "answer"}, limit=2),
                     Source("b", str(b), cot_type="science")], tmp_path / "pool.jsonl")
    rows = list(iter_rows(tmp_path / "pool.jsonl"))
    assert [r["question"] for r in rows] == ["P1?", "P3?", "B1?"]
    assert [r["solution"] for r in rows] == ["1", "3", "x"]
    assert [r["source_type"] for r in rows] == ["a", "a", "b"] and rows[2]["cot_type"] == "science"
    assert rows[0]["id"] == row_id("P1?") and rows[0]["metadata"]["source_id"] == 7
    assert rows[2]["metadata"]["original_source_type"] == "orig/b"
    assert stats["rows"] == 3
    assert stats["sources"]["a"]["rows"] == 2 and stats["sources"]["a"]["skipped_no_question"] == 1
    with pytest.raises(CurateError, match="column.*prob.*not found"):
        collect([Source("a", str(a), {"question": "prob"})], tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(CurateError, match="no such file"):
        collect([Source("c", str(tmp_path / "nope.jsonl"))], tmp_path / "x.jsonl")


def test_collect_hub_source_streams(tmp_path, monkeypatch):
    import datasets

    seen = {}

    def fake_load(spec, config=None, split=None, streaming=False, revision=None, **kw):
        seen.update(spec=spec, split=split, streaming=streaming)
        return iter([{"problem": f"H{i}?", "solution": str(i)} for i in range(10)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    stats = collect([Source("hub", "org/set", {"question": "problem"}, split="test", limit=4)],
                    tmp_path / "h.parquet")
    assert seen == {"spec": "org/set", "split": "test", "streaming": True}
    assert stats["sources"]["hub"]["rows"] == 4 and len(list(iter_rows(tmp_path / "h.parquet"))) == 4

    def broken(*a, **k):
        raise ConnectionError("offline mode is enabled\nmore")

    monkeypatch.setattr(datasets, "load_dataset", broken)
    with pytest.raises(CurateError, match="cannot read Hub dataset 'org/set'.*offline mode is enabled$"):
        collect([Source("hub", "org/set")], tmp_path / "h2.jsonl")


# -- decontaminate -------------------------------------------------------------------------------

def test_decontaminate_against_task_and_file(tmp_path):
    from s1.tasks import get_task

    prompts = [q.prompt for q in get_task("arith:n=20").load()]
    expr = prompts[3].split("\n")[0]  # "Compute 12 + 34 - 5."
    eval_file = tmp_path / "eval.jsonl"
    long_q = sentence(99, 40)
    write_rows(eval_file, [{"problem": long_q, "answer": "1"}, {"problem": "What is the capital of France?"}])
    ws = long_q.split()
    rows = [
        {"question": f"Warm up first. {prompts[3]}", "source_type": "s1"},  # an arith prompt inside: contaminated
        {"question": "Solve 3x = 9 for x. Think step by step, then give the final answer inside \\boxed{}.",
         "source_type": "s1"},  # only the shared instruction: template, kept
        {"question": "Prove: " + " ".join(ws[10:18]) + " holds.", "source_type": "s2"},  # one 8-gram of the file
        {"question": "Prove: " + " ".join(ws[10:17]) + " holds.", "source_type": "s2"},  # 7 words only: kept
        {"question": "what is the CAPITAL of france", "source_type": "s2"},  # short: exact match after normalizing
        {"question": expr, "source_type": "s2"},  # 4 words, no exact match with a whole prompt: kept
        {"question": "Solve 3X = 9 for x.  Think step by step, then give the final answer inside \\boxed{}.",
         "source_type": "s2"},  # duplicate of row 2 across sources (case and spaces differ)
        {"question": "A clean question about triangles and circles in the plane?", "source_type": "s1"},
        {"question": "A clean question about triangles and circles in the plane?", "source_type": "s1"},
    ]
    inp = tmp_path / "pool.jsonl"
    write_rows(inp, [normalize_row(r) for r in rows])
    stats = decontaminate(inp, tmp_path / "clean.jsonl", against=["arith:n=20", str(eval_file)])
    kept = [r["question"] for r in iter_rows(tmp_path / "clean.jsonl")]
    assert kept == [rows[1]["question"], rows[3]["question"], expr, rows[7]["question"]]
    assert stats["per_source"] == {"s1": {"kept": 2, "dropped_contaminated": 1, "dropped_duplicate": 1},
                                   "s2": {"kept": 2, "dropped_contaminated": 2, "dropped_duplicate": 1}}
    assert (stats["rows"], stats["kept"], stats["dropped_contaminated"], stats["dropped_duplicate"]) == (9, 4, 3, 2)
    assert stats["against"]["arith:n=20"]["template_ngrams"] > 0 and stats["against"]["arith:n=20"]["hits"] == 1
    assert stats["examples"][0]["eval"] == "arith:n=20"
    with pytest.raises(CurateError, match="unknown task"):
        decontaminate(inp, tmp_path / "x.jsonl", against=["no-such-task"])


def test_ngram_normalization():
    assert words("Let $f(x)=x^2$; FIND f(3).") == ["let", "f", "x", "x", "2", "find", "f", "3"]
    idx = build_index([], n=3)
    idx.add_set("e", ["let f of x be x squared"])
    assert idx.match("So LET f-of x, then.") is not None and idx.match("let f be x") is None


# -- quality filters -----------------------------------------------------------------------------

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


# -- selection -----------------------------------------------------------------------------------

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
