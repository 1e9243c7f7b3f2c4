"""Adaptive thinking policies as pure per-row state: no torch, no model, no budget import.

    from s1.policies import WaitSchedule, LoopDetector, Boundaries

`s1.budget.RowBudget` owns one of each it is configured for and asks them, token by token, what
to do; the answers are plain values (insert an extension, end the thinking, want a probe), which
RowBudget applies with its exact token accounting. So every driver of RowBudget (the in-process
engine, `s1 serve`, the vLLM processor) gets these policies without code of its own.

- `Boundaries`: where a step of the thinking ends (a blank line, across tokens).
- `WaitSchedule`: AlphaOne's shape: at each step boundary before `until` (a fraction of the
  thinking limit) insert an extension ("Wait") with probability p(t); past it, end the thinking at
  the next step boundary or extension word. Draws are a hash of (seed, the thinking so far): the
  same thinking gives the same decisions in any batch, driver or run.
- `LoopDetector`: an n-gram of sampled tokens seen `repeats` times, or a paragraph that repeats an
  earlier one verbatim, is a loop.
- `round_value`: per-round sampling settings (after the k-th refused stop).
"""

from __future__ import annotations

import math
import random
from collections import deque

SHAPES = ("constant", "linear")
LOOP_ACTIONS = ("end", "extend")
PROBE_MODES = ("prob", "agree")
MIN_PARAGRAPH = 4  # tokens: shorter paragraphs ("Wait.", "Hmm.") may repeat without being a loop


class PolicyError(ValueError):
    """A policy setting out of range or malformed (RowBudget turns it into a BudgetError)."""


# -- settings -------------------------------------------------------------------------------------

def parse_wait_schedule(spec: str) -> tuple[str, float, float]:
    """'SHAPE:P@UNTIL' -> (shape, p, until): e.g. 'linear:0.5@0.6' (p anneals from 0.5 to 0 at 60% of
    the thinking limit), 'constant:0.2@0.8'. A bare 'P@UNTIL' is linear."""
    text = str(spec).strip()
    shape, _, rest = text.rpartition(":") if ":" in text else ("linear", "", text)
    p_text, at, until_text = rest.partition("@")
    if shape not in SHAPES or not at:
        raise PolicyError(f"wait schedule {spec!r}: expected SHAPE:P@UNTIL with SHAPE one of "
                          f"{', '.join(SHAPES)}, e.g. linear:0.5@0.6")
    try:
        p, until = float(p_text), float(until_text)
    except ValueError:
        raise PolicyError(f"wait schedule {spec!r}: P and UNTIL must be numbers, e.g. linear:0.5@0.6") from None
    if not (math.isfinite(p) and 0 <= p <= 1):
        raise PolicyError(f"wait schedule {spec!r}: the probability must be in [0, 1], got {p_text}")
    if not (math.isfinite(until) and 0 < until <= 1):
        raise PolicyError(f"wait schedule {spec!r}: UNTIL is a fraction of the thinking limit in (0, 1], got {until_text}")
    return shape, p, until


def parse_break_loops(spec: str) -> tuple[int, int]:
    """'N:K' -> (n, k): an n-gram of sampled thinking tokens seen k times is a loop. 'N' alone: k = 3."""
    n_text, _, k_text = str(spec).strip().partition(":")
    try:
        n, k = int(n_text), int(k_text) if k_text else 3
    except ValueError:
        raise PolicyError(f"break loops {spec!r}: expected N:K (n-gram length, repeats), e.g. 12:3") from None
    if n < 2 or k < 2:
        raise PolicyError(f"break loops {spec!r}: the n-gram length and the repeats must both be >= 2")
    return n, k


def check_numbers(name: str, values, lo: float, hi: float, lo_open: bool = False) -> None:
    for v in values:
        ok = isinstance(v, (int, float)) and math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
        if not ok:
            bracket = "(" if lo_open else "["
            raise PolicyError(f"{name} must be in {bracket}{lo:g}, {hi:g}], got {v}")


def check(b) -> None:
    """Check a BudgetConfig's policy settings (raises PolicyError)."""
    needs_ext = False
    if b.wait_schedule is not None:
        parse_wait_schedule(b.wait_schedule)
        if b.max_thinking_tokens is None:
            raise PolicyError("a wait schedule needs max thinking tokens (it ends thinking at a fraction of them)")
        needs_ext = True
    if b.break_loops is not None:
        parse_break_loops(b.break_loops)
    if b.loop_action not in LOOP_ACTIONS:
        raise PolicyError(f"loop action must be one of {', '.join(LOOP_ACTIONS)}, got {b.loop_action!r}")
    needs_ext |= b.break_loops is not None and b.loop_action == "extend"
    if needs_ext and (not b.extend or any(not s for s in b.extend)):
        raise PolicyError("extension strings must be non-empty (e.g. 'Wait')")
    check_numbers("round temperatures", b.round_temperatures, 0, 100)
    check_numbers("round top_p", b.round_top_p, 0, 1, lo_open=True)
    check_numbers("the extension penalty", (b.extend_penalty,), 0, 100)
    if b.early_exit is not None:
        check_numbers("the early-exit threshold", (b.early_exit,), 0, 1, lo_open=True)
    if not 1 <= b.probe_tokens <= 64:
        raise PolicyError(f"probe tokens must be in [1, 64], got {b.probe_tokens}")
    if b.probe_mode not in PROBE_MODES:
        raise PolicyError(f"probe mode must be one of {', '.join(PROBE_MODES)}, got {b.probe_mode!r}")
    if b.early_exit is not None and b.probe_tokens >= b.max_answer_tokens:
        raise PolicyError(f"probe tokens ({b.probe_tokens}) must be fewer than max answer tokens ({b.max_answer_tokens})")
    if b.probe_gap < 1:
        raise PolicyError(f"probe gap must be >= 1 token, got {b.probe_gap}")


def round_value(values: tuple[float, ...], round_: int, default: float) -> float:
    """The setting of round `round_` (0 = before any refused stop): the base setting, then the list
    (its last value repeats)."""
    if round_ == 0 or not values:
        return default
    return values[min(round_, len(values)) - 1]


# -- per-row state ------------------------------------------------------------------------------

class Boundaries:
    """Step boundaries of the thinking: a blank line ends a step, whether written as '\\n\\n' in one
    token or as newlines across tokens."""

    def __init__(self):
        self.newlines = 0  # newlines ending the text so far

    def feed(self, text: str) -> bool:
        body = text.strip("\n")
        before = self.newlines
        if not body:
            self.newlines += len(text)
            return before < 2 <= self.newlines
        head = len(text) - len(text.lstrip("\n"))
        self.newlines = len(text) - len(text.rstrip("\n"))
        return before < 2 <= before + head or "\n\n" in body or self.newlines >= 2


class WaitSchedule:
    """Decides, at a step boundary, whether to insert an extension, do nothing, or end the thinking."""

    def __init__(self, spec: str, limit: int, seed: int = 0):
        self.shape, self.p, self.until = parse_wait_schedule(spec)
        self.limit, self.seed = limit, seed

    def probability(self, n: int) -> float:
        t = n / self.limit if self.limit else 1.0
        if t >= self.until:
            return 0.0
        return self.p if self.shape == "constant" else self.p * (1 - t / self.until)

    def past(self, n: int) -> bool:
        """Past the point where the schedule ends the thinking at the next chance."""
        return not self.limit or n >= self.until * self.limit

    def draw(self, thinking_hash: int) -> float:
        return random.Random(hash((self.seed, thinking_hash))).random()

    def decide(self, n: int, thinking_hash: int) -> str | None:
        """'end', 'wait' or None at a boundary after n thinking tokens."""
        if self.past(n):
            return "end"
        return "wait" if self.draw(thinking_hash) < self.probability(n) else None


class LoopDetector:
    """Repeated n-grams of sampled tokens and repeated paragraphs of the thinking."""

    def __init__(self, n: int, repeats: int):
        self.n, self.repeats = n, repeats
        self.window: deque[int] = deque(maxlen=n)
        self.counts: dict[tuple[int, ...], int] = {}
        self.paragraphs: set[tuple[int, ...]] = set()
        self.paragraph: list[int] = []

    def reset(self) -> None:
        self.window.clear()
        self.counts.clear()

    def sampled(self, tok: int) -> bool:
        """A sampled thinking token; True when the n-gram it ends has now been seen `repeats` times."""
        self.window.append(tok)
        if len(self.window) < self.n:
            return False
        key = tuple(self.window)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] >= self.repeats

    def token(self, tok: int) -> None:
        """Any thinking token (forced ones too): part of the current paragraph."""
        self.paragraph.append(tok)

    def boundary(self) -> bool:
        """A paragraph ended; True when it repeats an earlier one verbatim."""
        para, self.paragraph = tuple(self.paragraph), []
        if len(para) < MIN_PARAGRAPH:
            return False
        seen = para in self.paragraphs
        self.paragraphs.add(para)
        return seen


class RowPolicies:
    """The policy state of one row. `RowBudget` feeds it every thinking token (`track`), asks it about
    each sampled one (`after_sample`) and applies the answer with its exact accounting."""

    def __init__(self, b, limit: int, extend_ids: tuple[tuple[int, ...], ...], token_text):
        self.b, self.text, self.n_ext = b, token_text, len(extend_ids)
        self.bounds = Boundaries()
        self.boundary = self.para_repeat = False
        self.hash = 0  # of the thinking so far: seeds the wait schedule's draws
        self.wait = WaitSchedule(b.wait_schedule, limit, b.policy_seed) if b.wait_schedule else None
        self.loops = LoopDetector(*parse_break_loops(b.break_loops)) if b.break_loops else None
        self.loop_exts = self.waits = 0
        self.words = {s.strip().strip(".,!?:;").lower() for s in b.extend}
        self.ext_ids = {t for ids in extend_ids for t in ids}
        self.ext_count: dict[int, int] = {}  # extension tokens in the thinking (the frequency penalty)
        self.last_probe = 0  # the first probe comes probe_gap tokens into the thinking

    def is_word(self, tok: int) -> bool:
        """An extension word ("Wait", " wait,") as a token."""
        return self.text(tok).strip().strip(".,!?:;").lower() in self.words

    def ends_at_word(self, tok: int, n: int) -> bool:
        """Past the wait schedule's point, the model's own extension word becomes the end of thinking."""
        return self.wait is not None and self.wait.past(n) and self.is_word(tok)

    def track(self, tok: int) -> None:
        """Any thinking token, sampled or forced."""
        self.hash = hash((self.hash, tok))
        if tok in self.ext_ids:
            self.ext_count[tok] = self.ext_count.get(tok, 0) + 1
        self.boundary = self.bounds.feed(self.text(tok))
        if self.loops is not None:
            self.loops.token(tok)
            if self.boundary:
                self.para_repeat = self.loops.boundary()

    def after_sample(self, tok: int, n: int, probing: bool):
        """After a sampled thinking token (n thinking tokens so far): None, "probe", or
        (event kind, event text, extension index to append, or the thinking_end to force)."""
        b = self.b
        if self.loops is not None:
            kind = "ngram" if self.loops.sampled(tok) else "paragraph" if self.para_repeat else None
            self.para_repeat = False
            if kind:
                if b.loop_action == "extend" and self.loop_exts < self.n_ext:
                    self.loops.reset()
                    self.loop_exts += 1
                    return "loop", kind, self.loop_exts - 1, None
                return "loop", kind, None, "loop"
        if not (self.boundary or self.is_word(tok)):
            return None
        if self.wait is not None:
            what = self.wait.decide(n, self.hash)
            if what == "end":
                return "schedule_end", "", None, "wait_schedule"
            if what == "wait" and self.boundary:
                i = self.waits % self.n_ext
                self.waits += 1
                return "wait", b.extend[i], i, None
        if b.early_exit is not None and not probing and n - self.last_probe >= b.probe_gap:
            return "probe"
        return None
