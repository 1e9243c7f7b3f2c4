"""Process reward models of the two common published layouts: one score in [0, 1] per step.

    from s1.rewards import load_reward; load_reward("shepherd:runs/prm").score([("2+3?", ["2+3=5.", "5"])])

shepherd (Math-Shepherd style): a causal LM reads the solution with a step tag after every step; a
step's score is p(good) / (p(good) + p(bad)) of the next-token distribution at its tag. One forward
per (question, steps) scores every step. Tag and tokens come from the spec, else from the
checkpoint's s1_prm.json (written by `s1 train --objective prm`), else Math-Shepherd's (ки, +, -).
qwen-prm (Qwen2.5-Math-PRM style): a causal LM backbone without its LM head, and a head of two
linear layers with a ReLU between (hidden -> hidden -> 2) read at the step separator after every
step; the score is the softmax probability of class 1. The head is ours; its weights are the
checkpoint's `score.0.*` and `score.2.*` tensors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from . import RewardError
from .common import (PRM_SYSTEM, batches, chat_text, check_length, checkpoint_dir, context_of, device_and_dtype,
                     load_tokenizer, load_weights, padded, read_config, read_tensors, safetensor_keys, single_token)

PRM_FILE = "s1_prm.json"  # tag / good / bad of a shepherd-layout checkpoint
SHEPHERD_DEFAULTS = {"tag": "ки", "good": "+", "bad": "-"}
QWEN_SEP = "<extra_0>"
HEAD = ("score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias")


def clean_steps(steps: Sequence[str], marker: str) -> list[str]:
    """Steps as the model reads them: stripped, with the tag / separator text taken out (it must mark
    step ends only)."""
    return [str(s).replace(marker, "").strip() for s in steps]


def shepherd_input(tok, question: str, steps: Sequence[str], tag: str, tag_id: int) -> tuple[list[int], list[int]]:
    """(token ids, the position of each step's tag) of "question step1 TAG\\nstep2 TAG...".
    Encoded as one text; where the tokenizer merges a tag with its neighbours, piece by piece."""
    steps = clean_steps(steps, tag)
    text = f"{question.strip()} " + "\n".join(f"{s} {tag}" for s in steps)
    ids = tok.encode(text, add_special_tokens=False)
    pos = [i for i, t in enumerate(ids) if t == tag_id]
    if len(pos) == len(steps):
        return ids, pos
    ids, pos = tok.encode(f"{question.strip()} ", add_special_tokens=False), []
    for k, s in enumerate(steps):
        ids += tok.encode(("\n" if k else "") + f"{s} ", add_special_tokens=False)
        pos.append(len(ids))
        ids.append(tag_id)
    return ids, pos


def read_prm_file(path: Path) -> dict:
    f = path / PRM_FILE
    if not f.is_file():
        return {}
    try:
        d = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RewardError(f"{f}: unreadable ({' '.join(str(e).split())})") from None
    return {k: str(d[k]) for k in SHEPHERD_DEFAULTS if k in d}


class TransformersReward:
    """The shared loop: encode each item, batch by length, one forward per batch, read the step positions."""

    per_step = True
    kind = ""

    def __init__(self, name: str, model, tok, device: str):
        self.name, self.model, self.tokenizer, self.device = name, model, tok, device
        self.tokens_scored = 0
        self.context = context_of(model)

    def encode(self, question: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        raise NotImplementedError

    def step_scores(self, ids, mask, positions: list[list[int]]) -> list[list[float]]:
        raise NotImplementedError

    def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        import torch

        out: list[list[float]] = [[] for _ in items]
        encoded = []
        for question, steps in items:
            ids, pos = self.encode(question, steps) if steps else ([], [])
            check_length(self.kind, len(ids), self.context)
            encoded.append((ids, pos))
        todo = [i for i, (ids, _) in enumerate(encoded) if ids]  # no steps yet: nothing to score
        with torch.inference_mode():
            for group in batches([len(encoded[i][0]) for i in todo]):
                rows = [todo[g] for g in group]
                ids, mask = padded([encoded[r][0] for r in rows], self.tokenizer.pad_token_id, self.device)
                for r, s in zip(rows, self.step_scores(ids, mask, [encoded[r][1] for r in rows])):
                    out[r] = s
                self.tokens_scored += sum(len(encoded[r][0]) for r in rows)
        return out

    def close(self) -> None:
        self.model = None


class ShepherdPRM(TransformersReward):
    kind = "shepherd"

    def __init__(self, name: str, path: Path, options: dict, device: str | None = None, dtype: str | None = None):
        from transformers import AutoModelForCausalLM

        dev, torch_dtype = device_and_dtype(device, dtype)
        tok = load_tokenizer(self.kind, path)
        self.marks = {**SHEPHERD_DEFAULTS, **read_prm_file(path), **options}
        self.tag_id = single_token(self.kind, tok, self.marks["tag"], "step tag", "tag")
        self.good_id = single_token(self.kind, tok, self.marks["good"], "good token", "good")
        self.bad_id = single_token(self.kind, tok, self.marks["bad"], "bad token", "bad")
        if self.good_id == self.bad_id:
            raise RewardError(f"reward shepherd: good and bad tokens are the same token ({self.marks['good']!r})")
        if "CausalLM" not in " ".join(read_config(path).get("architectures") or ["CausalLM"]):
            raise RewardError(f"reward shepherd: {path} is not a causal LM ({read_config(path)['architectures'][0]})")
        super().__init__(name, load_weights(self.kind, AutoModelForCausalLM, path, torch_dtype, dev), tok, dev)

    def encode(self, question, steps):
        return shepherd_input(self.tokenizer, question, steps, self.marks["tag"], self.tag_id)

    def step_scores(self, ids, mask, positions):
        import torch

        base = getattr(self.model, self.model.base_model_prefix)
        hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
        rows = torch.tensor([b for b, pos in enumerate(positions) for _ in pos], device=hidden.device)
        cols = torch.tensor([p for pos in positions for p in pos], device=hidden.device)
        # the LM head on the tag positions only: a full [batch, length, vocab] logits tensor is never made
        logits = self.model.get_output_embeddings()(hidden[rows, cols])[:, [self.good_id, self.bad_id]]
        p_good = torch.softmax(logits.float(), -1)[:, 0].tolist()
        out, k = [], 0
        for pos in positions:
            out.append(p_good[k : k + len(pos)])
            k += len(pos)
        return out


class QwenPRM(TransformersReward):
    kind = "qwen-prm"

    def __init__(self, name: str, path: Path, options: dict, device: str | None = None, dtype: str | None = None):
        import torch
        from transformers import AutoModel

        dev, torch_dtype = device_and_dtype(device, dtype)
        keys = safetensor_keys(path)
        missing = [k for k in HEAD if k not in keys]
        if missing:
            raise RewardError(f"reward qwen-prm: {path} has no step classification head ({', '.join(missing)} "
                              "missing): not a Qwen2.5-Math-PRM-style checkpoint (try shepherd: or orm:)")
        (h1, h0), (c, h2) = keys["score.0.weight"][1], keys["score.2.weight"][1]
        if not (h1 == h0 == h2 and c == 2):
            raise RewardError(f"reward qwen-prm: {path}: head shapes {[h1, h0]} and {[c, h2]} are not "
                              "[hidden, hidden] and [2, hidden]")
        tok = load_tokenizer(self.kind, path)
        self.sep = options.get("sep", QWEN_SEP)
        self.sep_id = single_token(self.kind, tok, self.sep, "step separator", "sep")
        model = load_weights(self.kind, AutoModel, path, torch_dtype, dev)
        if getattr(model.config, "hidden_size", h0) != h0:
            raise RewardError(f"reward qwen-prm: {path}: the head reads {h0} features, the backbone gives "
                              f"{model.config.hidden_size}")
        w = read_tensors(path, list(HEAD))
        self.head = torch.nn.Sequential(torch.nn.Linear(h0, h0), torch.nn.ReLU(), torch.nn.Linear(h0, 2))
        with torch.no_grad():
            for (i, part), t in zip([(0, "weight"), (0, "bias"), (2, "weight"), (2, "bias")], w.values()):
                getattr(self.head[i], part).copy_(t)
        self.head.to(dev, torch_dtype).eval()
        super().__init__(name, model, tok, dev)

    def encode(self, question, steps):
        steps = clean_steps(steps, self.sep)
        text = chat_text(self.tokenizer, question, "".join(f"{s}{self.sep}" for s in steps), PRM_SYSTEM)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        pos = [i for i, t in enumerate(ids) if t == self.sep_id]
        if len(pos) != len(steps):
            raise RewardError(f"reward qwen-prm: the separator {self.sep!r} was found {len(pos)} times for "
                              f"{len(steps)} steps (the tokenizer merges it with its neighbours)")
        return ids, pos

    def step_scores(self, ids, mask, positions):
        import torch

        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        out = []
        for b, pos in enumerate(positions):
            probs = torch.softmax(self.head(hidden[b, pos]).float(), -1)[:, 1]
            out.append(probs.tolist())
        return out

    def close(self) -> None:
        self.model = self.head = None
