"""Stage B of s1 curate: a reasoning trace (thinking + attempt) for every question, from a teacher.

    from s1.data.traces import traces; traces("pool.jsonl", "traced.jsonl", "openai:http://127.0.0.1:8000/v1:r1")

The teachers (s1/data/teachers.py): "openai:BASE_URL:MODEL" (any OpenAI-compatible server), "engine:MODEL_SPEC"
(a backend of this package, the in-process engine by default; "engine:" is the embedded model) and "builtin"
(the worked traces the built-in pool carries). A failed row gets `trace_error` instead of crashing the run;
finished rows go to a work file as they complete, so a killed run re-run with the same command continues where
it stopped and never asks the teacher twice for a finished row.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import CurateError
from .checkpoint import Checkpoint
from .rowfiles import iter_rows, write_rows
from .teachers import BackendTeacher, BuiltinTeacher, OpenAITeacher, TeacherSettings, Trace, parse_teacher, redact

TRACE_COLUMNS = ("thinking", "attempt", "trace_error", "teacher")
FIRST_K = 8  # if every one of the first K rows fails for a reason that no row will escape, stop


# -- the stage -----------------------------------------------------------------------------------

class _Stop(Exception):
    """stop_after rows were finished: leave the rest for a later run."""


@dataclass
class _Tally:
    new: int = 0
    retried: int = 0  # requests sent again
    retried_rows: int = 0
    held: list = field(default_factory=list)  # early failures kept back while they may all be fatal
    trusted: bool = False  # a row got past the teacher: failures are no longer suspect


def traces(inp: str | Path, out: str | Path, teacher: str, concurrency: int = 8, retries: int = 3,
           timeout: float = 600, max_tokens: int | None = None, budget=None, limit: int | None = None,
           progress: bool = False, *, backoff: float = 1.0, retry_failed: bool = False,
           stop_after: int | None = None, backend=None) -> dict:
    """Add `thinking`, `attempt`, `trace_error` and `teacher` to every row of `inp`; write `out` (input order).

    concurrency: requests in flight (openai) or the generation batch (engine). retries: further tries of a
    request after a connection error, a timeout, HTTP 429 (waiting as Retry-After says) or 5xx, with
    exponential backoff from `backoff` seconds. timeout: seconds for one try. max_tokens: the reply's limit
    (openai) or the thinking budget when `budget` (a BudgetConfig, engine only) is not given. limit: the first
    N input rows only. Resume: rows already in `<out>.partial.jsonl` (or in an earlier `out`) by the same
    teacher are kept, failures too unless retry_failed. stop_after: return after that many new rows (the rest
    stays for a re-run; `out` is not written). backend: a Backend to use instead of loading the spec's model.
    Returns stats: rows, ok, failed, retried, resumed, new, seconds, complete, teacher, out.
    """
    t0 = time.monotonic()
    spec = parse_teacher(teacher)
    inp, out = Path(inp), Path(out)
    for name, value, low in (("concurrency", concurrency, 1), ("retries", retries, 0), ("limit", limit, 0),
                             ("max_tokens", max_tokens, 1), ("stop_after", stop_after, 0)):
        if value is not None and (not isinstance(value, int) or value < low):
            raise CurateError(f"{name} must be a whole number >= {low}, got {value!r}")
    if not timeout or timeout <= 0:
        raise CurateError(f"timeout must be > 0 seconds, got {timeout!r}")
    if out.is_dir() or out.suffix.lower() not in (".jsonl", ".parquet"):
        raise CurateError(f"{out}: the output must be a .jsonl or .parquet file")
    if budget is not None and spec.kind != "engine":
        raise CurateError("a thinking budget applies to the engine teacher only")
    settings = TeacherSettings(concurrency, retries, float(timeout), max_tokens, backoff)
    runner = {"openai": lambda: OpenAITeacher(spec, settings),
              "engine": lambda: BackendTeacher(spec, settings, budget, backend),
              "builtin": BuiltinTeacher}[spec.kind]()
    label = spec.label

    def checkpoint() -> Checkpoint:
        # a row of a remote teacher is money: each goes to disk as it finishes
        return Checkpoint(out, every=1 if spec.kind == "openai" else 64, meta={"stage": "traces", "teacher": label})

    ck = checkpoint()
    if out.is_file() and not ck.path.exists() and out.resolve() != inp.resolve():
        # a finished earlier run: its rows count as done (a re-run, or a larger limit, pays nothing twice)
        with ck:
            for r in iter_rows(out):
                if r.get("teacher") == label and r.get("id"):
                    ck.add(r)
    if retry_failed:
        _drop_failed(ck)
        ck = checkpoint()
    done = ck.done_ids()

    def source() -> Iterator[dict]:
        for n, row in enumerate(iter_rows(inp), 1):
            if limit is not None and n > limit:
                return
            if not row["question"].strip():
                raise CurateError(f"{inp}: row {n} has no question")
            yield row

    def pending() -> Iterator[dict]:
        seen = set()
        for row in source():
            if row["id"] not in seen and row["id"] not in done:
                seen.add(row["id"])  # a repeated question is asked once
                yield row

    # K rows failing alike stop the run; with fewer rows to do than K, all of them failing is as telling
    first_k = FIRST_K if spec.kind == "builtin" else _count_capped(pending(), FIRST_K)
    bar = _progress(progress, lambda: sum(1 for _ in pending()),
                    lambda: sum(1 for r in source() if r["id"] in done))
    tally = _Tally()

    def emit(row: dict, trace: Trace) -> None:
        finished = {k: v for k, v in row.items() if k not in TRACE_COLUMNS}
        finished.update(thinking=trace.thinking, attempt=trace.attempt, trace_error=trace.error, teacher=label)
        tally.new += 1
        tally.retried += trace.retries
        tally.retried_rows += trace.retries > 0
        if not tally.trusted:
            if trace.error is not None and trace.fatal:
                tally.held.append(finished)  # not recorded: once the teacher is fixed these rows must run
                if len(tally.held) >= first_k:
                    where = (f"teacher endpoint {redact(spec.base_url or '')}" if spec.kind == "openai"
                             else f"teacher {label}")
                    raise CurateError(f"{where}: {trace.fatal}; the first {len(tally.held)} rows all failed "
                                      "(nothing recorded for them; finished rows are kept for a re-run)")
                bar(1)
                return
            tally.trusted = True  # the teacher answered: later failures are the rows' own
            for held in tally.held:
                ck.add(held)
            tally.held = []
        ck.add(finished)
        bar(1)
        if stop_after is not None and tally.new >= stop_after:
            raise _Stop

    complete = True
    try:
        with ck:  # closed (flushed) on any exit: what finished stays finished
            if stop_after == 0:
                raise _Stop
            runner.run(pending(), emit)
    except _Stop:
        complete = False
    except CurateError:
        if len(ck) == 0:  # nothing recorded (an unreachable teacher): leave no work file tied to this teacher
            ck.discard()
        raise
    finally:
        bar(None)
    return _finish(complete, ck, source, done, tally, t0, label, out)


def _drop_failed(ck: Checkpoint) -> None:
    """Rewrite the work file without its failed rows, so that they are asked again."""
    if not ck.path.exists():
        return
    side = Checkpoint(ck.out.with_name(f".{ck.out.name}.retry"), every=1024, meta=ck.meta)
    side.discard()
    with side:
        for row in ck.rows():
            if row.get("trace_error") is None:
                side.add(row)
    os.replace(side.path, ck.path)


def _count_capped(rows: Iterator[dict], cap: int) -> int:
    n = 0
    for _ in rows:
        n += 1
        if n >= cap:
            break
    return n


def _finish(complete: bool, ck: Checkpoint, source, done: set[str], tally: _Tally, t0: float, label: str,
            out: Path) -> dict:
    """Count the outcome; on a complete run write `out` in input order and remove the work file."""
    counts = {"rows": 0, "ok": 0, "failed": 0}
    resumed: set[str] = set()

    def counted() -> Iterator[dict]:
        for row in ck.rows(order=(r["id"] for r in source())):
            if row["id"] in done:
                resumed.add(row["id"])
            counts["rows"] += 1
            counts["failed" if row.get("trace_error") is not None else "ok"] += 1
            yield row

    if complete:
        write_rows(out, counted())
        ck.discard()
    else:
        for _ in counted():
            pass
    return {**counts, "retried": tally.retried, "retried_rows": tally.retried_rows, "resumed": len(resumed),
            "new": tally.new, "seconds": round(time.monotonic() - t0, 3), "complete": complete,
            "teacher": label, "out": str(out)}


def _progress(enabled: bool, count_total: Callable[[], int], count_done: Callable[[], int]):
    """A progress bar on stderr (counting the rows costs a pass over the input: only when asked)."""
    total = count_total() if enabled else 0
    if not total:
        return lambda n: None
    from ..progress import progress_bar

    return progress_bar("traces", "rows", total, resumed=count_done())
