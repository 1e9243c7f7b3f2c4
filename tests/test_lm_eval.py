"""lm-evaluation-harness with budget forcing: the `s1` lm-eval model run through lm-eval's own command line
(`python -m s1.lm_eval`) on local YAML tasks (tests/data/lm_eval), offline, and its pieces on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from s1.lm_eval import S1LM, S1LMError  # noqa: E402
from s1.lm_eval.entry import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tests" / "data" / "lm_eval"


def _gen(ctx: str, **gen) -> Instance:
    return Instance("generate_until", {}, (ctx, gen), 0)


@pytest.fixture(scope="module")
def tiny_lm(tiny_dir):
    return S1LM(model=str(tiny_dir), template="s1", max_thinking=12, min_thinking=12, batch_size=2, device="cpu")


@pytest.mark.slow
def test_lm_eval_cli_runs_local_tasks_with_budget_forcing(tmp_path, monkeypatch):
    """lm-eval's own CLI, our model: a generation task (thinking forced between 8 and 16 tokens, the answer
    scored by the task's filter) and a multiple-choice task (scored with no thinking) in one run."""
    monkeypatch.chdir(ROOT)  # the task files name their data relative to the repository root
    # float32: the same greedy outputs on CPUs with and without bf16
    out = tmp_path / "out"
    rc = main(["--model", "s1", "--model_args", "model=smollm2-135m,dtype=float32,min_thinking=8,max_thinking=16",
               "--tasks", "s1_tiny_arith,s1_tiny_choice", "--include_path", str(TASKS), "--batch_size", "4",
               "--device", "cpu", "--log_samples", "--output_path", str(out)])
    assert rc == 0
    [results] = out.rglob("results_*.json")
    res = json.loads(results.read_text())
    assert 0 <= res["results"]["s1_tiny_arith"]["exact_match,last-number"] <= 1
    assert 0 <= res["results"]["s1_tiny_choice"]["acc,none"] <= 1
    assert res["config"]["s1"]["budget"]["max_thinking"] == 16
    [samples] = out.rglob("samples_s1_tiny_arith_*.jsonl")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        [rec] = row["arguments"]["gen_args_0"]["arg_1"]["s1"]
        assert 8 <= rec["thinking_tokens"] <= 16 and rec["thinking"].strip()
        assert rec["answer_tokens"] > 0 and rec["prompt_tokens"] > 0
        assert isinstance(rec["events"], list) and rec["thinking_end"]
        [[answer]] = row["resps"]
        assert answer == rec["answer"] and rec["thinking"] not in answer  # the filters saw the answer only
        extends = [e for e in rec["events"] if e["kind"] == "extend"]  # "Wait" forced on a stop below 8
        assert rec["num_ignored"] == len(extends) and all(e["at"] < 8 for e in extends)
    assert any(r["arguments"]["gen_args_0"]["arg_1"]["s1"][0]["num_ignored"] for r in rows)  # greedy: it happens
    assert list(out.rglob("samples_s1_tiny_choice_*.jsonl"))


def _cli(entry: list[str], *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *entry, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


MODULE, COMMAND = (["s1.lm_eval"], "python -m s1.lm_eval"), (["s1", "lm-eval"], "s1 lm-eval")


@pytest.mark.parametrize("entry, args, says", [
    (MODULE, ["--model_args", "max_thinkin=16", "--tasks", "s1_tiny_arith"], "unknown model arg 'max_thinkin'"),
    (COMMAND, ["--model_args", "min_thinking=9,max_thinking=3", "--tasks", "s1_tiny_arith"],
     "larger than max thinking"),
    (MODULE, ["--model_args", "batch_size=4", "--tasks", "s1_tiny_arith"], "--batch_size"),
    (COMMAND, ["--tasks", "no_such_task_xyz"], "Tasks not found: no_such_task_xyz"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, entry, args, says):
    r = _cli(entry[0], "--model", "s1", *args, "--include_path", str(TASKS), "--output_path", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{entry[1]}: error:") and says in last
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()


def test_stop_strings_cut_the_answer_never_the_thinking(tiny_lm):
    """A task's `until` string that the model writes inside its thinking does not end the thinking: the
    budget (exactly 12 thinking tokens here) runs out, and only the answer is cut at the stop string."""
    prompt = "Count the letters in banana."
    [free] = tiny_lm.generate_until([_gen(prompt, max_gen_toks=8)])
    rec = tiny_lm.backend.generate([prompt], tiny_lm.args.budget(8))[0]
    assert free == rec.answer and rec.thinking_tokens == 12
    stop = rec.thinking[0]  # a stop string the thinking starts with
    req = _gen(prompt, until=[stop], max_gen_toks=8)
    [cut] = tiny_lm.generate_until([req])
    [logged] = req.args[1]["s1"]
    assert logged["thinking"] == rec.thinking and logged["thinking_tokens"] == 12
    assert cut == rec.answer.split(stop)[0] == logged["answer"] and len(cut) < len(rec.answer)
    assert logged["answer_before_stops"] == rec.answer


def test_loglikelihood_is_the_models_own_probability(tiny_lm):
    """Scoring requests (multiple choice, perplexity) use the plain text, no thinking: the sum of the model's
    log-probs of the continuation tokens, as a direct forward pass computes them."""
    model, tok = tiny_lm.backend.model, tiny_lm.backend.tokenizer
    ctx, cont = "The cat sat on the", " mat"
    [(lp, greedy)] = tiny_lm.loglikelihood([Instance("loglikelihood", {}, (ctx, cont), 0)])
    ids = tok.encode(ctx + cont, add_special_tokens=False)
    n = len(tok.encode(ctx, add_special_tokens=False))
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    want = sum(float(logits[p - 1, ids[p]]) for p in range(n, len(ids)))
    assert lp == pytest.approx(want, abs=1e-4)
    assert greedy == all(int(logits[p - 1].argmax()) == ids[p] for p in range(n, len(ids)))
    [rolling] = tiny_lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (ctx + cont,), 0)])
    prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    full = [prefix] + ids
    with torch.inference_mode():
        logits = model(torch.tensor([full])).logits[0].float().log_softmax(-1)
    assert rolling == pytest.approx(sum(float(logits[p - 1, full[p]]) for p in range(1, len(full))), abs=1e-4)


def test_model_args_are_checked_before_any_model_loads():
    with pytest.raises(S1LMError, match="unknown model arg 'temprature'"):
        S1LM(temprature=0.5)
    with pytest.raises(S1LMError, match="'base_url' does not apply to backend=vllm"):
        S1LM(backend="vllm", base_url="http://x/v1")
    with pytest.raises(S1LMError, match="give one"):
        S1LM(model="x", pretrained="y")
    with pytest.raises(S1LMError, match="extend"):
        S1LM(extend=3)


def test_gen_kwargs_thinking_overrides_the_budget_per_request(tiny_lm):
    """`--gen_kwargs '{"thinking": {...}}'` (the keys of s1 serve's thinking object) sets a request's budget."""
    reqs = [_gen("Say hi.", max_gen_toks=4, thinking={"min_tokens": 5, "max_tokens": 5}),
            _gen("Say hi.", max_gen_toks=4)]
    tiny_lm.generate_until(reqs)
    assert [r.args[1]["s1"][0]["thinking_tokens"] for r in reqs] == [5, 12]
    assert all(r.args[1]["s1"][0]["answer_tokens"] <= 4 for r in reqs)
    with pytest.raises(S1LMError, match="thinking"):
        tiny_lm.generate_until([_gen("Say hi.", thinking={"max_tokenz": 5})])
