"""Tree search over the in-process engine: a scripted model and a scripted scorer give the expected
tree; forked rows equal separate runs from the same prefix; pruned rows free their slots at once."""

import math

import pytest
from helpers import WORDS, ScriptedModel, smol_tokenizer, tiny_model

from s1 import TEMPLATES, BudgetConfig, Engine, RowBudget
from s1.generation import SamplingConfig
from s1.runner import HFRunner
from s1.search import options, rebase_widths, search
from s1.search.methods import Beam, Rebase, run_searches
from s1.search.tree import Expander
from s1.step import Batch, Seq

TPL = TEMPLATES["s1"]
A, B, C = 253, 278, 265  # " a", " b", " c" in the SmolLM2 tokenizer
SCORE = {"a": 0.9, "b": 0.5, "c": 0.1}


@pytest.fixture(scope="module")
def tok():
    return smol_tokenizer()


class Scorer:
    """A PRM whose step score is read off the step's last letter (a 0.9, b 0.5, c 0.1)."""

    name, per_step = "scripted", True

    def __init__(self):
        self.tokens_scored, self.calls = 0, []

    def score(self, items):
        self.calls.append(len(items))
        self.tokens_scored += sum(len(s) for _, steps in items for s in steps)
        return [[SCORE[s.split()[-1][-1]] if s.split() else 0.0 for s in steps] for _, steps in items]

    def close(self):
        pass


def scripted(tok, steps=2):
    """Thinks `steps` paragraphs, each one letter drawn from a, b, c (equal odds) and a blank line, then
    tries to stop; answers the last letter it wrote and ends its turn."""
    nn = tok.encode("\n\n", add_special_tokens=False)[0]
    plan = TPL.plan(tok, BudgetConfig())
    stop, eot, end = plan.think_end_ids[0], min(plan.eot_ids), list(plan.think_end_ids)
    letters = {A: 0.0, B: 0.0, C: 0.0}
    n = len(TPL.encode_prompt(tok, "q", None))

    def script(seq):
        out = seq[n:]
        answering = any(out[i:i + len(end)] == end for i in range(len(out)))
        if answering:
            return eot if out[-1] in (A, B, C) else [t for t in out if t in (A, B, C)][-1]
        if out and out[-1] in (A, B, C):
            return nn
        return stop if out.count(nn) >= steps else letters

    model = ScriptedModel(script, len(tok))
    return Engine(model, tok, TPL, 512, runner=HFRunner(model)), model


def run_search(engine, cls, width, scorer, **opts):
    prep = engine.prepare(["q"], [BudgetConfig(answer_prefix=None, max_answer_tokens=8)], SamplingConfig(1.0, seed=0))
    stats = {}
    ex = Expander(engine, scorer, "\n\n", 0, stats)
    s = cls(options(cls.__name__.lower(), opts), width, prep.prompts[0], prep.ids[0],
            lambda: prep.row(0, 0, engine.context_length), {"think": prep.thinking, "answer": prep.answer},
            0, lambda text: text.strip() or None)
    slots = []
    real = ex.run_round
    ex.run_round = lambda: (slots.append(len(ex.batch.slots)), real())[1]
    run_searches(ex, [s])
    return s, stats, prep.ids[0], slots


def letter(step):
    return step.split()[-1]


def test_rebase_builds_the_expected_tree(tok):
    """One step per trajectory, then the answer (the step's letter): the roots' letters decide the
    allocation, so the tree is rebase_widths of their scores; children answer their parent's letter."""
    engine, model = scripted(tok, steps=1)
    scorer = Scorer()
    s, stats, prompt, _ = run_search(engine, Rebase, 6, scorer, temperature=0.2)
    roots = [n for n in s.nodes if "." not in n.path.replace(".0", "", 1) or n.path.count(".") == 0]
    first = {n.path.split(".")[0]: letter(n.steps[0]) for n in s.nodes}
    assert sorted(first) == [str(i) for i in range(6)] and roots
    want = rebase_widths([SCORE[first[str(i)]] for i in range(6)], 6, 0.2)
    got = [sum(1 for n in s.nodes if n.path.split(".")[0] == str(i) and n.finished) for i in range(6)]
    assert got == want and sum(got) == 6
    for n in s.nodes:
        root = first[n.path.split(".")[0]]
        if n.stopped:  # pruned after its first step: no answer
            assert n.depth == 1 and not n.finished and want[int(n.path.split(".")[0])] == 0
        else:  # the first step, then the answer step (the answer is its parent's letter)
            assert n.finished and n.depth == 2 and n.answer_text.strip() == root and n.steps[0] == root
    assert scorer.calls == [6, 6]  # one batched reward call per round
    assert stats["prefill_tokens"] == len(prompt)  # the prompt ran once; every child forked its parent
    assert all(seq[:len(prompt)] == tuple(prompt) for seq, _ in model.seen)
    out = s.outcome()  # majority vote: the letter with the most children
    votes = {}
    for i, k in enumerate(want):
        votes[first[str(i)]] = votes.get(first[str(i)], 0) + k
    assert out.finished == 6 and out.votes == {a: float(v) for a, v in votes.items() if v}
    assert votes[out.answer] == max(votes.values())


def test_greedy_rebase_keeps_only_the_best_node_and_frees_the_others_at_once(tok):
    engine, _ = scripted(tok, steps=1)
    s, _, _, slots = run_search(engine, Rebase, 4, Scorer(), temperature=0.001)
    first = {n.path.split(".")[0]: letter(n.steps[0]) for n in s.nodes}
    best = max(SCORE[v] for v in first.values())
    kept = {n.path.split(".")[0] for n in s.nodes if n.finished}
    tied = {k for k, v in first.items() if SCORE[v] == best}
    assert kept == tied  # only the best letter survives (ties share the width)
    assert sum(n.finished for n in s.nodes) == 4 and sum(n.stopped for n in s.nodes) == 4 - len(tied)
    # round 2 starts on one slot (the kept nodes wrote the same letter): the pruned rows gave theirs back
    assert slots[1] == 1


def test_beam_keeps_the_best_width_over_expansions(tok):
    engine, _ = scripted(tok, steps=2)
    s, _, _, _ = run_search(engine, Beam, 4, Scorer(), expansions=2)
    # depth 1: 4 roots, the best 2 kept with 2 children each; depth 2: the same; then the answers
    assert sum(n.finished for n in s.nodes) == 4
    assert sum(n.stopped for n in s.nodes) == 4  # 2 pruned at depth 1, 2 at depth 2
    first = {n.path.split(".")[0]: SCORE[letter(n.steps[0])] for n in s.nodes}
    kept = {n.path.split(".")[0] for n in s.nodes if n.depth > 1}
    assert len(kept) <= 2 and min(first[k] for k in kept) >= max(v for k, v in first.items() if k not in kept)
    assert all(n.depth == 3 for n in s.nodes if n.finished)


def test_forked_children_equal_separate_runs_from_the_same_prefix(tok):
    """Children forked off a paused row draw exactly what a lone row run from the
    same prompt to the same point and then reseeded draws (a tiny random model, sampled)."""
    model = tiny_model(tok, WORDS + ("\n\n", " 3", " 8"), seed=2)
    ids = TPL.encode_prompt(tok, "What is 3 + 5?", None)
    plan = TPL.plan(tok, BudgetConfig(max_thinking_tokens=60, max_answer_tokens=8))
    sampling = {"think": SamplingConfig(1.0, seed=0), "answer": SamplingConfig(1.0, seed=0)}

    def to_boundary(batch, seq):  # a fixed point inside the thinking (where a step would end)
        while len(seq.row.thinking) < 3 and not seq.row.done:
            batch.step()
        assert not seq.row.done and seq.row.phase == "think"
        batch.pause(seq)

    stats = {}
    batch = Batch(HFRunner(model), stats, top_logprobs=5)
    parent = Seq(RowBudget(plan), sampling, {"think": 7, "answer": 7})
    batch.add([ids], [parent])
    to_boundary(batch, parent)
    kids = []
    for k in range(3):
        kid = batch.fork(parent)
        kid.seeds, kid.gens = {"think": 100 + k, "answer": 100 + k}, {}
        kids.append(kid)
    batch.drop(parent)
    batch.run()
    assert stats["prefill_tokens"] == len(ids)
    assert len({tuple(k.out) for k in kids}) == 3  # they differ after the fork
    for k, kid in enumerate(kids):
        alone = Batch(HFRunner(model), top_logprobs=5)
        row = Seq(RowBudget(plan), sampling, {"think": 7, "answer": 7})
        alone.add([ids], [row])
        to_boundary(alone, row)
        row.seeds, row.gens = {"think": 100 + k, "answer": 100 + k}, {}
        alone.resume(row)
        alone.run()
        assert row.out == kid.out
        assert [round(a, 4) for a, _ in row.logprobs] == [round(a, 4) for a, _ in kid.logprobs]


def test_top_logprobs_are_the_model_distribution(tok):
    model = tiny_model(tok, WORDS, seed=1)
    ids = TPL.encode_prompt(tok, "q", None)
    plan = TPL.plan(tok, BudgetConfig(max_thinking_tokens=4, max_answer_tokens=8))
    batch = Batch(HFRunner(model), top_logprobs=3)
    seq = Seq(RowBudget(plan), {"think": SamplingConfig(), "answer": SamplingConfig()}, {"think": 0, "answer": 0})
    batch.add([ids], [seq])
    first = batch.logits[0].float().log_softmax(-1)
    batch.run()
    lp, top = seq.logprobs[0]
    assert len(seq.logprobs) == len(seq.out) and len(top) == 3
    assert math.isclose(lp, float(first[seq.out[0]]), abs_tol=1e-5)
    assert math.isclose(top[0], float(first.max()), abs_tol=1e-5) and top == sorted(top, reverse=True)


def test_search_api_on_a_tiny_model_with_the_confidence_reward(answer_engine):
    from s1.rewards import load_reward

    budget = BudgetConfig(max_thinking_tokens=24, max_answer_tokens=6)
    for method in ("best-of-n", "beam", "dvts", "rebase", "deepconf", "deepconf-online"):
        widths = [1, 2, 4] if method in ("best-of-n", "deepconf") else None
        stats = {}
        [row] = search(answer_engine, ["What is 3 + 5?"], method, 4, reward=load_reward("confidence"),
                       budget=budget, thinking=SamplingConfig(1.0, seed=0), widths=widths, stats=stats,
                       warmup=2)
        assert stats["prefill_tokens"] == len(answer_engine.prepare(["What is 3 + 5?"], [budget],
                                                                   SamplingConfig(1.0)).ids[0]), method
        assert [r.trajectories for r in row] == (widths or [4]), method
        for r in row:
            assert r.result.thinking_tokens <= 24 and r.total_tokens >= r.result.thinking_tokens
        if widths:  # shared samples: the first n of the largest run
            assert row[0].total_tokens <= row[1].total_tokens <= row[2].total_tokens
