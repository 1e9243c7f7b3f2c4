"""The step core (s1/step.py) driven by a scripted model: exact tokens and parts, forks, seeding, failures."""

import math

import pytest
import torch
from helpers import ScriptedModel, smol_tokenizer

from s1 import TEMPLATES, BudgetConfig, RowBudget
from s1.generation import SamplingConfig
from s1.runner import HFRunner
from s1.step import Batch, Seq, choose, row_generator, sample_token

TPL = TEMPLATES["s1"]
A, B, C, D, E = 253, 278, 265, 287, 297  # " a" .. " e" in the SmolLM2 tokenizer
THE, ANSWER, IS = 260, 2988, 314
GREEDY = {"think": SamplingConfig(), "answer": SamplingConfig()}


@pytest.fixture(scope="module")
def tok():
    return smol_tokenizer()


def prompt(tok, q="q"):
    return tok.encode(TPL.render_prompt(tok, q), add_special_tokens=False)


def seq(tok, budget, sampling=GREEDY, seed=0):
    return Seq(RowBudget(TPL.plan(tok, budget)), sampling, {"think": seed, "answer": seed})


def run(model, prompts, seqs, **kw):
    batch = Batch(HFRunner(model), kw.pop("stats", None))
    events = []
    batch.add(prompts, seqs)
    batch.run(lambda s, t, part: events.append((s, t, part)))
    return events


def test_tokens_and_parts_of_a_forced_row(tok):
    """The model writes " the answer", tries to stop (refused: "Wait"), writes " is", stops (accepted:
    the delimiter), answers " a" and ends its turn: every token and its part, exactly."""
    plan = TPL.plan(tok, BudgetConfig(num_ignore=1))
    stop, eot = plan.think_end_ids[0], min(plan.eot_ids)
    [wait] = plan.extend_ids
    nxt = {THE: ANSWER, ANSWER: stop, wait[-1]: IS, IS: stop, plan.think_end_ids[-1]: A, A: eot}
    n = len(prompt(tok))
    model = ScriptedModel(lambda s: THE if len(s) == n else nxt.get(s[-1], E), len(tok))  # E: never drawn
    row = seq(tok, BudgetConfig(num_ignore=1))
    events = run(model, [prompt(tok)], [row])
    assert [(t, part) for _, t, part in events] == (
        [(THE, "think"), (ANSWER, "think")] + [(t, "think") for t in wait] + [(IS, "think")]
        + [(t, "delim") for t in plan.think_end_ids] + [(A, "answer"), (eot, "delim")])
    assert row.row.thinking == [THE, ANSWER, *wait, IS] and row.row.answer == [A]
    assert (row.row.num_ignored, row.row.thinking_end, row.row.finish_reason) == (1, "stop", "stop")


def test_a_cut_forces_delimiter_and_prefix_as_their_parts(tok):
    plan = TPL.plan(tok, BudgetConfig(max_thinking_tokens=3, max_answer_tokens=5))
    model = ScriptedModel(lambda s: A, len(tok))  # never stops on its own
    events = run(model, [prompt(tok)], [seq(tok, BudgetConfig(max_thinking_tokens=3, max_answer_tokens=5))])
    sep = [] if plan.ends_with_separator(A) else list(plan.separator_ids)
    prefix = list(plan.answer_prefix_ids)
    assert [(t, p) for _, t, p in events] == (
        [(A, "think")] * 3 + [(t, "delim") for t in sep + list(plan.think_end_ids)]
        + [(t, "answer") for t in prefix] + [(A, "answer")] * (5 - len(prefix)))


def _consistent(model, prompts, seqs):
    """Every sequence the model was shown is a prompt followed by the start of one row's tokens."""
    known = {tuple(p + s.out[:k]) for p, s in zip(prompts, seqs) for k in range(len(s.out) + 1)}
    bad = [seen for seen, _ in model.seen if seen not in known]
    assert not bad, bad[:2]


def test_rows_that_differ_fork_the_slot_and_keep_their_own_cache(tok):
    """Greedy rows with different budgets start on one slot (a fork made before the first step) and
    split where their tokens differ; the model then sees each row's own sequence, and only the
    shared part is decoded once."""
    script = {A: B, B: C, C: D, D: E, E: A}
    model = ScriptedModel(lambda s: script.get(s[-1], A), len(tok))
    p = prompt(tok)
    budgets = [BudgetConfig(max_thinking_tokens=12, max_answer_tokens=8),
               BudgetConfig(max_thinking_tokens=5, max_answer_tokens=8),
               BudgetConfig(max_thinking_tokens=5, max_answer_tokens=6),
               BudgetConfig(max_thinking_tokens=8, max_answer_tokens=7)]
    stats = {}
    batch = Batch(HFRunner(model), stats)
    lead = seq(tok, budgets[0])
    batch.add([p], [lead])
    rows = [lead] + [batch.fork(lead, RowBudget(TPL.plan(tok, b))) for b in budgets[1:]]
    assert len(batch.slots) == 1
    batch.run()
    for b, r in zip(budgets, rows):
        alone = seq(tok, b)
        run(ScriptedModel(model.script, len(tok)), [p], [alone])
        assert r.out == alone.out
    _consistent(model, [p] * 4, rows)
    # one decoded slot per distinct prefix among the rows still running after each step
    steps = max(len(r.out) for r in rows)
    want = sum(len({tuple(r.out[: t + 1]) for r in rows if len(r.out) > t + 1}) for t in range(steps))
    assert stats["decode_row_steps"] == want < sum(len(r.out) - 1 for r in rows)


def test_fork_keeps_the_rng_state(tok):
    """A fork made mid-run continues with a copy of the parent's generators: it draws what the
    parent draws; a row that merely has the same seed but a fresh generator does not."""
    flat = {t: 0.0 for t in (A, B, C, D, E)}
    model = ScriptedModel(lambda s: flat, len(tok))
    s = {"think": SamplingConfig(temperature=1.0, seed=3), "answer": SamplingConfig(temperature=1.0, seed=3)}
    budget = BudgetConfig(max_thinking_tokens=30, max_answer_tokens=8)
    batch = Batch(HFRunner(model))
    parent = seq(tok, budget, s, seed=3)
    batch.add([prompt(tok)], [parent])
    for _ in range(6):
        batch.step()
    child = batch.fork(parent)
    restarted = batch.fork(parent)
    restarted.gens = {ph: row_generator(cfg, 3, "cpu") for ph, cfg in s.items()}  # same seed, fresh state
    batch.run()
    assert child.out == parent.out and child.row.thinking == parent.row.thinking
    assert restarted.out[:6] == parent.out[:6] and restarted.out != parent.out
    assert child.gens["think"] is not parent.gens["think"]
    _consistent(model, [prompt(tok)] * 3, [parent, child, restarted])


def test_sampling_is_seeded_per_row_not_per_batch(tok):
    weights = {A: 0.0, B: 0.5, C: 1.0, D: -0.5, E: 0.2}
    model = ScriptedModel(lambda s: weights, len(tok))
    s = {"think": SamplingConfig(temperature=0.9, top_p=0.9, seed=1), "answer": SamplingConfig(temperature=0.7, seed=2)}
    budget = BudgetConfig(max_thinking_tokens=20, max_answer_tokens=6)
    alone = seq(tok, budget, s, seed=7)
    run(model, [prompt(tok, "x")], [alone])
    mixed = [seq(tok, budget, s, seed=k) for k in (5, 7, 9)]
    run(model, [prompt(tok, "a longer question"), prompt(tok, "x"), prompt(tok, "y")], mixed)
    assert mixed[1].out == alone.out
    assert mixed[0].out != alone.out and mixed[2].out != alone.out  # other seeds, other draws


def test_choose_draws_greedy_rows_with_one_argmax_and_forced_rows_none(tok):
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    greedy = seq(tok, BudgetConfig())
    forced = seq(tok, BudgetConfig(max_thinking_tokens=0))  # its first tokens are the forced delimiter
    assert choose([greedy, forced, greedy], logits, [1, 0, 0]) == [0, None, 1]
    g = torch.Generator().manual_seed(0)
    draws = [sample_token(torch.tensor([0.0, 0.0, -math.inf]), SamplingConfig(temperature=1.0), g)
             for _ in range(50)]
    assert set(draws) == {0, 1}


def test_a_row_whose_draw_fails_ends_alone(tok):
    """A row whose own sampling fails (here its logits are NaN) is reported to on_error and
    dropped; the other row of its batch finishes normally. Without on_error the step raises."""
    bad = prompt(tok, "bad")

    def script(s):
        return {A: float("nan"), B: 0.0} if s[: len(bad)] == bad else A

    model = ScriptedModel(script, len(tok))
    hot = {"think": SamplingConfig(temperature=1.0, seed=0), "answer": SamplingConfig(temperature=1.0, seed=0)}
    budget = BudgetConfig(max_thinking_tokens=4, max_answer_tokens=8)
    good, failing = seq(tok, budget), seq(tok, budget, hot)
    batch = Batch(HFRunner(model))
    batch.add([prompt(tok), bad], [good, failing])
    errors = []
    while batch.slots:
        batch.step(on_error=lambda s, e: errors.append((s, e)))
    assert [s for s, _ in errors] == [failing] and isinstance(errors[0][1], RuntimeError)
    assert good.row.done and good.out[:4] == [A] * 4
    batch = Batch(HFRunner(model))
    batch.add([bad], [seq(tok, budget, hot)])
    with pytest.raises(RuntimeError):
        batch.step()


def test_sampled_rows_sharing_a_slot_draw_once_and_still_equal_separate_runs(tok, monkeypatch):
    import s1.step as step

    weights = {A: 0.0, B: 0.3, C: 0.1, D: -0.2, E: 0.25}
    model = ScriptedModel(lambda s: weights, len(tok))
    s = {"think": SamplingConfig(temperature=1.0, top_p=0.9, seed=4), "answer": SamplingConfig(temperature=1.0, seed=4)}
    budgets = [BudgetConfig(max_thinking_tokens=m, max_answer_tokens=8) for m in (14, 9, 5, 9)]
    calls = []
    real = step.sample_token
    monkeypatch.setattr(step, "sample_token", lambda *a: calls.append(1) or real(*a))
    batch = Batch(HFRunner(model))
    lead = seq(tok, budgets[0], s, seed=4)
    batch.add([prompt(tok)], [lead])
    rows = [lead] + [batch.fork(lead, RowBudget(TPL.plan(tok, b))) for b in budgets[1:]]
    batch.run()
    shared, separate = len(calls), 0
    for b, r in zip(budgets, rows):
        calls.clear()
        alone = seq(tok, b, s, seed=4)
        run(model, [prompt(tok)], [alone])
        separate += len(calls)
        assert r.out == alone.out
    assert rows[1].out == rows[3].out  # same budget, same seed: they never split
    assert shared < separate - 2 * 9  # the riders' shared thinking steps were drawn once
