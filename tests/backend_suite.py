"""One behaviour suite for every backend (transformers, vllm, openai, s1 serve via openai).

Each check takes a built backend on the embedded SmolLM2 model (or any ChatML model) and asserts the
budget semantics and the shape of the records; `run_all(backend)` runs them all. Budgets are short
so a check costs seconds on a CPU.
"""

from __future__ import annotations

import dataclasses

import pytest

from s1.budget import BudgetConfig, BudgetError
from s1.generation import GenerationError, GenerationResult, SamplingConfig

PROMPTS = ["What is 12 + 30?", "Name a prime number larger than 10.", "How many r in raspberry?"]
# probe_tokens appears only in records of rows that ran early-exit probes
FIELDS = [f.name for f in dataclasses.fields(GenerationResult) if f.name != "probe_tokens"]


def _closed(r: GenerationResult) -> None:
    assert r.finish_reason in ("stop", "length"), r
    assert r.thinking_end in ("stop", "eos", "max_thinking", "context", "max_steps"), r
    assert r.answer_tokens >= 1 or r.finish_reason == "stop"


def check_max_cut(backend) -> None:
    """min = max: every row thinks exactly that many tokens, is cut, then the delimiter and the
    answer prefix are forced."""
    res = backend.generate(PROMPTS, BudgetConfig(min_thinking_tokens=6, max_thinking_tokens=6, max_answer_tokens=10))
    assert len(res) == len(PROMPTS)
    for p, r in zip(PROMPTS, res):
        assert r.prompt == p
        assert r.thinking_tokens == 6 and r.thinking_cut and r.thinking_end == "max_thinking", r
        assert r.answer.lstrip().startswith("Final Answer:"), r.answer
        assert [e["kind"] for e in r.events][-1] == "cut"
        assert r.answer_tokens <= 10
        _closed(r)


def check_zero_budget(backend) -> None:
    """max 0: no thinking at all, straight to the answer."""
    [r] = backend.generate(PROMPTS[:1], BudgetConfig(max_thinking_tokens=0, max_answer_tokens=6))
    assert r.thinking_tokens == 0 and r.thinking == "" and r.thinking_cut
    assert 1 <= r.answer_tokens <= 6


def check_min_forces_wait(backend) -> None:
    """Below the minimum every attempt to stop is replaced by the extension, and counted."""
    res = backend.generate(PROMPTS, BudgetConfig(min_thinking_tokens=40, max_thinking_tokens=48,
                                                 max_answer_tokens=8, extend="Wait"))
    for r in res:
        assert 40 <= r.thinking_tokens <= 48 or r.thinking_end == "context", r
        extends = [e for e in r.events if e["kind"] == "extend"]
        assert r.num_ignored == len(extends)
        assert all(e["at"] < 40 for e in extends)
        assert r.thinking.count("Wait") >= r.num_ignored
        _closed(r)


def check_num_ignore(backend) -> None:
    """num_ignore=1: an uncut row saw exactly one refused stop; a cut row at most one."""
    res = backend.generate(PROMPTS, BudgetConfig(num_ignore=1, max_thinking_tokens=96, max_answer_tokens=8))
    for r in res:
        if r.thinking_cut:
            assert r.num_ignored <= 1
        else:
            assert r.num_ignored == 1 and r.thinking_end in ("stop", "eos")
            kinds = [e["kind"] for e in r.events]
            assert kinds.index("extend") < kinds.index(r.thinking_end)


def check_turn_end(backend) -> None:
    """A row whose model ends its turn inside the thinking is answered as after a cut (the answer
    prefix, then the model's answer); on_turn_end='delimiter' (the s1 reference) forces the delimiter
    only. The embedded model ends its turn early on some of these prompts, so both paths run."""
    b = BudgetConfig(max_thinking_tokens=32, max_answer_tokens=10)
    answered = backend.generate(PROMPTS, b)
    reference = backend.generate(PROMPTS, dataclasses.replace(b, on_turn_end="delimiter"))
    assert any(r.thinking_end == "eos" for r in answered), [r.thinking_end for r in answered]
    for a, r in zip(answered, reference):
        assert a.thinking == r.thinking and a.thinking_end == r.thinking_end  # the same thinking either way
        if a.thinking_end == "eos":
            assert not a.thinking_cut and [e["kind"] for e in a.events] == [e["kind"] for e in r.events]
            assert a.answer.lstrip().startswith("Final Answer:"), a
            assert not r.answer.lstrip().startswith("Final Answer:"), r
        else:
            assert a.completion_ids == r.completion_ids
        _closed(a), _closed(r)


def check_grid(backend) -> None:
    """generate_grid: result[i][j] is prompt i under budget j, every budget honoured."""
    budgets = [BudgetConfig(max_thinking_tokens=m, max_answer_tokens=6) for m in (4, 12, 24)]
    seen = []
    grid = backend.generate_grid(PROMPTS[:2], budgets, progress=lambda k: seen.append(k))
    assert len(grid) == 2 and all(len(row) == 3 for row in grid)
    assert sum(seen) == 6
    for i, row in enumerate(grid):
        for b, r in zip(budgets, row):
            assert r.prompt == PROMPTS[i]
            assert r.thinking_tokens <= b.max_thinking_tokens
            if r.thinking_cut:
                assert r.thinking_tokens == b.max_thinking_tokens


def check_records(backend) -> None:
    """Every backend returns the same record: fields, types, ids that decode to the text."""
    [r] = backend.generate(PROMPTS[:1], BudgetConfig(max_thinking_tokens=16, max_answer_tokens=12))
    assert list(r.to_dict(ids=True)) == FIELDS
    assert isinstance(r.thinking, str) and isinstance(r.answer, str)
    assert r.prompt_tokens > 5
    ids = r.completion_ids
    assert len(ids) >= r.thinking_tokens + r.answer_tokens
    tok = backend.tokenizer
    assert tok.decode(ids[: r.thinking_tokens]) == r.thinking
    assert r.answer and r.answer in tok.decode(ids[r.thinking_tokens:])


def check_seeded_sampling(backend) -> None:
    """The same seed gives the same sample; the per-prompt seed list is honoured."""
    cfg = SamplingConfig(temperature=0.9, top_p=0.95, seed=7)
    budget = BudgetConfig(max_thinking_tokens=12, max_answer_tokens=6)
    a = backend.generate(PROMPTS[:2], budget, cfg)
    b = backend.generate(PROMPTS[:2], budget, cfg)
    assert [r.completion_ids for r in a] == [r.completion_ids for r in b]
    c = backend.generate(PROMPTS[:2], budget, cfg, seeds=[7, 8])
    assert [r.completion_ids for r in c] == [r.completion_ids for r in a]


def check_errors(backend) -> None:
    """Bad requests fail before any generation, with the engine's messages."""
    with pytest.raises(GenerationError, match="prompt 2 is empty"):
        backend.generate(["hi", "  "], BudgetConfig(max_thinking_tokens=4))
    with pytest.raises(BudgetError, match="larger than max"):
        backend.generate(["hi"], BudgetConfig(min_thinking_tokens=9, max_thinking_tokens=4))
    with pytest.raises(GenerationError, match="2 seeds for 1 prompts"):
        backend.generate(["hi"], BudgetConfig(max_thinking_tokens=4), seeds=[1, 2])
    with pytest.raises(BudgetError, match="beyond the model's context window"):
        backend.generate(["hi"], BudgetConfig(max_thinking_tokens=10**7))


CHECKS = [check_max_cut, check_zero_budget, check_min_forces_wait, check_num_ignore, check_turn_end, check_grid,
          check_records, check_seeded_sampling, check_errors]


def run_all(backend, skip: tuple[str, ...] = ()) -> None:
    for check in CHECKS:
        if check.__name__ not in skip:
            check(backend)
