"""Batched KV-cache decoding for transformers models with budget forcing inside the decode loop.

    from s1 import generate; generate("How many r in raspberry?", max_thinking_tokens=64)

Forcing never re-runs the prompt: a forced token (the extension "Wait", the end delimiter, the
answer prefix) is simply the next input of that row instead of a sampled one. Rows are forced
independently, and a finished row is dropped from the batch and its KV cache at once.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import torch

from .generation import Backend, GenerationResult, Prepared, SamplingConfig  # noqa: F401 (re-exported)
from .templates import ThinkingTemplate


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


def _clone(g: torch.Generator | None) -> torch.Generator | None:
    if g is None:
        return None
    c = torch.Generator(device=g.device)
    c.set_state(g.get_state())
    return c


def prefill(model, prompts: Sequence[Sequence[int]], pad_id: int = 0):
    """Run a batch of prompts, left-padded so every row's next token goes in the last column.
    Returns (KV cache, attention mask, next position per row, last logits per row)."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    # logits_to_keep=1: the prompt's other positions never need the (large) vocabulary projection
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    return cache, mask, pos[:, -1] + 1, out.logits[:, -1, :]


@torch.inference_mode()
def decode(
    model,
    prompts: Sequence[Sequence[int]],
    rows: Sequence[Row],
    sampling: dict[str, SamplingConfig],
    generators: dict[str, list[torch.Generator | None]] | None = None,
    pad_id: int = 0,
    on_done: Callable[[int], None] | None = None,
    shadows: Sequence[tuple[int, Row]] = (),
    stats: dict | None = None,
) -> list[list[int]]:
    """Decode one batch: prefill all prompts, then one token per active row per step.

    `rows[i]` decides row i's next token (forced or sampled with `sampling[row.sampling_phase]`).
    Returns the tokens appended to each row. `on_done(i)` is called as row i finishes.

    `shadows` are extra rows `(parent, row)` that ride along with row `parent` at no cost while
    they would write exactly the parent's tokens (same draws, same forcing), and fork into a
    batch slot of their own, copying the parent's KV cache, at the first step where they differ.
    This is how a budget sweep shares work: the run with a smaller budget (or fewer ignored stops)
    is the larger run up to its cut point. Each shadow is a full Row fed the parent's own draws,
    so a shadow's output is that of a separate run by construction, whatever the budgets.
    Shadow j's tokens are returned at index len(rows) + j.
    """
    device = next(model.parameters()).device
    b = len(prompts)
    cache, mask, next_pos, logits = prefill(model, prompts, pad_id)
    if stats is not None:
        stats["prefill_tokens"] = stats.get("prefill_tokens", 0) + sum(len(p) for p in prompts)
    all_rows: list[Row] = list(rows) + [r for _, r in shadows]
    attached: dict[int, list[int]] = {i: [] for i in range(len(all_rows))}
    for j, (parent, _) in enumerate(shadows):
        attached[parent].append(b + j)
    active = list(range(b))  # batch slot -> row index
    outputs: list[list[int]] = [[] for _ in all_rows]
    gens = {ph: list(g) + [None] * len(shadows) for ph, g in (generators or {}).items()}

    def finish(r: int) -> None:
        if on_done:
            on_done(r)

    def fork(parent: int, child: int, n_shared: int) -> None:
        attached[parent].remove(child)
        outputs[child] = outputs[parent][:n_shared]
        for g in gens.values():  # the child goes on with the parent's random state, as a separate run would
            g[child] = _clone(g[parent])

    def draw(r: int, s: int, greedy: dict[int, int]) -> int | None:
        row = all_rows[r]
        if not row.wants_sample():
            return None
        ph = row.sampling_phase
        cfg = sampling[ph]
        if cfg.temperature == 0 and s in greedy:
            return greedy[s]
        return sample_token(logits[s], cfg, gens[ph][r] if ph in gens else None)

    while True:
        step, src, nxt = [], [], []  # next input token, source slot, row index of each next slot
        greedy_slots = [s for s, r in enumerate(active) if all_rows[r].wants_sample()
                        and sampling[all_rows[r].sampling_phase].temperature == 0]
        greedy = {}
        if greedy_slots:  # one argmax for all greedy rows: the common case costs no Python per row
            best = logits[greedy_slots].argmax(-1).tolist()
            greedy = dict(zip(greedy_slots, best))
        for s, r in enumerate(active):
            row = all_rows[r]
            n = len(outputs[r])
            early = []
            for c in list(attached[r]):  # a shadow that would not sample like its parent forks now
                sh = all_rows[c]
                if sh.wants_sample() != row.wants_sample() or (
                        row.wants_sample() and sh.sampling_phase != row.sampling_phase):
                    fork(r, c, n)
                    early.append(c)
            for c in early:
                t = all_rows[c].advance(draw(c, s, greedy))
                outputs[c].append(t)
                if all_rows[c].done:
                    finish(c)
                else:
                    step.append(t), src.append(s), nxt.append(c)
            sampled = draw(r, s, greedy)
            t = row.advance(sampled)
            outputs[r].append(t)
            for c in list(attached[r]):
                sh = all_rows[c]
                tc = sh.advance(sampled)
                if tc == t and sh.done == row.done:
                    if sh.done:
                        attached[r].remove(c)
                        outputs[c] = list(outputs[r])
                        finish(c)
                    continue
                fork(r, c, n)
                outputs[c].append(tc)
                if sh.done:
                    finish(c)
                else:
                    step.append(tc), src.append(s), nxt.append(c)
            if row.done:
                finish(r)
            else:
                step.append(t), src.append(s), nxt.append(r)
        if not nxt:
            break
        if src != list(range(len(active))):  # rows finished or forked: reshape the batch and its cache
            k = torch.tensor(src, device=device)
            mask = mask[k]
            start = int((mask.sum(0) > 0).int().argmax())  # leading columns that are padding for all
            mask = mask[:, start:]
            _select(cache, k, start)
            next_pos = next_pos[k]
        active = nxt
        inp = torch.tensor(step, dtype=torch.long, device=device)[:, None]
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=1)
        out = model(input_ids=inp, attention_mask=mask, position_ids=next_pos[:, None],
                    past_key_values=cache, use_cache=True)
        if stats is not None:
            stats["decode_row_steps"] = stats.get("decode_row_steps", 0) + len(active)
            stats["forward_steps"] = stats.get("forward_steps", 0) + 1
        logits = out.logits[:, -1, :]
        next_pos = next_pos + 1
    return outputs


class Engine(Backend):
    """In-process budget-forced generation for a transformers causal LM (the `transformers` backend)."""

    name = "transformers"

    def __init__(self, model, tokenizer, template: ThinkingTemplate, context_length: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.context_length = context_length or getattr(model.config, "max_position_embeddings", None)

    def _run(self, prep: Prepared, batch_size: int, progress, share: bool, stats: dict | None
             ) -> list[list[GenerationResult]]:
        """share=True runs the largest budget once per prompt and lets the others ride along as
        shadows that fork only where they differ (see `decode`); the results are those of
        separate runs (same seeds), at the cost of the longest run plus the forked tails.
        Forks add rows to a batch while they run.
        """
        budgets, ids = prep.budgets, prep.ids
        thinking, answer = prep.thinking, prep.answer
        if share:  # the largest budget leads: its run contains every smaller one up to their cut points
            lead = max(range(len(budgets)), key=lambda j: (
                float("inf") if budgets[j].max_thinking_tokens is None else budgets[j].max_thinking_tokens,
                budgets[j].num_ignore, budgets[j].min_thinking_tokens, budgets[j].max_answer_tokens))
            groups = [[lead] + [j for j in range(len(budgets)) if j != lead]]
        else:
            groups = [[j] for j in range(len(budgets))]
        device = next(self.model.parameters()).device
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a batch
        results: list[list[GenerationResult | None]] = [[None] * len(budgets) for _ in ids]
        on_done = (lambda _r: progress(1)) if progress else None
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            n = len(chunk)
            for group in groups:
                # (prompt, budget) of every row: the leading budget's rows first, then one shadow row per
                # other budget and prompt, riding along with the lead row of the same prompt
                members = [(i, j) for j in group for i in chunk]
                rows = [prep.row(i, j, self.context_length) for i, j in members]
                gens = {
                    ph: [_generator(cfg, prep.phase_seed(i, cfg), device) for i in chunk]
                    for ph, cfg in (("think", thinking), ("answer", answer))
                }
                outs = decode(
                    self.model, [ids[i] for i in chunk], rows[:n], {"think": thinking, "answer": answer}, gens,
                    pad_id=pad, on_done=on_done, shadows=[(p % n, r) for p, r in enumerate(rows[n:])], stats=stats,
                )
                for (i, j), r, out in zip(members, rows, outs):
                    results[i][j] = self.result(prep.prompts[i], len(ids[i]), r, out)
        return results  # type: ignore[return-value]


def _generator(cfg: SamplingConfig, seed: int, device) -> torch.Generator | None:
    """A row's generator: seeded, or fresh entropy when no seed was configured."""
    if cfg.temperature == 0:
        return None
    g = torch.Generator(device=device)
    if cfg.seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g
