"""Budget forcing as a per-row state machine over token ids: no torch, no model.

Every backend drives it the same way: ask a row whether it wants a sampled token, feed it the
sample (or nothing), and append whatever token `advance` returns. See `RowBudget.advance`.

Why the sampled stop is *replaced* rather than masked
-----------------------------------------------------
The reference algorithm samples until the model emits an end-of-thinking token, drops that token,
appends the extension string ("Wait") and asks the model to go on. Our loop does the same in one
pass: the stop token is drawn from the model's full, unmodified distribution and only then swapped
for the extension tokens. So, given the same prefix, the probability that the model "tries to stop"
at a position, and the distribution of everything it writes after the extension, are exactly those
of the reference algorithm; only the KV cache is reused instead of re-running the prompt.
Masking the stop token's logit instead (as min-token features of some engines do) renormalises the
remaining tokens and never shows the model its own attempt to stop, which is a different process:
the model never writes "Wait" and its continuation distribution shifts. tests/test_engine.py checks
this statistically on a tiny model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

from . import policies
from .policies import PolicyError, RowPolicies, round_value

THINK, DELIM, ANSWER, DONE = "think", "delim", "answer", "done"
MARK = "mark"  # a forced step-countdown marker: thinking text that does not count as a step
TURN_END = ("answer", "delimiter")  # BudgetConfig.on_turn_end choices


class BudgetError(ValueError):
    """A budget setting a user can get wrong (negative, min > max, beyond the context...)."""


@dataclass(frozen=True)
class BudgetConfig:
    """How many tokens a model may (or must) think, and how long it may answer.

    max_thinking_tokens: cut thinking at this many tokens (None: only the context window limits it).
    min_thinking_tokens: refuse to end thinking before this many tokens.
    num_ignore: refuse the first k attempts to end thinking, whatever their length.
    extend: strings appended when an attempt is refused; a list rotates ("Wait", "Hmm", ...).
    answer_prefix: text forced after a *cut* (not after a natural end), e.g. "Final Answer:".
    on_turn_end: what an end of turn (eos) sampled inside the thinking becomes: "answer" forces the
      delimiter and the answer prefix as after a cut, so the model still writes an answer (small
      models often end their turn right after thinking starts); "delimiter" forces only the
      delimiter, as the s1 reference does (the model may then end its answer at once).
    max_answer_tokens: limit of the answer phase (the forced prefix counts toward it).
    max_steps: step-conditional control: steps are paragraphs (ended by a blank line); the
      thinking opens with `step_marker` for N steps and a new marker counts down after each step.
    stop_at_zero_steps: when the countdown reaches 0, end thinking (the forcing variant).
    Thinking tokens count every token of the thinking as it ends up in the trace, extension
    strings included, so a budget is exact.

    Adaptive policies, all off by default (s1/policies.py describes them): wait_schedule
    ('linear:0.5@0.6') + policy_seed, break_loops ('12:3') + loop_action (end | extend),
    round_temperatures / round_top_p (thinking sampling after the k-th refused stop), extend_penalty
    (frequency penalty on the extension words), early_exit (threshold of a trial answer's confidence,
    probed on a fork by s1/early_exit.py) with probe_tokens, probe_mode (prob | agree), probe_gap.
    """

    max_thinking_tokens: int | None = None
    min_thinking_tokens: int = 0
    num_ignore: int = 0
    extend: tuple[str, ...] = ("Wait",)
    answer_prefix: str | None = "Final Answer:"
    max_answer_tokens: int = 512
    max_steps: int | None = None
    stop_at_zero_steps: bool = True
    step_marker: str = "<|im_start|>{k} steps left\n"
    on_turn_end: str = "answer"
    wait_schedule: str | None = None
    policy_seed: int = 0
    break_loops: str | None = None
    loop_action: str = "end"
    round_temperatures: tuple[float, ...] = ()
    round_top_p: tuple[float, ...] = ()
    extend_penalty: float = 0.0
    early_exit: float | None = None
    probe_tokens: int = 8
    probe_mode: str = "prob"
    probe_gap: int = 32

    def __post_init__(self):
        if isinstance(self.extend, str):
            object.__setattr__(self, "extend", (self.extend,))
        else:
            object.__setattr__(self, "extend", tuple(self.extend))
        for name in ("round_temperatures", "round_top_p"):  # lists after a JSON round trip
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def adaptive(self) -> bool:
        """Any policy that watches the thinking token by token."""
        return bool(self.wait_schedule or self.break_loops or self.early_exit is not None or self.extend_penalty)

    def validate(self) -> "BudgetConfig":
        m, lo = self.max_thinking_tokens, self.min_thinking_tokens
        if m is not None and m < 0:
            raise BudgetError(f"max thinking tokens must be >= 0, got {m}")
        if lo < 0:
            raise BudgetError(f"min thinking tokens must be >= 0, got {lo}")
        if self.num_ignore < 0:
            raise BudgetError(f"num_ignore must be >= 0, got {self.num_ignore}")
        if m is not None and lo > m:
            raise BudgetError(f"min thinking tokens ({lo}) is larger than max thinking tokens ({m})")
        if self.on_turn_end not in TURN_END:
            raise BudgetError(f"on_turn_end must be one of {', '.join(TURN_END)}, got {self.on_turn_end!r}")
        if self.max_answer_tokens < 1:
            raise BudgetError(f"max answer tokens must be >= 1, got {self.max_answer_tokens}")
        if self.max_steps is not None and self.max_steps < 0:
            raise BudgetError(f"max steps must be >= 0, got {self.max_steps}")
        if self.max_steps is not None and "{k}" not in self.step_marker:
            raise BudgetError("the step marker must contain {k} (the steps left)")
        if (lo > 0 or self.num_ignore > 0) and (not self.extend or any(not s for s in self.extend)):
            raise BudgetError("extension strings must be non-empty (e.g. 'Wait')")
        try:
            policies.check(self)
        except PolicyError as e:
            raise BudgetError(str(e)) from None
        return self


@dataclass(frozen=True)
class ForcingPlan:
    """A BudgetConfig resolved to token ids of one tokenizer and thinking template."""

    budget: BudgetConfig
    stop_ids: frozenset[int]  # an attempt to end thinking: first token of think_end, end of turn
    think_end_ids: tuple[int, ...]  # the full end-of-thinking delimiter
    eot_ids: frozenset[int]  # end of the answer (end of turn / eos)
    extend_ids: tuple[tuple[int, ...], ...]
    answer_prefix_ids: tuple[int, ...]
    separator_ids: tuple[int, ...] = ()  # put before a forced think_end unless thinking ends with it
    ends_with_separator: Callable[[int], bool] = field(default=lambda t: True, compare=False)
    step_marker_ids: tuple[tuple[int, ...], ...] = ()  # marker for k steps left, k = 0..max_steps
    token_text: Callable[[int], str] = field(default=lambda t: "", compare=False)

    def reserved_after_thinking(self) -> int:
        """Tokens a row may still need after its thinking: delimiter, prefix and the answer."""
        b = self.budget
        return len(self.separator_ids) + len(self.think_end_ids) + b.max_answer_tokens


@dataclass
class Event:
    kind: str  # "extend" (a stop was refused), "stop", "eos", "cut", "step" (a step ended)
    at: int  # thinking tokens so far when it happened
    text: str = ""

    def as_dict(self) -> dict:
        d = {"kind": self.kind, "at": self.at}
        if self.text:
            d["text"] = self.text
        return d


class RowBudget:
    """The forcing state of one row. Feed it one token per decode step via `advance`.

    `room` is how many tokens the row may still add before the context window is full; thinking
    is then cut early enough that the delimiter, prefix and answer still fit.
    """

    def __init__(self, plan: ForcingPlan, room: int | None = None):
        self.plan = plan
        b = plan.budget
        cap = b.max_thinking_tokens
        self.cap_reason = "max_thinking"
        if room is not None:
            room_cap = room - plan.reserved_after_thinking()
            if cap is None or room_cap < cap:
                cap, self.cap_reason = max(room_cap, 0), "context"
        # the row's own thinking limit: the budget's max_thinking_tokens, lowered to what the context leaves
        self.thinking_limit = cap
        self.phase = THINK
        self.thinking: list[int] = []
        self.answer: list[int] = []
        self.delim: list[int] = []
        self.queue: deque[tuple[int, str]] = deque()
        self.num_ignored = 0
        self.cut = False
        self.thinking_end: str | None = None  # stop | eos | max_thinking | context | max_steps
        self.finish_reason: str | None = None  # stop | length
        self.last_part: str | None = None  # think | delim | answer: where the last appended token went
        self.events: list[Event] = []
        self.steps_left = b.max_steps
        self.steps = 0  # steps completed (blank lines written), counted only under step control
        self._newlines = 0  # newlines ending the thinking so far (a blank line ends a step)
        # adaptive policies (s1/policies.py); probe_* are read and written by a forking driver (s1/early_exit.py)
        self.probe_wanted = False  # a step boundary / extension word asks for a trial answer
        self.probing = False
        self.probes = 0
        self.probe_tokens = 0  # tokens decoded by discarded trial answers (never part of the trace)
        self.last_trial: tuple[int, ...] | None = None
        self._exit: float | None = None  # a probe passed: end the thinking at the next sampled token
        self._pol = RowPolicies(b, cap or 0, plan.extend_ids, plan.token_text) if b.adaptive else None
        if b.max_steps is not None:
            if b.max_steps == 0 and b.stop_at_zero_steps:
                self.cap_reason = "max_steps"
                cap = self.thinking_limit = 0
            else:
                self._queue_marker()
        self._check_cut()

    # -- what the backend asks ------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.phase == DONE

    def wants_sample(self) -> bool:
        """False when the next token is forced (or the row is done): skip sampling it."""
        return self.phase != DONE and not self.queue

    @property
    def sampling_phase(self) -> str:
        """Which sampling settings apply to the next sampled token: 'think' or 'answer'."""
        return THINK if self.phase == THINK else ANSWER

    def round_sampling(self, cfg):
        """`cfg` (a SamplingConfig) with this round's thinking temperature / top_p: after the k-th
        refused stop, round_temperatures[k-1] (the last repeats)."""
        b = self.plan.budget
        if self.phase != THINK or not self.num_ignored or not (b.round_temperatures or b.round_top_p):
            return cfg
        return replace(cfg, temperature=round_value(b.round_temperatures, self.num_ignored, cfg.temperature),
                       top_p=round_value(b.round_top_p, self.num_ignored, cfg.top_p))

    def logit_bias(self) -> dict[int, float] | None:
        """Additive logits for the next draw: the extension penalty times each extension token's count."""
        pen = self.plan.budget.extend_penalty
        if not pen or self.phase != THINK or not self._pol.ext_count:
            return None
        return {t: -pen * c for t, c in self._pol.ext_count.items()}

    # -- early exit: a driver that forks rows runs the probes ------------------------------------
    def start_probe(self) -> tuple[int, ...]:
        """A trial answer starts now on a fork: the tokens it forces (separator, delimiter, prefix)."""
        self.probe_wanted, self.probing = False, True
        self.probes += 1
        self._pol.last_probe = len(self.thinking)
        return self.forced_end_ids()

    def probe_result(self, confidence: float, trial: tuple[int, ...], tokens: int) -> bool:
        """The fork's verdict: True when the thinking ends (at the next sampled token)."""
        b = self.plan.budget
        self.probing = False
        self.probe_tokens += tokens
        agree = b.probe_mode == "prob" or (self.last_trial is not None and trial == self.last_trial)
        self.last_trial = trial
        passed = agree and confidence >= b.early_exit and self.phase == THINK
        self.events.append(Event("probe", len(self.thinking), f"{confidence:.3f}" + (" exit" if passed else "")))
        if passed:
            self._exit = confidence
        return passed

    # -- the state machine ----------------------------------------------------------------
    def advance(self, sampled: int | None) -> int:
        """Return the token appended to the sequence at this step.

        `sampled` is the model's own draw for this step; pass None when `wants_sample()` is False.
        """
        if self.phase == DONE:
            raise RuntimeError("advance() on a finished row")
        if self.queue:
            tok, dest = self.queue.popleft()
            self._record(tok, dest)
            return tok
        if sampled is None:
            raise RuntimeError("this row needs a sampled token")
        p, b = self.plan, self.plan.budget
        if self.phase == THINK:
            if self._exit is not None:  # a probe passed: this draw becomes the end of thinking
                self._force_answer("early_exit")
                return self.advance(None)
            if sampled in p.stop_ids:
                n = len(self.thinking)
                if self.num_ignored < b.num_ignore or n < b.min_thinking_tokens:
                    i = self.num_ignored % len(p.extend_ids)
                    self.num_ignored += 1
                    self.events.append(Event("extend", n, b.extend[i]))
                    self._queue_extension(i)
                else:
                    # a natural end: the model's own stop token becomes the full delimiter
                    kind = "stop" if sampled == p.think_end_ids[0] else "eos"
                    self.events.append(Event(kind, n))
                    if kind == "eos" and b.on_turn_end == "answer":
                        self._force_answer(kind)  # the turn ended with no answer: open one as after a cut
                    else:
                        self.thinking_end = kind
                        self.phase = DELIM
                        self.queue.extend((t, DELIM) for t in p.think_end_ids)
                return self.advance(None)
            if self._pol is not None and self._pol.ends_at_word(sampled, len(self.thinking)):
                # past the schedule's point the model's own extension word becomes the end of thinking
                self.events.append(Event("schedule_end", len(self.thinking)))
                self._force_answer("wait_schedule")
                return self.advance(None)
            self._record(sampled, THINK)
            if self._pol is not None and self.phase == THINK and not self.queue:
                self._after_sample(sampled)
            return sampled
        # answer phase
        if sampled in p.eot_ids:
            self.phase, self.finish_reason = DONE, "stop"
            self.last_part = DELIM  # the end of turn closes the answer; it is not part of it
            return sampled
        self._record(sampled, ANSWER)
        return sampled

    def _queue_extension(self, i: int) -> None:
        ext = self.plan.extend_ids[i]
        if self.thinking_limit is not None:
            ext = ext[: self.thinking_limit - len(self.thinking)]  # the budget stays exact
        if ext:
            self.queue.extend((t, THINK) for t in ext)
        else:
            self._schedule_cut()

    def _after_sample(self, tok: int) -> None:
        """Apply what the policies make of a sampled thinking token (no forced token pending)."""
        act = self._pol.after_sample(tok, len(self.thinking), self.probing)
        if act == "probe":
            self.probe_wanted = True
        elif act is not None:
            kind, text, ext, end = act
            self.events.append(Event(kind, len(self.thinking), text))
            if end:
                self._force_answer(end)
            else:
                self._queue_extension(ext)

    def _queue_marker(self) -> None:
        ids = self.plan.step_marker_ids[self.steps_left]
        if self.thinking_limit is not None:
            ids = ids[: self.thinking_limit - len(self.thinking)]  # the budget stays exact
        self.queue.extend((t, MARK) for t in ids)

    def _count_step(self, tok: int) -> None:
        """A step ends where a blank line is written (two newlines in a row, across tokens)."""
        text = self.plan.token_text(tok)
        body = text.strip("\n")
        before = self._newlines
        if not body:
            self._newlines += len(text)
            ended = before < 2 <= self._newlines
        else:
            head = len(text) - len(text.lstrip("\n"))
            self._newlines = len(text) - len(text.rstrip("\n"))
            ended = before < 2 <= before + head or "\n\n" in body or self._newlines >= 2
        if not ended:
            return
        self.steps += 1
        self.events.append(Event("step", len(self.thinking)))
        if self.steps_left is None or self.steps_left <= 0:
            return  # past zero without the forced stop: no more markers
        self.steps_left -= 1
        if self.steps_left == 0 and self.plan.budget.stop_at_zero_steps:
            self.cap_reason = "max_steps"
            self._schedule_cut()
        else:
            self._queue_marker()

    def _record(self, tok: int, dest: str) -> None:
        self.last_part = THINK if dest == MARK else dest
        if dest == MARK:
            self.thinking.append(tok)
            self._newlines = 0
            if not any(d == MARK for _, d in self.queue):
                self._check_cut()
        elif dest == THINK:
            self.thinking.append(tok)
            if self._pol is not None:
                self._pol.track(tok)
            if self.steps_left is not None:
                self._count_step(tok)
            self._check_cut()
        elif dest == DELIM:
            self.delim.append(tok)
            if not any(d == DELIM for _, d in self.queue):
                self.phase = ANSWER
        else:
            self.answer.append(tok)
            if self.phase == DELIM:
                self.phase = ANSWER
        if self.phase == ANSWER and len(self.answer) >= self.plan.budget.max_answer_tokens:
            self.phase, self.finish_reason = DONE, "length"
            self.queue.clear()

    def _check_cut(self) -> None:
        if (
            self.phase == THINK
            and self.thinking_limit is not None
            and len(self.thinking) >= self.thinking_limit
            and not self.queue
        ):
            self._schedule_cut()

    def _schedule_cut(self) -> None:
        self.cut = True
        self.events.append(Event("cut", len(self.thinking)))
        self._force_answer(self.cap_reason)

    def forced_end_ids(self) -> tuple[int, ...]:
        """What ending the thinking now forces: separator (if needed), delimiter and answer prefix."""
        p = self.plan
        sep = p.separator_ids
        if sep and (not self.thinking or p.ends_with_separator(self.thinking[-1])):
            # thinking that is empty starts right after think_start, which ends the line already
            sep = ()
        return (*sep, *p.think_end_ids, *p.answer_prefix_ids)

    def _force_answer(self, reason: str) -> None:
        """End the thinking for `reason`: separator (if needed), delimiter and answer prefix."""
        self.thinking_end = reason
        self.phase = DELIM
        ids = self.forced_end_ids()
        n_prefix = len(self.plan.answer_prefix_ids)
        cut = len(ids) - n_prefix
        self.queue.extend((t, DELIM) for t in ids[:cut])
        self.queue.extend((t, ANSWER) for t in ids[cut:])
