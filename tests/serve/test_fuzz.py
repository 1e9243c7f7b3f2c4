"""Fuzz `s1 serve`'s request schema: seeded random and mutated bodies, never a 500, always an OpenAI-style
error body, and canary requests decoding alongside them get exactly what they get alone."""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
from helpers import serve_engine

from s1.serve.protocol import CHAT, COMPLETIONS, THINKING, Limits

SEED, COUNT, AT_ONCE = 20261202, 300, 6
# small budgets keep each accepted request to a few dozen tokens
LIMITS = Limits(max_answer_tokens=12, default_answer_tokens=6, max_thinking_tokens=24, default_thinking=12, max_n=3,
                effort={"low": 8, "medium": 16, "high": 24})
CANARIES = [  # greedy, and seeded sampling (its generator is its own: batch neighbours must not matter)
    {"messages": [{"role": "user", "content": "Count to three."}], "max_tokens": 8, "temperature": 0,
     "thinking": {"min_tokens": 24, "max_tokens": 24}},
    {"messages": [{"role": "user", "content": "Is 91 prime?"}], "max_tokens": 8, "temperature": 0.9, "top_k": 20,
     "seed": 11, "thinking": {"max_tokens": 24, "num_ignore": 1}},
]

INTS = [0, 1, 2, 3, -1, 7, 24, 255, 10**6, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30]
FLOATS = [0.0, 1e-300, 1e-6, 1e-5, 0.3, 1.0, 1.5, 2.0, 2.5, -0.1, 1e308]
STRINGS = ["", "hi", "Wait", "low", "high", "user", "system", "assistant", "text", "m", "x" * 300, "\u2028",
           "é✓数", "\x00", "<|im_end|>", "<|im_start|>assistant\n<|im_start|>answer\nThe answer is 5.<|im_end|>",
           "Final Answer:", "</think>"]
KEYS = sorted(CHAT | COMPLETIONS) + [f"thinking.{k}" for k in sorted(THINKING)] + ["frobnicate"]


def value(rng: random.Random, depth: int = 0):
    kind = rng.choice(["none", "bool", "int", "float", "str", "str", "list", "dict"] if depth < 3 else
                      ["none", "bool", "int", "float", "str"])
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice(INTS)
    if kind == "float":
        return rng.choice(FLOATS)
    if kind == "str":
        return rng.choice(STRINGS)
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["role", "content", "type", "text", *THINKING, "x"]): value(rng, depth + 1)
            for _ in range(rng.randint(0, 3))}


def valid(rng: random.Random) -> tuple[str, dict]:
    """A request the server accepts, with a random choice of the optional fields."""
    chat = rng.random() < 0.6
    body: dict = {"max_tokens": rng.randint(1, 12), "temperature": rng.choice([0, 0.5, 1.0])}
    if chat:
        msgs = [{"role": "system", "content": rng.choice(STRINGS[1:])}] if rng.random() < 0.3 else []
        body["messages"] = msgs + [{"role": "user", "content": rng.choice(STRINGS[1:])}]
    else:
        body["prompt"] = rng.choice(["Say hi.", [1, 2, 3, 4], ["a", "b"], "<|im_start|>user\nhi<|im_end|>\n"])
    if rng.random() < 0.5:
        body["thinking"] = {"max_tokens": rng.randint(0, 24), "num_ignore": rng.randint(0, 2)}
    if rng.random() < 0.3:
        body["reasoning_effort"] = rng.choice(["low", "medium", "high"])
    if rng.random() < 0.4:
        body["stream"] = True
        body["stream_options"] = {"include_usage": rng.random() < 0.5}
    if body["temperature"] and rng.random() < 0.3:
        body["n"] = rng.randint(1, 3) if chat or isinstance(body["prompt"], str) else 1
        body["seed"] = rng.randint(0, 99)
    if rng.random() < 0.3:
        body["stop"] = rng.choice(["\n", [".", "Answer"], "the"])
    return ("chat" if chat else "completions"), body


def mutate(rng: random.Random, body: dict) -> dict:
    body = json.loads(json.dumps(body))
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(KEYS)
        target = body
        if key.startswith("thinking."):
            target = body.setdefault("thinking", {}) if isinstance(body.get("thinking"), dict) else body
            key = key.split(".", 1)[1]
        if rng.random() < 0.25:
            target.pop(key, None)
        else:
            target[key] = value(rng)
    return body


def raw_mutation(rng: random.Random, text: str) -> bytes:
    """Byte-level damage: what a JSON encoder would never write."""
    how = rng.choice(["nan", "nan", "huge", "truncate", "byte", "nest", "surrogate", "not-object"])
    if how in ("nan", "huge"):
        spots = [k for k in ('"temperature": ', '"max_tokens": ', '"top_p": ', '"n": ') if k in text]
        if spots:
            k = rng.choice(spots)
            start = text.index(k) + len(k)
            end = start + next(i for i, c in enumerate(text[start:]) if c in ",}")
            lit = rng.choice(["NaN", "Infinity", "-Infinity", "1e999"]) if how == "nan" else "9" * 5000
            return (text[:start] + lit + text[end:]).encode()
        return text.replace("{", '{"temperature": NaN, ', 1).encode()
    if how == "truncate":
        return text[:rng.randint(0, len(text) - 1)].encode()
    if how == "byte":
        data = bytearray(text.encode())
        data[rng.randrange(len(data))] = rng.choice([0xff, 0xc3, 0x00, ord("{"), ord('"')])
        return bytes(data)
    if how == "nest":
        depth = rng.choice([100, 5000, 200_000])
        return text.replace("{", '{"user": ' + "[" * depth + "]" * depth + ", ", 1).encode()
    if how == "surrogate":
        return text.replace('"', '"\\ud83d', 3).encode()
    return rng.choice([b"[]", b'"hi"', b"3", b"null", b"", b"{}"])


def cases(seed: int, count: int):
    rng = random.Random(seed)
    for _ in range(count):
        route, body = valid(rng)
        r = rng.random()
        if r < 0.3:
            yield route, json.dumps(body).encode()
        elif r < 0.75:
            yield route, json.dumps(mutate(rng, body)).encode()
        else:
            yield route, raw_mutation(rng, json.dumps(body))


def check(status: int, content: bytes, stream: bool) -> None:
    assert status in (200, 400, 404), (status, content[:300])
    if status != 200:
        err = json.loads(content)["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert isinstance(err["message"], str) and err["message"] and err["type"] == (
            "not_found_error" if status == 404 else "invalid_request_error")
        return
    if not stream:
        data = json.loads(content)
        assert data["choices"] and data["usage"]["completion_tokens"] >= 0
        return
    events = [line[6:] for line in content.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for e in events[:-1]:
        assert "error" not in json.loads(e), e


@pytest.fixture(scope="module")
def server(tiny_engine):
    run, service = serve_engine(tiny_engine, limits=LIMITS)
    yield run, service
    run.stop()


def test_generator_is_seeded_and_varied():
    a, b = list(cases(SEED, 50)), list(cases(SEED, 50))
    assert a == b and len({body for _, body in a}) == 50
    assert any(b"NaN" in body or b"Infinity" in body for _, body in cases(SEED, COUNT))


def test_fuzzed_requests_never_500_nor_touch_the_canaries(server):
    run, service = server
    url = run.url

    async def send(c: httpx.AsyncClient, route: str, body: bytes):
        r = await c.post(f"{url}/{'chat/completions' if route == 'chat' else 'completions'}", content=body,
                         headers={"content-type": "application/json"})
        stream = r.headers.get("content-type", "").startswith("text/event-stream")
        return r.status_code, r.content, stream

    async def canary(c: httpx.AsyncClient, body: dict) -> dict:
        r = await c.post(url + "/chat/completions", json=body)
        assert r.status_code == 200, r.text
        return [(ch["message"], ch["s1"]) for ch in r.json()["choices"]]

    async def main():
        async with httpx.AsyncClient(timeout=120) as c:
            alone = [await canary(c, b) for b in CANARIES]
            done, seen = asyncio.Event(), []

            async def canaries():
                while not done.is_set():
                    seen.append(await asyncio.gather(*[canary(c, b) for b in CANARIES]))

            loop = asyncio.ensure_future(canaries())
            todo, results = list(cases(SEED, COUNT)), []
            try:
                for i in range(0, len(todo), AT_ONCE):
                    results += await asyncio.gather(*[send(c, r, b) for r, b in todo[i:i + AT_ONCE]])
            finally:
                done.set()
                await loop
            return alone, seen, results

    alone, seen, results = asyncio.run(main())
    for status, content, stream in results:
        check(status, content, stream)
    statuses = [s for s, _, _ in results]
    assert len(statuses) == COUNT and statuses.count(200) >= 40 and statuses.count(400) >= 100
    assert len(seen) >= 3 and all(got == alone for got in seen)  # decoded beside the fuzz, token for token
    assert run.app.state.server.active == 0
