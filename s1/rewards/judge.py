"""An LLM judge as a process reward model: any OpenAI-compatible endpoint rates each step from 0 to 10.

    from s1.rewards import load_reward; load_reward("judge:http://127.0.0.1:8000/v1:qwen")

Each step is rated in the context of the question and the steps before it ("is the latest step
correct and useful?"); the reply's number / 10 is the score (a reply with no number scores 0.5).
Ratings are remembered per (question, steps so far), so a search that scores a growing solution
asks only about its new steps. The HTTP client, retries and error lines are the grading judge's.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from . import RewardError

RATE_SYSTEM = "You grade steps of solutions to math problems. Reply with one integer from 0 to 10."
RATE_PROMPT = (
    "Problem:\n{question}\n\n"
    "Solution so far:\n{before}\n\n"
    "Latest step:\n{step}\n\n"
    "Rate the latest step from 0 (wrong or useless) to 10 (correct and moves towards the answer). "
    "Reply with the integer only."
)
_NUMBER_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)")
_THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.S)


def parse_rating(reply: str) -> float | None:
    """The first number of a reply as a score in [0, 1] (ratings are out of 10); None when there is none."""
    m = _NUMBER_RE.search(_THINK_RE.sub(" ", reply or ""))
    return None if m is None else min(max(float(m.group(1)) / 10.0, 0.0), 1.0)


class JudgeReward:
    per_step = True

    def __init__(self, name: str, base_url: str, model: str, workers: int = 8):
        from ..grading import Judge

        self.name, self.tokens_scored = name, 0  # the endpoint's tokens are not ours to count: 0
        self.judge = Judge(base_url, model, max_tokens=8)
        self.workers = workers
        self.memo: dict[tuple, float] = {}
        self.unparsed = 0  # replies without a number (scored 0.5)
        self.lock = threading.Lock()

    def rate(self, question: str, steps: tuple[str, ...]) -> float:
        from ..grading import GradingError

        before = "\n\n".join(steps[:-1]) or "(nothing yet)"
        msgs = [{"role": "system", "content": RATE_SYSTEM},
                {"role": "user", "content": RATE_PROMPT.format(question=question, before=before, step=steps[-1])}]
        try:
            value = parse_rating(self.judge.ask(msgs))
        except GradingError as e:
            raise RewardError(f"reward judge: {e}") from None
        if value is None:
            with self.lock:
                self.unparsed += 1
            value = 0.5
        return value

    def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        keys = [[(q, tuple(str(s).strip() for s in steps[: k + 1])) for k in range(len(steps))] for q, steps in items]
        todo = list(dict.fromkeys(k for row in keys for k in row if k not in self.memo))
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
                for key, value in zip(todo, pool.map(lambda k: self.rate(*k), todo)):
                    self.memo[key] = value
        return [[self.memo[k] for k in row] for row in keys]

    def close(self) -> None:
        self.judge.close()
