"""`s1 demo`: run a recipe's stages (public `s1 ...` commands) in order, resumably, then write the report folder.

    from s1.demo import load_recipe, run_recipe; run_recipe(load_recipe("recipes/demo.yaml", "demo-run"))

Each stage runs as a subprocess of the same Python (`s1 ...` -> `python -m s1 ...`): exactly the command
a user would type, in a fresh process (the trainer's and the engine's memory and threads are gone when
the stage ends), and a stage that crashes cannot take the runner with it. `DIR/demo.json` is the stage
record of s1.stages (the runner `s1 curate run` uses too), keyed by each stage's command: a stage that
finished with the same command is skipped, an interrupted one runs again and resumes by itself (every
`s1` stage does), and one whose command changed starts over, with everything after it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ..files import write_text_atomic
from ..progress import fmt_seconds
from ..stages import Stage, read_state, run_stages
from .recipe import DemoError, Recipe
from .summary import stage_table, write_report

RECORD = "demo.json"


def argv(command: str) -> list[str]:
    """A recipe command as argv: a leading `s1` runs this Python's package (`python -m s1`)."""
    args = shlex.split(command)
    if args and args[0] == "s1":
        return [sys.executable, "-m", "s1", *args[1:]]
    return args


def run_subprocess(command: str, logfile) -> int:
    # stdout (tables, JSON stats) to the stage's log; stderr (progress bars with ETA, errors) to the user
    return subprocess.call(argv(command), stdout=logfile, stderr=None, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def mirrored(log, path: Path):
    """`log`, with every message also appended to `path` (time-stamped): the run's story stays in the run
    folder whatever the terminal or redirection did with it."""
    def both(msg: str) -> None:
        log(msg)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n" if msg else "\n")
    return both


def run_recipe(recipe: Recipe, log=print, dry_run: bool = False, execute=run_subprocess) -> dict:
    """Run every stage (skipping finished ones), then write DIR/report/. Returns the record. What is
    logged (stages, estimates, the final table) also goes to DIR/logs/demo.log.
    `execute(command, logfile) -> exit code` runs one stage (default: a subprocess)."""
    out = recipe.out
    if dry_run:
        for s in recipe.stages:
            log(f"# {s.name}: {s.about}" if s.about else f"# {s.name}")
            log(s.command)
        return {}
    if out.exists() and not out.is_dir():
        raise DemoError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    rec_path = out / RECORD
    record = read_state(rec_path)
    if record.get("tiny", recipe.tiny) != recipe.tiny:
        raise DemoError(f"{out} holds a {'tiny' if record['tiny'] else 'full'} run; use another --out")
    record.update(recipe=str(recipe.path), tiny=recipe.tiny, vars=recipe.vars)
    for name, text in recipe.files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            write_text_atomic(target, text)
    (out / "logs").mkdir(exist_ok=True)
    log = mirrored(log, out / "logs" / "demo.log")  # the stages, estimates and table also in a file

    total = len(recipe.stages)
    by_name = {s.name: s for s in recipe.stages}
    pace = {"spent": 0.0, "estimated": 0.0}  # this invocation: actual vs estimated seconds of the stages run

    def work(st):
        def go():
            logf = out / "logs" / f"{st.name}.log"
            t = time.perf_counter()
            with open(logf, "a") as f:
                f.write(f"$ {st.command}\n")
                f.flush()
                try:
                    rc = execute(st.command, f)
                except FileNotFoundError as e:
                    rc = 127
                    log(f"    cannot run {e.filename}")
            if rc == 130:
                raise KeyboardInterrupt
            if rc != 0:
                raise DemoError(f"stage {st.name} failed (exit {rc}); its output is in {logf}; "
                                "run the same command again to resume")
            pace["spent"] += time.perf_counter() - t
            pace["estimated"] += st.estimate
        return go

    def skipped(i, stage, rec):
        log(f"[{i}/{total}] {stage.name}: done already ({fmt_seconds(rec['seconds'])}), skipped")

    def starting(i, stage, resumed):
        st = by_name[stage.name]
        rate = pace["spent"] / pace["estimated"] if pace["estimated"] else 1.0
        left = sum(s.estimate for s in recipe.stages[i - 1:]) * rate
        log(f"[{i}/{total}] {st.name}: {st.about}" if st.about else f"[{i}/{total}] {st.name}")
        log(f"    $ {st.command}")
        log(f"    {'resuming; ' if resumed else ''}estimated {fmt_seconds(st.estimate)} on 2 idle CPU cores; "
            f"about {fmt_seconds(left)} left for the whole run")

    def finished(i, stage, rec):
        log(f"    done in {fmt_seconds(rec['seconds'])}")

    stages = [Stage(s.name, s.command, [Path(o) for o in s.outputs], work(s),
                    {"command": s.command, "estimate": s.estimate}) for s in recipe.stages]
    t_run = time.perf_counter()
    run_stages(stages, rec_path, root=out, state=record, skipped=skipped, starting=starting, finished=finished)
    record["wall_seconds_last_run"] = round(time.perf_counter() - t_run, 1)
    mine = [s for n, s in record["stages"].items() if n in by_name]
    record["seconds"] = round(sum(s["seconds"] for s in mine), 1)
    record["cpu_seconds"] = round(sum(s.get("cpu_seconds", 0.0) for s in mine), 1)
    write_text_atomic(rec_path, json.dumps(record, indent=2) + "\n")
    files = write_report(recipe, record)
    log("")
    log(stage_table(recipe, record))
    log(f"report: {files[0]}")
    log(f"read the traces, forcing marked: s1 view {out} --out {out / 'report' / 'view.html'}")
    return record


__all__ = ["RECORD", "argv", "run_recipe", "run_subprocess"]
