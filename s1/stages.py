"""A resumable run of named stages, shared by `s1 curate run` and `s1 demo`: finished stages are skipped.

    from s1.stages import Stage, run_stages; run_stages([Stage("a", key, [out], work)], "run/state.json")

Each stage has a key (what decides "unchanged": a command line, a hash of its settings) and the outputs
it leaves. The state file records every stage's key, status, wall and CPU time and the counts its work
returned. On the next run a stage is skipped when it finished with the same key and its outputs exist;
a stage that was interrupted with the same key runs again on its own outputs (every stage of ours
resumes from its work file) and its times add up; a stage whose key changed, or that follows a stage
that ran, starts over on emptied outputs, so old and new results never mix. The state file is replaced
atomically after every change: a kill at any moment leaves the previous record or the new one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .files import write_text_atomic


@dataclass
class Stage:
    name: str
    key: str  # a command line or settings_key(settings): a different key means the stage's inputs changed
    outputs: list[Path]  # the stage counts as done only while all of these exist
    work: Callable[[], dict | None]  # does the stage (raises on failure); returns counts to record
    fields: dict = field(default_factory=dict)  # recorded as given (the demo's command, an estimate)


def settings_key(settings) -> str:
    """A short stable hash of a stage's settings (the key of a configured, not command-line, stage)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children: what a stage cost whatever
    else the machine was doing (wall time on a shared machine says as much about the neighbours)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class StageError(Exception):
    """A run's state file cannot be read (torn by an older version that wrote it in place); one line."""


def read_state(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise StageError(f"{path}: unreadable ({' '.join(str(e).split())[:120]}); "
                         "delete it to run every stage again") from None
    if not isinstance(state, dict):
        raise StageError(f"{path}: not a record of stages; delete it to run every stage again")
    return state


def _remove(path: Path, root: Path | None) -> None:
    # only inside the run folder: an output path that points elsewhere (a user's model) is never deleted
    if not path.exists() or root is None:
        return
    try:
        inside = path.resolve().is_relative_to(root.resolve()) and path.resolve() != root.resolve()
    except OSError:
        inside = False
    if inside:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def run_stages(stages: list[Stage], state_path: str | Path, *, root: str | Path | None = None,
               state: dict | None = None, skipped: Callable[[int, Stage, dict], None] | None = None,
               starting: Callable[[int, Stage, bool], None] | None = None,
               finished: Callable[[int, Stage, dict], None] | None = None) -> dict:
    """Run `stages` in order against the record in `state_path` (its "stages" mapping); returns the state.

    `root`: the run folder; outputs inside it are emptied before a stage starts over. `state`: extra
    top-level fields to keep in the file (it is read from the file when None). The callbacks report
    progress: skipped(i, stage, record), starting(i, stage, resumed), finished(i, stage, record).
    A failing stage is recorded as "failed" (an interrupt as "interrupted") and its exception propagates."""
    state_path = Path(state_path)
    state = read_state(state_path) if state is None else state
    records = state.setdefault("stages", {})
    root = Path(root) if root is not None else None

    def save():
        write_text_atomic(state_path, json.dumps(state, indent=2, default=str) + "\n")

    changed = False
    for i, st in enumerate(stages, 1):
        prev = records.get(st.name)
        same = prev is not None and prev.get("key") == st.key
        if not changed and same and prev.get("status") == "done" and all(Path(o).exists() for o in st.outputs):
            if skipped:
                skipped(i, st, prev)
            continue
        resumed = not changed and same and prev.get("status") != "done"
        if not resumed:
            for o in st.outputs:
                _remove(Path(o), root)
        changed = True  # everything after a stage that ran depends on its new outputs
        before = (float(prev.get("seconds", 0.0)), float(prev.get("cpu_seconds", 0.0))) if resumed else (0.0, 0.0)
        rec = {"key": st.key, **st.fields, "status": "running", "seconds": before[0], "cpu_seconds": before[1],
               "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        records[st.name] = rec
        save()
        if starting:
            starting(i, st, resumed)
        t, cpu = time.perf_counter(), cpu_seconds()

        def stop(status: str) -> None:
            rec.update(status=status, seconds=round(before[0] + time.perf_counter() - t, 1),
                       cpu_seconds=round(before[1] + cpu_seconds() - cpu, 1))
            save()

        try:
            stats = st.work()
        except KeyboardInterrupt:
            stop("interrupted")
            raise
        except BaseException:
            stop("failed")
            raise
        if stats is not None:
            rec["stats"] = stats
        stop("done")
        if finished:
            finished(i, st, rec)
    return state


__all__ = ["Stage", "cpu_seconds", "read_state", "run_stages", "settings_key"]
