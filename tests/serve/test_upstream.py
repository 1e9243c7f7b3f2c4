"""`s1 serve --upstream` in front of a real llama.cpp server, an upstream that dies mid-request, and
`s1 serve` itself as the server of the `openai` backend (the shared behaviour suite)."""

from __future__ import annotations

import gc
import http.server
import json
import threading

import httpx
import pytest
from backend_suite import CHECKS

from helpers import Running, serve_engine, start_llama

from s1.backends.openai import OpenAIBackend
from s1.serve import UpstreamService
from s1.serve.app import ServeSettings, create_app

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def llama():
    server, root = start_llama(n_parallel=4)
    yield root
    del server
    gc.collect()


def _front(base_url: str, **kw) -> Running:
    backend = OpenAIBackend(base_url=base_url, retries=1, backoff=0.05, **kw)
    return Running(create_app(UpstreamService(backend), ServeSettings("up")))


@pytest.fixture(scope="module")
def front(llama):
    run = _front(llama + "/v1", template="s1")  # the embedded model tries to stop early under s1 (the checks need it)
    yield run
    run.stop()


def test_budget_forcing_in_front_of_llama_cpp(front):
    c = openai.OpenAI(base_url=front.url, api_key="none", max_retries=0)
    kw = dict(model="up", messages=[{"role": "user", "content": "What is 12 + 30?"}], max_tokens=12, temperature=0,
              extra_body={"thinking": {"min_tokens": 20, "max_tokens": 20}})
    r = c.chat.completions.create(**kw)
    info = r.choices[0].model_extra["s1"]
    assert info["thinking_tokens"] == 20 and info["thinking_cut"] and info["num_ignored"] >= 1
    assert r.usage.completion_tokens_details.reasoning_tokens == 20
    msg = r.choices[0].message
    assert "Wait" in msg.model_extra["reasoning_content"] and msg.content.startswith("Final Answer:")
    think, content = "", ""
    for ch in c.chat.completions.create(stream=True, **kw):
        if ch.choices:
            think += (ch.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            content += ch.choices[0].delta.content or ""
    assert (think, content) == (msg.model_extra["reasoning_content"], msg.content)


def test_plain_completion_is_forwarded(front, llama):
    c = openai.OpenAI(base_url=front.url, api_key="none", max_retries=0)
    r = c.completions.create(model="up", prompt="The capital of France is", max_tokens=6, temperature=0)
    direct = httpx.post(llama + "/v1/completions", json={"prompt": "The capital of France is", "max_tokens": 6,
                                                         "temperature": 0}, timeout=60).json()
    assert r.choices[0].text == direct["choices"][0]["text"]


class _Dying(http.server.BaseHTTPRequestHandler):
    """An upstream that lists a model, breaks its first completion off after two tokens and is dead
    from then on: every later request has its connection closed without an answer. (An upstream that
    merely drops a stream and comes back is not an error: the next round goes on from there.)"""

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "dying", "max_model_len": 4096}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        if getattr(self.server, "dead", False):
            self.connection.shutdown(2)
            return
        self.server.dead = True
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for tok in (504, 2988):
            chunk = {"choices": [{"index": 0, "text": "x", "finish_reason": None,
                                  "logprobs": {"content": [{"id": tok, "token": "x", "logprob": 0.0}]}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.connection.shutdown(2)  # dies mid-request: no finish, no [DONE]


def test_upstream_dying_mid_request(tiny_engine):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dying)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    run = _front(f"http://127.0.0.1:{srv.server_address[1]}/v1", tokenizer=None)
    try:
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0,
                "thinking": {"max_tokens": 40}}
        r = httpx.post(run.url + "/chat/completions", json=body, timeout=60)
        assert r.status_code == 502 and r.json()["error"]["message"].startswith("upstream:")
        with httpx.stream("POST", run.url + "/chat/completions", json={**body, "stream": True}, timeout=60) as s:
            events = [line for line in s.iter_lines() if line.startswith("data: ")]
        assert json.loads(events[-1][6:])["error"]["message"].startswith("upstream:")
        assert run.app.state.server.active == 0
        assert httpx.get(run.url + "/models", timeout=10).json()["data"][0]["id"] == "up"  # still serving
    finally:
        run.stop()
        srv.shutdown()


@pytest.fixture(scope="module")
def s1_as_upstream(tiny_engine):
    run, _ = serve_engine(tiny_engine, max_batch=8)
    backend = OpenAIBackend(base_url=run.url, tokenizer=None, retries=1)
    backend.tokenizer, backend.template = tiny_engine.tokenizer, tiny_engine.template
    yield backend
    run.stop()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_openai_backend_against_s1serve_engine(s1_as_upstream, check):
    check(s1_as_upstream)
