"""Thinking budgets of a vLLM request, read from its extra args (`vllm_xargs` over HTTP) and checked.

    from s1.backends.xargs import parse_xargs; spec = parse_xargs({"min_thinking_tokens": 64})

Checked where vLLM admits a request (the processor's validate_params), so a bad value is an HTTP 400
with the reason, never a crashed engine. No torch, no vLLM here.
"""

from __future__ import annotations

from ..budget import BudgetConfig, BudgetError
from ..templates import TEMPLATES

XARGS = ("min_thinking_tokens", "max_thinking_tokens", "num_ignore", "extend", "answer_prefix", "template",
         "on_turn_end")
NO_ANSWER_LIMIT = 1 << 30  # over HTTP the request's max_tokens limits the answer


def _int(d: dict, key: str, default):
    v = d.get(key, default)
    if v is None or v is default:
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError(f"{key} must be a whole number, got {v!r}")
    return int(v)


def parse_xargs(extra: dict | None) -> dict | None:
    """The budget settings of a request's extra args, checked (ValueError with a clear message), or
    None when the request has none. The vllm backend's complete spec under "s1" is passed through."""
    if not extra:
        return None
    if "s1" in extra:
        return extra["s1"]
    if not any(k in extra for k in XARGS):
        return None
    extend = extra.get("extend", "Wait")
    if isinstance(extend, str):
        extend = [extend]
    if not isinstance(extend, list) or not all(isinstance(s, str) for s in extend):
        raise ValueError(f"extend must be a string or a list of strings, got {extend!r}")
    prefix = extra.get("answer_prefix", "Final Answer:")
    if prefix is not None and not isinstance(prefix, str):
        raise ValueError(f"answer_prefix must be a string, got {prefix!r}")
    template = extra.get("template", "auto")
    if template not in ("auto", *TEMPLATES):
        raise ValueError(f"unknown template {template!r} (choose auto, {', '.join(TEMPLATES)})")
    budget = BudgetConfig(max_thinking_tokens=_int(extra, "max_thinking_tokens", None),
                          min_thinking_tokens=_int(extra, "min_thinking_tokens", 0) or 0,
                          num_ignore=_int(extra, "num_ignore", 0) or 0, extend=tuple(extend),
                          answer_prefix=prefix or None, max_answer_tokens=NO_ANSWER_LIMIT,
                          on_turn_end=extra.get("on_turn_end", "answer"))
    try:
        budget.validate()
    except BudgetError as e:
        raise ValueError(str(e)) from None
    return {"template": template, "budget": budget.__dict__ | {"extend": list(budget.extend)}}


def check_params(params) -> dict | None:
    """parse_xargs plus the sampling settings a budget cannot be exact under."""
    spec = parse_xargs(params.extra_args)
    if spec is None:
        return None
    bad = [name for name, v, neutral in (("repetition_penalty", params.repetition_penalty, 1.0),
                                         ("presence_penalty", params.presence_penalty, 0.0),
                                         ("frequency_penalty", params.frequency_penalty, 0.0),
                                         ("min_p", params.min_p, 0.0)) if v != neutral]
    if bad:
        raise ValueError(f"thinking budgets do not support {', '.join(bad)} (vLLM applies it after the budget "
                         "processor, so refused stops would not keep the model's probabilities)")
    if params.n and params.n > 1 and params.seed is not None:
        raise ValueError("thinking budgets with n > 1 need seed unset (each choice draws its own stops)")
    if "s1" not in params.extra_args and (params.top_k > 0 or params.top_p < 1):
        # the processor applies them (before its stop masks); vLLM applying them again after the
        # masks would re-cut the renormalised rest and change the distribution
        spec["top_k"], spec["top_p"] = max(int(params.top_k), 0), float(params.top_p)
        params.extra_args["s1"] = spec
        params.top_k, params.top_p = 0, 1.0
    return spec


__all__ = ["NO_ANSWER_LIMIT", "XARGS", "check_params", "parse_xargs"]
