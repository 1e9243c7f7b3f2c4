"""Request parsing for `s1 serve`: OpenAI request bodies -> validated generation requests.

Everything a client can get wrong raises `RequestError` (HTTP 400 with an OpenAI-style error body).
The thinking controls are an extra request field, as reasoning APIs do it:

    {"thinking": {"min_tokens": 512, "max_tokens": 4096, "num_ignore": 1, "extend": ["Wait"],
                  "answer_prefix": "Final Answer:", "on_turn_end": "answer" | "delimiter",
                  # adaptive policies (s1/policies.py), all optional:
                  "wait_schedule": "linear:0.5@0.6", "break_loops": "12:3", "loop_action": "end" | "extend",
                  "round_temperatures": [0.7, 1.0], "round_top_p": [0.95], "extend_penalty": 1.0},
     "reasoning_effort": "low" | "medium" | "high"}          # mapped to a maximum thinking budget

`max_tokens` / `max_completion_tokens` bound the answer (the content), not the thinking.
On /v1/completions with thinking, `text` is the answer and `reasoning_content` the thinking; `stop`
strings end the answer only, never the thinking (as on chat). `echo` and `logprobs` (0-5, the legacy
completions form: prompt-token log-probs with echo) are for plain completions, without thinking and
without streaming (a stream's `logprobs` are null).
A request's `n` counts per prompt: `len(prompt list) * n` choices in all, which `Limits.max_n` caps.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ..budget import BudgetConfig, BudgetError
from ..generation import SamplingConfig

COMMON = {"model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "n", "stop",
          "stream", "stream_options", "user", "thinking", "reasoning_effort", "presence_penalty",
          "frequency_penalty", "logprobs", "top_logprobs", "stop_token_ids", "return_token_ids"}
CHAT = COMMON | {"messages"}
COMPLETIONS = COMMON | {"prompt", "echo"}
THINKING = {"min_tokens", "max_tokens", "num_ignore", "extend", "answer_prefix", "on_turn_end", "early_exit",
            "wait_schedule", "break_loops", "loop_action", "round_temperatures", "round_top_p", "extend_penalty"}
POLICIES = ("wait_schedule", "break_loops", "loop_action", "round_temperatures", "round_top_p", "extend_penalty")
ROLES = {"system", "user", "assistant", "developer"}


class RequestError(ValueError):
    def __init__(self, message: str, param: str | None = None, status: int = 400, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.param, self.status, self.kind = param, status, kind


@dataclass
class Limits:
    """What one request may ask for (`s1 serve --help` lists the flags)."""

    max_prompt_tokens: int | None = None  # None: the context window
    max_thinking_tokens: int | None = None  # the largest thinking budget a client may ask (None: context)
    max_answer_tokens: int = 4096
    default_answer_tokens: int = 1024
    max_n: int = 8  # choices per request: every choice of every prompt counts
    max_stops: int = 4
    max_stop_chars: int = 256  # per stop string (the stream holds back a tail that long each token)
    max_extend: int = 16  # thinking.extend strings
    effort: dict[str, int] = field(default_factory=lambda: {"low": 512, "medium": 2048, "high": 8192})
    default_thinking: int | None = None  # max thinking tokens when the request sets none


@dataclass
class GenRequest:
    kind: str  # chat | completion
    prompts: list  # chat: [messages]; completion: [str | list[int]]
    n: int
    stream: bool
    include_usage: bool
    sampling: SamplingConfig
    seed: int | None
    stops: list[str]
    stop_token_ids: list[int]
    budget: BudgetConfig | None  # None: a plain completion (no thinking control)
    max_tokens: int
    max_tokens_given: bool
    return_token_ids: bool
    model: str | None
    echo: bool = False
    logprobs: int | None = None  # completions: log-probs of each token and its `logprobs` most likely


# Temperatures below this are greedy: dividing logits by less overflows float32 into inf / nan.
GREEDY_BELOW = 1e-5
SEED_RANGE = (-(2**63), 2**63 - 1)  # what a torch generator takes (choices add their index to it)


def load_json(data: bytes):
    """A request body as JSON; anything Python's reader takes that JSON does not (NaN, Infinity,
    numbers beyond float, lone surrogates) or cannot nest that deep is a RequestError."""
    try:
        body = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except RequestError:
        raise
    except RecursionError:
        raise RequestError("malformed JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4300 digits
        raise RequestError(f"malformed JSON: {e}") from None
    _check_unicode(body)
    return body


def _no_constant(name: str):
    raise RequestError(f"malformed JSON: {name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise RequestError(f"malformed JSON: {text} is beyond the range of a number")
    return v


def _check_unicode(body) -> None:
    """Reject strings with lone surrogates (JSON escapes allow them): a tokenizer or the error reply
    itself could not encode them."""
    todo = [body]
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise RequestError("the request holds a lone surrogate (invalid Unicode)") from None
        elif isinstance(v, dict):
            todo.extend(v)
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)


def _num(body: dict, key: str, kind, lo=None, hi=None, default=None):
    v = body.get(key, default)
    if v is None:
        return default
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise RequestError(f"'{key}' must be an integer", key)
    if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise RequestError(f"'{key}' must be a number", key)
    if kind is float and not _finite(v):
        raise RequestError(f"'{key}' must be a finite number", key)
    if lo is not None and v < lo or hi is not None and v > hi:
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise RequestError(f"'{key}' must be {rng}, got {v}", key)
    return v


def _finite(v) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond any float
        return False


def parse(body, kind: str, limits: Limits) -> GenRequest:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    allowed = CHAT if kind == "chat" else COMPLETIONS
    unknown = sorted(set(body) - allowed)
    if unknown:
        name = unknown[0] if len(unknown[0]) <= 64 else unknown[0][:64] + "..."
        raise RequestError(f"unknown field '{name}'", name)
    if kind == "chat":
        prompts = [_messages(body.get("messages"))]
    else:
        prompts = _prompts(body.get("prompt"))
    for key in ("presence_penalty", "frequency_penalty"):
        if _num(body, key, float, default=0) != 0:
            raise RequestError(f"'{key}' is not supported (only 0)", key)
    n = _num(body, "n", int, 1, limits.max_n, 1)
    if len(prompts) * n > limits.max_n:
        raise RequestError(f"{len(prompts)} prompts x n={n} = {len(prompts) * n} choices; this server returns at "
                           f"most {limits.max_n} per request", "n")
    temperature = _num(body, "temperature", float, 0, 2, 1.0)
    if temperature < GREEDY_BELOW:
        temperature = 0.0
    top_p = _num(body, "top_p", float, default=1.0)
    if not 0 < top_p <= 1:
        raise RequestError(f"'top_p' must be in (0, 1], got {top_p}", "top_p")
    top_k = _num(body, "top_k", int, -1, default=0)
    seed = _num(body, "seed", int, *SEED_RANGE, default=None)
    if n > 1 and temperature == 0:
        raise RequestError(f"n > 1 needs temperature >= {GREEDY_BELOW} (greedy choices would be identical)", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be true or false", "stream")
    opts = body.get("stream_options") or {}
    if not isinstance(opts, dict) or set(opts) - {"include_usage", "continuous_usage_stats"}:
        raise RequestError("'stream_options' accepts include_usage only", "stream_options")
    stops = body.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise RequestError("'stop' must be a string or a list of non-empty strings", "stop")
    if len(stops) > limits.max_stops:
        raise RequestError(f"at most {limits.max_stops} stop sequences", "stop")
    if any(len(s) > limits.max_stop_chars for s in stops):
        raise RequestError(f"a stop sequence may have at most {limits.max_stop_chars} characters", "stop")
    stop_ids = body.get("stop_token_ids") or []
    if not isinstance(stop_ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in stop_ids):
        raise RequestError("'stop_token_ids' must be a list of token ids", "stop_token_ids")
    mt_key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _num(body, mt_key, int, 1, limits.max_answer_tokens, None)
    budget = _budget(body, kind, limits, max_tokens or limits.default_answer_tokens)
    echo, logprobs = _scoring(body, kind, budget, stream)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("'model' must be a string", "model")
    return GenRequest(
        kind=kind, prompts=prompts, n=n, stream=stream, include_usage=bool(opts.get("include_usage")),
        sampling=SamplingConfig(temperature, top_p, max(top_k, 0), seed), seed=seed, stops=stops,
        stop_token_ids=list(stop_ids), budget=budget, max_tokens=max_tokens or limits.default_answer_tokens,
        max_tokens_given=max_tokens is not None, return_token_ids=bool(body.get("return_token_ids")), model=model,
        echo=echo, logprobs=logprobs,
    )


MAX_LOGPROBS = 5
SCORING = ("lm-eval's loglikelihood, multiple_choice and loglikelihood_rolling tasks score text as given, "
           "without thinking")


def _scoring(body: dict, kind: str, budget, stream: bool) -> tuple[bool, int | None]:
    """(echo, logprobs) of a completions request: the legacy form, where logprobs is a count."""
    if kind != "completion":
        return False, None  # chat's logprobs flags are accepted and not computed
    echo = body.get("echo") or False
    if not isinstance(echo, bool):
        raise RequestError("'echo' must be true or false", "echo")
    logprobs = _num(body, "logprobs", int, 0, MAX_LOGPROBS, None)
    if not echo and logprobs is None:
        return False, None
    if budget is not None:
        raise RequestError("'echo' and 'logprobs' are for plain completions: drop 'thinking' / 'reasoning_effort' "
                           f"({SCORING})", "echo" if echo else "logprobs")
    if stream:  # a stream carries no log-probs (clients that probe for token ids ask for them anyway)
        if echo:
            raise RequestError("'echo' needs \"stream\": false", "echo")
        return False, None
    return echo, logprobs


def _budget(body: dict, kind: str, limits: Limits, answer_tokens: int) -> BudgetConfig | None:
    thinking = body.get("thinking")
    effort = body.get("reasoning_effort")
    if thinking is None and effort is None and kind == "completion":
        return None  # a plain completion: the prompt is continued as is
    if thinking is None:
        thinking = {}
    if not isinstance(thinking, dict):
        raise RequestError("'thinking' must be an object", "thinking")
    bad = sorted(set(thinking) - THINKING)
    if bad:
        raise RequestError(f"unknown field 'thinking.{bad[0]}' (use {', '.join(sorted(THINKING))})", "thinking")
    cap = thinking.get("max_tokens")
    if effort is not None:
        if not isinstance(effort, str) or effort not in limits.effort:
            raise RequestError(f"'reasoning_effort' must be one of {', '.join(limits.effort)}", "reasoning_effort")
        if cap is None:
            cap = limits.effort[effort]
    if cap is None:
        cap = limits.default_thinking
    low, ignore = (0 if thinking.get(k) is None else thinking[k] for k in ("min_tokens", "num_ignore"))
    for key, v in (("max_tokens", cap), ("min_tokens", low), ("num_ignore", ignore)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise RequestError(f"'thinking.{key}' must be an integer >= 0", "thinking")
    if limits.max_thinking_tokens is not None and (cap is None or cap > limits.max_thinking_tokens):
        if cap is not None:
            raise RequestError(f"'thinking.max_tokens' is limited to {limits.max_thinking_tokens} on this server",
                               "thinking")
        cap = limits.max_thinking_tokens
    extend = ["Wait"] if thinking.get("extend") is None else thinking["extend"]
    if isinstance(extend, str):
        extend = [extend]
    if not isinstance(extend, list) or not all(isinstance(s, str) for s in extend):
        raise RequestError("'thinking.extend' must be a string or a list of strings", "thinking")
    if len(extend) > limits.max_extend:
        raise RequestError(f"'thinking.extend' takes at most {limits.max_extend} strings", "thinking")
    prefix = thinking.get("answer_prefix", "Final Answer:")
    if prefix is not None and not isinstance(prefix, str):
        raise RequestError("'thinking.answer_prefix' must be a string or null", "thinking")
    if thinking.get("early_exit") is not None:
        raise RequestError("'thinking.early_exit' is not served (its probes fork rows): use s1 eval or the Python API",
                           "thinking")
    policy = {k: thinking[k] for k in POLICIES if thinking.get(k) is not None}
    for k in ("round_temperatures", "round_top_p"):
        if k in policy and not isinstance(policy[k], list):
            raise RequestError(f"'thinking.{k}' must be a list of numbers", "thinking")
    try:
        return BudgetConfig(max_thinking_tokens=cap, min_thinking_tokens=low, num_ignore=ignore, extend=tuple(extend),
                            answer_prefix=prefix or None, max_answer_tokens=answer_tokens,
                            on_turn_end=thinking.get("on_turn_end") or "answer", **policy).validate()
    except BudgetError as e:
        raise RequestError(f"bad thinking budget: {e}", "thinking") from None


def _messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list", "messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or m["role"] not in ROLES:
            raise RequestError(f"messages[{i}] needs a role ({', '.join(sorted(ROLES))})", "messages")
        content = m.get("content")
        if isinstance(content, list):  # content parts: text only
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise RequestError(f"messages[{i}]: only text content parts are supported", "messages")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise RequestError(f"messages[{i}].content must be a string", "messages")
        out.append({"role": "system" if m["role"] == "developer" else m["role"], "content": content})
    if out[-1]["role"] != "user":
        raise RequestError("the last message must be from the user", "messages")
    return out


def _prompts(prompt) -> list:
    def is_ids(p):
        return isinstance(p, list) and p and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0
                                                 for t in p)

    if isinstance(prompt, str) and prompt:
        return [prompt]
    if is_ids(prompt):
        return [prompt]
    if isinstance(prompt, list) and prompt and all((isinstance(p, str) and p) or is_ids(p) for p in prompt):
        return list(prompt)
    raise RequestError("'prompt' must be a non-empty string, a list of token ids, or a list of those", "prompt")
