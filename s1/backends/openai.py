"""The `openai` backend: budget forcing against any server with the OpenAI completions API.

    b = OpenAIBackend("smollm2-135m", base_url="http://127.0.0.1:8080/v1")
    [r] = b.generate(["How many r in raspberry?"], BudgetConfig(max_thinking_tokens=64))

vLLM, SGLang, llama.cpp's server and `s1 serve` all accept a prompt given as token ids. Each row is
driven in rounds (s1.backends.rounds.drive): one `/completions` request per stretch of sampling, the
forced tokens appended by the client, everything fed through the same RowBudget as the in-process
engine, so budgets are exact when the server tells us which token ids it sampled:
- vLLM: `return_token_ids: true` gives `token_ids` per choice;
- llama.cpp: `logprobs` gives `logprobs.content[i].id` (streamed, the token a stop string matched
  on comes too, with empty text);
- otherwise the completion text is tokenized locally and counts are approximate (warned once).
Which one a server speaks is found out on the first response and remembered.

Requests stream by default: tokens reach `on_token` as the server samples them, and a round whose
tail is not needed (the row started forcing) is closed at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import warnings
import weakref
from typing import AsyncIterator, Callable, Sequence

import httpx

from ..budget import RowBudget
from ..generation import Backend, GenerationResult, Prepared, SamplingConfig
from ..templates import get_template
from ..generation import BackendError
from .rounds import Completion, RoundError, drive
from .wire import (ID_FLAGS, PROBE_FLAGS, RETRY_STATUS, base_url_of, context_of, describe_error, extract_ids,
                   first_choice, server_message)

class OpenAIBackend(Backend):
    """Budget-forced generation through an OpenAI-compatible `/completions` endpoint.

    model: model spec for the tokenizer (embedded default, folder or Hub id); only the tokenizer is
      loaded. tokenizer: a tokenizer object or spec to use instead.
    served_model: the model name sent to the server (default: the server's only model, else `model`).
    context_length: the server's context window (default: from /models `max_model_len` or llama.cpp's
      `meta.n_ctx`, else unknown).
    concurrency: requests in flight (default: the batch size of each call).
    stream: stream completions (tokens as they are sampled; early close of unneeded tails).
    """

    name = "openai"

    def __init__(self, model: str | None = None, template="auto", think_start: str | None = None,
                 think_end: str | None = None, base_url: str = "http://127.0.0.1:8000/v1",
                 api_key: str | None = None, tokenizer=None, served_model: str | None = None,
                 context_length: int | None = None, concurrency: int | None = None, timeout: float = 600,
                 retries: int = 4, backoff: float = 0.5, stream: bool = True):
        self.base_url = base_url_of(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout, self.retries, self.backoff, self.stream = timeout, retries, backoff, stream
        if concurrency is not None and concurrency < 1:
            raise BackendError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.tokenizer, tok_dir = _load_tokenizer(tokenizer if tokenizer is not None else model)
        self.template = get_template(template, self.tokenizer, tok_dir, think_start, think_end)
        info = self._models() if served_model is None or context_length is None else []
        if served_model is None:
            served_model = info[0]["id"] if len(info) == 1 and info[0].get("id") else (model or "default")
        self.served_model = served_model
        if context_length is None:
            context_length = context_of(info, served_model)
        self.context_length = context_length
        self.id_mode: str | None = None  # how the server returns token ids (see ID_FLAGS)
        self.approximate = False  # True once counts came from local tokenization of text
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._stop_text: dict[int, str | None] = {}
        self._stats_lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0}

    # -- public ------------------------------------------------------------------------------
    async def run_row(self, ids: Sequence[int], row: RowBudget, thinking: SamplingConfig,
                      answer: SamplingConfig, seed: int | None, on_token: Callable[[int, str], None] | None = None,
                      answer_seed: int | None = None, stats: dict | None = None) -> list[int]:
        """Drive one row on the running event loop; returns the completion token ids.

        on_token(token_id, phase) fires for each appended token as soon as it is known (phase:
        'think', 'delim' or 'answer'). Cancelling the coroutine closes the in-flight request.
        """
        try:
            return await drive(row, ids, self.complete, thinking, answer, seed, on_token,
                               answer_seed=answer_seed, context=self.context_length, stats=stats)
        except RoundError as e:
            raise BackendError(f"{self.base_url}: {e}") from None

    def complete(self, ids: Sequence[int], max_tokens: int | None, stop_ids, cfg: SamplingConfig,
                 seed: int | None, extra: dict | None = None):
        """One completion call (the `complete` of rounds.drive): a stream of Completion pieces, or
        an awaitable Completion when streaming is off. `extra`: more request fields (vllm_xargs...)."""
        body = self._body(ids, max_tokens, stop_ids, cfg, seed) | (extra or {})
        if self.stream:
            return self._stream(body, stop_ids)
        return self._once(body, stop_ids)

    async def aclose(self) -> None:
        """Close this event loop's connections."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        self._clients = weakref.WeakKeyDictionary()

    # -- Backend ---------------------------------------------------------------------------------
    def _run(self, prep: Prepared, batch_size: int, progress, share: bool, stats: dict | None
             ) -> list[list[GenerationResult]]:
        return _run_sync(self._arun(prep, self.concurrency or batch_size, progress, stats))

    async def _arun(self, prep: Prepared, concurrency: int, progress, stats: dict | None):
        sem = asyncio.Semaphore(concurrency)
        ctx = self.context_length
        thinking, answer = prep.thinking, prep.answer
        results: list[list[GenerationResult | None]] = [[None] * len(prep.budgets) for _ in prep.ids]
        row_stats: dict = {}

        async def one(i: int, j: int) -> None:
            async with sem:
                row = prep.row(i, j, ctx)
                out = await self.run_row(prep.ids[i], row, thinking, answer,
                                         _seed(prep, i, thinking), answer_seed=_seed(prep, i, answer),
                                         stats=row_stats)
            results[i][j] = self.result(prep.prompts[i], len(prep.ids[i]), row, out)
            if progress:
                progress(1)

        tasks = [asyncio.ensure_future(one(i, j)) for i in range(len(prep.ids)) for j in range(len(prep.budgets))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.aclose()
        if stats is not None:
            stats.update(row_stats)
            stats["approximate_counts"] = self.approximate
            stats["id_mode"] = self.id_mode
        return results

    # -- transport -------------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.timeout, connect=min(10, self.timeout)),
                                       limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
            self._clients[loop] = client
        return client

    def _body(self, ids, max_tokens, stop_ids, cfg: SamplingConfig, seed) -> dict:
        body = {"model": self.served_model, "prompt": [int(t) for t in ids], "temperature": cfg.temperature,
                "top_p": cfg.top_p, "stream": self.stream}
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        if cfg.top_k:
            body["top_k"] = cfg.top_k
        if seed is not None:
            body["seed"] = int(seed)
        stops = sorted(stop_ids)
        body["stop_token_ids"] = stops
        texts = [t for t in (self._stop_string(s) for s in stops) if t]
        if texts:
            body["stop"] = texts
        body.update(ID_FLAGS[self.id_mode] if self.id_mode else PROBE_FLAGS)
        return body

    def _stop_string(self, tok: int) -> str | None:
        """The text to stop on for a stop token: only special/added tokens, whose text cannot be
        matched inside ordinary text (other stop tokens are caught by id on the client side)."""
        if tok not in self._stop_text:
            added = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
            text = self.tokenizer.decode([tok]) if tok in added else None
            self._stop_text[tok] = text or None
        return self._stop_text[tok]

    async def _post(self, body: dict) -> httpx.Response:
        """POST with retries; returns an open (streaming) response with status 200."""
        client = self._client()
        url = self.base_url + "/completions"
        attempt = 0
        while True:
            self._count("requests")
            try:
                req = client.build_request("POST", url, json=body)
                resp = await client.send(req, stream=True)
            except httpx.TransportError as e:
                err = f"cannot reach {url}: {describe_error(e)}"
            else:
                if resp.status_code == 200:
                    return resp
                text = (await resp.aread()).decode("utf-8", "replace")
                await resp.aclose()
                err = f"{url}: HTTP {resp.status_code}: {server_message(text)}"
                if resp.status_code not in RETRY_STATUS:
                    raise BackendError(err)
            if attempt >= self.retries:
                raise BackendError(err + (f" (after {attempt + 1} attempts)" if attempt else ""))
            self._count("retries")
            await asyncio.sleep(self.backoff * (2 ** attempt) * (0.75 + 0.5 * random.random()))
            attempt += 1

    async def _once(self, body: dict, stop_ids) -> Completion:
        resp = await self._post(body)
        try:
            data = json.loads(await resp.aread())
        finally:
            await resp.aclose()
        choice = first_choice(data)
        ids = self._ids(choice)
        text = choice.get("text") or ""
        if ids is None:
            ids = self._text_ids(text)
        return self._finish(ids, text, choice, stop_ids)

    async def _stream(self, body: dict, stop_ids) -> AsyncIterator[Completion]:
        resp = await self._post(body)
        text, text_ids, seen = [], self.id_mode == "text", []
        try:
            if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                yield await self._whole(resp, stop_ids)  # a server that ignored stream=true
                return
            try:
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    data = json.loads(payload)
                    if "error" in data and not data.get("choices"):
                        raise BackendError(f"{self.base_url}/completions: {server_message(payload)}")
                    if not data.get("choices"):
                        continue
                    choice = data["choices"][0]
                    piece = choice.get("text") or ""
                    text.append(piece)
                    ids = None if text_ids else self._ids(choice)
                    if ids is None:
                        text_ids = True
                        ids = []
                    seen.extend(ids)
                    if choice.get("finish_reason") is not None:
                        full = "".join(text)
                        if text_ids:
                            ids = seen = self._text_ids(full)
                        yield self._finish(ids, full, choice, stop_ids, seen)
                        return
                    if ids:
                        yield Completion(ids)
            except httpx.TransportError:
                # broken off mid-round: what arrived is valid; the next round goes on from there
                yield Completion(self._text_ids("".join(text)) if text_ids else [], "interrupted")
                return
            yield Completion(self._text_ids("".join(text)) if text_ids else [], "interrupted")
        finally:
            await resp.aclose()

    async def _whole(self, resp: httpx.Response, stop_ids) -> Completion:
        data = json.loads(await resp.aread())
        choice = first_choice(data)
        text = choice.get("text") or ""
        ids = self._ids(choice)
        return self._finish(ids if ids is not None else self._text_ids(text), text, choice, stop_ids)

    def _finish(self, ids: list[int], text: str, choice: dict, stop_ids, seen=None) -> Completion:
        """The last piece of a round: its tokens, finish reason and the stop token the server
        consumed without returning it (if it did). `seen`: all ids of the round (default `ids`)."""
        finish = choice.get("finish_reason")
        finish = "stop" if finish in ("stop", "eos", "stop_sequence") else finish
        stop = None
        if finish == "stop" and not any(t in stop_ids for t in (ids if seen is None else seen)):
            stop = self._consumed(choice, text, stop_ids)
        return Completion(list(ids), finish, stop)

    def _consumed(self, choice: dict, text: str, stop_ids) -> int | None:
        reason = choice.get("stop_reason", choice.get("matched_stop"))
        if isinstance(reason, int) and reason in stop_ids:
            return reason
        if isinstance(reason, str):
            for t in stop_ids:
                if self._stop_string(t) == reason:
                    return t
        texts = [self._stop_string(t) for t in stop_ids]
        if any(s and s in text for s in texts):
            return None  # a stop string inside the returned text: only a round boundary
        eos = self.tokenizer.eos_token_id
        if eos in stop_ids:
            return eos  # servers stop on end of sequence by themselves and drop it
        return min(stop_ids)

    def _ids(self, choice: dict) -> list[int] | None:
        """Token ids of a choice (or a streamed delta); None when the server sends text without ids."""
        found = extract_ids(choice)
        if found is not None:
            self._set_mode(found[0])
            return found[1]
        if self.id_mode == "text" or (self.id_mode is None and choice.get("text")):
            self._set_mode("text")
            return None
        return []  # a delta without tokens (e.g. the last chunk of a stream)

    def _set_mode(self, mode: str) -> None:
        if self.id_mode is None:
            self.id_mode = mode
            if mode == "text":
                self.approximate = True
                warnings.warn(f"{self.base_url} returns no token ids: token counts come from tokenizing the "
                              "text locally and are approximate", stacklevel=2)

    def _text_ids(self, text: str) -> list[int]:
        self.approximate = True
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def _models(self) -> list[dict]:
        """The server's /models list (retried like completions)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = self.base_url + "/models"
        for attempt in range(self.retries + 1):
            try:
                r = httpx.get(url, headers=headers, timeout=min(30, self.timeout))
            except httpx.TransportError as e:
                err = f"cannot reach {url}: {describe_error(e)}"
            else:
                if r.status_code == 200:
                    try:
                        data = r.json().get("data") or []
                    except ValueError:
                        raise BackendError(f"{url}: not an OpenAI-compatible server (no JSON)") from None
                    return [d for d in data if isinstance(d, dict)]
                err = f"{url}: HTTP {r.status_code}: {server_message(r.text)}"
                if r.status_code not in RETRY_STATUS:
                    raise BackendError(err)
            if attempt == self.retries:
                break
            import time

            time.sleep(self.backoff * (2 ** attempt))
        raise BackendError(err + (f" (after {self.retries + 1} attempts)" if self.retries else ""))


# -- helpers ---------------------------------------------------------------------------------------
def _load_tokenizer(spec):
    """(tokenizer, folder it came from or None) for a tokenizer object or model spec; no weights."""
    if spec is not None and not isinstance(spec, str):
        return spec, None
    from ..models import ModelError, load_tokenizer

    try:
        return load_tokenizer(spec)
    except ModelError as e:
        raise BackendError(str(e)) from None


def _seed(prep: Prepared, i: int, cfg: SamplingConfig) -> int | None:
    """Row i's seed for a phase; None (the server picks) when the phase is unseeded."""
    if cfg.seed is None:
        return None
    return prep.phase_seed(i, cfg)


def _run_sync(coro):
    """Run a coroutine to completion from sync code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    t = threading.Thread(target=target, name="s1-openai", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
