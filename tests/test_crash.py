"""kill -9 at random points (seeded) of every long stage, then the same command again: the outputs must
equal an uninterrupted run's. Real subprocesses (`python -m s1 ...`), a tiny random model, tiny data.

Where a kill lands is chosen by watching the stage's own files: after a random number of records or
checkpoints exist, plus a random delay, so kills fall inside batches, inside checkpoint saves and
between stages, not only at start-up. Kills inside a write that a timer cannot hit reliably are
arranged by cutting the file at a random byte (tests/test_evaluate.py does this for eval batches).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import WORDS, smol_tokenizer, tiny_model

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
       "TOKENIZERS_PARALLELISM": "false"}
S1 = [sys.executable, "-m", "s1"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-crash-model")
    tok = smol_tokenizer()
    tiny_model(tok, WORDS + ("\n\n", " 3", " 8"), seed=2).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def s1(args, cwd, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(S1 + [str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


def killed(args, cwd, ready, rnd: random.Random, max_delay: float, limit: float = 300) -> bool:
    """Start `s1 args`, wait until ready() is true, sleep a random part of max_delay, SIGKILL it.
    Returns False when the command finished before the kill (the caller then has nothing to resume)."""
    proc = subprocess.Popen(S1 + [str(a) for a in args], cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not ready() and proc.poll() is None and time.monotonic() - t0 < limit:
            time.sleep(0.02)
        time.sleep(rnd.uniform(0, max_delay))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read()[-3000:]
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


# ----------------------------------------------------------------------------------------------
# s1 eval


def eval_args(model, out):
    return ["eval", "--model", model, "--task", "arith:n=6,steps=1,digits=1", "--max-thinking", "6,20",
            "--num-ignore", "0,1", "--max-answer", "6", "--batch-size", "2", "--dtype", "float32", "--out", out]


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_eval_killed_inside_batches_resumes_to_the_same_records(tiny_dir, tmp_path, seed):
    rnd = random.Random(seed)
    s1(eval_args(tiny_dir, tmp_path / "full"), tmp_path)
    full = (tmp_path / "full" / "samples.jsonl").read_text()
    out = tmp_path / "run"
    kills = 0
    for _ in range(2):
        after = count_lines(out / "samples.jsonl") + rnd.randrange(1, 3) * 4  # one or two more questions
        kills += killed(eval_args(tiny_dir, out), tmp_path, lambda: count_lines(out / "samples.jsonl") >= after,
                        rnd, max_delay=0.4)
    s1(eval_args(tiny_dir, out), tmp_path)
    assert kills >= 1
    assert (out / "samples.jsonl").read_text() == full  # same records, same order, nothing twice
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["methods"] == json.loads((tmp_path / "full" / "summary.json").read_text())["methods"]


# ----------------------------------------------------------------------------------------------
# s1 generate (no resumption: the output appears whole at the end or not at all)


def test_generate_killed_leaves_no_partial_output(tiny_dir, tmp_path):
    rnd = random.Random(3)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"What is {i}+{i}?"}) + "\n" for i in range(24)))
    args = ["generate", "--model", tiny_dir, "--input", prompts, "--max-thinking", "24", "--max-answer", "8",
            "--batch-size", "4", "--dtype", "float32", "--output"]
    s1(args + [tmp_path / "full.jsonl"], tmp_path)
    out = tmp_path / "out.jsonl"
    for _ in range(2):
        if killed(args + [out], tmp_path, lambda: True, rnd, max_delay=6.0):
            assert not out.exists() or out.read_text() == (tmp_path / "full.jsonl").read_text()
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")]  # no temp file left
        out.unlink(missing_ok=True)
    s1(args + [out], tmp_path)
    assert out.read_text() == (tmp_path / "full.jsonl").read_text()


# ----------------------------------------------------------------------------------------------
# s1 train


def train_args(model, data, out):
    return ["train", "--model", model, "--data", data, "--out", out, "--epochs", "1", "--max-steps", "6",
            "--global-batch", "2", "--micro-batch", "2", "--max-length", "64", "--lr", "3e-3",
            "--warmup-ratio", "0", "--save-steps", "1", "--seed", "1", "--dtype", "float32"]


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


@pytest.mark.slow
def test_train_killed_mid_checkpoint_resumes_to_the_same_model(tiny_dir, tmp_path):
    import torch

    rnd = random.Random(5)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i}+3?", "thinking": f"{i} plus 3 is {i + 3}.",
                                        "answer": str(i + 3)}) + "\n" for i in range(12)))
    s1(train_args(tiny_dir, data, tmp_path / "full"), tmp_path)
    out = tmp_path / "run"
    kills = 0
    for k in range(2):
        step = rnd.randrange(2, 5)
        # kill just as checkpoint-<step> appears: while its files are being written, or just after
        ready = lambda: (out / f"checkpoint-{step}").exists()  # noqa: E731
        kills += killed(train_args(tiny_dir, data, out) + (["--resume"] if k or out.exists() else []), tmp_path,
                        ready, rnd, max_delay=0.3)
    s1(train_args(tiny_dir, data, out) + ["--resume"], tmp_path)
    assert kills >= 1
    a, b = weights(tmp_path / "full"), weights(out)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-6)
    sa = json.loads((tmp_path / "full" / "s1_train.json").read_text())
    sb = json.loads((out / "s1_train.json").read_text())
    assert sb["steps"] == sa["steps"] == 6


# ----------------------------------------------------------------------------------------------
# s1 curate run


CURATE = """\
out: {out}
sources:
  - name: builtin
    builtin: {{n: 40, seed: 0}}
decontaminate: {{against: [arith], ngram: 8}}
traces: {{teacher: builtin, concurrency: 2}}
featurize: {{tokenizer: {model}, solvers: [{model}], solver_budget: 8, answer_tokens: 6, batch_size: 8, classifier: offline}}
select: {{n: 12, seed: 0, method: s1, ablations: [random]}}
"""


def parquet_rows(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.slow
def test_curate_killed_at_random_points_resumes_to_the_same_selection(tiny_dir, tmp_path):
    rnd = random.Random(7)
    full = tmp_path / "full.yaml"
    full.write_text(CURATE.format(out=tmp_path / "full", model=tiny_dir))
    s1(["curate", "run", full], tmp_path)
    cfg = tmp_path / "run.yaml"
    out = tmp_path / "run"
    cfg.write_text(CURATE.format(out=out, model=tiny_dir))
    files = ["01-pool.jsonl", "02-clean.jsonl", ".03-traced.jsonl.work.jsonl", "03-traced.jsonl", "04-features.jsonl"]
    kills = 0
    for _ in range(3):
        target = out / rnd.choice(files)
        kills += killed(["curate", "run", cfg], tmp_path, target.exists, rnd, max_delay=1.5)
    s1(["curate", "run", cfg], tmp_path)
    assert kills >= 1
    for name in ("s1k.parquet", "ablation-random.parquet"):
        assert parquet_rows(out / name) == parquet_rows(tmp_path / "full" / name), name


# ----------------------------------------------------------------------------------------------
# s1 demo


@pytest.mark.slow
def test_demo_killed_between_and_inside_stages_resumes_to_the_same_results(tiny_dir, tmp_path):
    rnd = random.Random(11)
    args = lambda out: ["demo", "--tiny", "--set", f"model={tiny_dir}", "--out", out]  # noqa: E731
    s1(args(tmp_path / "full"), tmp_path)
    out = tmp_path / "run"
    marks = ["curate/s1k.parquet", "models/s1/s1_train.json", "eval/base/samples.jsonl", "eval/s1/samples.jsonl"]
    kills = 0
    for mark in rnd.sample(marks, 2):
        kills += killed(args(out), tmp_path, (out / mark).exists, rnd, max_delay=2.0)
    s1(args(out), tmp_path)
    assert kills >= 1
    for e in ("base", "s1", "random"):
        assert (out / "eval" / e / "samples.jsonl").read_text() == \
            (tmp_path / "full" / "eval" / e / "samples.jsonl").read_text(), e


# ----------------------------------------------------------------------------------------------
# State files torn by an older version (which wrote them in place): one line, exit 2


@pytest.mark.parametrize("stage", ["curate", "demo", "eval", "train"])
def test_a_torn_state_file_is_one_line(tmp_path, capsys, stage):
    from s1.cli import main

    out = tmp_path / "run"
    out.mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"out: {out}\nsources: [{{name: b, builtin: {{n: 5}}}}]\n")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "q", "thinking": "t", "answer": "a"}) + "\n")
    name, argv = {
        "curate": ("stages.json", ["curate", "run", cfg]),
        "demo": ("demo.json", ["demo", "--tiny", "--out", out]),
        "eval": ("config.json", ["eval", "--task", "arith:n=2", "--out", out]),
        "train": ("run_config.json", ["train", "--data", data, "--out", out, "--resume"]),
    }[stage]
    (out / name).write_bytes(b'{"stages": {"collect": {"key": "ab')  # cut mid-write
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("s1: error: ") and err.count("\n") == 1, err
    assert f"{name}: unreadable" in err, err
    assert sorted(p.name for p in out.iterdir()) == [name]  # nothing else written
