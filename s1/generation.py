"""What every backend shares: sampling settings, result records and the `Backend` base class.

No torch here: the OpenAI-compatible client backend and `s1 serve --upstream` run without it.

A backend turns (prompt, budget) pairs into `GenerationResult`s with the same budget semantics
everywhere, because every backend drives the same state machine (`s1.budget.RowBudget`):
- `transformers` (s1.engine.Engine): the in-process decode loop, forcing tokens between steps;
- `vllm` (s1.backends.vllm): a logits processor inside vLLM's own generation;
- `openai` (s1.backends.openai): rounds of completions against any OpenAI-compatible server.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from .budget import BudgetConfig, BudgetError, ForcingPlan, RowBudget
from .templates import ThinkingTemplate


class BackendError(RuntimeError):
    """A backend cannot be built or reached (missing package, unreachable server, bad option)."""


class GenerationError(ValueError):
    """A generation request that cannot run for a reason other than its budget: sampling settings, an
    empty prompt, a batch size or seed count that does not fit (budgets raise BudgetError)."""


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of one phase. temperature 0 is greedy. seed s gives row i the seed s + i, so a
    row's output does not depend on the batch it ran in."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def validate(self) -> "SamplingConfig":
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise GenerationError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise GenerationError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise GenerationError(f"top_k must be >= 0, got {self.top_k}")
        return self

    def for_answer(self, temperature: float | None = None, top_p: float | None = None,
                   seed: int | None = None) -> "SamplingConfig":
        """The answer phase's settings: these, except what is given."""
        return SamplingConfig(
            self.temperature if temperature is None else temperature,
            self.top_p if top_p is None else top_p,
            self.top_k,
            self.seed if seed is None else seed,
        )


@dataclass
class GenerationResult:
    prompt: str
    thinking: str
    answer: str
    thinking_tokens: int
    answer_tokens: int
    prompt_tokens: int
    num_ignored: int  # attempts to end thinking that were refused ("Wait" appended)
    thinking_cut: bool  # thinking was cut at the maximum (or at the context window)
    thinking_end: str  # stop | eos | max_thinking | context | max_steps
    finish_reason: str  # stop (end of turn) | length (max answer tokens)
    events: list[dict] = field(default_factory=list)
    thinking_steps: int | None = None  # paragraphs written, under step-conditional control
    completion_ids: list[int] = field(default_factory=list, repr=False)
    probe_tokens: int = 0  # tokens of discarded trial answers (early exit), not part of the trace

    def to_dict(self, ids: bool = False) -> dict:
        d = asdict(self)
        if not ids:
            d.pop("completion_ids")
        if not d["probe_tokens"]:
            d.pop("probe_tokens")  # only rows that ran early-exit probes report them
        return d


def overflow(n_prompt: int, plan: ForcingPlan, context: int | None) -> str | None:
    """Why a prompt and its budget do not fit the context window, or None when they do. Thinking must
    fit its maximum, or at least its minimum when unbounded (the row is cut at the window)."""
    b = plan.budget
    think = b.max_thinking_tokens if b.max_thinking_tokens is not None else b.min_thinking_tokens
    need = n_prompt + think + plan.reserved_after_thinking()
    if not context or need <= context:
        return None
    return (f"{n_prompt} prompt tokens + thinking budget + {plan.reserved_after_thinking()} for delimiter and "
            f"answer = {need} tokens, beyond the model's context window of {context}")


@dataclass
class Prepared:
    """A validated request batch: rendered prompts, their token ids, one plan per budget, seeds."""

    prompts: list[str]
    texts: list[str]
    ids: list[list[int]]
    budgets: list[BudgetConfig]
    plans: list[ForcingPlan]
    seeds: list[int]
    thinking: SamplingConfig
    answer: SamplingConfig

    def row(self, i: int, j: int, context: int | None) -> RowBudget:
        """A fresh state machine for prompt i under budget j."""
        return RowBudget(self.plans[j], room=(context - len(self.ids[i])) if context else None)

    def phase_seed(self, i: int, cfg: SamplingConfig) -> int:
        """Row i's seed for a phase: its offset from the thinking seed is kept (--answer-seed moves both)."""
        return self.seeds[i] - (self.thinking.seed or 0) + (cfg.seed or 0)


class Backend:
    """Budget-forced generation on some engine. Subclasses implement `_run(prepared, ...)`.

    Attributes every backend has: `name`, `tokenizer` (a Hugging Face tokenizer of the served
    model), `template` (ThinkingTemplate), `context_length` (None when unknown).
    """

    name = "backend"
    in_process = False  # the in-process engine: rows can fork (early exit) and sample per row (round sampling)
    tokenizer = None
    template: ThinkingTemplate
    context_length: int | None = None

    def render(self, question: str, system: str | None = None) -> str:
        return self.template.render_prompt(self.tokenizer, question, system)

    def generate(
        self,
        prompts: Sequence[str],
        budget: BudgetConfig = BudgetConfig(),
        thinking: SamplingConfig = SamplingConfig(),
        answer: SamplingConfig | None = None,
        batch_size: int = 16,
        system: str | None = None,
        raw: bool = False,
        progress: Callable[[int], None] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[GenerationResult]:
        """Generate for every prompt; results come back in input order.

        raw=True: prompts are already rendered (they end where thinking starts).
        seeds: per-prompt sampling seeds (default: the configured seed + the prompt's index).
        """
        grid = self.generate_grid(prompts, [budget], thinking, answer, batch_size, system, raw, progress, seeds)
        return [g[0] for g in grid]

    def generate_grid(
        self,
        prompts: Sequence[str],
        budgets: Sequence[BudgetConfig],
        thinking: SamplingConfig = SamplingConfig(),
        answer: SamplingConfig | None = None,
        batch_size: int = 16,
        system: str | None = None,
        raw: bool = False,
        progress: Callable[[int], None] | None = None,
        seeds: Sequence[int] | None = None,
        share: bool = True,
        stats: dict | None = None,
    ) -> list[list[GenerationResult]]:
        """Every prompt under every budget: `result[i][j]` is prompt i with budgets[j].

        `progress(1)` is called as each (prompt, budget) row finishes. `batch_size` counts prompts
        decoded (or requests kept in flight) together. `share` lets a backend reuse work across
        budgets where it can do so exactly (the in-process engine's shadow rows).
        """
        if batch_size < 1:
            raise GenerationError(f"batch size must be >= 1, got {batch_size}")
        prep = self.prepare(prompts, budgets, thinking, answer, system, raw, seeds)
        return self._run(prep, batch_size, progress, share, stats)

    def prepare(self, prompts, budgets, thinking, answer=None, system=None, raw=False, seeds=None) -> Prepared:
        """Validate and tokenize a request batch; every error a user can cause is raised here."""
        answer = answer or thinking
        thinking.validate(), answer.validate()
        if not budgets:
            raise BudgetError("no budget to run")
        if not self.in_process:
            for b in budgets:
                if b.early_exit is not None or b.round_temperatures or b.round_top_p or b.extend_penalty:
                    raise BudgetError(f"early exit and per-round sampling need the in-process engine (backend "
                                      f"transformers: probes fork rows, sampling changes per row), not {self.name}")
        plans = [self.template.plan(self.tokenizer, b) for b in budgets]
        texts = []
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p.strip():
                raise GenerationError(f"prompt {i + 1} is empty")
            texts.append(p if raw else self.render(p, system))
        # a question is text: markup written in it stays characters; a raw prompt is the caller's own rendering
        ids = [self.tokenizer.encode(t, add_special_tokens=False) if raw
               else self.template.encode_prompt(self.tokenizer, p, system) for p, t in zip(prompts, texts)]
        if seeds is None:
            seeds = [(thinking.seed or 0) + i for i in range(len(ids))]
        elif len(seeds) != len(ids):
            raise GenerationError(f"{len(seeds)} seeds for {len(ids)} prompts")
        for plan in plans:
            for i, p in enumerate(ids):
                err = overflow(len(p), plan, self.context_length)
                if err:
                    raise BudgetError(f"prompt {i + 1}: {err}")
        return Prepared(list(prompts), texts, ids, list(budgets), plans, list(seeds), thinking, answer)

    def _run(self, prep: Prepared, batch_size: int, progress, share: bool, stats: dict | None
             ) -> list[list[GenerationResult]]:
        raise NotImplementedError

    def result(self, prompt: str, n_prompt: int, row: RowBudget, out: Sequence[int]) -> GenerationResult:
        """The record of a finished row (the same on every backend)."""
        return self.from_record(prompt, n_prompt, row_record(row, out))

    def from_record(self, prompt: str, n_prompt: int, rec: dict) -> GenerationResult:
        """The result of a row that finished elsewhere (e.g. in vLLM's engine process): `rec` is
        `row_record(row, out)`, possibly after a JSON round trip."""
        dec = self.tokenizer.decode
        return GenerationResult(
            prompt=prompt,
            thinking=dec(rec["thinking"]),
            answer=dec(rec["answer"]),
            thinking_tokens=len(rec["thinking"]),
            answer_tokens=len(rec["answer"]),
            prompt_tokens=n_prompt,
            num_ignored=rec["num_ignored"],
            thinking_cut=rec["cut"],
            thinking_end=rec["thinking_end"] or "",
            finish_reason=rec["finish_reason"] or "",
            events=[dict(e) for e in rec["events"]],
            thinking_steps=rec["steps"],
            completion_ids=list(rec["completion_ids"]),
            probe_tokens=rec.get("probe_tokens", 0),
        )

    def close(self) -> None:
        """Release what the backend holds (engines, connections). Safe to call twice."""


def row_record(row: RowBudget, out: Sequence[int]) -> dict:
    """A finished row as plain JSON-able data: its thinking / answer ids, forcing record and every
    token it appended (`out`). `Backend.from_record` turns it into a GenerationResult."""
    return {
        "thinking": list(row.thinking),
        "answer": list(row.answer),
        "num_ignored": row.num_ignored,
        "cut": row.cut,
        "thinking_end": row.thinking_end,
        "finish_reason": row.finish_reason,
        "events": [e.as_dict() for e in row.events],
        "steps": row.steps if row.plan.budget.max_steps is not None else None,
        "completion_ids": list(out),
        "probe_tokens": getattr(row, "probe_tokens", 0),
    }
