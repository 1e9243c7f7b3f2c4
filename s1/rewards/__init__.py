"""Reward models: score the steps of a (question, partial solution), or the whole solution.

    from s1.rewards import load_reward
    rm = load_reward("shepherd:runs/prm")          # a process reward model (one score per step)
    rm.score([("What is 2+3?", ["2+3 = 5.", "The answer is 5."])])   # -> [[0.91, 0.88]]

Spec strings (like the backends' specs):
    shepherd:PATH[:good=+,bad=-,tag=ки]   a causal LM scoring a step tag by P(good) / (P(good) + P(bad))
    qwen-prm:PATH[:sep=<extra_0>]         a causal LM backbone + a 2-class head read at step separators
    orm:PATH                              a sequence- or token-classification model, one score per solution
    judge:URL:MODEL                       an LLM judge behind an OpenAI-compatible endpoint
    confidence                            the policy's own token confidence (no extra model)

Scores are probabilities in [0, 1], higher is better. Steps are the text of each step without the delimiter.
Every user error (unknown spec, missing path, a checkpoint of the wrong layout) is a RewardError with one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

KINDS = ("shepherd", "qwen-prm", "orm", "judge", "confidence")


class RewardError(ValueError):
    """A one-line user error: unknown reward spec, missing path, a checkpoint of the wrong layout."""


@runtime_checkable
class RewardModel(Protocol):
    name: str  # the spec it was loaded from, e.g. "shepherd:/path"
    per_step: bool  # True: one score per step (PRM); False: one score for the whole solution (ORM)
    tokens_scored: int  # running count of tokens this model has processed (compute accounting)

    def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """For each (question, steps so far): scores in [0, 1] -- one per step (PRM), or [one] (ORM)."""
        ...

    def close(self) -> None: ...


def load_reward(spec: str, *, device: str | None = None, dtype: str | None = None) -> RewardModel:
    """A reward model from a spec string (see the module doc); raises RewardError on bad input."""
    from .specs import load_spec

    return load_spec(spec, device=device, dtype=dtype)


__all__ = ["KINDS", "RewardError", "RewardModel", "load_reward"]
