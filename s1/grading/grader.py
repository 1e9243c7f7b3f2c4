"""grade(): one model answer against its gold, every step bounded in time; a failure grades as wrong.

    from s1.grading import grade; grade(r"so \\boxed{\\dfrac12}", "0.5").correct  # True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .check import CheckError, check
from .extraction import GradingError, check_kind
from .judge import Judge


@dataclass(frozen=True)
class Verdict:
    """extracted: the answer taken from the answer text (None: nothing found, or not in time).
    method: how it was decided: "math-verify", "exact" (normalised strings equal), "integer",
    "choice", "judge", "reasoning-gym" (the dataset's own verifier), "none" (nothing extracted: wrong),
    "timeout" (not decided within the time limit: wrong), "error" (the answer broke a step, e.g. an
    integer of over 4300 digits: wrong).
    reason: for "timeout" and "error", why, in one line; else None."""

    extracted: str | None
    correct: bool
    method: str
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def grade(answer_text: str, gold: str, kind: str = "math", timeout: float = 5.0,
          judge: Judge | None = None, verifier: dict | None = None) -> Verdict:
    """Extract the final answer from `answer_text` and compare it with `gold`.

    timeout: hard wall-clock limit (seconds) on extraction plus comparison, run in the check
    worker; past it the verdict is wrong with method "timeout". Another thread's call in flight is
    waited for first. Nothing the answer text contains makes this raise: a failure is a wrong
    verdict with its reason. GradingError is only for the caller's mistakes: an unknown kind, a
    timeout <= 0, a gold answer that does not fit its kind, a judge that does not answer, no math-verify.
    judge: for kind "math", asked only when an answer was extracted and the deterministic check says
    wrong; it then decides (method "judge").
    verifier: for kind "rg" (required there): the question's reasoning-gym verifier, {dataset, config,
    entry} (an rg: task's question carries it in metadata["rg"]); the dataset's own score_answer decides,
    score 1.0 is correct (method "reasoning-gym"), and `gold` is only shown.
    """
    check_kind(kind)
    if not timeout > 0:
        raise GradingError(f"grading timeout must be > 0 seconds, got {timeout}")
    gold = str(gold)
    if kind == "rg":
        if not isinstance(verifier, dict) or "dataset" not in verifier or "entry" not in verifier:
            raise GradingError("kind rg is graded by reasoning-gym's verifier: pass verifier={dataset, config, entry} "
                               "(an rg: question carries it in metadata['rg'])")
        gold = json.dumps(verifier)
    try:
        extracted, reply = check(answer_text or "", gold, kind, float(timeout))
    except CheckError as e:
        raise GradingError(str(e)) from None
    status = reply[0]
    if status in ("gold", "setup"):
        raise GradingError(reply[1])
    if status == "timeout":
        verdict = Verdict(extracted, False, "timeout", f"not decided within {timeout:g} s (while {reply[1]})")
    elif status == "error":
        verdict = Verdict(extracted, False, "error", reply[1])
    else:
        verdict = Verdict(extracted, bool(reply[1]), reply[2])
    if judge is not None and kind == "math" and extracted is not None and not verdict.correct:
        return Verdict(extracted, judge.equivalent(extracted, gold), "judge")
    return verdict


def grade_many(items: list[tuple[str, str, str]], timeout: float = 5.0,
               judge: Judge | None = None) -> list[Verdict]:
    """grade() over (answer_text, gold, kind) triples, in order, through the one shared helper."""
    return [grade(text, gold, kind, timeout, judge) for text, gold, kind in items]
