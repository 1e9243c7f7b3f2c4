"""One choice of an `s1 serve` request: its row's tokens turned into text deltas for the reply.

`TextStream` detokenizes incrementally and holds back text that may begin a stop string; `Choice`
routes each token to the thinking (`reasoning_content`) or the answer and settles the finish reason.
With thinking, chat and completions alike keep the two apart: the answer is `content` (chat) or `text`
(completions), stop strings apply to it only. A plain completion (no thinking) is all `text`.
"""

from __future__ import annotations

from ..budget import RowBudget
from .protocol import GenRequest


class TextStream:
    """Incremental detokenization of a token stream, holding back text that may begin a stop string.

    `push(token)` returns the new text that is safe to show; `stopped` turns True when a stop string
    appears (the text is cut before it); `flush()` returns what was held back at the end.
    """

    def __init__(self, tokenizer, stops: list[str] = ()):
        self.tok, self.stops = tokenizer, list(stops)
        self.ids: list[int] = []
        self._prefix = self._read = 0  # decode window: ids[_prefix:_read] is already text
        self.text = ""  # all decoded text so far
        self.sent = 0  # characters of `text` already returned
        self.stopped = False

    def push(self, token: int) -> str:
        if self.stopped:
            return ""
        self.ids.append(token)
        before = self.tok.decode(self.ids[self._prefix:self._read])
        now = self.tok.decode(self.ids[self._prefix:])
        if len(now) <= len(before) or now.endswith("\ufffd"):
            return ""  # an incomplete character: wait for the next token
        self.text += now[len(before):]
        self._prefix, self._read = self._read, len(self.ids)
        return self._release(final=False)

    def flush(self) -> str:
        return "" if self.stopped else self._release(final=True)

    def _release(self, final: bool) -> str:
        if self.stops:
            start = max(0, self.sent - max(len(s) for s in self.stops))
            hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
            if hits:
                self.text, self.stopped = self.text[:min(hits)], True
                final = True
        end = len(self.text)
        if not final and self.stops:  # keep back a tail that could still grow into a stop string
            for s in self.stops:
                for k in range(min(len(s) - 1, end - self.sent), 0, -1):
                    if self.text.endswith(s[:k]):
                        end = min(end, len(self.text) - k)
                        break
        out = self.text[self.sent:end]
        self.sent = end
        return out


class Choice:
    """One choice of a request: its row, its text streams and counts."""

    def __init__(self, index: int, ids: list[int], row, tokenizer, req: GenRequest, chat: bool, hidden=frozenset()):
        self.index, self.ids, self.row, self.chat, self.hidden = index, ids, row, chat, hidden
        self.think = TextStream(tokenizer)
        self.body = TextStream(tokenizer, req.stops)  # the answer (a plain completion: the whole continuation)
        self.split = chat or isinstance(row, RowBudget)  # thinking and answer go to separate fields
        self.answer_field = "content" if chat else "text"
        self.out: list[int] = []
        self.thinking_tokens = 0
        self.finish: str | None = None
        self.events: list[tuple[str, str, list[int]]] = []  # (field, text, token ids) deltas not yet sent

    def on_token(self, tok: int, part: str) -> None:
        if self.body.stopped or (part == "answer" and tok in self.hidden):
            return  # past a stop string, or the end of turn that closed the answer
        self.out.append(tok)
        if part == "think":
            self.thinking_tokens += 1
        if self.split:
            if part == "think":
                self._add("reasoning_content", self.think.push(tok), tok)
            elif part == "answer":
                self._add(self.answer_field, self.body.push(tok), tok)
        else:
            self._add("text", self.body.push(tok), tok)

    def _add(self, name: str, text: str, tok: int) -> None:
        if self.events and self.events[-1][0] == name:
            _, t, ids = self.events[-1]
            self.events[-1] = (name, t + text, ids + [tok])
        else:
            self.events.append((name, text, [tok]))

    def close(self) -> None:
        """The row ended (or a stop string cut it): flush held text and settle the finish reason."""
        if self.split:
            rest = self.think.flush()
            if rest:
                self.events.append(("reasoning_content", rest, []))
        rest = self.body.flush()
        if rest:
            self.events.append((self.answer_field, rest, []))
        self.finish = "stop" if self.body.stopped else (self.row.finish_reason or "stop")

    def info(self) -> dict:
        r = self.row
        if isinstance(r, RowBudget):
            return {"thinking_tokens": len(r.thinking), "answer_tokens": len(r.answer), "num_ignored": r.num_ignored,
                    "thinking_cut": r.cut, "thinking_end": r.thinking_end}
        return {"completion_tokens": len(self.out)}
