"""A row's budget record rebuilt from the tokens a forcing engine appended (vLLM with the s1 processor).

    from s1.backends.replay import replay; out = replay(row, token_ids, stops={17: 1})

The batch processor (s1.backends.vllm_processor) runs the row's `RowBudget` inside vLLM; the process
that asked for the row gets back only the token ids. Feeding them to a fresh `RowBudget` of the same
plan rebuilds its whole record (thinking / answer ids, refused stops, events, cut, finish reason),
except for one fact the ids alone do not carry: where the model *tried to stop* and the stop was
replaced (by "Wait", or by the delimiter after an end of turn). `stops` gives those positions
(output index -> the stop token id drawn), as the processor logs them for the offline backend.

Without `stops` (a `vllm serve` reached over HTTP) a refusal is recognised where the row would
refuse a stop and the next tokens are exactly the extension: a model writing the extension word
itself at exactly such a moment is counted as a refusal. The tokens stay the server's either way;
only the bookkeeping (num_ignored, events) can differ, and a later contradiction ends the replay
with ReplayError.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..budget import THINK, RowBudget


class ReplayError(ValueError):
    """The tokens are not what this row's budget would have appended."""


def refusing(row: RowBudget) -> bool:
    """Whether the row, sampling its thinking now, would refuse an attempt to stop."""
    b = row.plan.budget
    return row.phase == THINK and (row.num_ignored < b.num_ignore or len(row.thinking) < b.min_thinking_tokens)


def replay(row: RowBudget, ids: Sequence[int], stops: dict[int, int] | None = None,
           on_token: Callable[[int, str], None] | None = None) -> list[int]:
    """Feed `ids` (the tokens the engine appended, in order) to `row`; returns the tokens the row
    accounts for (a trailing end of turn forced after an answer limit is not part of it).
    `on_token(token, part)` hears each one with its part (think / delim / answer)."""
    r = Replayer(row, stops, on_token)
    r.push(ids)
    r.close()
    return r.out


class Replayer:
    """`replay` for tokens arriving in pieces (a stream): `push(ids)` as they come, `close()` at the end.
    Without `stops`, tokens that may still turn out to be a refusal's extension wait for the next piece."""

    def __init__(self, row: RowBudget, stops: dict[int, int] | None = None,
                 on_token: Callable[[int, str], None] | None = None):
        self.row, self.stops, self.on_token = row, stops, on_token
        self.ids: list[int] = []
        self.pos = 0  # ids[:pos] are fed
        self.out: list[int] = []

    def push(self, ids: Sequence[int]) -> None:
        self.ids.extend(int(t) for t in ids)
        self._feed(final=False)

    def close(self) -> None:
        self._feed(final=True)

    def _feed(self, final: bool) -> None:
        row, p, ids = self.row, self.row.plan, self.ids
        while self.pos < len(ids) and not row.done:
            pos, tok = self.pos, ids[self.pos]
            drawn = None
            if row.wants_sample():
                drawn = tok
                if self.stops is not None:
                    drawn = self.stops.get(pos, tok)
                elif refusing(row) and tok not in p.stop_ids:
                    ext = _extension(row)
                    ahead = ids[pos:pos + len(ext)]
                    if ext and not final and len(ahead) < len(ext) and ext[:len(ahead)] == ahead:
                        return  # may still be the extension: wait for more tokens
                    if ext and ahead == ext:
                        drawn = min(p.stop_ids)
            got = row.advance(drawn)
            if got != tok:
                raise ReplayError(f"token {pos} is {tok}, the budget appends {got} there")
            self.out.append(got)
            if self.on_token is not None:
                self.on_token(got, row.last_part)
            self.pos += 1


def _extension(row: RowBudget) -> list[int]:
    """The tokens a refusal would append now (the extension, cut to the thinking limit)."""
    p = row.plan
    ext = list(p.extend_ids[row.num_ignored % len(p.extend_ids)])
    if row.thinking_limit is not None:
        ext = ext[: row.thinking_limit - len(row.thinking)]
    return ext
