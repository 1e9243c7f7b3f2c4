"""lm-eval's own API models (`local-completions`, `local-chat-completions`) against a real `s1 serve`: the
tokenizer routes they probe, thinking on /v1/completions (stop strings end the answer only), and
`echo` + `logprobs` for loglikelihood (multiple-choice) requests."""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from helpers import serve_engine

from s1 import BudgetConfig

pytest.importorskip("lm_eval")
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.models.api_models import JsonChatStr  # noqa: E402
from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI  # noqa: E402
from lm_eval.utils import RemoteTokenizer  # noqa: E402

QUESTION = "Count the letters in banana."
THINK = {"min_tokens": 8, "max_tokens": 8}


@pytest.fixture(scope="module")
def server(tiny_engine):
    run, _ = serve_engine(tiny_engine)
    yield run
    run.stop()


@pytest.fixture(scope="module")
def completions(server):
    """lm-eval's local-completions with no tokenizer arguments: it must find the server's tokenizer."""
    return LocalCompletionsAPI(base_url=server.url + "/completions", model="m", max_length=256)


@pytest.fixture(scope="module")
def reference(tiny_engine):
    """What the engine itself writes for QUESTION with 8 thinking tokens and 8 answer tokens (greedy)."""
    [ref] = tiny_engine.generate([QUESTION], BudgetConfig(min_thinking_tokens=8, max_thinking_tokens=8,
                                                          max_answer_tokens=8))
    assert ref.thinking and ref.answer
    return ref


def _logprob(model, ids: list[int], start: int) -> tuple[float, bool]:
    with torch.inference_mode():
        lp = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
    total = sum(float(lp[p - 1, ids[p]]) for p in range(start, len(ids)))
    return total, all(int(lp[p - 1].argmax()) == ids[p] for p in range(start, len(ids)))


def test_tokenizer_routes_as_vllm_serves_them(server, tiny_engine):
    tok, root = tiny_engine.tokenizer, server.url[: -len("/v1")]
    info = httpx.get(root + "/tokenizer_info").json()
    assert info["eos_token"] == tok.eos_token and info["model_max_length"] == 256
    text = "Hello <|im_start|>world"
    r = httpx.post(root + "/tokenize", json={"prompt": text, "add_special_tokens": False}).json()
    assert r["tokens"] == tok.encode(text, add_special_tokens=False) and r["count"] == len(r["tokens"])
    assert httpx.post(root + "/detokenize", json={"tokens": r["tokens"]}).json()["prompt"] == text
    remote = RemoteTokenizer(root)  # lm-eval's own client of these routes (local-completions uses it)
    msgs = [{"role": "user", "content": QUESTION}]
    assert remote.apply_chat_template(msgs) == tiny_engine.render(QUESTION)  # thinking opened, as chat runs it
    assert remote.encode("a b") == tok.encode("a b", add_special_tokens=False)
    assert remote.decode([42, 43]) == tok.decode([42, 43])
    chat = httpx.post(root + "/tokenize", json={"messages": msgs}).json()
    assert chat["tokens"] == tiny_engine.template.encode_prompt(tok, QUESTION)  # thinking opened, as chat runs it
    bad = httpx.post(root + "/detokenize", json={"tokens": [10**9]})
    assert bad.status_code == 400 and "vocabulary" in bad.json()["error"]["message"]


def test_local_completions_loglikelihood_is_the_models_own(completions, tiny_engine):
    """Multiple-choice scoring through lm-eval's local-completions (echo + logprobs on a plain completion):
    the server's numbers are the model's log-probs of the continuation, and whether greedy decoding gives it."""
    assert completions.tokenizer_backend == "remote"
    tok, model = tiny_engine.tokenizer, tiny_engine.model
    pairs = [("The answer is", " 7"), ("Let me think. The answer is 7, so", " we count r.")]
    got = completions.loglikelihood([Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)])
    for (ctx, cont), (lp, greedy) in zip(pairs, got):
        ids = tok.encode(ctx + cont, add_special_tokens=False)
        want_lp, want_greedy = _logprob(model, ids, len(tok.encode(ctx, add_special_tokens=False)))
        assert lp == pytest.approx(want_lp, abs=1e-3) and greedy == want_greedy


def test_local_completions_thinking_stops_end_the_answer_only(server, completions, tiny_engine, reference):
    """A stop string the thinking contains does not end the thinking (8 tokens, as asked): `text` is the
    answer, cut at the stop string; the thinking comes back in `reasoning_content`."""
    prompt = tiny_engine.render(QUESTION)  # a completions prompt is rendered up to where thinking starts
    stop = next(ch for ch in reference.thinking if ch.strip() and ch in reference.answer)  # in both
    gen = {"until": [stop], "max_gen_toks": 8, "thinking": dict(THINK)}
    # as lm-eval sends it: the prompt string, and the chat under --apply_chat_template (the server renders it)
    chat = completions.apply_chat_template([{"role": "user", "content": QUESTION}])
    answers = completions.generate_until([Instance("generate_until", {}, (p, dict(gen)), i)
                                          for i, p in enumerate([prompt, chat])])
    answer = reference.answer.split(stop)[0]
    assert answers == [answer, answer] and len(answer) < len(reference.answer)
    body = {"model": "m", "prompt": prompt, "max_tokens": 8, "temperature": 0, "stop": [stop], "thinking": THINK}
    [c] = httpx.post(server.url + "/completions", json=body, timeout=60).json()["choices"]
    assert c["reasoning_content"] == reference.thinking and c["s1"]["thinking_tokens"] == 8
    assert c["text"] == answer and c["finish_reason"] == "stop"
    chunks = []
    with httpx.stream("POST", server.url + "/completions", json={**body, "stream": True}, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                chunks += json.loads(line[6:])["choices"]
    assert "".join(ch.get("reasoning_content", "") for ch in chunks) == reference.thinking
    assert "".join(ch["text"] for ch in chunks) == answer


def test_local_chat_completions_with_a_thinking_budget(server, reference):
    chat = LocalChatCompletion(base_url=server.url + "/chat/completions", model="m")
    ctx = JsonChatStr(json.dumps([{"role": "user", "content": QUESTION}]))
    [answer] = chat.generate_until([Instance("generate_until", {}, (ctx, {"max_gen_toks": 8, "thinking": THINK}), 0)])
    assert answer == reference.answer


@pytest.mark.parametrize("extra, says", [
    ({"echo": True, "logprobs": 1, "thinking": THINK}, "multiple_choice"),
    ({"echo": True, "stream": True}, "stream"),
    ({"logprobs": 9}, "between 0 and 5"),
])
def test_scoring_requests_that_cannot_run_say_why(server, extra, says):
    r = httpx.post(server.url + "/completions", json={"prompt": "Hi there", "max_tokens": 1, **extra})
    assert r.status_code == 400 and says in r.json()["error"]["message"]


def test_the_s1_model_on_the_openai_backend_against_s1_serve(server, reference):
    """`--model s1 --model_args backend=openai,base_url=...`: budget forcing in rounds of plain completions
    against the server gives what the engine gives itself; scoring requests say they need transformers."""
    from s1.lm_eval import S1LM, S1LMError

    lm = S1LM(backend="openai", base_url=server.url, template="s1", min_thinking=8, max_thinking=8)
    req = Instance("generate_until", {}, (QUESTION, {"max_gen_toks": 8}), 0)
    assert lm.generate_until([req]) == [reference.answer]
    [rec] = req.args[1]["s1"]
    assert rec["thinking"] == reference.thinking and rec["thinking_tokens"] == 8
    with pytest.raises(S1LMError, match="multiple_choice, loglikelihood and loglikelihood_rolling"):
        lm.loglikelihood([Instance("loglikelihood", {}, ("The answer is", " 7"), 0)])
