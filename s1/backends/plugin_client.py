"""One request per row against a `vllm serve` running the s1 plugin (s1.vllm_plugin): no rounds.

    from s1.backends.plugin_client import has_plugin, run_row
    if has_plugin(backend): out = await run_row(backend, ids, row, thinking, seed, on_token)

The row's budget goes to the server as `vllm_xargs`; the server forces it inside its own decoding
and streams every token back; the tokens are replayed through the client's RowBudget
(s1.backends.replay), which settles the record and routes each token to thinking / delimiter / answer.

Detection: a completion of one token asking for max_thinking_tokens = -1. A server with the plugin
refuses it (HTTP 400 naming the thinking budget); any other server ignores the unknown field.
"""

from __future__ import annotations

from typing import Callable, Sequence

import httpx

from ..budget import RowBudget
from ..generation import BackendError, SamplingConfig
from .replay import Replayer, ReplayError
from .wire import server_message

PROBE_MARK = "thinking tokens"


def has_plugin(backend, timeout: float = 30) -> bool:
    """Whether the backend's server runs the s1 budget processor (one tiny probe request)."""
    headers = {"Authorization": f"Bearer {backend.api_key}"} if backend.api_key else {}
    body = {"model": backend.served_model, "prompt": [int(backend.tokenizer.eos_token_id or 0)], "max_tokens": 1,
            "vllm_xargs": {"max_thinking_tokens": -1}}
    try:
        r = httpx.post(backend.base_url + "/completions", json=body, headers=headers, timeout=timeout)
    except httpx.TransportError:
        return False
    return r.status_code == 400 and PROBE_MARK in server_message(r.text)


def xargs_of(row: RowBudget, template: str) -> dict:
    """The vllm_xargs of a row's budget."""
    b = row.plan.budget
    x = {"min_thinking_tokens": b.min_thinking_tokens, "num_ignore": b.num_ignore, "extend": list(b.extend),
         "answer_prefix": b.answer_prefix or "", "on_turn_end": b.on_turn_end, "template": template}
    if row.thinking_limit is not None:
        x["max_thinking_tokens"] = row.thinking_limit  # the budget, lowered to what the context leaves
    return x


def supports(row, thinking: SamplingConfig, answer: SamplingConfig) -> bool:
    """Whether one plugin request can run this row: a RowBudget without step control, and one set of
    sampling settings for both phases (the server samples both with the request's)."""
    return (isinstance(row, RowBudget) and row.plan.budget.max_steps is None
            and (answer.temperature, answer.top_p, answer.top_k) == (thinking.temperature, thinking.top_p, thinking.top_k))


async def run_row(backend, ids: Sequence[int], row: RowBudget, cfg: SamplingConfig, seed: int | None,
                  on_token: Callable[[int, str], None] | None = None, template: str = "auto") -> list[int]:
    """Drive one row with a single streamed request; returns the tokens it appended."""
    max_tokens = None
    if row.thinking_limit is not None:
        max_tokens = row.thinking_limit + row.plan.reserved_after_thinking()
    replayer = Replayer(row, None, on_token)
    res = backend.complete(ids, max_tokens, row.plan.eot_ids, cfg, seed,
                           extra={"vllm_xargs": xargs_of(row, template)})
    pieces = res if hasattr(res, "__aiter__") else _one(res)
    last = None
    try:
        async for piece in pieces:
            replayer.push(piece.tokens)
            if piece.finish is not None:
                last = piece
                break
            if row.done:
                break
        replayer.close()
        if not row.done and last is not None and row.phase == "answer":
            if last.finish == "stop":  # the end of turn the server stopped on, when it did not send it
                replayer.push([last.stop_token if last.stop_token is not None else min(row.plan.eot_ids)])
                replayer.close()
            elif last.finish == "length":
                row.phase, row.finish_reason = "done", "length"
    except ReplayError as e:
        raise BackendError(f"the server's tokens do not follow the budget: {e}") from None
    finally:
        aclose = getattr(pieces, "aclose", None)
        if aclose is not None:
            await aclose()
    if not row.done:
        raise BackendError(f"the server ended the row after {len(replayer.out)} tokens, before its budget did")
    return replayer.out


async def _one(awaitable):
    yield await awaitable
