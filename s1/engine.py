"""Batched KV-cache decoding for transformers models with budget forcing inside the decode loop.

    from s1 import generate; generate("How many r in raspberry?", max_thinking_tokens=64)

Forcing never re-runs the prompt: a forced token (the extension "Wait", the end delimiter, the
answer prefix) is simply the next input of that row instead of a sampled one. Rows are forced
independently, and a finished row is dropped from the batch and its KV cache at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol, Sequence

import torch

from .budget import BudgetConfig, BudgetError, RowBudget
from .templates import ThinkingTemplate


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling of one phase. temperature 0 is greedy. seed s gives row i the seed s + i, so a
    row's output does not depend on the batch it ran in."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def validate(self) -> "SamplingConfig":
        if self.temperature < 0:
            raise BudgetError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise BudgetError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise BudgetError(f"top_k must be >= 0, got {self.top_k}")
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
    thinking_end: str  # stop | eos | max_thinking | context
    finish_reason: str  # stop (end of turn) | length (max answer tokens)
    events: list[dict] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list, repr=False)

    def to_dict(self, ids: bool = False) -> dict:
        d = asdict(self)
        if not ids:
            d.pop("completion_ids")
        return d


class Row(Protocol):
    """What the decode loop needs of a row (RowBudget, or anything with the same four members)."""

    done: bool

    def wants_sample(self) -> bool: ...

    @property
    def sampling_phase(self) -> str: ...

    def advance(self, sampled: int | None) -> int: ...


def sample_token(logits: torch.Tensor, cfg: SamplingConfig, gen: torch.Generator | None) -> int:
    """One token from a 1-D logits row: greedy, or temperature / top-k / top-p sampling."""
    if cfg.temperature == 0:
        return int(logits.argmax())
    logits = logits.float() / cfg.temperature
    if cfg.top_k:
        kth = torch.topk(logits, min(cfg.top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, -1)
    if cfg.top_p < 1:
        sp, si = probs.sort(descending=True)
        keep = sp.cumsum(-1) - sp < cfg.top_p  # smallest set whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


def _select(cache, idx: torch.Tensor, start: int) -> None:
    """Keep rows `idx` of the KV cache and drop the first `start` (all-padding) positions."""
    for layer in cache.layers:
        if getattr(layer, "keys", None) is None or layer.keys.numel() == 0:
            continue
        layer.keys = layer.keys[idx, :, start:]
        layer.values = layer.values[idx, :, start:]


@torch.inference_mode()
def decode(
    model,
    prompts: Sequence[Sequence[int]],
    rows: Sequence[Row],
    sampling: dict[str, SamplingConfig],
    generators: dict[str, list[torch.Generator | None]] | None = None,
    pad_id: int = 0,
    on_done: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """Decode one batch: prefill all prompts, then one token per active row per step.

    `rows[i]` decides row i's next token (forced or sampled with `sampling[row.sampling_phase]`).
    Returns the tokens appended to each row. `on_done(i)` is called as row i finishes.
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    b = len(prompts)
    width = max(len(p) for p in prompts)
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding: every row's next token goes in the last column
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    # logits_to_keep=1: the prompt's other positions never need the (large) vocabulary projection
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1, :]
    next_pos = pos[:, -1] + 1
    active = list(range(b))  # batch slot -> row index
    outputs: list[list[int]] = [[] for _ in range(b)]
    gens = generators or {}
    for i in range(b):
        if rows[i].done and on_done:
            on_done(i)

    while True:
        step = []
        greedy_slots = [s for s, r in enumerate(active) if rows[r].wants_sample()
                        and sampling[rows[r].sampling_phase].temperature == 0]
        greedy = {}
        if greedy_slots:  # one argmax for all greedy rows: the common case costs no Python per row
            best = logits[greedy_slots].argmax(-1).tolist()
            greedy = dict(zip(greedy_slots, best))
        for s, r in enumerate(active):
            row = rows[r]
            if row.done:
                step.append(pad_id)
                continue
            tok = None
            if row.wants_sample():
                ph = row.sampling_phase
                tok = greedy.get(s)
                if tok is None:
                    g = gens[ph][r] if ph in gens else None
                    tok = sample_token(logits[s], sampling[ph], g)
            t = row.advance(tok)
            outputs[r].append(t)
            step.append(t)
            if row.done and on_done:
                on_done(r)
        keep = [s for s, r in enumerate(active) if not rows[r].done]
        if not keep:
            break
        if len(keep) < len(active):  # finished rows stop costing compute: drop them from the batch
            k = torch.tensor(keep, device=device)
            mask = mask[k]
            start = int((mask.sum(0) > 0).int().argmax())  # leading columns that are padding for all
            mask = mask[:, start:]
            _select(cache, k, start)
            next_pos = next_pos[k]
            active = [active[s] for s in keep]
            step = [step[s] for s in keep]
        inp = torch.tensor(step, dtype=torch.long, device=device)[:, None]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=1)
        out = model(input_ids=inp, attention_mask=mask, position_ids=next_pos[:, None],
                    past_key_values=cache, use_cache=True)
        logits = out.logits[:, -1, :]
        next_pos = next_pos + 1
    return outputs


class Engine:
    """In-process budget-forced generation for a transformers causal LM."""

    def __init__(self, model, tokenizer, template: ThinkingTemplate, context_length: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.context_length = context_length or getattr(model.config, "max_position_embeddings", None)

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
    ) -> list[GenerationResult]:
        """Generate for every prompt; results come back in input order.

        raw=True: prompts are already rendered (they end where thinking starts).
        """
        answer = answer or thinking
        thinking.validate(), answer.validate()
        if batch_size < 1:
            raise BudgetError(f"batch size must be >= 1, got {batch_size}")
        plan = self.template.plan(self.tokenizer, budget)
        tok = self.tokenizer
        texts = []
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p.strip():
                raise BudgetError(f"prompt {i + 1} is empty")
            texts.append(p if raw else self.render(p, system))
        ids = [tok.encode(t, add_special_tokens=False) for t in texts]
        ctx = self.context_length
        # thinking must fit its maximum, or at least its minimum when unbounded (the row cuts at the window)
        thinking_need = budget.max_thinking_tokens if budget.max_thinking_tokens is not None \
            else budget.min_thinking_tokens
        for i, p in enumerate(ids):
            need = len(p) + thinking_need + plan.reserved_after_thinking()
            if ctx and need > ctx:
                raise BudgetError(
                    f"prompt {i + 1}: {len(p)} prompt tokens + thinking budget + "
                    f"{plan.reserved_after_thinking()} for delimiter and answer = {need} tokens, "
                    f"beyond the model's context window of {ctx}"
                )
        device = next(self.model.parameters()).device
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a batch
        results: list[GenerationResult | None] = [None] * len(ids)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            rows = [RowBudget(plan, room=(ctx - len(ids[i])) if ctx else None) for i in chunk]
            gens = {
                ph: [_generator(cfg, i, device) for i in chunk]
                for ph, cfg in (("think", thinking), ("answer", answer))
            }
            outs = decode(
                self.model, [ids[i] for i in chunk], rows, {"think": thinking, "answer": answer}, gens,
                pad_id=pad, on_done=(lambda _r: progress(1)) if progress else None,
            )
            for j, i in enumerate(chunk):
                results[i] = self._result(prompts[i], len(ids[i]), rows[j], outs[j])
        return results  # type: ignore[return-value]

    def _result(self, prompt: str, n_prompt: int, row: RowBudget, out: list[int]) -> GenerationResult:
        dec = self.tokenizer.decode
        return GenerationResult(
            prompt=prompt,
            thinking=dec(row.thinking),
            answer=dec(row.answer),
            thinking_tokens=len(row.thinking),
            answer_tokens=len(row.answer),
            prompt_tokens=n_prompt,
            num_ignored=row.num_ignored,
            thinking_cut=row.cut,
            thinking_end=row.thinking_end or "",
            finish_reason=row.finish_reason or "",
            events=[e.as_dict() for e in row.events],
            completion_ids=list(out),
        )


def _generator(cfg: SamplingConfig, i: int, device) -> torch.Generator | None:
    if cfg.temperature == 0:
        return None
    g = torch.Generator(device=device)
    if cfg.seed is None:
        g.seed()
    else:
        g.manual_seed(cfg.seed + i)
    return g
