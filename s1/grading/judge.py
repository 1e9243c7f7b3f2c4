"""The optional LLM judge: asks any OpenAI-compatible endpoint whether two answers agree.

    from s1.grading import Judge; Judge("http://localhost:8000/v1", "qwen").equivalent("1/2", "0.5")
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from .extraction import GradingError

# Our wording. The candidate is the extracted final answer, not the whole response: short, cheap,
# and it gives the response no room to argue with the judge.
JUDGE_SYSTEM = "You check answers to math problems. Reply with a single word: YES or NO."
JUDGE_PROMPT = (
    "Reference answer: {gold}\n"
    "Candidate answer: {answer}\n\n"
    "Do the two answers state the same mathematical value or object? Ignore notation and formatting "
    "(fractions vs decimals, equivalent algebraic forms, units written or not, surrounding words). "
    "A different value, a missing part, or an extra incorrect part means NO. Reply YES or NO."
)
_YES_NO_RE = re.compile(r"\b(yes|no)\b", re.I)
_THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.S)


@dataclass
class Judge:
    """An LLM judge behind any OpenAI-compatible endpoint, e.g. Judge("http://localhost:8000/v1", "qwen").
    Consulted by `grade` only for kind "math" and only when deterministic grading says wrong."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60
    retries: int = 2
    max_tokens: int = 16
    _client: object = field(default=None, init=False, repr=False, compare=False)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _http(self):
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        return self._client

    def _fail(self, what: str) -> GradingError:
        return GradingError(f"judge endpoint {self.url}: {what}")

    def _post(self, messages: list[dict], max_tokens: int, retries: int) -> str:
        """The reply's text; transport errors, timeouts, 429 and 5xx are retried with backoff."""
        import httpx

        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens}
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                r = self._http().post(self.url, json=body)
            except httpx.TimeoutException as e:
                if last:
                    raise self._fail(f"no reply within {self.timeout:g} s") from e
            except httpx.HTTPError as e:
                if last:
                    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(e)).strip() or type(e).__name__
                    raise self._fail(f"unreachable ({reason[:1].lower() + reason[1:]})") from e
            else:
                if r.status_code < 400:
                    try:
                        return r.json()["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        raise self._fail(f"reply is not OpenAI chat JSON: {r.text[:120]!r}") from e
                if last or not (r.status_code == 429 or r.status_code >= 500):
                    detail = " ".join(r.text.split())[:120]
                    raise self._fail(f"HTTP {r.status_code} {r.reason_phrase}" + (f": {detail}" if detail else ""))
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def ask(self, messages: list[dict], max_tokens: int | None = None) -> str:
        """The reply to any chat `messages` (greedy, with the judge's retries); GradingError when the
        endpoint cannot answer. Other judges (s1.rewards' LLM judge) ask their own questions through it."""
        return self._post(messages, max_tokens or self.max_tokens, self.retries)

    def check(self) -> None:
        """One cheap request; raises GradingError with a one-line reason if the judge cannot answer."""
        self._post([{"role": "user", "content": "Reply with the word YES."}], max_tokens=1, retries=0)

    def equivalent(self, answer: str, gold: str) -> bool:
        """The judge's YES/NO on one pair (remembered, so a pair gets the same verdict all run).
        An unreadable reply counts as NO."""
        key = (answer, gold)
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        messages = [{"role": "system", "content": JUDGE_SYSTEM},
                    {"role": "user", "content": JUDGE_PROMPT.format(gold=gold, answer=answer)}]
        reply = _THINK_RE.sub(" ", self._post(messages, self.max_tokens, self.retries))
        words = _YES_NO_RE.findall(reply)
        ok = bool(words) and words[-1].lower() == "yes"
        with self._memo_lock:
            self._memo[key] = ok
        return ok

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
