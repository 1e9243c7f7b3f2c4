"""s1 eval on tiny random models (mechanics: grid, baselines, resume, refusal) and on the embedded
model (one real sweep through the CLI, then s1 report)."""

import json

import pytest

from s1.cli import main
from s1.evaluate import EvalConfig, EvalError, evaluate, load_run

TASK = "arith:n=5,steps=1,digits=1"


@pytest.fixture(scope="module")
def engine(answer_engine):
    return answer_engine  # built once per test run (tests/conftest.py)


def cfg(**kw):
    base = dict(task=TASK, max_thinking=(4, 12, None), num_ignore=(0, 2), max_answer_tokens=6)
    return EvalConfig(**{**base, **kw})


def lines(folder):
    return (folder / "samples.jsonl").read_text().splitlines()


def test_sweep_records_summary_and_metrics(engine, tmp_path):
    s = evaluate(cfg(), tmp_path / "run", engine=engine, batch_size=2)
    recs = [json.loads(x) for x in lines(tmp_path / "run")]
    assert len(recs) == 5 * 6 and s["complete"]  # 5 questions x (3 budgets x 2 ignore counts)
    assert {(r["question_id"], r["point"]) for r in recs}.__len__() == 30
    for r in recs:
        for key in ("thinking", "answer", "thinking_tokens", "events", "extracted", "correct", "gold"):
            assert key in r
        cap = r["point"].split(",")[0].split("=")[1]
        if cap != "none":
            assert r["thinking_tokens"] <= int(cap)
    bf = s["methods"]["budget-forcing"]
    assert len(bf["points"]) == 6 and bf["control"] == 100.0
    p = bf["points"][0]
    mine = [r for r in recs if r["point"] == p["point"]]
    assert p["accuracy"] == pytest.approx(100 * sum(r["correct"] for r in mine) / 5)
    assert p["thinking_tokens"] == pytest.approx(sum(r["thinking_tokens"] for r in mine) / 5)
    assert len(list((tmp_path / "run" / "points").glob("*.json"))) == 6
    ident, summary, _ = load_run(tmp_path / "run")
    assert ident["task"]["name"] == "arith" and summary == json.loads((tmp_path / "run/summary.json").read_text())


def test_resume_after_kill_loses_and_duplicates_nothing(engine, tmp_path):
    full = tmp_path / "full"
    evaluate(cfg(), full, engine=engine, batch_size=2)
    killed = tmp_path / "killed"
    s = evaluate(cfg(), killed, engine=engine, batch_size=2, stop_after=1)
    assert not s["complete"] and len(lines(killed)) == 2 * 6  # one batch of 2 questions
    with open(killed / "samples.jsonl", "a") as f:  # a kill in the middle of the next unit's write
        f.write(lines(full)[12] + "\n" + lines(full)[13][:40])
    s = evaluate(cfg(), killed, engine=engine, batch_size=2)
    assert s["complete"]
    assert lines(killed) == lines(full)  # every sample once, in order, identical to the unbroken run
    assert len(set(lines(killed))) == 30
    assert json.loads((killed / "summary.json").read_text())["methods"] == \
        json.loads((full / "summary.json").read_text())["methods"]


class Recording:
    """The real engine, with the prompts of each generate_grid call written down."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def generate_grid(self, prompts, *a, **kw):
        self.calls.append(list(prompts))
        return self.engine.generate_grid(prompts, *a, **kw)

    def __getattr__(self, name):
        return getattr(self.engine, name)


@pytest.mark.parametrize("seed", range(3))
def test_a_batch_torn_mid_write_is_redone_with_the_same_neighbours(engine, tmp_path, seed):
    """A kill while a batch's records are written (cut at a random byte of that batch) is resumed by
    decoding the same questions together again, so the records equal the unbroken run's."""
    import random

    full = tmp_path / "full"
    rec_full = Recording(engine)
    evaluate(cfg(), full, engine=rec_full, batch_size=3)  # batches: questions 0-2, 3-4
    whole = (full / "samples.jsonl").read_bytes()
    first = sum(len(x) + 1 for x in lines(full)[:3 * 6])  # bytes of the first batch (3 questions x 6 points)
    cut = random.Random(seed).randrange(first + 1, len(whole))  # inside the second batch's write
    torn = tmp_path / "torn"
    evaluate(cfg(), torn, engine=engine, batch_size=3, stop_after=1)
    with open(torn / "samples.jsonl", "ab") as f:
        f.write(whole[first:cut])
    rec = Recording(engine)
    s = evaluate(cfg(), torn, engine=rec, batch_size=3)
    assert s["complete"] and lines(torn) == lines(full)
    assert rec.calls == rec_full.calls[1:]  # the second batch again, whole: same prompts, same order


def test_every_option_is_checked_before_the_run_folder_is_made(engine, tmp_path):
    for bad, msg in [(dict(grade_timeout=0), "grade timeout must be > 0"),
                     (dict(grade_timeout=float("nan")), "grade timeout must be > 0"),
                     (dict(temperature=-1), "temperature must be"),
                     (dict(top_p=0), "top_p must be"), (dict(limit=0), "limit must be >= 1"),
                     (dict(max_answer_tokens=0), "max answer tokens"), (dict(rejection_temperature=0), "rejection")]:
        with pytest.raises(EvalError, match=msg):
            evaluate(cfg(**bad), tmp_path / "run", engine=engine)
        assert not (tmp_path / "run").exists()
    with pytest.raises(EvalError, match="batch size must be >= 1"):
        evaluate(cfg(), tmp_path / "run", engine=engine, batch_size=0)
    assert not (tmp_path / "run").exists()
    assert evaluate(cfg(), tmp_path / "run", engine=engine, batch_size=4)["complete"]  # the corrected rerun


def test_changed_configuration_is_refused(engine, tmp_path):
    evaluate(cfg(), tmp_path / "run", engine=engine, batch_size=4, stop_after=1)
    before = lines(tmp_path / "run")
    with pytest.raises(EvalError, match=r"holds a run with another configuration \(config: .*max_thinking"):
        evaluate(cfg(max_thinking=(8,)), tmp_path / "run", engine=engine, batch_size=4)
    with pytest.raises(EvalError, match="another configuration"):
        evaluate(cfg(task="arith:n=6,steps=1,digits=1"), tmp_path / "run", engine=engine, batch_size=4)
    # batches decode differently with other neighbours: a resumed run keeps its batch size
    with pytest.raises(EvalError, match=r"another configuration \(batch_size: 4 there, 2 now\)"):
        evaluate(cfg(), tmp_path / "run", engine=engine, batch_size=2)
    assert lines(tmp_path / "run") == before  # nothing lost
    s = evaluate(cfg(max_thinking=(8,)), tmp_path / "run", engine=engine, overwrite=True)
    assert s["complete"] and len(lines(tmp_path / "run")) == 5 * 2


def test_every_baseline_runs_with_its_limits(engine, tmp_path):
    methods = ("budget-forcing", "token-conditional", "token-conditional+forcing", "step-conditional",
               "step-conditional+forcing", "class-conditional", "class-conditional+forcing", "rejection", "majority")
    c = cfg(methods=methods, max_thinking=(6, 20), num_ignore=(0,), steps=(1, 2), samples=2, temperature=1.0,
            rejection_tries=3, limit=3)
    s = evaluate(c, tmp_path / "run", engine=engine, batch_size=4)
    recs = [json.loads(x) for x in lines(tmp_path / "run")]
    by = {}
    for r in recs:
        by.setdefault(r["method"], []).append(r)
    assert set(by) == set(methods)
    for r in by["token-conditional+forcing"] + by["class-conditional+forcing"]:
        assert r["thinking_tokens"] <= int(r["point"].split("=")[-1])
    for r in by["step-conditional+forcing"]:
        assert r["thinking_steps"] <= int(r["point"].split("=")[1])
        assert r["thinking_end"] in ("max_steps", "stop", "eos", "context")
    assert {r["point"] for r in by["class-conditional"]} == {"short", "long"}
    rej = by["rejection"]
    assert all(1 <= r["tries"] <= 3 for r in rej)
    for r in rej:  # a fitting try ended by itself within the budget; otherwise the forced fallback
        if r["fit"]:
            assert r["thinking_end"] in ("stop", "eos") and r["thinking_tokens"] <= int(r["point"][4:])
        else:
            assert r["tries"] == 3 and r["thinking_end"] == "max_thinking"
    assert len(by["majority"]) == 3 * 2
    maj = s["methods"]["majority"]["points"]
    assert [p["point"] for p in maj] == ["k=1", "k=2"]
    per_sample = sum(r["thinking_tokens"] for r in by["majority"]) / 3
    assert maj[1]["thinking_tokens"] == pytest.approx(per_sample)  # a vote of 2 costs both samples
    bf = s["methods"]["budget-forcing"]["points"][0]
    assert "pass@2" in bf and "maj@2" in bf


def test_bad_settings_are_clear(engine, tmp_path):
    with pytest.raises(EvalError, match="needs --samples >= 2"):
        evaluate(cfg(methods=("majority",)), tmp_path / "a", engine=engine)
    with pytest.raises(EvalError, match="token-conditional: this method needs token limits"):
        evaluate(cfg(methods=("token-conditional",), max_thinking=(None,)), tmp_path / "b", engine=engine)
    with pytest.raises(EvalError, match="unknown method 'beams'"):
        evaluate(cfg(methods=("beams",)), tmp_path / "c", engine=engine)
    with pytest.raises(EvalError, match="greedy samples are identical"):
        evaluate(cfg(samples=3), tmp_path / "d", engine=engine)


@pytest.mark.parametrize("argv, msg", [
    (["eval", "--task", "nope", "--out", "X"], "unknown task 'nope'"),
    (["eval", "--task", "arith", "--out", "X", "--max-thinking", "12,abc"], "--max-thinking: 'abc' is not a whole"),
    (["eval", "--task", "arith", "--out", "X", "--method", "beams"], "unknown method 'beams'"),
    (["eval", "--task", "arith"], "--out DIR is required"),
    (["eval", "--task", "file", "--data", "bad.jsonl", "--out", "X"], "bad.jsonl:2: not valid JSON"),
    (["eval", "--task", "arith", "--out", "X", "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "j"],
     "unreachable"),
    (["report", "NOPE"], "no config.json"),
    (["eval", "--task", "arith:n=2", "--out", "X", "--grade-timeout", "0"], "grade timeout must be > 0"),
    (["eval", "--task", "arith:n=2", "--out", "X", "--model", "/no/such/folder"], "does not exist"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, msg):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"prompt": "1+1", "answer": "2"}\n{oops\n')
    (tmp_path / "NOPE").mkdir()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("s1: error: ") and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "X").exists()  # nothing half-made left behind


@pytest.mark.slow
def test_real_sweep_and_report_on_the_embedded_model(tmp_path, capsys):
    """The embedded SmolLM2-135M on a built-in task: two runs, the scaling plot and a paired interval."""
    a, b = tmp_path / "greedy", tmp_path / "min8"
    common = ["eval", "--task", "arith:n=4,steps=1,digits=1", "--max-answer", "24", "--batch-size", "4"]
    assert main(common + ["--max-thinking", "16,48", "--out", str(a)]) == 0
    out = capsys.readouterr().out
    assert "| budget-forcing | max=16,ignore=0 |" in out and (a / "scaling.png").stat().st_size > 1000
    assert main(common + ["--max-thinking", "16,48", "--min-thinking", "8", "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "Paired differences" in out and "| greedy | budget-forcing |" in out
    for name in ("report.md", "scaling.png", "scaling.svg"):
        assert (tmp_path / "rep" / name).exists()
    recs = [json.loads(x) for x in lines(a)]
    assert {r["thinking_tokens"] <= 16 for r in recs if r["point"].startswith("max=16")} == {True}
