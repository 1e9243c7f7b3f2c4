"""Progress of long stages (eval, train, curate traces / featurize) on stderr: a bar in a terminal, lines in a log.

    step = progress_bar("eval", "samples", total=120); step(16); ...; step(None)  # None stops it

In a terminal it is a rich bar with an ETA. When stderr is not a terminal (CI, `nohup`, `make demo > log`),
a bar would print nothing until the end, so it writes plain lines instead: one when the stage starts,
one every `every` seconds, also while no work finishes (a slow batch still shows the stage is alive),
and one when the stage ends: "eval: 48/120 samples (40%), 1m12s elapsed, 40 samples/min, about 1m48s
left". The period is 30 s, or $S1_PROGRESS_EVERY seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, TextIO

EVERY_S = 30.0  # seconds between plain progress lines (default)
EVERY_ENV = "S1_PROGRESS_EVERY"


def every_s() -> float:
    """Seconds between plain progress lines: $S1_PROGRESS_EVERY, else 30."""
    try:
        v = float(os.environ.get(EVERY_ENV, EVERY_S))
    except ValueError:
        return EVERY_S
    return v if v > 0 else EVERY_S


def progress_bar(label: str, unit: str, total: int, completed: int = 0, resumed: int = 0,
                 stream: TextIO | None = None, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Callable[[int | None], None]:
    """A started progress display; the returned `step(n)` advances it by n (thread-safe), `step(None)`
    stops it. `completed`: work counted as done from the start; `resumed`: work a resumed run found
    done, said once at the start. `stream` defaults to stderr; `every` to `every_s()`; `clock` is what
    the plain lines time."""
    stream = stream or sys.stderr
    every = every_s() if every is None else every
    from rich.console import Console

    console = Console(file=stream)
    if console.is_terminal or console.is_jupyter:
        return _rich_bar(console, label, unit, total, completed, resumed)
    return _plain_lines(stream, label, unit, total, completed, resumed, every, clock)


def _rich_bar(console, label, unit, total, completed, resumed):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    prog = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=False)
    task = prog.add_task(label, total=total, completed=completed)
    prog.start()
    if resumed:
        prog.console.print(f"resuming: {resumed} {unit} already done")
    lock = threading.Lock()

    def step(n: int | None) -> None:
        with lock:
            if n is None:
                prog.stop()
            else:
                prog.advance(task, n)

    return step


def _plain_lines(stream, label, unit, total, completed, resumed, every, clock):
    start = last = clock()
    state = {"done": completed, "shown": completed, "stopped": False}
    lock = threading.Lock()
    stop = threading.Event()
    _write(stream, f"{label}: {total - completed} of {total} {unit} to do"
           + (f" (resuming: {resumed} already done)" if resumed else ""))

    def line(now: float) -> str:
        done = state["done"]
        pct = f" ({100 * done // total}%)" if total else ""
        text = f"{label}: {done}/{total} {unit}{pct}, {fmt_seconds(now - start)} elapsed"
        new, spent = done - completed, now - start
        if 0 < new and spent > 0:  # the rate of this run (work found done at the start cost nothing)
            text += f", {fmt_rate(new / spent, unit)}"
            if done < total:
                text += f", about {fmt_seconds(spent / new * (total - done))} left"
        return text

    def step(n: int | None) -> None:
        nonlocal last
        with lock:
            if state["stopped"]:
                return
            now = clock()
            if n is None:
                state["stopped"] = True
                stop.set()
                _write(stream, line(now) + (" (done)" if state["done"] >= total else " (stopped)"))
                return
            state["done"] += n
            if now - last >= every and state["shown"] != state["done"] < total:  # the end has its own line
                last, state["shown"] = now, state["done"]
                _write(stream, line(now))

    def heartbeat() -> None:  # a line every period even when no step comes (one slow batch, a model loading)
        nonlocal last
        while not stop.wait(every):
            with lock:
                now = clock()
                if not state["stopped"] and now - last >= every:
                    last, state["shown"] = now, state["done"]
                    try:
                        _write(stream, line(now))
                    except (OSError, ValueError):  # the stream was closed under a stage that never stopped
                        return

    threading.Thread(target=heartbeat, name=f"progress-{label}", daemon=True).start()
    return step


def ticker(label: str, stream: TextIO | None = None, every: float | None = None,
           clock: Callable[[], float] = time.monotonic) -> Callable[[], None]:
    """For work of unknown size (a stage with no count to show): a spinner in a terminal; in a log, a line
    every `every` seconds ("decontaminate: running, 1m30s elapsed"). Returns `stop()`."""
    stream = stream or sys.stderr
    every = every_s() if every is None else every
    from rich.console import Console

    console = Console(file=stream)
    if console.is_terminal or console.is_jupyter:
        status = console.status(f"[bold]{label}[/bold] running")
        status.start()
        return status.stop
    start, stop = clock(), threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                _write(stream, f"{label}: running, {fmt_seconds(clock() - start)} elapsed")
            except (OSError, ValueError):
                return

    threading.Thread(target=beat, name=f"ticker-{label}", daemon=True).start()

    return stop.set  # the caller says how the work ended


def _write(stream, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()  # a log file someone is tailing sees it now, not when a buffer fills


def fmt_seconds(seconds: float) -> str:
    """12s, 3m05s, 75m00s."""
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def fmt_rate(per_second: float, unit: str) -> str:
    """2.5 rows/s, 12 rows/min, 3.0 steps/h: the largest unit of time that gives at least 1."""
    for scale, name in ((1, "s"), (60, "min"), (3600, "h")):
        if per_second * scale >= 1 or name == "h":
            v = per_second * scale
            return f"{v:.1f} {unit}/{name}" if v < 10 else f"{v:.0f} {unit}/{name}"
    raise AssertionError("unreachable")


def trainer_progress(label: str = "train", stream: TextIO | None = None):
    """A transformers TrainerCallback that shows training steps with `progress_bar` (in place of the
    Trainer's tqdm bar, which in a log file is one endless line of carriage returns)."""
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def __init__(self):
            self.step = None
            self.seen = 0

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.seen = state.global_step  # a resumed run starts past 0
                self.step = progress_bar(label, "steps", state.max_steps, completed=self.seen,
                                         resumed=self.seen, stream=stream)

        def on_step_end(self, args, state, control, **kwargs):
            if self.step is not None:
                self.step(state.global_step - self.seen)
                self.seen = state.global_step

        def on_train_end(self, args, state, control, **kwargs):
            self.close()

        def close(self) -> None:
            """Stop the display (also for a run that raised, which gets no on_train_end)."""
            if self.step is not None:
                self.step(None)
                self.step = None

    return _Progress()
