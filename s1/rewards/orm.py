"""Outcome reward models: one score in [0, 1] for a whole solution, from a classification checkpoint.

    from s1.rewards import load_reward; load_reward("orm:path/to/rm").score([("2+3?", ["2+3=5.", "5"])])  # [[0.8]]

A sequence-classification model (AutoModelForSequenceClassification) gives the sigmoid of a
1-logit head or the softmax probability of class 1 of a 2-class head; a token-classification model
(AutoModelForTokenClassification) is read the same way at the last token. The solution is the
steps joined by blank lines, after the question in the tokenizer's chat template (plain text without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import RewardError
from .common import (batches, chat_text, check_length, context_of, device_and_dtype, load_tokenizer, load_weights,
                     padded, read_config)


def probability(logits):
    """[rows, labels] logits -> [rows] scores: sigmoid of one logit, softmax class 1 of two."""
    import torch

    logits = logits.float()
    return torch.sigmoid(logits[:, 0]) if logits.shape[-1] == 1 else torch.softmax(logits, -1)[:, 1]


class OutcomeRM:
    per_step = False

    def __init__(self, name: str, path: Path, device: str | None = None, dtype: str | None = None):
        from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

        arch = " ".join(read_config(path).get("architectures") or [])
        if arch and "SequenceClassification" not in arch and "TokenClassification" not in arch:
            raise RewardError(f"reward orm: {path} is a {arch}, not a sequence- or token-classification model "
                              "(a causal-LM PRM loads with shepherd: or qwen-prm:)")
        self.token_level = "TokenClassification" in arch
        dev, torch_dtype = device_and_dtype(device, dtype)
        self.tokenizer = load_tokenizer("orm", path)
        cls = AutoModelForTokenClassification if self.token_level else AutoModelForSequenceClassification
        self.model = load_weights("orm", cls, path, torch_dtype, dev)
        labels = self.model.config.num_labels
        if labels not in (1, 2):
            raise RewardError(f"reward orm: {path} has {labels} labels; an outcome reward model has 1 (a score) "
                              "or 2 (wrong / right)")
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.name, self.device, self.tokens_scored = name, dev, 0
        self.context = context_of(self.model)

    def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        import torch

        seqs = []
        for question, steps in items:
            text = chat_text(self.tokenizer, question, "\n\n".join(str(s).strip() for s in steps))
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            check_length("orm", len(ids), self.context)
            seqs.append(ids)
        pad = self.model.config.pad_token_id
        out: list[list[float]] = [[] for _ in items]
        with torch.inference_mode():
            for group in batches([len(s) for s in seqs]):
                # the sequence head reads the last token that is not the pad id: a row holding the pad id
                # itself (pad = eos = end of turn in many tokenizers) runs alone, unpadded
                clash = [] if self.token_level else [i for i in group if pad in seqs[i]]
                for rows in ([i for i in group if i not in clash], *[[i] for i in clash]):
                    if not rows:
                        continue
                    ids, mask = padded([seqs[i] for i in rows], pad, self.device)
                    logits = self.model(input_ids=ids, attention_mask=mask).logits
                    if self.token_level:
                        last = mask.sum(1) - 1
                        logits = logits[torch.arange(len(rows), device=logits.device), last]
                    for i, p in zip(rows, probability(logits).tolist()):
                        out[i] = [p]
                    self.tokens_scored += sum(len(seqs[i]) for i in rows)
        return out

    def close(self) -> None:
        self.model = None
