"""DeepConf: the policy's own confidence from its token log-probabilities, as a reward and for filtering.

    from s1.rewards.confidence import token_confidence, lowest_group; lowest_group([token_confidence(top)...], 64)

Token confidence (DeepConf): C = -(1/k) * sum of the log-probs of the k most likely tokens at that
position. A peaked distribution (the model is sure) has one token near log-prob 0 and the others far
below, so C is large; a flat one gives C near log(k). Group confidence is the mean token confidence
over a sliding window of the last `window` tokens; a trace's confidence is its lowest group, the
mean of its bottom 10% groups, the mean of its last `tail` tokens, or its overall mean.

`ConfidenceReward` is the reward model spec "confidence": no extra model, it needs the log-probs
the policy recorded while it wrote (`needs_logprobs`), so the search passes each step's token
confidences to `score_confidences` instead of text. A step's score is its lowest group confidence
mapped to (0, 1) by 1 - exp(-C / SCALE): monotone, so rankings and REBASE's softmax see the order.
"""

from __future__ import annotations

import math
from typing import Sequence

MEASURES = ("lowest", "bottom10", "tail", "mean")
SCALE = 10.0  # confidence at which a step scores 1 - 1/e (about 0.63)


def token_confidence(top_logprobs: Sequence[float]) -> float:
    """-mean of the top-k log-probs of one position (k = len(top_logprobs))."""
    if not top_logprobs:
        raise ValueError("no log-probs")
    vals = [max(float(v), -1e4) for v in top_logprobs]  # -inf (masked tokens) counts as very unlikely
    return -math.fsum(vals) / len(vals)


def group_confidences(conf: Sequence[float], window: int) -> list[float]:
    """Mean confidence of every window of `window` consecutive tokens (one group if the trace is shorter)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not conf:
        return []
    if len(conf) <= window:
        return [math.fsum(conf) / len(conf)]
    out, run = [], math.fsum(conf[:window])
    out.append(run / window)
    for i in range(window, len(conf)):
        run += conf[i] - conf[i - window]
        out.append(run / window)
    return out


def trace_confidence(conf: Sequence[float], measure: str = "lowest", window: int = 64, tail: int = 256) -> float:
    """One number for a whole trace (higher = more confident); 0.0 for an empty trace."""
    if measure not in MEASURES:
        raise ValueError(f"unknown confidence measure {measure!r}; choose from {', '.join(MEASURES)}")
    if not conf:
        return 0.0
    if measure == "mean":
        return math.fsum(conf) / len(conf)
    if measure == "tail":
        t = conf[-tail:]
        return math.fsum(t) / len(t)
    groups = group_confidences(conf, window)
    if measure == "lowest":
        return min(groups)
    low = sorted(groups)[: max(1, math.ceil(len(groups) * 0.1))]
    return math.fsum(low) / len(low)


class GroupWindow:
    """The running group confidence of a trace being written: `add` one token's confidence, read `value`."""

    def __init__(self, window: int):
        self.window, self.items, self.total = window, [], 0.0

    def add(self, c: float) -> None:
        self.items.append(c)
        self.total += c
        if len(self.items) > self.window:
            self.total -= self.items.pop(0)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.window

    @property
    def value(self) -> float:
        return self.total / len(self.items) if self.items else float("inf")


def to_score(c: float) -> float:
    """A confidence as a probability-like score in [0, 1)."""
    return 1.0 - math.exp(-max(c, 0.0) / SCALE)


class ConfidenceReward:
    """The reward spec "confidence": a step scores by its lowest group confidence (see module doc)."""

    name = "confidence"
    per_step = True
    needs_logprobs = True
    tokens_scored = 0  # no extra model: nothing is run to score

    def __init__(self, window: int = 16, top_k: int = 20):
        self.window, self.top_k = window, top_k

    def score(self, items):
        from . import RewardError

        raise RewardError("the confidence reward scores the policy's own log-probs: use it with a search "
                          "on the in-process engine (it cannot score text)")

    def score_confidences(self, items: Sequence[Sequence[Sequence[float]]]) -> list[list[float]]:
        """For each solution: its steps' token confidences -> one score per step."""
        return [[to_score(min(group_confidences(step, self.window), default=0.0)) for step in steps]
                for steps in items]

    def close(self) -> None:
        pass
