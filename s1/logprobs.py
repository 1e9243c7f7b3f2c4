"""Log-probabilities of given tokens under a transformers causal LM: scoring text, not generating it.

    from s1.logprobs import score
    [row] = score(model, [ids], starts=[5], top=1)   # tokens 5.. of ids, each given everything before it

What multiple-choice and perplexity evaluations need (lm-eval's loglikelihood requests through the `s1`
lm-eval model, `echo` + `logprobs` on `s1 serve`'s /v1/completions). No thinking is involved: the text
is scored exactly as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass
class TokenScore:
    token: int
    logprob: float  # log p(token | everything before it)
    greedy: bool  # the token is the model's most likely next token there
    top: list[tuple[int, float]]  # the `top` most likely tokens there, most likely first


def score(model, sequences: Sequence[Sequence[int]], starts: Sequence[int], top: int = 0,
          batch_size: int = 8) -> list[list[TokenScore]]:
    """For each sequence, the scores of its tokens from position `starts[i]` (>= 1) to its end.

    Sequences run through the model in batches of `batch_size`, right-padded (padding after a row's
    last token cannot change what the row's own tokens see under a causal mask)."""
    if len(sequences) != len(starts):
        raise ValueError(f"{len(sequences)} sequences for {len(starts)} start positions")
    for ids, s in zip(sequences, starts):
        if not 1 <= s <= len(ids):
            raise ValueError(f"start {s} outside 1..{len(ids)}: the first token has nothing to condition on")
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))  # similar lengths share a batch
    results: dict[int, list[TokenScore]] = {}
    for b in range(0, len(order), batch_size):
        chunk = order[b : b + batch_size]
        width = max(len(sequences[i]) for i in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            ids[r, : len(sequences[i])] = torch.tensor(list(sequences[i]), dtype=torch.long)
            mask[r, : len(sequences[i])] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        for r, i in enumerate(chunk):
            seq, s = list(sequences[i]), starts[i]
            lp = torch.log_softmax(logits[r, s - 1 : len(seq) - 1].float(), dim=-1)
            targets = torch.tensor(seq[s:], device=lp.device)
            chosen = lp.gather(-1, targets[:, None])[:, 0]
            best = lp.max(-1)
            k = max(top, 0)
            tops = lp.topk(min(k, lp.shape[-1]), -1) if k else None
            row = []
            for p, t in enumerate(seq[s:]):
                row.append(TokenScore(
                    token=t, logprob=float(chosen[p]), greedy=bool(chosen[p] >= best.values[p]),
                    top=[(int(a), float(v)) for a, v in zip(tops.indices[p], tops.values[p])] if tops else []))
            results[i] = row
    return [results[i] for i in range(len(sequences))]
