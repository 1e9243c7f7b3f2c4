"""Turning a reward spec string into a reward model (the spec forms are listed in s1.rewards).

    from s1.rewards.specs import parse_spec; parse_spec("shepherd:runs/prm:tag=ки")  # ('shepherd', 'runs/prm', {...})
"""

from __future__ import annotations

from . import KINDS, RewardError

OPTIONS = {"shepherd": ("tag", "good", "bad"), "qwen-prm": ("sep",), "orm": ()}
USAGE = "shepherd:PATH, qwen-prm:PATH, orm:PATH, judge:URL:MODEL or confidence"


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """(kind, path or endpoint text, options) of a spec; RewardError on anything malformed."""
    if not isinstance(spec, str) or not spec.strip():
        raise RewardError(f"no reward given (choose {USAGE})")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if kind not in KINDS:
        raise RewardError(f"unknown reward {spec!r} (choose {USAGE})")
    if kind == "confidence":
        if rest:
            raise RewardError(f"reward {spec!r}: confidence takes no path or options")
        return kind, "", {}
    rest = rest.strip()
    if not rest:
        raise RewardError(f"reward {spec!r}: expected {kind}:{'URL:MODEL' if kind == 'judge' else 'PATH'}")
    if kind == "judge":
        return kind, rest, {}
    options: dict[str, str] = {}
    head, colon, tail = rest.rpartition(":")
    if colon and "=" in tail:  # PATH:key=value,key=value
        rest = head
        for part in tail.split(","):
            key, eq, value = part.partition("=")
            key = key.strip()
            if key not in OPTIONS[kind]:
                valid = ", ".join(OPTIONS[kind]) or "none"
                raise RewardError(f"reward {spec!r}: unknown option {key!r} for {kind} (options: {valid})")
            if not eq or not value.strip():
                raise RewardError(f"reward {spec!r}: option {key!r} needs a value")
            options[key] = value.strip()
    return kind, rest, options


def load_spec(spec: str, *, device: str | None = None, dtype: str | None = None):
    kind, rest, options = parse_spec(spec)
    name = spec.strip()
    if kind == "confidence":
        try:
            from .confidence import ConfidenceReward
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.confidence":
                raise
            raise RewardError("reward 'confidence' is not available in this build (s1/rewards/confidence.py "
                              "is missing)") from None
        return ConfidenceReward()
    if kind == "judge":
        from ..backends.build import parse_endpoint
        from .judge import JudgeReward

        endpoint = parse_endpoint(rest)
        if endpoint is None:
            raise RewardError(f"reward {spec!r}: expected judge:URL:MODEL, e.g. judge:http://127.0.0.1:8000/v1:qwen")
        return JudgeReward(name, *endpoint)
    from .common import checkpoint_dir

    path = checkpoint_dir(kind, rest)
    if kind == "shepherd":
        from .prm import ShepherdPRM

        return ShepherdPRM(name, path, options, device, dtype)
    if kind == "qwen-prm":
        from .prm import QwenPRM

        return QwenPRM(name, path, options, device, dtype)
    from .orm import OutcomeRM

    return OutcomeRM(name, path, device, dtype)
