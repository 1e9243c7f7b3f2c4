"""s1/data/decontaminate.py: n-gram overlap with evaluation sets and files, duplicates.

Run: .venv/bin/python -m pytest -q tests/data/test_decontaminate.py
"""

from __future__ import annotations

import pytest

from helpers import sentence

from s1.data import CurateError
from s1.data.decontaminate import build_index, decontaminate, words
from s1.data.rowfiles import iter_rows, write_rows
from s1.data.schema import normalize_row


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
