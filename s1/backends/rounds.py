"""Budget forcing in rounds of completion requests: the driver for servers we cannot step token by token.

A row alternates between forced tokens (the extension "Wait", the end-of-thinking delimiter, the
answer prefix, step markers), which the client appends itself, and *rounds*: one completion request
that samples from prompt + everything appended so far until the model tries to stop, the remaining
budget is used, or the answer ends. Every returned token is fed to the row's `RowBudget` one by one,
exactly as the in-process engine feeds its samples, so budgets, events and records are the same.

Exactness: a round's tokens are only ever a prefix of what the model would sample next. When the row
starts forcing in the middle of a round (a step ended under step-conditional control, or a stop token
arrived), the rest of the round is discarded: those tokens were never part of the process. A round
that ends early for any other reason (a stop *string* matched inside ordinary text, a dropped
connection after some tokens) is just a round boundary; the next round goes on from there.

Transport-agnostic: `complete(ids, max_tokens, stop_ids, cfg, seed)` is one completion call. It may
return an awaitable `Completion` (the whole round at once), or an async iterator of `Completion`
pieces (streaming: tokens as the server sends them; the last piece carries `finish`). With a stream,
`on_token` sees each token as soon as it arrives, and a discarded tail closes the request early.
"""

from __future__ import annotations

import inspect
from typing import Awaitable, Callable, NamedTuple, Sequence

from ..budget import RowBudget
from ..generation import SamplingConfig

MAX_EMPTY_ROUNDS = 3
_SEED_STEP = 0x9E3779B1  # odd: rounds walk through distinct seeds without replaying one stream
_SEED_MOD = 2**31 - 1


class Completion(NamedTuple):
    """One round (or one streamed piece of it).

    tokens: sampled token ids in order (a server may or may not include the token it stopped on).
    finish: 'stop' | 'length' | None (more pieces follow) | anything else (the round broke off).
    stop_token: the stop token id the server stopped on without returning it in `tokens`, if known.
    """

    tokens: list[int]
    finish: str | None = None
    stop_token: int | None = None


class RoundError(RuntimeError):
    """The server keeps answering without progress (no tokens, or its context is full)."""


Complete = Callable[..., "Awaitable[Completion] | object"]


def round_seed(seed: int | None, k: int) -> int | None:
    """The sampling seed of round k (None: let the server pick)."""
    if seed is None:
        return None
    return (seed + k * _SEED_STEP) % _SEED_MOD


async def drive(
    row: RowBudget,
    prompt_ids: Sequence[int],
    complete: Complete,
    thinking: SamplingConfig,
    answer: SamplingConfig,
    seed: int | None,
    on_token: Callable[[int, str], None] | None = None,
    *,
    answer_seed: int | None = None,
    context: int | None = None,
    stats: dict | None = None,
) -> list[int]:
    """Run one row to completion; return the tokens appended after the prompt.

    seed / answer_seed: the row's seeds for thinking / answer sampling (answer_seed defaults to seed);
    round k of a phase uses `round_seed(seed, k)`. on_token(token_id, phase) is called for every
    appended token, phase being where it went: 'think', 'answer' ('delim' for the delimiter).
    context: the server's context window, used only to bound unbounded thinking rounds.
    """
    if answer_seed is None:
        answer_seed = seed
    out: list[int] = []
    prompt = list(prompt_ids)
    rounds = {"think": 0, "answer": 0}
    empty = 0

    def step(sampled: int | None) -> int:
        nt, nd = len(row.thinking), len(row.delim)
        tok = row.advance(sampled)
        out.append(tok)
        if on_token is not None:
            # where it went; a token that grew nothing is the end of turn that finished the answer
            on_token(tok, "think" if len(row.thinking) > nt else "delim" if len(row.delim) > nd else "answer")
        return tok

    while True:
        while not row.done and not row.wants_sample():
            step(None)
        if row.done:
            return out
        phase = row.sampling_phase
        p = row.plan
        if phase == "think":
            cfg, base, stops = thinking, seed, p.stop_ids
            if row.thinking_limit is not None:
                max_tokens = row.thinking_limit - len(row.thinking)
            elif context is not None:
                max_tokens = context - len(prompt) - len(out) - p.reserved_after_thinking()
            else:
                max_tokens = None  # the server's own limit (its context window)
        else:
            cfg, base, stops = answer, answer_seed, p.eot_ids
            max_tokens = p.budget.max_answer_tokens - len(row.answer)
        if max_tokens is not None and max_tokens < 1:
            raise RoundError("no room left in the context window for this row")
        k = rounds[phase]
        rounds[phase] += 1
        s = round_seed(base, k) if cfg.temperature > 0 and cfg.seed is not None else None
        if stats is not None:
            stats["rounds"] = stats.get("rounds", 0) + 1
            stats["round_prompt_tokens"] = stats.get("round_prompt_tokens", 0) + len(prompt) + len(out)
        res = complete(prompt + out, max_tokens, stops, cfg, s)
        before = len(out)
        finish, stop_token = await _consume(res, row, phase, step)
        if stop_token is not None and finish == "stop" and _sampling(row, phase):
            step(stop_token)  # the server consumed the stop token without returning it: the row must see it
        if finish == "length" and max_tokens is None and _sampling(row, phase) and len(out) == before:
            raise RoundError("the server stopped at its context limit before the row finished")
        if len(out) == before:
            empty += 1
            if empty >= MAX_EMPTY_ROUNDS:
                raise RoundError(f"the server returned no tokens for {empty} rounds in a row")
        else:
            empty = 0


async def _consume(res, row: RowBudget, phase: str, step) -> tuple[str | None, int | None]:
    """Feed one round's tokens to the row until it stops sampling in this phase; return
    (finish, stop token consumed by the server or None)."""
    if hasattr(res, "__aiter__"):
        it = res.__aiter__()
        finish, stop = None, None
        try:
            async for piece in it:
                if not _feed(piece.tokens, row, phase, step):
                    return "discarded", None  # the rest of the round is not part of the process
                if piece.finish is not None:
                    finish, stop = piece.finish, piece.stop_token
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()  # closes the request when the tail is discarded or on cancellation
        return finish, stop
    if inspect.isawaitable(res):
        res = await res
    if not _feed(res.tokens, row, phase, step):
        return "discarded", None
    return res.finish, res.stop_token


def _sampling(row: RowBudget, phase: str) -> bool:
    return not row.done and row.wants_sample() and row.sampling_phase == phase


def _feed(tokens, row: RowBudget, phase: str, step) -> bool:
    """Advance the row with sampled tokens; False as soon as the rest of the round is no longer the
    model's continuation: the row replaced a sample (a refused stop became "Wait"), queued forced
    tokens (delimiter, marker, cut) or left the phase."""
    for t in tokens:
        if not _sampling(row, phase):
            return False
        if step(int(t)) != t:
            return False
    return _sampling(row, phase)
