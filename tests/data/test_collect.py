"""s1/data/collect.py: local sources with column mappings and limits, Hub sources streamed.

Run: .venv/bin/python -m pytest -q tests/data/test_collect.py
"""

from __future__ import annotations

import pytest

from s1.data import CurateError
from s1.data.collect import Source, collect
from s1.data.rowfiles import iter_rows, write_rows
from s1.data.schema import row_id


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
