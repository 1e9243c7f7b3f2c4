"""s1/data/checkpoint.py: a killed stage resumes to the same output; other settings are refused.

Run: .venv/bin/python -m pytest -q tests/data/test_checkpoint.py
"""

from __future__ import annotations

import pytest

from helpers import sentence

from s1.data import CurateError
from s1.data.checkpoint import Checkpoint, work_path
from s1.data.rowfiles import iter_rows, write_rows
from s1.data.schema import normalize_row


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
