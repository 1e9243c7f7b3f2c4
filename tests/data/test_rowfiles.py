"""s1/data/rowfiles.py: reading rows (errors name file and line), Parquet and JSON round trips, atomic writers.

Run: .venv/bin/python -m pytest -q tests/data/test_rowfiles.py
"""

from __future__ import annotations

import json

import pytest

from helpers import good_row

from s1.data import CurateError
from s1.data.rowfiles import RowWriter, iter_rows, write_rows
from s1.data.schema import normalize_row


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
