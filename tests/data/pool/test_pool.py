"""s1.data.pool: a pool restricted to some generators and difficulties (the demo's skill-sharing pool),
and the curate config's builtin options that choose it."""

from __future__ import annotations

import pytest

from s1.data import CurateError
from s1.data.pipeline import run
from s1.data.pool import DEFAULT_GENERATORS, GENERATORS, builtin_pool
from s1.tasks import get_task


def test_a_restricted_pool_draws_only_those_generators_and_difficulties():
    rows = builtin_pool(40, seed=0, generators=["arith", "series"], difficulties=[1, 2])
    meta = [r["metadata"] for r in rows]
    assert [m["generator"] for m in meta[:4]] == ["arith", "series", "arith", "series"]  # round-robin
    assert {m["difficulty"] for m in meta} == {1, 2}
    assert builtin_pool(10, seed=0, generators=["arith", "series"], difficulties=[1, 2]) == rows[:10]
    # the default pool is unchanged by the new options
    assert builtin_pool(14, seed=0) == builtin_pool(14, seed=0, generators=list(DEFAULT_GENERATORS),
                                                    difficulties=[1, 2, 3, 4, 5])
    assert set(GENERATORS) - set(DEFAULT_GENERATORS) == {"chains"}  # the demo's drill is opt-in


def test_chains_keep_a_running_total_whose_last_line_is_the_answer():
    rows = builtin_pool(30, seed=0, generators=["chains"], difficulties=[1, 2, 4])
    for r in rows:
        m = r["metadata"]
        numbers, ops = m["params"]["numbers"], m["params"]["ops"]
        assert len(numbers) == m["difficulty"] + 3
        total = numbers[0] + sum(x if o == "+" else -x for o, x in zip(ops, numbers[1:]))
        assert m["answer"] == str(total)
        if m["worked_thinking"] is None:
            continue
        lines = [x for x in m["worked_thinking"].splitlines() if " = " in x]
        assert len(lines) >= len(ops) and lines[len(ops) - 1].endswith(f"= {total}")
        assert m["worked_thinking"].endswith(f"So the answer is {total}.")
        assert "Compute" not in r["question"] and m["domain_hint"] == "97"


def test_traces_write_every_step_and_the_attempt_is_short():
    for r in builtin_pool(8, seed=0, generators=["series"], difficulties=[1]):
        m = r["metadata"]
        if m["worked_thinking"] is None:
            continue
        lines = [x for x in m["worked_thinking"].splitlines() if " = " in x]
        assert len(lines) >= 2  # a running total, one addition a line
        assert m["worked_attempt"].endswith(f"$\\boxed{{{m['answer']}}}$") and len(m["worked_attempt"]) < 120


def test_the_demo_pool_shares_no_8_gram_with_the_held_out_task():
    # the recipe's pool and task: decontamination must not need to drop anything for the demo to be fair
    task = get_task("arith:n=100,steps=4,digits=1,seed=5")
    grams = set()
    for q in task.questions():
        words = q.prompt.split()
        grams |= {tuple(words[i:i + 8]) for i in range(len(words) - 7)}
    for r in builtin_pool(300, seed=0, generators=["chains", "series", "strings"], difficulties=[1, 2]):
        words = r["question"].split()
        assert not grams & {tuple(words[i:i + 8]) for i in range(len(words) - 7)}


@pytest.mark.parametrize("opts, message", [
    ({"n": 5, "generators": ["arith", "poetry"]}, "unknown pool generator(s) poetry; known: arith"),
    ({"n": 5, "difficulties": [0, 9]}, "pool difficulties must be among 1, 2, 3, 4, 5"),
    ({"n": 5, "level": 3}, "unknown builtin option(s) level; known: n, seed, generators, difficulties"),
])
def test_bad_builtin_options_are_one_line(tmp_path, opts, message):
    with pytest.raises(CurateError, match="^source builtin: ") as e:
        run({"out": str(tmp_path / "run"), "sources": [{"name": "builtin", "builtin": opts}]}, log=lambda m: None)
    assert message in str(e.value) and "\n" not in str(e.value)
