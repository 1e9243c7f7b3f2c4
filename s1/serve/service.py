"""Where `s1 serve` gets its tokens: the in-process engine (continuous batching) or an upstream server.

A service runs one row: `await service.run(ids, row, thinking, answer, seed, on_token)` calls
`on_token(token_id, part)` for each token as it is decided (part: think | answer | delim) and returns
when the row is finished. Cancelling the coroutine (the client went away) frees the row.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from ..budget import ANSWER, DELIM, DONE


class ServiceError(RuntimeError):
    """The model or the upstream server failed this request (HTTP 502/500)."""


class PlainRow:
    """A row without thinking control: sample until a stop token or `max_tokens` (a plain completion).
    It offers what the batcher asks of a RowBudget."""

    def __init__(self, stop_ids, max_tokens: int):
        self.stop_ids, self.max_tokens = frozenset(stop_ids), max_tokens
        self.phase = ANSWER
        self.thinking: list[int] = []
        self.answer: list[int] = []
        self.delim: list[int] = []
        self.finish_reason: str | None = None
        self.stop_token: int | None = None
        self.last_part: str | None = None  # answer, or delim for the stop token (not shown)

    @property
    def done(self) -> bool:
        return self.phase == DONE

    def wants_sample(self) -> bool:
        return self.phase != DONE

    @property
    def sampling_phase(self) -> str:
        return ANSWER

    def advance(self, sampled: int | None) -> int:
        if sampled in self.stop_ids:
            self.phase, self.finish_reason, self.stop_token = DONE, "stop", sampled
            self.last_part = DELIM
            return sampled
        self.answer.append(sampled)
        self.last_part = ANSWER
        if len(self.answer) >= self.max_tokens:
            self.phase, self.finish_reason = DONE, "length"
        return sampled


class LocalService:
    """The in-process engine behind a continuous batcher."""

    def __init__(self, engine, max_batch: int = 16):
        from .batcher import Batcher

        self.engine = engine
        self.tokenizer, self.template = engine.tokenizer, engine.template
        self.context_length = engine.context_length
        self.batcher = Batcher(engine, max_batch)

    async def run(self, ids, row, thinking, answer, seed: int, on_token: Callable[[int, str], None]) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        handle = None

        def sink(tok, part):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (tok, part))
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                if handle is not None:
                    handle.cancel()

        handle = self.batcher.submit(list(ids), row, thinking, answer, seed, sink)
        try:
            while True:
                tok, part = await queue.get()
                if tok is None:
                    if part == "error":
                        raise ServiceError(f"generation failed: {handle.error}")
                    return
                on_token(tok, part)
        finally:
            handle.cancel()  # a no-op for a finished row; frees the row of a client that went away

    def plain_row(self, stop_ids, max_tokens):
        return PlainRow(stop_ids, max_tokens)

    async def close(self) -> None:
        await asyncio.to_thread(self.batcher.close)


class UpstreamService:
    """Budget forcing in front of another OpenAI-compatible server: in rounds (s1.backends.openai), or,
    in front of a `vllm serve` running the s1 plugin, one request per row with its budget
    (s1.backends.plugin_client). forcing: "auto" (probe the server once), "on" or "off" (rounds)."""

    def __init__(self, backend, forcing: str = "off"):
        from ..backends.plugin_client import has_plugin

        self.backend = backend
        self.tokenizer, self.template = backend.tokenizer, backend.template
        self.context_length = backend.context_length
        self.forcing = forcing == "on" or (forcing == "auto" and has_plugin(backend))

    async def run(self, ids, row, thinking, answer, seed: int, on_token: Callable[[int, str], None]) -> None:
        from ..backends import BackendError
        from ..backends.rounds import RoundError

        from ..backends.plugin_client import run_row, supports

        if isinstance(row, PlainRow):
            return await self._plain(ids, row, thinking, seed, on_token)
        try:
            if self.forcing and self.template.name in ("s1", "r1") and supports(row, thinking, answer):
                seed = seed if thinking.temperature > 0 and thinking.seed is not None else None
                await run_row(self.backend, ids, row, thinking, seed, on_token, self.template.name)
                return
            await self.backend.run_row(ids, row, thinking, answer, seed, on_token=on_token)
        except (BackendError, RoundError) as e:
            raise ServiceError(f"upstream: {e}") from None

    async def _plain(self, ids, row: PlainRow, cfg, seed, on_token) -> None:
        """A plain completion: one upstream request, its tokens fed through the row as they arrive."""
        from ..backends import BackendError

        res = self.backend.complete(ids, row.max_tokens, row.stop_ids, cfg, seed)
        pieces = res if hasattr(res, "__aiter__") else _one(res)
        try:
            async for piece in pieces:
                for t in piece.tokens:
                    if row.done:
                        return
                    before = len(row.answer)
                    row.advance(int(t))
                    if len(row.answer) > before:
                        on_token(int(t), "answer")
                if piece.finish is not None and not row.done:
                    row.phase, row.finish_reason = DONE, "stop" if piece.finish == "stop" else "length"
                    row.stop_token = piece.stop_token
        except BackendError as e:
            raise ServiceError(f"upstream: {e}") from None
        finally:
            aclose = getattr(pieces, "aclose", None)
            if aclose is not None:
                await aclose()

    def plain_row(self, stop_ids, max_tokens):
        return PlainRow(stop_ids, max_tokens)

    async def close(self) -> None:
        await self.backend.aclose()


async def _one(awaitable):
    yield await awaitable
