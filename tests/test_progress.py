"""Progress of long stages when stderr is a log file, not a terminal: periodic plain lines, and the
training loop's progress through the same display (a real Trainer on a tiny model)."""

import io
import json
import re
import time

import pytest
import yaml
from helpers import WORDS, smol_tokenizer, tiny_model

from s1.progress import every_s, fmt_rate, fmt_seconds, progress_bar, ticker
from s1.train import TrainConfig, train


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_log_gets_a_line_every_period_and_one_at_the_end():
    log, clock = io.StringIO(), Clock()
    step = progress_bar("eval", "samples", total=120, stream=log, every=30, clock=clock)
    clock.now += 10
    step(12)  # 10 s: too soon for a line
    assert log.getvalue() == "eval: 120 of 120 samples to do\n"
    clock.now += 20
    step(12)  # 30 s: a line, with the time left at this run's rate (24 in 30 s -> 96 in 120 s)
    clock.now += 29
    step(1)  # 29 s after the last line: nothing
    clock.now += 31
    step(None)
    step(5)  # after the stop: ignored
    assert log.getvalue().splitlines() == [
        "eval: 120 of 120 samples to do",
        "eval: 24/120 samples (20%), 30s elapsed, 48 samples/min, about 2m00s left",
        "eval: 25/120 samples (20%), 1m30s elapsed, 17 samples/min, about 5m42s left (stopped)",
    ]


def test_resumed_work_is_said_once_and_does_not_count_in_the_rate():
    log, clock = io.StringIO(), Clock()
    step = progress_bar("traces", "rows", total=10, completed=6, resumed=6, stream=log, every=5, clock=clock)
    clock.now += 8
    step(2)
    clock.now += 8
    step(2)
    step(None)
    assert log.getvalue().splitlines() == [
        "traces: 4 of 10 rows to do (resuming: 6 already done)",
        "traces: 8/10 rows (80%), 8s elapsed, 15 rows/min, about 8s left",
        "traces: 10/10 rows (100%), 16s elapsed, 15 rows/min (done)",
    ]


def test_a_slow_stage_still_gets_its_periodic_lines():
    """No step for a long time (one slow batch): the line comes anyway, every period."""
    log, clock = io.StringIO(), Clock()
    step = progress_bar("eval", "samples", total=10, stream=log, every=0.05, clock=clock)
    step(2)
    clock.now += 60
    deadline = time.monotonic() + 10
    while log.getvalue().count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    step(None)
    lines = log.getvalue().splitlines()
    assert lines[1] == "eval: 2/10 samples (20%), 1m00s elapsed, 2.0 samples/min, about 4m00s left"
    assert lines[-1] == "eval: 2/10 samples (20%), 1m00s elapsed, 2.0 samples/min, about 4m00s left (stopped)"


def test_work_of_unknown_size_says_it_is_running():
    log, clock = io.StringIO(), Clock()
    stop = ticker("decontaminate", stream=log, every=0.05, clock=clock)
    clock.now += 90
    deadline = time.monotonic() + 10
    while not log.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop()
    assert log.getvalue().splitlines()[0] == "decontaminate: running, 1m30s elapsed"


def test_the_period_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("S1_PROGRESS_EVERY", "0.5")
    assert every_s() == 0.5
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("S1_PROGRESS_EVERY", bad)
        assert every_s() == 30.0


def test_fmt_rate():
    assert [fmt_rate(r, "rows") for r in (25.0, 2.5, 0.2, 0.01, 1 / 7200)] == [
        "25 rows/s", "2.5 rows/s", "12 rows/min", "36 rows/h", "0.5 rows/h"]


def test_fmt_seconds():
    assert [fmt_seconds(s) for s in (0, 59.4, 60, 185, 4500)] == ["0s", "59s", "1m00s", "3m05s", "75m00s"]


def test_training_reports_its_steps_in_a_log(tmp_path, capsys):
    tok = smol_tokenizer()
    tiny_model(tok, WORDS, seed=3).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i}+3?", "deepseek_thinking_trajectory": f"{i}+3",
                                        "deepseek_attempt": str(i + 3)}) + "\n" for i in range(8)))
    cfg = TrainConfig(model=str(tmp_path / "m"), data=str(data), out=str(tmp_path / "ckpt"), epochs=1,
                      global_batch=4, micro_batch=2, max_length=64, save_steps=-1)
    s = train(cfg, progress=True)
    err = capsys.readouterr().err
    assert s["steps"] == 2
    # a short run gets only the opening and the closing line (the period is 30 s), and not the Trainer's tqdm bar
    first, line = [line for line in err.splitlines() if line.startswith("train:")]
    assert first == "train: 2 of 2 steps to do" and line.startswith("train: 2/2 steps (100%), ")
    assert re.search(r" elapsed, [\d.]+ steps/(s|min|h) \(done\)$", line), line
    assert not re.search(r"\d/2 \[", err), err


@pytest.mark.slow
def test_a_demo_sent_to_a_file_shows_every_stage_progress(tmp_path, tiny_dir, capfd, monkeypatch):
    """`s1 demo ... 2> log`: each stage (here featurize with a base-model solver and eval, run as the
    subprocesses `s1 demo` starts) writes start, periodic and end lines; the runner's stage list,
    estimates and table are in the log and in DIR/logs/demo.log."""
    from s1.demo import load_recipe, run_recipe

    monkeypatch.setenv("S1_PROGRESS_EVERY", "0.2")
    rows = [{"id": f"q{i}", "question": f"What is {i} + 2?", "solution": f"The answer is \\boxed{{{i + 2}}}.",
             "thinking": f"{i} + 2 = {i + 2}", "attempt": f"\\boxed{{{i + 2}}}"} for i in range(6)]
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "vars": {"model": str(tiny_dir)},
        "files": {"traced.jsonl": "".join(json.dumps(r) + "\n" for r in rows)},
        "stages": [
            {"name": "featurize", "out": "${out}/features.jsonl", "estimate": 20,
             "run": "s1 curate featurize ${out}/traced.jsonl -o ${out}/features.jsonl --tokenizer ${model} "
                    "--solvers ${model} --solver-budget 4"},
            {"name": "eval", "out": "${out}/eval", "estimate": 20,
             "run": "s1 eval --model ${model} --task arith:n=3,steps=1,digits=1 --max-thinking 4,8 --max-answer 4 "
                    "--batch-size 3 --out ${out}/eval"}],
        "report": {"title": "progress"}}))
    out = tmp_path / "run"
    told = []
    run_recipe(load_recipe(recipe, out), log=told.append)
    err = capfd.readouterr().err
    for stage, unit, total in (("featurize", "rows", 6), ("eval", "traces", 6)):
        lines = [x for x in err.splitlines() if x.startswith(f"{stage}: ")]
        assert lines[0] == f"{stage}: {total} of {total} {unit} to do", err
        assert lines[-1].startswith(f"{stage}: {total}/{total} {unit} (100%), ") and lines[-1].endswith("(done)")
    log = (out / "logs" / "demo.log").read_text()
    for said in told:
        assert said in log
    assert "[1/2] featurize" in log and "estimated 20s on 2 idle CPU cores" in log and "| featurize |" in log
