"""Turning a reward spec string into a reward model (see s1.rewards for the spec forms)."""

from __future__ import annotations

from . import KINDS, RewardError


def load_spec(spec: str, *, device: str | None = None, dtype: str | None = None):
    spec = (spec or "").strip() if isinstance(spec, str) else ""
    if spec == "confidence":
        try:
            from .confidence import ConfidenceReward
        except ImportError as e:
            raise RewardError("reward 'confidence' is not available in this build (s1.rewards.confidence "
                              f"is missing: {e})") from None
        return ConfidenceReward()
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise RewardError(f"unknown reward {spec!r} (choose shepherd:PATH, qwen-prm:PATH, orm:PATH, "
                          "judge:URL:MODEL or confidence)")
    raise RewardError(f"reward kind {kind!r} is not implemented yet")
