"""Adaptive thinking policies in the budget state machine, on scripted token streams (no model)."""

from dataclasses import replace

import pytest
import torch

from s1.budget import BudgetConfig, BudgetError, ForcingPlan, RowBudget
from s1.generation import SamplingConfig
from s1.step import Seq, choose

NL, NN, END1, END2, EOT, WAIT, FA, A, B, C, D = 10, 11, 1, 20, 2, 30, 50, 5, 6, 7, 8
TEXT = {NL: "\n", NN: "\n\n", WAIT: " Wait", A: " a", B: " b", C: " c", D: " d"}


def plan(**kw):
    b = BudgetConfig(**{"answer_prefix": "Final Answer:", **kw}).validate()
    return ForcingPlan(
        budget=b, stop_ids=frozenset({END1, EOT}), think_end_ids=(END1, END2), eot_ids=frozenset({EOT}),
        extend_ids=tuple((WAIT,) for _ in b.extend), answer_prefix_ids=(FA,), separator_ids=(NL,),
        ends_with_separator=lambda t: t in (NL, NN), token_text=lambda t: TEXT.get(t, "x"),
    )


def run(row, model_tokens):
    """Drive a row with a scripted model: each sampled step takes the next scripted token."""
    it = iter(model_tokens)
    out = []
    while not row.done:
        out.append(row.advance(next(it) if row.wants_sample() else None))
    return out


def kinds(row):
    return [e.kind for e in row.events]


def test_defaults_change_nothing():
    b = BudgetConfig()
    assert not b.adaptive
    row = RowBudget(plan(num_ignore=1))
    assert run(row, [A, NN, END1, END1, B, EOT]) == [A, NN, WAIT, END1, END2, B, EOT]
    assert row.probe_tokens == 0 and not row.probe_wanted and row.logit_bias() is None


def test_wait_schedule_inserts_at_boundaries_then_ends_at_the_next_one():
    # p = 1 until half of 12 tokens: every blank line before 6 tokens gets "Wait"; the first one after ends it
    row = RowBudget(plan(max_thinking_tokens=12, wait_schedule="constant:1@0.5"))
    out = run(row, [A, NN, B, NN, C, D, NN, A, EOT])
    assert out == [A, NN, WAIT, B, NN, WAIT, C, D, NN, END1, END2, FA, A, EOT]
    assert kinds(row) == ["wait", "wait", "schedule_end"] and row.thinking_end == "wait_schedule"
    assert row.num_ignored == 0 and len(row.thinking) == 9 and not row.cut


def test_wait_schedule_replaces_the_models_own_extension_word_past_its_point():
    row = RowBudget(plan(max_thinking_tokens=10, wait_schedule="constant:0@0.3"))
    out = run(row, [A, B, C, WAIT, D, EOT])
    assert out == [A, B, C, NL, END1, END2, FA, D, EOT]  # the sampled " Wait" became the end of thinking
    assert WAIT not in row.thinking and row.thinking_end == "wait_schedule"


def test_wait_schedule_is_seeded_and_reproducible():
    stream = [A, B, NN] * 40 + [EOT] * 3

    def waits(seed):
        row = RowBudget(plan(max_thinking_tokens=400, wait_schedule="linear:0.8@1", policy_seed=seed))
        run(row, stream)
        return [e.at for e in row.events if e.kind == "wait"]

    assert waits(1) == waits(1)
    assert waits(1) != waits(2)
    # linear: p falls from 0.8 to 0, so the first half sees more insertions than the second
    at = waits(3)
    assert 5 < len(at) < 40 and sum(a < 60 for a in at) > sum(a >= 60 for a in at)


def test_wait_schedule_keeps_the_budget_exact():
    row = RowBudget(plan(max_thinking_tokens=5, wait_schedule="constant:1@1"))
    run(row, [A, NN, B, NN, C, EOT, EOT])
    assert len(row.thinking) == 5 and row.thinking_end == "max_thinking"


def test_repeated_ngram_ends_thinking_and_is_reported():
    row = RowBudget(plan(break_loops="3:2"))
    out = run(row, [A, B, C, D, A, B, C, A, EOT])
    assert out == [A, B, C, D, A, B, C, NL, END1, END2, FA, A, EOT]
    assert row.thinking_end == "loop" and row.events[0].as_dict() == {"kind": "loop", "at": 7, "text": "ngram"}


def test_loop_action_extend_tries_each_extension_once_then_ends():
    row = RowBudget(plan(break_loops="2:2", loop_action="extend", extend=("Wait", "Hmm")))
    out = run(row, [A, B, A, B, C, D, C, D, A, C, A, C, EOT])
    assert out[:10] == [A, B, A, B, WAIT, C, D, C, D, WAIT]  # two loops, two extensions (rotation)
    assert kinds(row) == ["loop", "loop", "loop"] and row.thinking_end == "loop"


def test_a_repeated_paragraph_is_a_loop():
    para = [A, B, C, D, NN]
    row = RowBudget(plan(break_loops="50:2"))  # the n-gram test alone would never fire here
    run(row, para + [B, D, A, C, NN] + para + [A, EOT])
    assert row.thinking_end == "loop" and row.events[0].text == "paragraph" and row.events[0].at == 15


def test_round_sampling_follows_the_refused_stops():
    row = RowBudget(plan(num_ignore=3, round_temperatures=(0.5, 1.0), round_top_p=(0.9,)))
    base = SamplingConfig(0.0, 1.0, seed=0)
    temps = []
    for tok in [A, END1, B, END1, C, END1, D, END1]:
        temps.append((row.round_sampling(base).temperature, row.round_sampling(base).top_p))
        while not row.wants_sample():
            row.advance(None)
        row.advance(tok)
    assert temps == [(0, 1), (0, 1), (0.5, 0.9), (0.5, 0.9), (1.0, 0.9), (1.0, 0.9), (1.0, 0.9), (1.0, 0.9)]
    assert row.round_sampling(base) == base  # answer phase: the base settings


def test_a_greedy_row_samples_seeded_after_a_refused_stop():
    def draws(seed):
        row = RowBudget(plan(num_ignore=1, round_temperatures=(5.0,)))
        s = Seq(row, {"think": SamplingConfig(0.0, seed=0), "answer": SamplingConfig()}, {"think": seed, "answer": 0})
        logits = torch.zeros(1, 64)
        logits[0, A] = 1.0
        out = []
        for _ in range(12):
            tok = choose([s], logits)[0]
            tok = END1 if len(out) == 0 else tok
            out.append(row.advance(tok))
        return out[2:]

    first = draws(3)
    assert first == draws(3) and first != draws(4) and set(first) != {A}  # greedy would always pick A


def test_extension_penalty_biases_the_extension_tokens_by_their_count():
    row = RowBudget(plan(num_ignore=2, extend_penalty=1.5))
    run(row, [A, END1, B, END1, C, END1, EOT])
    fresh = RowBudget(plan(num_ignore=2, extend_penalty=1.5))
    for tok in [A, END1]:
        fresh.advance(tok)
    fresh.advance(None) if not fresh.wants_sample() else None
    assert fresh.logit_bias() == {WAIT: -1.5}
    # through the step's draw: WAIT leads by 1 logit, the penalty of one "Wait" hands the draw to A
    logits = torch.zeros(1, 64)
    logits[0, WAIT], logits[0, A] = 2.0, 1.0
    s = Seq(fresh, {"think": SamplingConfig(), "answer": SamplingConfig()}, {"think": 0, "answer": 0})
    assert choose([s], logits) == [A]
    no_penalty = Seq(RowBudget(plan()), s.sampling, s.seeds)
    assert choose([no_penalty], logits) == [WAIT]


def test_early_exit_row_asks_for_probes_and_ends_where_one_passes():
    row = RowBudget(plan(early_exit=0.8, probe_gap=2, probe_tokens=2))
    for tok in [A, NN]:
        row.advance(tok)
    assert row.probe_wanted  # a step boundary, probe_gap tokens into the thinking
    assert row.start_probe() == (END1, END2, FA) and row.probing and not row.probe_wanted
    assert not row.probe_result(0.5, (A,), 5)  # not confident: think on
    for tok in [B, C, NN]:
        row.advance(tok)
    assert row.probe_wanted
    row.start_probe()
    assert row.probe_result(0.9, (A,), 4)
    out = [row.advance(D)]  # the next draw becomes the end of thinking
    while not row.done:
        out.append(row.advance(None if not row.wants_sample() else EOT))
    assert out == [END1, END2, FA, EOT]
    assert row.thinking == [A, NN, B, C, NN] and row.thinking_end == "early_exit" and row.probe_tokens == 9
    assert [e.text for e in row.events] == ["0.500", "0.900 exit"]


def test_early_exit_probes_respect_the_gap_and_extension_words():
    row = RowBudget(plan(early_exit=0.8, probe_gap=4))
    wanted = []
    for tok in [A, WAIT, B, C, WAIT, D, NN]:
        row.advance(tok)
        wanted.append(row.probe_wanted)
        if row.probe_wanted:
            row.start_probe()
            row.probe_result(0.1, (), 1)
    assert wanted == [False, False, False, False, True, False, False]  # at 2 tokens too close; at 5 ok


def test_agree_mode_needs_the_same_trial_answer_twice():
    row = RowBudget(plan(early_exit=0.5, probe_mode="agree", probe_gap=1))
    row.advance(A)
    row.start_probe()
    assert not row.probe_result(0.99, (C,), 3)
    assert not row.probe_result(0.99, (D,), 3)
    assert row.probe_result(0.99, (D,), 3)


@pytest.mark.parametrize("kw, msg", [
    ({"wait_schedule": "linear:1.5@0.5", "max_thinking_tokens": 9}, r"probability must be in \[0, 1\]"),
    ({"wait_schedule": "linear:0.5@0", "max_thinking_tokens": 9}, r"UNTIL is a fraction .* in \(0, 1\]"),
    ({"wait_schedule": "cubic:0.5@0.5", "max_thinking_tokens": 9}, "SHAPE one of constant, linear"),
    ({"wait_schedule": "0.5@0.5"}, "needs max thinking tokens"),
    ({"break_loops": "1:3"}, "must both be >= 2"),
    ({"break_loops": "x"}, "expected N:K"),
    ({"loop_action": "stop"}, "loop action must be one of end, extend"),
    ({"round_temperatures": (0.5, -1)}, r"round temperatures must be in \[0, 100\]"),
    ({"round_top_p": (0,)}, r"round top_p must be in \(0, 1\]"),
    ({"extend_penalty": float("nan")}, "extension penalty"),
    ({"early_exit": 1.2}, r"early-exit threshold must be in \(0, 1\]"),
    ({"early_exit": 0.9, "probe_tokens": 0}, r"probe tokens must be in \[1, 64\]"),
    ({"early_exit": 0.9, "probe_tokens": 8, "max_answer_tokens": 8}, "fewer than max answer tokens"),
    ({"probe_mode": "vote"}, "probe mode must be one of prob, agree"),
    ({"early_exit": 0.9, "probe_gap": 0}, "probe gap must be >= 1"),
])
def test_bad_policy_settings(kw, msg):
    with pytest.raises(BudgetError, match=msg):
        BudgetConfig(**kw).validate()


def test_policy_settings_survive_a_json_round_trip():
    import json
    from dataclasses import asdict

    b = BudgetConfig(max_thinking_tokens=9, wait_schedule="linear:0.5@0.5", round_temperatures=(0.5, 1.0))
    assert BudgetConfig(**json.loads(json.dumps(asdict(b)))) == b
    assert replace(b, early_exit=0.9).adaptive


def test_serve_takes_the_policies_per_request():
    from s1.serve.protocol import Limits, RequestError, parse

    body = {"messages": [{"role": "user", "content": "hi"}],
            "thinking": {"max_tokens": 64, "wait_schedule": "linear:0.4@0.5", "break_loops": "8:2",
                         "round_temperatures": [0.7, 1.0], "extend_penalty": 0.5}}
    b = parse(body, "chat", Limits()).budget
    assert (b.wait_schedule, b.break_loops, b.round_temperatures, b.extend_penalty) == (
        "linear:0.4@0.5", "8:2", (0.7, 1.0), 0.5)
    for bad, msg in [({"wait_schedule": "linear:2@0.5"}, "probability"), ({"round_top_p": 0.5}, "list of numbers"),
                     ({"early_exit": 0.9}, "not served"), ({"loop_action": "stop"}, "loop action")]:
        with pytest.raises(RequestError, match=msg):
            parse({**body, "thinking": {"max_tokens": 64, **bad}}, "chat", Limits())


@pytest.mark.parametrize("args, msg", [
    (["--early-exit", "1.5"], "early-exit threshold must be in (0, 1]"),
    (["--wait-schedule"], "needs max thinking tokens"),
    (["--probe-gap", "8"], "only apply to early-exit"),
    (["--method", "round-sampling"], "needs --round-temperature"),
    (["--early-exit", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"], "transformers backend only"),
])
def test_eval_refuses_bad_policy_settings_in_one_line(tmp_path, capsys, args, msg):
    from s1.cli import main

    out = tmp_path / "run"
    assert main(["eval", "--task", "arith:n=2", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and not out.exists()


def test_other_backends_refuse_what_needs_the_in_process_engine():
    from s1.generation import Backend

    class Remote(Backend):
        name = "openai"

    with pytest.raises(BudgetError, match="in-process engine"):
        Remote().prepare(["q"], [BudgetConfig(early_exit=0.9)], SamplingConfig())
    with pytest.raises(BudgetError, match="not openai"):
        Remote().prepare(["q"], [BudgetConfig(round_temperatures=(0.5,))], SamplingConfig())
