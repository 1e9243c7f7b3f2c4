"""`s1 train --objective prm` end to end on a tiny random model: labels, fine-tuning, a loadable shepherd PRM."""

import json

import pytest

from s1.cli import main
from s1.rewards import load_reward


def test_prm_objective_end_to_end(tiny_dir, tmp_path, capsys):
    out = tmp_path / "prm"
    args = ["train", "--objective", "prm", "--model", str(tiny_dir), "--task", "arith:n=5,steps=1,digits=1",
            "--out", str(out), "--samples", "2", "--rollouts", "2", "--rollout-thinking", "24",
            "--rollout-answer", "6", "--max-steps", "3", "--global-batch", "2", "--holdout", "0.4", "--device", "cpu"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "PRM written to" in said and f"shepherd:{out}" in said
    assert {"labels.jsonl", "model.safetensors", "s1_prm.json", "prm_train.json", "config.json"} <= \
        {p.name for p in out.iterdir()}
    summary = json.loads((out / "prm_train.json").read_text())
    assert summary["labels"]["solutions"] == 10 and summary["steps"] == 3 and len(summary["losses"]) == 3
    assert summary["held_out_steps"] > 0 and 0 <= summary["accuracy"] <= 1
    lines = (out / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 5
    for rec in map(json.loads, lines):
        for sol in rec["solutions"]:
            assert len(sol["steps"]) == len(sol["labels"]) and set(sol["labels"]) <= {0, 1, None}
    rm = load_reward(f"shepherd:{out}", device="cpu", dtype="float32")
    scores = rm.score([("Compute 1 + 2.", ["1 + 2 = 3.", "Final Answer: 3"])])
    assert len(scores[0]) == 2 and all(0 <= s <= 1 for s in scores[0])
    # a rerun without --resume refuses the folder; with --resume it continues (labels are all there)
    assert main(args) == 2 and "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert json.loads((out / "prm_train.json").read_text())["labels"]["resumed"] == 5


@pytest.mark.parametrize("extra,words", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--task", "file:kind=math", "--data", "QS"], "grade exactly"),
    (["--task", "arith", "--rollouts", "0"], "rollouts must be >= 1"),
    (["--task", "arith", "--holdout", "1"], "holdout"),
    (["--task", "arith", "--tag", "+"], "three different"),
    (["--task", "arith", "--lora"], "--lora: not an option of --objective prm"),
    ([], "needs --task"),
    (["--task", "arith", "--rollout-thinking", "9000"], "beyond the model's context window"),
    (["--task", "arith", "--good", "good-step"], "no single token for the good token"),
])
def test_prm_objective_bad_input(tmp_path, capsys, extra, words):
    qs = tmp_path / "qs.jsonl"
    qs.write_text('{"question": "1+1?", "answer": "2"}\n')
    out = tmp_path / "out"
    extra = [str(qs) if x == "QS" else x for x in extra]
    assert main(["train", "--objective", "prm", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_sft_refuses_prm_flags(tmp_path, capsys):
    assert main(["train", "--data", "x.jsonl", "--out", str(tmp_path / "o"), "--rollouts", "3"]) == 2
    assert "--rollouts: not an option of --objective sft" in capsys.readouterr().err
