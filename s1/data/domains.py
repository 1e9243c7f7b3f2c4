"""The domain classifier of `s1 curate featurize`: which top-level MSC 2020 class a question belongs to.

    from s1.data.domains import parse_classifier; code, source = parse_classifier("offline").classify(row)

"offline" matches keywords (s1/data/msc.py), "hint" trusts a row's metadata.domain_hint when it is an MSC
code, "openai:BASE_URL:MODEL" asks a model; a failed or unusable reply falls back to the offline classifier.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from ..backends.build import parse_endpoint
from . import CurateError
from .msc import MSC, classify_offline, parse_code, prompt_lines

log = logging.getLogger(__name__)

API_KEY_ENV = ("S1_CLASSIFIER_API_KEY", "OPENAI_API_KEY")
CLASSIFY_SYSTEM = "You classify math and science questions by the Mathematics Subject Classification (MSC 2020)."
CLASSIFY_PROMPT = (
    "The top-level MSC 2020 classes are:\n{classes}\n\nQuestion:\n{question}\n\n"
    "Which one class fits the question best? Reply with its two-digit code only."
)
CLASSIFY_MAX_CHARS = 6000  # the head of a very long question is enough to tell its subject
CLASSIFY_MAX_TOKENS = 64  # room for a short preamble some models write before the code
_THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.S)


@dataclass
class Classifier:
    """kind "offline" (keywords), "hint" (metadata.domain_hint when it is an MSC code, else offline) or
    "openai" (an OpenAI-compatible chat endpoint asked for the code; a failed or invalid reply falls back
    to offline, noted in domain_source)."""

    kind: str
    base_url: str | None = None
    model: str | None = None
    timeout: float = 60.0
    retries: int = 2
    _client: object = field(default=None, init=False, repr=False)
    _warned: bool = field(default=False, init=False, repr=False)  # the first failure is logged, not every one

    @property
    def label(self) -> str:
        if self.kind == "openai":
            url = re.sub(r"^(https?://)[^/@]*@", r"\1", self.base_url or "")  # no credentials in logs and stats
            return f"openai:{url}:{self.model}"
        return self.kind

    def classify(self, row: dict) -> tuple[str, str]:
        """(MSC code, domain_source) for one row; never raises."""
        question = row.get("question") or ""
        if self.kind == "hint":
            hint = (row.get("metadata") or {}).get("domain_hint") if isinstance(row.get("metadata"), dict) else None
            if isinstance(hint, str) and hint in MSC:
                return hint, "hint"
            return classify_offline(question), "offline"
        if self.kind == "openai":
            try:
                reply = self._ask(question)
            except Exception as e:  # noqa: BLE001 - a failed request must not stop the stage
                why = " ".join(str(e).split())[:160] or type(e).__name__
                if not self._warned:
                    self._warned = True
                    log.warning("domain classifier %s failed (%s); falling back to the offline classifier",
                                self.label, why)
                return classify_offline(question), f"offline (classifier failed: {why})"
            code = parse_code(_THINK_RE.sub(" ", reply))
            if code is None:
                shown = " ".join(reply.split())[:60]
                return classify_offline(question), f"offline (classifier reply not an MSC code: {shown!r})"
            return code, "llm"
        return classify_offline(question), "offline"

    def _http(self):
        if self._client is None:
            import os

            import httpx

            key = next((os.environ[k] for k in API_KEY_ENV if os.environ.get(k)), None)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self._client = httpx.Client(timeout=self.timeout, headers=headers)
        return self._client

    def _ask(self, question: str) -> str:
        import httpx

        body = {"model": self.model, "temperature": 0, "max_tokens": CLASSIFY_MAX_TOKENS, "messages": [
            {"role": "system", "content": CLASSIFY_SYSTEM},
            {"role": "user", "content": CLASSIFY_PROMPT.format(classes=prompt_lines(),
                                                               question=question[:CLASSIFY_MAX_CHARS])}]}
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                r = self._http().post(url, json=body)
            except httpx.HTTPError as e:
                if last:
                    raise RuntimeError(f"{type(e).__name__}: {e}") from e
            else:
                if r.status_code < 400:
                    data = r.json()
                    msg = data["choices"][0]["message"]
                    return msg.get("content") or ""
                if last or not (r.status_code == 429 or r.status_code >= 500):
                    raise RuntimeError(f"HTTP {r.status_code}")
                wait = r.headers.get("retry-after")
                if wait and wait.replace(".", "", 1).isdigit():
                    time.sleep(min(float(wait), 30.0))
                    continue
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def parse_classifier(spec: str) -> Classifier:
    """'offline' | 'hint' | 'openai:BASE_URL:MODEL' (e.g. openai:http://127.0.0.1:8000/v1:qwen2.5:7b)."""
    spec = (spec or "offline").strip()
    if spec in ("offline", "hint"):
        return Classifier(spec)
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        endpoint = parse_endpoint(rest)
        if endpoint:
            return Classifier("openai", *endpoint)
        raise CurateError(f"classifier {spec!r}: expected openai:BASE_URL:MODEL, "
                          "e.g. openai:http://127.0.0.1:8000/v1:my-model")
    raise CurateError(f"unknown classifier {spec!r} (choose offline, hint or openai:BASE_URL:MODEL)")
