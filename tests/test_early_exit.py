"""Early exit: trial answers probed on forked rows (a scripted model, then a tiny random model)."""

import pytest
from helpers import ScriptedModel, smol_tokenizer

from s1 import TEMPLATES, BudgetConfig, Engine
from s1.generation import SamplingConfig
from s1.runner import HFRunner

TPL = TEMPLATES["s1"]
A, B, D, E = 253, 278, 287, 297  # " a", " b", " d", " e" in the SmolLM2 tokenizer


@pytest.fixture(scope="module")
def tok():
    return smol_tokenizer()


def scripted_engine(tok):
    """Thinks " a b\\n\\n" forever; after the answer prefix it writes " d" (probability 0.5 while it has
    written fewer than 3 paragraphs, ~1 after) and ends its turn after 3 answer tokens."""
    nn = tok.encode("\n\n", add_special_tokens=False)
    assert len(nn) == 1
    plan = TPL.plan(tok, BudgetConfig())
    prefix, eot = list(plan.answer_prefix_ids), min(plan.eot_ids)
    cycle = {A: B, B: nn[0], nn[0]: A}

    def script(seq):
        for i in range(len(seq) - len(prefix), -1, -1):
            if seq[i:i + len(prefix)] == prefix:
                if len(seq) - i - len(prefix) >= 3:
                    return eot
                sure = seq[:i].count(nn[0]) >= 3
                return {D: 10.0 if sure else 0.0, E: 0.0}
        return cycle.get(seq[-1], A)

    model = ScriptedModel(script, len(tok))
    return Engine(model, tok, TPL, 2048, runner=HFRunner(model)), model


def test_a_probe_that_passes_ends_the_thinking_where_it_looked(tok):
    engine, model = scripted_engine(tok)
    stats = {}
    budget = BudgetConfig(max_thinking_tokens=60, early_exit=0.9, probe_gap=4, probe_tokens=2)
    [r] = engine.generate_grid(["q"], [budget], stats=stats)[0]
    plan = TPL.plan(tok, budget)
    forced = len(plan.think_end_ids) + len(plan.answer_prefix_ids)  # the thinking ends with a blank line
    # boundaries at 3, 6, 9, 12 tokens; probes at 6 (p = 0.5: thinks on) and 12 (p ~ 1: exit)
    assert r.thinking_tokens == 12 and r.thinking_end == "early_exit" and not r.thinking_cut
    assert [e["at"] for e in r.events if e["kind"] == "probe"] == [6, 12]
    assert r.events[-1]["text"].endswith("exit")
    assert r.probe_tokens == 2 * (forced + 2)
    assert tok.encode(r.answer, add_special_tokens=False)[-3:] == [D, D, D]
    prompt = TPL.encode_prompt(tok, "q", None)
    assert stats["prefill_tokens"] == len(prompt)  # the probes never ran the prefix again
    # the model saw only the row's own sequence and the probes' (prefix + forced end + trial tokens)
    assert all(seq[:len(prompt)] == tuple(prompt) for seq, _ in model.seen)


def test_probes_that_fail_leave_the_row_as_it_was(tok):
    engine, _ = scripted_engine(tok)
    plain = BudgetConfig(max_thinking_tokens=20)
    never = BudgetConfig(max_thinking_tokens=20, early_exit=1.0, probe_gap=3, probe_tokens=3)
    a, b = engine.generate_grid(["q"], [plain, never], share=False)[0]
    assert (a.thinking, a.answer, a.thinking_end) == (b.thinking, b.answer, "max_thinking")
    assert b.probe_tokens > 0 and a.probe_tokens == 0
    assert [e["at"] for e in b.events if e["kind"] == "probe"] == [3, 6, 9, 12, 15, 18]  # gap 3


def test_fork_based_probe_on_a_tiny_random_model(tok):
    from helpers import WORDS, tiny_model

    engine = Engine(tiny_model(tok, WORDS + ("\n\n", " Wait"), seed=2, only_active=True), tok, TPL, 256)
    prompts = ["What is 3 + 4?", "Count the r in raspberry.", "Name a prime."]
    sampled = SamplingConfig(1.0, seed=5)
    base = BudgetConfig(max_thinking_tokens=48, max_answer_tokens=16)
    from dataclasses import replace

    runs = {}
    for name, b in [("plain", base), ("never", replace(base, early_exit=1.0, probe_gap=6, probe_tokens=4)),
                    ("eager", replace(base, early_exit=0.01, probe_gap=6, probe_tokens=4))]:
        stats = {}
        runs[name] = (engine.generate_grid(prompts, [b], sampled, batch_size=3, stats=stats), stats)
    plain, never, eager = (runs[k][0] for k in ("plain", "never", "eager"))
    prefill = runs["plain"][1]["prefill_tokens"]
    assert runs["never"][1]["prefill_tokens"] == runs["eager"][1]["prefill_tokens"] == prefill
    for p, n, e in zip(plain, never, eager):
        p, n, e = p[0], n[0], e[0]
        # probes that never pass change nothing in the row (its cache and its draws are its own)
        assert (n.thinking, n.answer) == (p.thinking, p.answer)
        probed = [ev for ev in e.events if ev["kind"] == "probe"]
        if probed:  # a threshold of 0.01 passes at the first probe
            assert e.thinking_end == "early_exit" and e.thinking_tokens == probed[0]["at"] <= p.thinking_tokens
            assert e.probe_tokens > 0
    assert sum(r[0].probe_tokens for r in never) > 0 and any(r[0].thinking_end == "early_exit" for r in eager)


def test_every_adaptive_method_runs_in_s1_eval_next_to_budget_forcing(tiny_dir, tmp_path):
    import json

    from s1.cli import main

    out = tmp_path / "run"
    assert main(["eval", "--model", str(tiny_dir), "--task", "arith:n=2,steps=1,digits=1", "--max-thinking", "8,16",
                 "--num-ignore", "1", "--max-answer", "8", "--early-exit", "0.05", "--probe-gap", "2",
                 "--probe-tokens", "2", "--wait-schedule", "constant:0.5@0.5", "--break-loops", "2:2",
                 "--round-temperature", "0.8", "--extend-penalty", "1", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert list(s["methods"]) == ["budget-forcing", "early-exit", "wait-schedule", "break-loops", "round-sampling"]
    for m in s["methods"].values():
        assert [p["max_requested"] for p in m["points"]] == [8, 16] and m["control"] == 100.0
    recs = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(r["thinking_tokens"] <= int(r["point"].split(",")[0][4:]) for r in recs)  # exact limits
    assert all(r["probe_tokens"] == 0 for r in recs if r["method"] != "early-exit")
    assert (out / "scaling.png").exists()
