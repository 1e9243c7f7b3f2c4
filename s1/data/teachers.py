"""The teachers of `s1 curate traces`: who writes a question's reasoning trace, and how a reply becomes one.

    from s1.data.teachers import parse_teacher, split_reply; parse_teacher("openai:http://127.0.0.1:8000/v1:r1")

"openai:BASE_URL:MODEL" asks any OpenAI-compatible server (retries, Retry-After, a reply's thinking taken
from `reasoning_content` or from think tags); "engine:MODEL_SPEC" / "engine:vllm:MODEL" runs a backend of
this package with a thinking budget; "builtin" reads the worked traces the built-in pool carries.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Callable, Iterator

from ..backends.build import parse_endpoint
from . import CurateError

API_KEY_ENV = ("S1_TEACHER_API_KEY", "OPENAI_API_KEY")
MAX_WAIT = 300.0  # longest pause between two tries, whatever Retry-After asks
# reply delimiters of reasoning models that put the thinking into the content (R1 style, then s1 style)
THINK_TAGS = (("<think>", "</think>"), ("<|im_start|>think", "<|im_start|>answer"))


@dataclass(frozen=True)
class TeacherSpec:
    kind: str  # openai | engine | builtin
    model: str | None = None  # the model name (openai) or model spec (engine)
    base_url: str | None = None  # openai only, without a trailing slash

    @property
    def label(self) -> str:
        """What the `teacher` column records: the spec, without credentials."""
        if self.kind == "openai":
            return f"openai:{redact(self.base_url or '')}:{self.model}"
        if self.kind == "engine":
            return self.model if str(self.model).startswith("vllm:") else f"engine:{self.model}"
        return self.kind




def parse_teacher(spec: str) -> TeacherSpec:
    """'openai:BASE_URL:MODEL' | 'engine:MODEL_SPEC' | 'engine:' | 'builtin'.

    The URL has colons of its own (scheme, port), so it is read as scheme://host[:port][/path] and
    the model is everything after the next colon (model names may hold colons: 'qwen2.5:7b')."""
    spec = (spec or "").strip()
    kind, _, rest = spec.partition(":")
    if kind == "builtin" and not rest:
        return TeacherSpec("builtin")
    if kind == "engine":
        from ..models import DEFAULT_MODEL

        return TeacherSpec("engine", rest.strip() or DEFAULT_MODEL)
    if kind == "vllm":  # the same budget-forced generation on vLLM's engine
        if not rest.strip():
            raise CurateError("teacher 'vllm:' needs a model, e.g. vllm:Qwen/Qwen2.5-32B-Instruct")
        return TeacherSpec("engine", "vllm:" + rest.strip())
    if kind == "openai":
        endpoint = parse_endpoint(rest)
        if endpoint is None:
            raise CurateError(f"teacher {spec!r}: expected openai:BASE_URL:MODEL, "
                              "e.g. openai:http://127.0.0.1:8000/v1:my-model")
        return TeacherSpec("openai", endpoint[1], endpoint[0])
    raise CurateError(f"unknown teacher {spec!r} (choose openai:BASE_URL:MODEL, engine:MODEL, vllm:MODEL or builtin)")


def redact(url: str) -> str:
    return re.sub(r"^(https?://)[^/@]*@", r"\1", url)


@dataclass
class Trace:
    thinking: str | None = None
    attempt: str | None = None
    error: str | None = None
    retries: int = 0
    fatal: str | None = None  # a failure no row will escape (unreachable, unauthorized, broken model)


def split_reply(content: str) -> tuple[str | None, str]:
    """(thinking, attempt) of a reply whose content carries the thinking between delimiters.
    An opening tag without its close (a reply cut short) is all thinking; no tag: no thinking."""
    for start, end in THINK_TAGS:
        head, sep, tail = content.partition(end)
        if sep:
            head = head.strip()
            if head.startswith(start):
                head = head[len(start):]
            return head.strip(), tail.strip()
        if content.lstrip().startswith(start):
            return content.lstrip()[len(start):].strip(), ""
    return None, content.strip()


def parse_completion(data) -> Trace:
    """A chat completion (JSON) to a Trace: thinking from reasoning_content / reasoning, else tags."""
    try:
        choice = data["choices"][0]
        msg = choice["message"]
        content = msg.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return Trace(error="invalid reply: no choices[0].message")
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning.strip():
        thinking, attempt = reasoning.strip(), content.strip()
    else:
        thinking, attempt = split_reply(content)
    if thinking is None:
        return Trace(None, attempt, "no reasoning in the reply (reasoning_content, reasoning or <think>)",
                     fatal="the replies carry no reasoning (reasoning_content, reasoning or <think>...</think>): "
                           "not a reasoning model, or the server drops it")
    if choice.get("finish_reason") == "length":
        return Trace(thinking, attempt, "reply cut at the token limit (finish_reason length)")
    return Trace(thinking, attempt)


@dataclass
class TeacherSettings:
    concurrency: int
    retries: int
    timeout: float
    max_tokens: int | None
    backoff: float


def _retry_after(value: str | None) -> float | None:
    """Seconds asked by a Retry-After header (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _short(text: str, n: int = 120) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= n else line[: n - 3] + "..."


def _message(resp) -> str:
    """The error message of a non-2xx reply ({"error": {"message": ...}} or its text)."""
    try:
        err = resp.json().get("error")
        text = err.get("message") if isinstance(err, dict) else err
    except (ValueError, AttributeError):
        text = None
    return _short(text or resp.text or resp.reason_phrase or "")


class OpenAITeacher:
    """POST {base}/chat/completions, `concurrency` requests in flight, retries with backoff."""

    def __init__(self, spec: TeacherSpec, s: TeacherSettings):
        self.spec, self.s = spec, s
        self.url = f"{spec.base_url}/chat/completions"

    def run(self, rows: Iterator[dict], emit: Callable[[dict, Trace], None]) -> None:
        asyncio.run(self._main(iter(rows), emit))

    async def _main(self, rows: Iterator[dict], emit) -> None:
        import httpx

        headers = {"Accept": "application/json"}
        key = next((os.environ[k] for k in API_KEY_ENV if os.environ.get(k)), None)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        n = self.s.concurrency
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        timeout = httpx.Timeout(self.s.timeout, connect=min(self.s.timeout, 30.0))

        async def work(client):
            # the workers share one row iterator: next() never awaits, so no two take the same row, and
            # no producer task can be cancelled away while a worker waits for it
            for row in rows:
                emit(row, await self.ask(client, row["question"]))

        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout) as client:
            try:
                async with asyncio.TaskGroup() as tg:
                    for _ in range(n):
                        tg.create_task(work(client))
            except BaseExceptionGroup as eg:  # one of ours (stop, abort, a bad input row): raise it plainly
                raise eg.exceptions[0] from None

    async def ask(self, client, question: str) -> Trace:
        import httpx

        s = self.s
        body = {"model": self.spec.model, "messages": [{"role": "user", "content": question}]}
        if s.max_tokens is not None:
            body["max_tokens"] = s.max_tokens
        fail, fatal = "", None
        for attempt in range(s.retries + 1):
            wait = min(MAX_WAIT, s.backoff * 2 ** attempt) * random.uniform(0.5, 1.0)  # jitter: no stampede
            try:
                # the total deadline of one try (httpx's own timeouts are per read, a trickle would pass them);
                # asyncio.timeout, not wait_for, which on 3.11 can swallow a Ctrl-C's cancellation
                async with asyncio.timeout(s.timeout):
                    resp = await client.post(self.url, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                fail = f"connection failed ({_short(str(e) or type(e).__name__, 80)})"
                fatal = f"unreachable ({_short(str(e) or type(e).__name__, 80)})"
            except (TimeoutError, httpx.TimeoutException):
                fail, fatal = f"timeout ({s.timeout:g} s)", None
            except httpx.RequestError as e:  # reset, closed mid-reply, protocol error: worth another try
                fail, fatal = f"connection error ({_short(str(e) or type(e).__name__, 80)})", None
            else:
                code = resp.status_code
                if code == 200:
                    try:
                        trace = parse_completion(resp.json())
                    except ValueError:
                        trace = Trace(error=f"invalid reply: not JSON ({_short(resp.text, 60)})")
                    trace.retries = attempt
                    return trace
                if code not in (408, 429) and code < 500:  # the request itself is wrong: so would another try be
                    why = f"HTTP {code}: {_message(resp)}".rstrip(": ")
                    hint = {401: "check S1_TEACHER_API_KEY", 403: "check S1_TEACHER_API_KEY",
                            404: "check the base URL and the model name"}.get(code)
                    return Trace(error=why, retries=attempt, fatal=f"{why} ({hint})" if hint else None)
                fail, fatal = f"HTTP {code}", None
                asked = _retry_after(resp.headers.get("retry-after"))
                if asked is not None:
                    wait = min(MAX_WAIT, asked) + random.uniform(0, 0.1 * s.backoff)
            if attempt < s.retries:
                await asyncio.sleep(wait)
        n = s.retries
        suffix = f" after {n} {'retry' if n == 1 else 'retries'}" if n else ""
        return Trace(error=fail + suffix, retries=n, fatal=fatal)


class BackendTeacher:
    """A backend of this package (the in-process engine by default, or vllm:MODEL): rows in batches of
    `concurrency` through its generate."""

    def __init__(self, spec: TeacherSpec, s: TeacherSettings, budget=None, backend=None):
        from ..budget import BudgetConfig

        self.spec, self.s, self.backend = spec, s, backend
        self.budget = budget if budget is not None else BudgetConfig(max_thinking_tokens=s.max_tokens)
        self.budget.validate()  # a bad budget is the user's: it fails now, not as a row error

    def run(self, rows: Iterator[dict], emit: Callable[[dict, Trace], None]) -> None:
        if self.backend is None:
            from ..backends import BackendError, load_spec
            from ..models import ModelError

            try:
                self.backend = load_spec(self.spec.model)
            except (ModelError, BackendError) as e:
                raise CurateError(f"teacher {self.spec.label}: {e}") from None
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) == self.s.concurrency:
                self._batch(batch, emit)
                batch = []
        if batch:
            self._batch(batch, emit)

    def _batch(self, rows: list[dict], emit) -> None:
        try:
            results = self._generate([r["question"] for r in rows])
            error = None
        except Exception as e:  # noqa: BLE001 - recorded on the row (the first K failing stop the run)
            results, error = None, f"{type(e).__name__}: {_short(str(e), 100)}"
        if results is None and len(rows) > 1:  # one bad row (too long, ...) must not fail its neighbours
            for r in rows:
                self._batch([r], emit)
            return
        if results is None:
            emit(rows[0], Trace(error=f"engine error: {error}", fatal=f"engine error ({error})"))
            return
        for row, res in zip(rows, results):
            emit(row, Trace(res.thinking.strip(), res.answer.strip()))

    def _generate(self, prompts: list[str]):
        return self.backend.generate(prompts, self.budget, batch_size=len(prompts))


class BuiltinTeacher:
    """The worked traces written by the built-in pool's generators (metadata)."""

    def run(self, rows: Iterator[dict], emit: Callable[[dict, Trace], None]) -> None:
        for row in rows:
            meta = row.get("metadata") or {}
            if isinstance(meta, str):
                try:
                    meta = json.loads(meta)
                except ValueError:
                    meta = {}
            thinking, attempt = meta.get("worked_thinking"), meta.get("worked_attempt")
            if thinking and attempt:
                emit(row, Trace(thinking, attempt))
            else:
                emit(row, Trace(error="no built-in trace"))
