"""One eval record as a list of marked pieces: what the model wrote and what budget forcing put there.

    from s1.view.trace import pieces; pieces(record, on_turn_end="answer", answer_prefix="Final Answer:")
    # [["text", "1. Add 4 and 4"], ["extend", "Wait"], ["text", ", 8"], ["cut", "cut at 16 tokens"],
    #  ["delim", "forced end of thinking"], ["prefix", "Final Answer:"], ["answer", " 8"]]

A piece is [kind, text]. Kinds that hold thinking text (their texts joined give the record's `thinking`):
"text" (the model's own), "extend" (a forced extension string, e.g. "Wait", after a refused stop),
"marker" (a forced step-countdown marker). Zero-width marks (their text is a label): "stop" (the
model ended its thinking or its turn), "step" (a step ended), "cut" (thinking was cut at its limit).
After the thinking: "delim" (the end-of-thinking delimiter, forced or the model's own, as a label),
"prefix" (the answer prefix forced after a cut), "answer" (the model's answer).

Where an event happened in the text is its `char` (written by s1 eval since the records carry it);
older records only have `at`, a token count, and their extensions are found near the proportional
position instead.
"""

from __future__ import annotations

import re

from ..budget import BudgetConfig

CUT_ENDS = ("max_thinking", "context", "max_steps")  # thinking_end values of a cut
_MARKER = re.compile(re.escape(BudgetConfig().step_marker).replace(re.escape("{k}"), r"\d+"))
_ORDER = {"stop": 0, "step": 1, "extend": 2, "marker": 2, "cut": 3}  # at one position: labels before text


def _estimate(thinking: str, rec: dict, e: dict) -> int:
    """A char position for an event without `char`: proportional to its token position; an extension
    is looked for around there."""
    n = rec.get("thinking_tokens") or 0
    guess = round(e.get("at", 0) / n * len(thinking)) if n else 0
    if e.get("kind") == "extend" and e.get("text"):
        hits = [m.start() for m in re.finditer(re.escape(e["text"]), thinking)]
        if hits:
            return min(hits, key=lambda h: abs(h - guess))
    return min(max(guess, 0), len(thinking))


def _marks(rec: dict) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, text) of every forced piece and zero-width mark in the thinking."""
    thinking = rec.get("thinking") or ""
    marks = []
    for e in rec.get("events") or []:
        c = e.get("char")
        c = _estimate(thinking, rec, e) if not isinstance(c, int) else min(max(c, 0), len(thinking))
        kind = e.get("kind")
        if kind == "extend":
            text = e.get("text") or ""
            n = 0
            while n < len(text) and c + n < len(thinking) and thinking[c + n] == text[n]:
                n += 1  # an extension cut short by the budget is shorter than its string
            if n:
                marks.append((c, c + n, "extend", thinking[c:c + n]))
            else:
                marks.append((c, c, "stop", f"stop refused ({text!r} forced)"))
        elif kind == "cut":
            marks.append((c, c, "cut", f"cut at {e.get('at')} tokens"))
        elif kind == "step":
            marks.append((c, c, "step", "step ended"))
        elif kind in ("stop", "eos"):
            what = "ended its thinking" if kind == "stop" else "ended its turn"
            marks.append((c, c, "stop", f"model {what} at {e.get('at')} tokens"))
    if rec.get("thinking_steps") is not None:
        marks += [(m.start(), m.end(), "marker", m.group()) for m in _MARKER.finditer(thinking)]
    return sorted(marks, key=lambda m: (m[0], _ORDER.get(m[2], 9)))


def forced_answer(rec: dict, on_turn_end: str = "answer") -> bool:
    """Whether the delimiter and the answer prefix were forced (a cut, or an end of turn inside the
    thinking under on_turn_end="answer"), not the model's own end of thinking."""
    end = rec.get("thinking_end")
    return end in CUT_ENDS or (end == "eos" and on_turn_end == "answer")


def pieces(rec: dict, on_turn_end: str = "answer", answer_prefix: str | None = "Final Answer:") -> list[list[str]]:
    """The record's thinking and answer as [kind, text] pieces (see the module docstring)."""
    thinking = rec.get("thinking") or ""
    out: list[list[str]] = []
    pos = 0
    for start, end, kind, text in _marks(rec):
        if start < pos and start != end:  # a span overlapping the last one (damaged positions): dropped
            continue
        if start > pos:
            out.append(["text", thinking[pos:start]])
        out.append([kind, text])
        pos = max(pos, end)
    if pos < len(thinking):
        out.append(["text", thinking[pos:]])
    forced = forced_answer(rec, on_turn_end)
    end = rec.get("thinking_end") or "?"
    if forced:
        label = {"max_thinking": "forced end of thinking (budget reached)",
                 "context": "forced end of thinking (context window full)",
                 "max_steps": "forced end of thinking (no steps left)",
                 "eos": "forced end of thinking (the model ended its turn)"}.get(end, "forced end of thinking")
    else:
        label = "end of thinking (the model's own)" if end in ("stop", "eos") else f"end of thinking ({end})"
    out.append(["delim", label])
    answer = rec.get("answer") or ""
    if forced and answer_prefix and answer.startswith(answer_prefix):
        out.append(["prefix", answer_prefix])
        answer = answer[len(answer_prefix):]
    if answer:
        out.append(["answer", answer])
    return out


def shared_prefix(a: str, b: str) -> int:
    """Characters two thinking texts share from the start."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


__all__ = ["CUT_ENDS", "forced_answer", "pieces", "shared_prefix"]
