"""s1.stages: the resumable stage runner of `s1 curate run` and `s1 demo` — skip, resume, start over, record."""

from __future__ import annotations

import json

import pytest

from s1.stages import Stage, run_stages, settings_key


def make(tmp_path, calls, keys=("a1", "b1", "c1"), fail=None):
    """Three stages writing one file each into tmp_path/run; `calls` collects the names that ran."""
    root = tmp_path / "run"
    root.mkdir(exist_ok=True)

    def work(name):
        def go():
            calls.append(name)
            if name == fail:
                raise RuntimeError(f"{name} broke")
            with open(root / name, "a") as f:  # appends: a stage that resumes sees its earlier output
                f.write("x")
            return {"rows": len((root / name).read_text())}
        return go

    return root, [Stage(n, k, [root / n], work(n), {"command": f"make {n}"}) for n, k in zip("abc", keys)]


def test_finished_stages_are_skipped_and_recorded(tmp_path):
    calls = []
    root, stages = make(tmp_path, calls)
    state = run_stages(stages, root / "state.json", root=root)
    assert calls == ["a", "b", "c"]
    rec = json.loads((root / "state.json").read_text())
    assert rec == state and list(rec["stages"]) == ["a", "b", "c"]
    a = rec["stages"]["a"]
    assert a["status"] == "done" and a["key"] == "a1" and a["command"] == "make a" and a["stats"] == {"rows": 1}
    assert a["seconds"] >= 0 and a["cpu_seconds"] >= 0
    skipped = []
    run_stages(stages, root / "state.json", root=root, skipped=lambda i, st, r: skipped.append((i, st.name)))
    assert calls == ["a", "b", "c"] and skipped == [(1, "a"), (2, "b"), (3, "c")]


def test_a_changed_key_reruns_that_stage_and_everything_after_it_on_emptied_outputs(tmp_path):
    calls = []
    root, stages = make(tmp_path, calls)
    run_stages(stages, root / "state.json", root=root)
    calls.clear()
    root, stages = make(tmp_path, calls, keys=("a1", "b2", "c1"))
    run_stages(stages, root / "state.json", root=root)
    assert calls == ["b", "c"]
    assert (root / "a").read_text() == "x" and (root / "b").read_text() == "x" and (root / "c").read_text() == "x"


def test_a_missing_output_reruns_the_stage(tmp_path):
    calls = []
    root, stages = make(tmp_path, calls)
    run_stages(stages, root / "state.json", root=root)
    (root / "c").unlink()
    calls.clear()
    run_stages(stages, root / "state.json", root=root)
    assert calls == ["c"]


def test_an_interrupted_stage_resumes_on_its_own_output_and_adds_its_time(tmp_path):
    calls = []
    root, stages = make(tmp_path, calls)
    run_stages(stages, root / "state.json", root=root)
    rec = json.loads((root / "state.json").read_text())
    rec["stages"]["b"].update(status="running", seconds=100.0)  # as if killed during b
    (root / "state.json").write_text(json.dumps(rec))
    calls.clear()
    resumed = []
    run_stages(stages, root / "state.json", root=root, starting=lambda i, st, r: resumed.append((st.name, r)))
    assert calls == ["b", "c"] and resumed == [("b", True), ("c", False)]
    assert (root / "b").read_text() == "xx"  # kept and continued, not emptied
    after = json.loads((root / "state.json").read_text())["stages"]["b"]
    assert after["status"] == "done" and after["seconds"] >= 100.0


def test_a_failing_stage_is_recorded_and_raises(tmp_path):
    calls = []
    root, stages = make(tmp_path, calls, fail="b")
    with pytest.raises(RuntimeError, match="b broke"):
        run_stages(stages, root / "state.json", root=root)
    rec = json.loads((root / "state.json").read_text())["stages"]
    assert rec["a"]["status"] == "done" and rec["b"]["status"] == "failed" and "c" not in rec
    assert not list(root.glob(".state.json.tmp*"))  # the record is replaced whole, never left half-written


def test_outputs_outside_the_run_folder_are_never_deleted(tmp_path):
    mine = tmp_path / "users-model"
    mine.mkdir()
    (mine / "weights").write_text("keep")
    root = tmp_path / "run"
    root.mkdir()
    st = [Stage("eval", "k1", [mine], lambda: None)]
    run_stages(st, root / "state.json", root=root)
    st = [Stage("eval", "k2", [mine], lambda: None)]  # a new key: the stage starts over
    run_stages(st, root / "state.json", root=root)
    assert (mine / "weights").read_text() == "keep"


def test_settings_key_ignores_key_order():
    assert settings_key({"n": 1, "seed": 0}) == settings_key({"seed": 0, "n": 1}) != settings_key({"n": 2, "seed": 0})
