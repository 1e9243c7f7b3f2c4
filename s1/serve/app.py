"""`s1 serve`: an OpenAI-compatible HTTP server with thinking budgets.

Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions (streaming with SSE or
not, n > 1, stop sequences, usage with reasoning tokens), and vLLM's tokenizer routes GET /tokenizer_info,
POST /tokenize, POST /detokenize (s1.serve.tokens). Chat responses carry the thinking in
`reasoning_content` and the answer in `content`. A completions request without `thinking` /
`reasoning_effort` is a plain completion of the prompt (so `s1 serve` is itself a server the
`openai` backend can drive; `echo` + `logprobs` score it); with them, the prompt is taken as rendered
up to where thinking starts, `text` is the answer and `reasoning_content` the thinking.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import time
import uuid
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..budget import BudgetError, RowBudget
from ..generation import overflow
from .choice import Choice
from .protocol import GenRequest, Limits, RequestError, load_json, parse
from .service import PlainRow, ServiceError
from .tokens import detokenize, logprobs_block, tokenize, tokenizer_info

log = logging.getLogger(__name__)


@dataclass
class ServeSettings:
    model_name: str
    api_key: str | None = None
    max_body_bytes: int = 1 << 20
    max_concurrent: int = 64  # choices (rows) in flight, every choice of every request counted
    limits: Limits = field(default_factory=Limits)


def _error(message: str, status: int = 400, kind: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


class Server:
    def __init__(self, service, settings: ServeSettings):
        self.service, self.settings = service, settings
        self.tok, self.template = service.tokenizer, service.template
        self.active = 0
        self.created = int(time.time())

    # -- request intake ---------------------------------------------------------------------
    def check_auth(self, request: Request) -> None:
        key = self.settings.api_key
        if not key:
            return
        given = request.headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(token.encode(), key.encode()):
            raise RequestError("invalid API key (send Authorization: Bearer KEY)", status=401,
                               kind="authentication_error")

    async def read_json(self, request: Request):
        limit = self.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise RequestError(f"request body larger than {limit} bytes", status=413)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                raise RequestError(f"request body larger than {limit} bytes", status=413)
        return load_json(bytes(data))

    def prompt_ids(self, req: GenRequest) -> list[list[int]]:
        out = []
        vocab = len(self.tok)
        for p in req.prompts:
            if req.kind == "chat":  # message content is text: markup written in it does not become tokens
                ids = self.template.encode_messages(self.tok, p)
            elif isinstance(p, str):  # a completion prompt is the client's own rendering, markup included
                ids = self.tok.encode(p, add_special_tokens=False)
            else:
                if max(p) >= vocab:
                    raise RequestError(f"token id {max(p)} is outside the vocabulary ({vocab})", "prompt")
                ids = list(p)
            cap = self.settings.limits.max_prompt_tokens
            if cap is not None and len(ids) > cap:
                raise RequestError(f"the prompt has {len(ids)} tokens; this server accepts at most {cap}", "prompt")
            out.append(ids)
        return out

    def rows(self, req: GenRequest, ids: list[int]):
        ctx = self.service.context_length
        if req.budget is None:
            room = (ctx - len(ids)) if ctx else None
            if room is not None and room < 1:
                raise RequestError(f"the prompt ({len(ids)} tokens) fills the context window ({ctx})", "prompt")
            if req.max_tokens_given and room is not None and req.max_tokens > room:
                raise RequestError(f"prompt ({len(ids)}) + max_tokens ({req.max_tokens}) exceeds the context "
                                   f"window ({ctx})", "max_tokens")
            n = req.max_tokens if room is None else min(req.max_tokens, room)
            stops = set(req.stop_token_ids) | set(self.template.eot_ids(self.tok))
            return lambda: PlainRow(stops, n)
        try:
            plan = self.template.plan(self.tok, req.budget)
        except BudgetError as e:
            raise RequestError(f"bad thinking budget: {e}", "thinking") from None
        err = overflow(len(ids), plan, ctx)
        if err:
            raise RequestError(err, "thinking")
        return lambda: RowBudget(plan, room=(ctx - len(ids)) if ctx else None)

    # -- generation --------------------------------------------------------------------------
    async def handle(self, request: Request, kind: str):
        self.check_auth(request)
        body = await self.read_json(request)
        req = parse(body, kind, self.settings.limits)
        if req.model is not None and req.model != self.settings.model_name:
            raise RequestError(f"model '{req.model}' is not served here (this server has "
                               f"'{self.settings.model_name}')", "model", status=404, kind="not_found_error")
        if req.echo or req.logprobs is not None:
            self.scoring_model()
        cap, wanted = self.settings.max_concurrent, len(req.prompts) * req.n
        if wanted > cap:
            raise RequestError(f"{wanted} choices in one request; this server runs at most {cap} at once", "n")
        # off the event loop: a long prompt takes a while to tokenize, and other requests' streams go on meanwhile
        all_ids = await asyncio.to_thread(self.prompt_ids, req)
        makers = [self.rows(req, ids) for ids in all_ids]
        if self.active + wanted > cap:
            raise RequestError(f"too many choices in flight (limit {cap}, {self.active} running); retry later",
                               status=429, kind="rate_limit_error")
        base = req.seed if req.seed is not None else random.randrange(2**31)
        hidden = self.template.eot_ids(self.tok)
        choices = [Choice(pi * req.n + k, ids, make(), self.tok, req, kind == "chat", hidden)
                   for pi, (ids, make) in enumerate(zip(all_ids, makers)) for k in range(req.n)]
        release = self._claim(len(choices))
        rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]
        if req.stream:
            events = self._stream(request, req, rid, choices, base, all_ids, release)
            # a stream the server never starts (the client left first) never runs its finally
            weakref.finalize(events, release)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        try:
            await self._run_all(request, req, choices, base)
            scored = await self._logprobs(req, choices) if req.echo or req.logprobs is not None else None
        finally:
            release()
        return JSONResponse(self._response(req, rid, choices, all_ids, scored))

    def scoring_model(self):
        """The transformers model that scores `echo` / `logprobs` requests (an upstream server has none here)."""
        model = getattr(getattr(self.service, "engine", None), "model", None)
        if model is None:
            raise RequestError("'echo' and 'logprobs' need the in-process model (not --upstream)", "logprobs")
        return model

    async def _logprobs(self, req: GenRequest, choices: list[Choice]) -> list[dict]:
        """Each choice's legacy `logprobs` (prompt tokens too with echo), scored by the in-process model."""
        from ..logprobs import score

        model = self.scoring_model()
        seqs = [list(c.ids) + list(c.out) for c in choices]
        shown = [0 if req.echo else len(c.ids) for c in choices]  # where each choice's logprobs start
        rows = await asyncio.to_thread(score, model, seqs, [max(k, 1) for k in shown], req.logprobs or 0, len(seqs))
        return [logprobs_block(self.tok, seq, [None] * (len(seq) - len(row)) + row, k)
                for seq, row, k in zip(seqs, rows, shown)]

    def _claim(self, k: int):
        """Count k choices in flight; the returned function gives them back (once, however often called)."""
        self.active += k
        held = [k]

        def release():
            self.active -= held.pop() if held else 0

        return release

    def _task(self, req: GenRequest, c: Choice, seed: int, wake: asyncio.Event) -> asyncio.Task:
        def on_token(tok, part):
            c.on_token(tok, part)
            wake.set()
            if c.body.stopped:
                task.cancel()  # a stop string ended this choice: free its row

        async def run():
            try:
                await self.service.run(c.ids, c.row, req.sampling, req.sampling, seed, on_token)
            except asyncio.CancelledError:
                if not c.body.stopped:
                    raise
            finally:
                wake.set()

        task = asyncio.ensure_future(run())
        return task

    async def _run_all(self, request: Request, req: GenRequest, choices: list[Choice], base: int) -> None:
        wake = asyncio.Event()
        tasks = [self._task(req, c, base + c.index, wake) for c in choices]
        try:
            while not all(t.done() for t in tasks):
                try:
                    await asyncio.wait_for(asyncio.shield(asyncio.gather(*tasks, return_exceptions=True)), 0.5)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return  # the client left: the finally cancels its rows
            for t in tasks:
                if not t.cancelled() and t.exception() is not None:
                    raise t.exception()
            for c in choices:
                c.close()
        finally:
            for t in tasks:
                t.cancel()

    async def _stream(self, request, req: GenRequest, rid: str, choices: list[Choice], base: int, all_ids, release):
        wake = asyncio.Event()
        chat = req.kind == "chat"
        obj = "chat.completion.chunk" if chat else "text_completion"
        model = self.settings.model_name

        def chunk(index, delta=None, finish=None, ids=None, extra=None):
            if chat:
                ch = {"index": index, "delta": delta or {}, "finish_reason": finish}
            else:
                ch = {"index": index, "text": (delta or {}).get("text", ""), "logprobs": None, "finish_reason": finish}
                if "reasoning_content" in (delta or {}):
                    ch["reasoning_content"] = delta["reasoning_content"]
                if req.return_token_ids and ids is not None:
                    ch["token_ids"] = ids
            if extra:
                ch.update(extra)
            data = {"id": rid, "object": obj, "created": int(time.time()), "model": model, "choices": [ch]}
            if req.include_usage:
                data["usage"] = None
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        tasks = []
        try:
            if chat:
                for c in choices:
                    yield chunk(c.index, {"role": "assistant", "content": ""})
            tasks = [self._task(req, c, base + c.index, wake) for c in choices]
            pending = {c.index: (c, t) for c, t in zip(choices, tasks)}
            while pending:
                await wake.wait()
                wake.clear()
                for idx, (c, t) in list(pending.items()):
                    if t.done():
                        if not t.cancelled() and t.exception() is not None:
                            raise t.exception()
                        c.close()
                    for name, text, ids in c.events:
                        if text or (ids and not chat):
                            yield chunk(idx, {name: text}, ids=ids)
                    c.events.clear()
                    if t.done():
                        extra = {"stop_reason": c.row.stop_token} if isinstance(c.row, PlainRow) and c.row.stop_token \
                            is not None and not c.body.stopped else None
                        yield chunk(idx, {}, c.finish, ids=[] if req.return_token_ids else None, extra=extra)
                        del pending[idx]
            if req.include_usage:
                data = {"id": rid, "object": obj, "created": int(time.time()), "model": model, "choices": [],
                        "usage": self._usage(choices, all_ids)}
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"
        except Exception as e:  # the stream has begun: the failure becomes its last event
            if not isinstance(e, ServiceError):
                log.exception("s1 serve: a stream failed")
            message = str(e) if isinstance(e, ServiceError) else f"internal error ({type(e).__name__})"
            err = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
            yield f"data: {json.dumps(err)}\n\n"
        finally:
            for t in tasks:
                t.cancel()
            release()

    def _usage(self, choices: list[Choice], all_ids) -> dict:
        completion = sum(len(c.out) for c in choices)
        prompt = sum(len(i) for i in all_ids)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "completion_tokens_details": {"reasoning_tokens": sum(c.thinking_tokens for c in choices)}}

    def _response(self, req: GenRequest, rid: str, choices: list[Choice], all_ids, scored=None) -> dict:
        out = []
        for k, c in enumerate(choices):
            if req.kind == "chat":
                ch = {"index": c.index, "message": {"role": "assistant", "content": c.body.text,
                                                    "reasoning_content": c.think.text},
                      "finish_reason": c.finish, "logprobs": None}
            else:
                text = self.tok.decode(c.ids) + c.body.text if req.echo else c.body.text
                ch = {"index": c.index, "text": text, "finish_reason": c.finish,
                      "logprobs": scored[k] if scored else None}
                if c.split:
                    ch["reasoning_content"] = c.think.text
                if req.return_token_ids:
                    ch["token_ids"] = c.out
                if isinstance(c.row, PlainRow) and c.row.stop_token is not None and not c.body.stopped:
                    ch["stop_reason"] = c.row.stop_token
            ch["s1"] = c.info()
            out.append(ch)
        return {"id": rid, "object": "chat.completion" if req.kind == "chat" else "text_completion",
                "created": int(time.time()), "model": self.settings.model_name, "choices": out,
                "usage": self._usage(choices, all_ids)}


def create_app(service, settings: ServeSettings) -> FastAPI:
    """The FastAPI application of `s1 serve` over a service (LocalService or UpstreamService)."""
    server = Server(service, settings)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await service.close()

    app = FastAPI(title="s1 serve", version="1", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.server = server

    @app.exception_handler(RequestError)
    async def _request_error(_request, e: RequestError):
        return _error(str(e), e.status, e.kind, e.param)

    @app.exception_handler(ServiceError)
    async def _service_error(_request, e: ServiceError):
        return _error(str(e), 502, "server_error")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request, e: StarletteHTTPException):
        return _error(str(e.detail), e.status_code, "invalid_request_error" if e.status_code < 500 else "server_error")

    @app.exception_handler(Exception)
    async def _bug(_request, e: Exception):  # a bug of ours: still an OpenAI-style body (and a logged traceback)
        return _error(f"internal error ({type(e).__name__})", 500, "server_error")

    @app.get("/v1/models")
    async def models(request: Request):
        server.check_auth(request)
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model", "created": server.created,
                                            "owned_by": "s1", "max_model_len": service.context_length}]}

    @app.get("/tokenizer_info")
    async def tokenizer_info_route(request: Request):
        server.check_auth(request)
        return tokenizer_info(server.tok, server.template, service.context_length)

    @app.post("/tokenize")
    async def tokenize_route(request: Request):
        server.check_auth(request)
        body = await server.read_json(request)
        return await asyncio.to_thread(tokenize, body, server.tok, server.template, service.context_length)

    @app.post("/detokenize")
    async def detokenize_route(request: Request):
        server.check_auth(request)
        return detokenize(await server.read_json(request), server.tok)

    @app.get("/health")
    async def health():
        return {"status": "ok", "active_choices": server.active}  # rows in flight, as --max-concurrent counts

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await server.handle(request, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await server.handle(request, "completion")

    return app
