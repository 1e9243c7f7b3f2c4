"""Search methods in `s1 eval`: one run with sequential and parallel methods on one plot (the embedded
model, the confidence reward), compute accounting in the records, and one-line errors for bad input."""

import json

import pytest

from s1.cli import main


@pytest.mark.slow
def test_eval_runs_search_methods_next_to_budget_forcing_on_one_plot(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["eval", "--task", "arith:n=2", "--method", "best-of-n,rebase,majority,budget-forcing",
            "--reward", "confidence", "--trajectories", "1,2", "--samples", "2", "--temperature", "0.8",
            "--max-thinking", "12", "--max-answer", "8", "--out", out]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["methods"]) == ["best-of-n", "rebase", "majority", "budget-forcing"]
    recs = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    search = [r for r in recs if r["method"] in ("best-of-n", "rebase")]
    assert {(r["method"], r["point"]) for r in search} == {(m, f"n={n}") for m in ("best-of-n", "rebase") for n in (1, 2)}
    for r in search:
        # every trajectory is budget-forced; the chosen one's thinking is part of all that was generated
        assert r["thinking_tokens"] <= 12 and r["total_tokens"] >= r["thinking_tokens"] + r["answer_tokens"] > 0
        assert r["reward_tokens"] == 0 and r["trajectories"] == int(r["point"][2:])
    # best-of-n shares its samples: the run of 1 is the first trajectory of the run of 2
    bon = {(r["question_id"], r["sample"], r["point"]): r for r in search if r["method"] == "best-of-n"}
    for (q, s, p), r in bon.items():
        if p == "n=2":
            assert r["total_tokens"] >= bon[(q, s, "n=1")]["total_tokens"]
    report = (out / "report.md").read_text()
    assert "Plot x-axis: average tokens generated per question" in report and (out / "scaling.png").exists()
    for m in ("best-of-n", "rebase", "majority", "budget-forcing"):
        pts = summary["methods"][m]["points"]
        assert all(p["total_tokens"] > 0 for p in pts), m
    # the same command again resumes: nothing to redo
    assert main([str(a) for a in argv]) == 0
    assert len((out / "samples.jsonl").read_text().splitlines()) == len(recs)


BASE = ["eval", "--task", "arith:n=2", "--out", "X", "--temperature", "0.7"]


@pytest.mark.parametrize("extra, msg", [
    (["--method", "rebase"], "rebase needs a reward model: --reward SPEC"),
    (["--method", "rebase", "--reward", "nope:x"], "unknown reward 'nope:x'"),
    (["--method", "best-of-n,treesearch", "--reward", "confidence"], "unknown method 'treesearch'"),
    (["--method", "rebase", "--reward", "confidence", "--trajectories", "0,4"], "trajectory counts must be whole"),
    (["--method", "rebase", "--reward", "confidence", "--rebase-temperature", "0"], "REBASE temperature must be"),
    (["--method", "rebase", "--reward", "confidence", "--rebase-temperature", "nan"], "REBASE temperature must be"),
    (["--method", "beam", "--reward", "confidence", "--beam-expansions", "0"], "expansions per beam must be >= 1"),
    (["--method", "deepconf", "--deepconf-keep", "150"], "DeepConf keep must be a percentage"),
    (["--method", "deepconf-online", "--deepconf-consensus", "0"], "DeepConf consensus must be in (0, 1]"),
    (["--method", "rebase", "--reward", "confidence", "--step-delimiter", ""], "the step delimiter is empty"),
    (["--method", "rebase", "--reward", "confidence", "--backend", "vllm"], "needs the in-process engine"),
])
def test_bad_search_settings_are_one_line_and_leave_no_folder(tmp_path, capsys, monkeypatch, extra, msg):
    monkeypatch.chdir(tmp_path)
    rc = main(BASE + extra)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("s1: error: ") and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "X").exists()


def test_a_delimiter_that_ends_the_thinking_is_refused(tmp_path, capsys, monkeypatch, tiny_dir):
    monkeypatch.chdir(tmp_path)
    rc = main(BASE + ["--model", str(tiny_dir), "--method", "rebase", "--reward", "confidence",
                      "--step-delimiter", "<|im_end|>"])
    err = capsys.readouterr().err
    assert rc == 2 and "never occurs inside a step" in err and err.count("\n") == 1, err
    assert not (tmp_path / "X").exists()


def test_greedy_search_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["eval", "--task", "arith:n=2", "--out", "X", "--method", "best-of-n", "--reward", "confidence"])
    assert rc == 2 and "needs --temperature > 0" in capsys.readouterr().err
    assert not (tmp_path / "X").exists()


def test_a_reward_model_that_fails_mid_run_leaves_a_resumable_run(answer_engine, tmp_path, monkeypatch):
    import s1.rewards
    from s1.evaluate import EvalConfig, evaluate
    from s1.rewards.confidence import ConfidenceReward

    class Down(ConfidenceReward):
        def score_confidences(self, items):
            raise RuntimeError("reward server went away")

    cfg = EvalConfig(task="arith:n=4", methods=("rebase",), reward="confidence", trajectories=(2,),
                     temperature=0.8, max_thinking=(16,), max_answer_tokens=8)
    evaluate(cfg, tmp_path / "run", engine=answer_engine, batch_size=2, stop_after=1)  # the first batch
    monkeypatch.setattr(s1.rewards, "load_reward", lambda spec, **kw: Down())
    with pytest.raises(RuntimeError, match="went away"):  # the second batch fails
        evaluate(cfg, tmp_path / "run", engine=answer_engine, batch_size=2)
    assert len((tmp_path / "run" / "samples.jsonl").read_text().splitlines()) == 2  # the first batch is kept
    monkeypatch.undo()
    s = evaluate(cfg, tmp_path / "run", engine=answer_engine, batch_size=2)  # the rerun continues
    assert s["complete"] and len((tmp_path / "run" / "samples.jsonl").read_text().splitlines()) == 4
