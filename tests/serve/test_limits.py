"""`s1 serve` under hostile requests: what one request carries never reaches another request's rows."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest
from helpers import serve_engine

from s1 import BudgetConfig, SamplingConfig
from s1.budget import RowBudget
from s1.serve import LocalService, ServiceError
from s1.serve.protocol import Limits

openai = pytest.importorskip("openai")

CHAT = {"messages": [{"role": "user", "content": "How many r in raspberry?"}], "max_tokens": 6, "temperature": 0,
        "thinking": {"min_tokens": 12, "max_tokens": 12}}
# a greedy stream long enough to be decoding when another request arrives
CANARY = {"messages": [{"role": "user", "content": "Count to three."}], "max_tokens": 8, "temperature": 0,
          "stream": True, "thinking": {"min_tokens": 150, "max_tokens": 150}}


@pytest.fixture(scope="module")
def server(tiny_engine):
    run, service = serve_engine(tiny_engine, limits=Limits(max_n=8))
    yield run, service
    run.stop()


def post(url, body=None, raw=None, path="/chat/completions"):
    return httpx.post(url + path, content=raw if raw is not None else json.dumps(body),
                      headers={"content-type": "application/json"}, timeout=120)


def openai_error(r, status=400) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and isinstance(err["message"], str)
    return err


def stream_text(lines) -> tuple[str, str, str | None]:
    """(thinking, answer, finish) of a chat stream's SSE lines; fails on an error event."""
    think = answer = ""
    finish = None
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        data = json.loads(line[6:])
        assert "error" not in data, data
        for ch in data["choices"]:
            think += ch["delta"].get("reasoning_content") or ""
            answer += ch["delta"].get("content") or ""
            finish = ch["finish_reason"] or finish
    return think, answer, finish


def canary_alone(url):
    with httpx.stream("POST", url + "/chat/completions", json=CANARY, timeout=120) as s:
        return stream_text(s.iter_lines())


# -- numbers JSON does not have ---------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
    b'{"messages": [{"role": "user", "content": "hi"}], "top_p": Infinity}',
    b'{"messages": [{"role": "user", "content": "hi"}], "temperature": -Infinity}',
    b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e999}',
    b'{"messages": [{"role": "user", "content": "hi"}], "user": NaN}',  # even where the value is ignored
    b'{"messages": [{"role": "user", "content": "hi"}], "thinking": {"max_tokens": NaN}}',
])
def test_non_finite_numbers_are_rejected(server, raw):
    err = openai_error(post(server[0].url, raw=raw))
    assert "malformed JSON" in err["message"] and err["type"] == "invalid_request_error"


def test_numbers_that_are_not_floats_are_rejected(server):
    huge = b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1' + b"0" * 400 + b"}"
    assert "finite" in openai_error(post(server[0].url, raw=huge))["message"]
    digits = b'{"messages": [{"role": "user", "content": "hi"}], "n": 1' + b"0" * 5000 + b"}"
    assert "malformed JSON" in openai_error(post(server[0].url, raw=digits))["message"]
    seed = {**CHAT, "seed": 2**70}
    assert openai_error(post(server[0].url, seed))["param"] == "seed"


def test_nan_request_does_not_fail_the_batch_it_would_join(server):
    """The issue's failure: a NaN temperature passed validation and then failed every row decoding with it."""
    url = server[0].url
    alone = canary_alone(url)
    with httpx.stream("POST", url + "/chat/completions", json=CANARY, timeout=120) as s:
        lines = s.iter_lines()
        head = [next(lines) for _ in range(4)]  # the canary is decoding now
        r = post(url, raw=json.dumps({**CHAT, "temperature": 0.7}).replace("0.7", "NaN").encode())
        openai_error(r)
        assert stream_text([*head, *lines]) == alone
    assert server[0].app.state.server.active == 0


def test_tiny_temperature_is_greedy(server):
    """1e-300 is in [0, 2] but divides float32 logits into inf: it samples greedily instead of failing."""
    url = server[0].url
    greedy = post(url, {**CHAT, "temperature": 0}).json()["choices"][0]["message"]
    tiny = post(url, {**CHAT, "temperature": 1e-300, "seed": 1})
    assert tiny.status_code == 200 and tiny.json()["choices"][0]["message"] == greedy


def test_a_row_whose_sampling_fails_fails_alone(tiny_engine):
    """The batcher's guard behind validation: a row whose own sampling raises ends with an error, and
    the rows decoding with it go on token for token."""
    tok = tiny_engine.tokenizer
    budget = BudgetConfig(min_thinking_tokens=40, max_thinking_tokens=40, max_answer_tokens=6)
    [ref] = tiny_engine.generate(["Is 91 prime?"], budget)
    ids = tiny_engine.template.encode_prompt(tok, "Is 91 prime?")
    plan = tiny_engine.template.plan(tok, budget)
    service = LocalService(tiny_engine, max_batch=4)
    bad = SamplingConfig(temperature=math.nan, seed=0)
    got = []

    async def main():
        good = service.run(ids, RowBudget(plan, room=256 - len(ids)), SamplingConfig(), SamplingConfig(), 0,
                           lambda t, part: got.append(t))
        poisoned = service.run(ids, RowBudget(plan, room=256 - len(ids)), bad, bad, 0, lambda t, part: None)
        return await asyncio.gather(good, poisoned, return_exceptions=True)

    try:
        ok, err = asyncio.run(main())
    finally:
        service.batcher.close()
    assert ok is None and isinstance(err, ServiceError)
    eot = tiny_engine.template.eot_ids(tok)
    assert got == [t for t in ref.completion_ids if t not in eot]


def test_an_unexpected_failure_still_answers_in_the_openai_shape(tiny_engine):
    """A bug of ours (here: a service that raises) is a 500 with an OpenAI error body, or the last event
    of a stream that has begun, never a bare text page or a cut connection."""
    run, service = serve_engine(tiny_engine)

    async def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    service.run = broken
    try:
        err = openai_error(post(run.url, CHAT), 500)
        assert err["type"] == "server_error" and err["message"] == "internal error (ZeroDivisionError)"
        with httpx.stream("POST", run.url + "/chat/completions", json={**CHAT, "stream": True}, timeout=60) as s:
            events = [line[6:] for line in s.iter_lines() if line.startswith("data: ")]
        assert json.loads(events[-1])["error"]["message"] == "internal error (ZeroDivisionError)"
        assert run.app.state.server.active == 0
    finally:
        run.stop()


# -- malformed bodies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,needle", [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
    (b'{"messages": [{"role": "user", "content": "\\ud800 hi"}]}', "lone surrogate"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "\\udfff": 1}', "lone surrogate"),
    (b'{"messages": [{"role": ["user"], "content": "hi"}]}', "needs a role"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": {"a": 1}}', "reasoning_effort"),
    (b'\xff\xfe{"messages": 1}', "malformed JSON"),
])
def test_malformed_bodies_get_openai_errors(server, raw, needle):
    assert needle in openai_error(post(server[0].url, raw=raw))["message"]


def test_stop_and_extend_sizes_are_limited(server):
    url = server[0].url
    assert openai_error(post(url, {**CHAT, "stop": ["x" * 257]}))["param"] == "stop"
    many = {**CHAT, "thinking": {"max_tokens": 12, "extend": ["Wait"] * 17}}
    assert "at most 16" in openai_error(post(url, many))["message"]


# -- every choice of every prompt counts ----------------------------------------------------------------

def test_prompt_lists_count_against_the_n_cap(server):
    url = server[0].url
    body = {"max_tokens": 3, "temperature": 0.5, "seed": 1}
    err = openai_error(post(url, {**body, "prompt": ["Say hi."] * 20}, path="/completions"))
    assert err["param"] == "n" and "20 choices" in err["message"]
    err = openai_error(post(url, {**body, "prompt": ["Say hi."] * 3, "n": 3}, path="/completions"))
    assert "9 choices" in err["message"]
    ok = post(url, {**body, "prompt": ["Say hi.", "Say yo."] * 2, "n": 2}, path="/completions")
    assert ok.status_code == 200 and [c["index"] for c in ok.json()["choices"]] == list(range(8))


def test_in_flight_limit_counts_choices(tiny_engine):
    run, _ = serve_engine(tiny_engine, max_concurrent=4, limits=Limits(max_n=8))
    try:
        url = run.url
        assert "at most 4 at once" in openai_error(post(url, {**CHAT, "n": 5, "temperature": 1}))["message"]
        held = {**CANARY, "n": 3, "temperature": 1, "seed": 3}
        with httpx.stream("POST", url + "/chat/completions", json=held, timeout=120) as s:
            lines = s.iter_lines()
            next(lines)
            assert httpx.get(url.removesuffix("/v1") + "/health").json()["active_choices"] == 3
            two = post(url, {"prompt": ["a", "b"], "max_tokens": 2, "temperature": 0}, path="/completions")
            assert openai_error(two, 429)["type"] == "rate_limit_error"
            assert post(url, CHAT).status_code == 200  # one more choice still fits
            for _ in lines:
                pass
        assert run.app.state.server.active == 0
    finally:
        run.stop()


# -- load with a poisoned request --------------------------------------------------------------------------

def test_48_streaming_clients_with_one_poisoned(server, tiny_engine):
    """47 official-client streams and one NaN request at once: 47 exact results, one 400, nothing leaks."""
    run, service = server
    prompts = ["How many r in raspberry?", "What is 2+2?", "Name a colour.", "Count to three.", "Is 91 prime?",
               "Say hello."]
    budgets = [dict(min_tokens=10, max_tokens=10), dict(min_tokens=4, max_tokens=30, num_ignore=1),
               dict(max_tokens=20)]
    ref = {j: tiny_engine.generate(prompts, BudgetConfig(min_thinking_tokens=b.get("min_tokens", 0),
                                                         max_thinking_tokens=b["max_tokens"],
                                                         num_ignore=b.get("num_ignore", 0), max_answer_tokens=6))
           for j, b in enumerate(budgets)}

    async def client(k):
        async with openai.AsyncOpenAI(base_url=run.url, api_key="none", max_retries=0) as c:
            stream = await c.chat.completions.create(
                model="m", messages=[{"role": "user", "content": prompts[k % 6]}], max_tokens=6, temperature=0,
                stream=True, stream_options={"include_usage": True}, extra_body={"thinking": budgets[k % 3]})
            think, answer, usage = "", "", None
            async for ch in stream:
                if ch.choices:
                    d = ch.choices[0].delta
                    think += (d.model_extra or {}).get("reasoning_content") or ""
                    answer += d.content or ""
                else:
                    usage = ch.usage
            return think, answer, usage.completion_tokens_details.reasoning_tokens

    async def poisoned():
        raw = json.dumps({**CHAT, "stream": True, "temperature": 0.5}).replace("0.5", "NaN")
        async with httpx.AsyncClient(timeout=120) as c:
            r = await c.post(run.url + "/chat/completions", content=raw, headers={"content-type": "application/json"})
            return r.status_code, r.json()

    async def main():
        return await asyncio.gather(*[client(k) for k in range(47)], poisoned())

    before = service.batcher.stats["admitted"]
    *streams, (status, body) = asyncio.run(main())
    assert status == 400 and "NaN" in body["error"]["message"]
    for k, (think, answer, n_think) in enumerate(streams):
        want = ref[k % 3][k % 6]
        assert (think, answer, n_think) == (want.thinking, want.answer, want.thinking_tokens), k
    assert all(streams[k][2] == 10 for k in range(0, 47, 3))  # the exact budgets held
    assert service.batcher.stats["admitted"] - before == 47
    assert run.app.state.server.active == 0
