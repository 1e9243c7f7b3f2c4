"""s1/data/schema.py: row ids and the s1K / s1K-1.1 layouts mapped to the row schema.

Run: .venv/bin/python -m pytest -q tests/data/test_schema.py
"""

from __future__ import annotations

from s1.data.schema import S1K11_COLUMNS, normalize_row, row_id, to_s1k11


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
