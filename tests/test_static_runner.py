"""StaticRunner (preallocated KV cache, lean Llama-family forward) against the Hugging Face forward."""

import pytest
import torch
from helpers import WORDS, qwen_tokenizer, smol_tokenizer, tiny_model

from s1.static_runner import StaticRunner, unsupported_reason

ATOL = 2e-5  # fp32: the same operations in a different grouping (fused q/k/v, gate/up)


def noisy(model, seed=0):
    """Spread the tiny model's output mass over the whole vocabulary, so every logit is compared."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def config_model(arch, **overrides):
    """A tiny random model of an architecture tiny_model does not build (Mistral, scaled rope, tied head)."""
    import transformers

    cfg_cls, model_cls = {"llama": ("LlamaConfig", "LlamaForCausalLM"),
                          "mistral": ("MistralConfig", "MistralForCausalLM")}[arch]
    kw = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=1, max_position_embeddings=512)
    kw.update(overrides)
    torch.manual_seed(1)
    return getattr(transformers, model_cls)(getattr(transformers, cfg_cls)(**kw)).float().eval()


@torch.inference_mode()
def reference(model, seq):
    """The HF model's next-token logits after `seq`, from scratch (no cache)."""
    return model(input_ids=torch.tensor([seq])).logits[0, -1]


def check(runner, model, slots, seqs, logits):
    for s, row in zip(slots, logits):
        torch.testing.assert_close(row, reference(model, seqs[s]), atol=ATOL, rtol=0)


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def model(request):
    tok = smol_tokenizer() if request.param == "llama" else qwen_tokenizer()
    return noisy(tiny_model(tok, WORDS, seed=3, arch=request.param))


def test_rows_of_different_lengths_any_order_and_subsets(model):
    runner = StaticRunner(model, max_rows_hint=2, max_len_hint=8)  # both capacities grow during the test
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    slots = runner.alloc(4)
    seqs = {s: torch.randint(0, vocab, (n,), generator=g).tolist() for s, n in zip(slots, (5, 17, 1, 9))}
    check(runner, model, slots, seqs, runner.prefill(slots, [seqs[s] for s in slots]))
    assert [runner.length(s) for s in slots] == [5, 17, 1, 9]
    for step in range(10):
        asked = [slots[i] for i in ([3, 0, 2, 1], [1, 2], [0, 1, 2, 3], [2, 0])[step % 4]]
        tokens = torch.randint(0, vocab, (len(asked),), generator=g).tolist()
        for s, t in zip(asked, tokens):
            seqs[s].append(t)
        check(runner, model, asked, seqs, runner.decode(asked, tokens))
    assert [runner.length(s) for s in slots] == [len(seqs[s]) for s in slots]
    assert runner.rows >= 4 and runner.max_len >= 27


def test_fork_free_and_slot_reuse(model):
    runner = StaticRunner(model, max_rows_hint=4, max_len_hint=64)
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(1)
    a, b, c = runner.alloc(3)
    seqs = {a: torch.randint(0, vocab, (12,), generator=g).tolist(), b: [5, 6, 7], c: [9] * 20}
    runner.prefill([a, b, c], [seqs[a], seqs[b], seqs[c]])
    runner.free([b])  # a hole below c: the next decodes attend over a slot range with a free slot in it
    [d] = runner.alloc(1)
    assert d == b  # the lowest free slot is reused; its old contents are never seen
    runner.fork(a, d)
    assert runner.length(d) == 12
    seqs[d] = list(seqs[a])
    for t in range(6):
        live = [a, d, c] if t % 2 else [c, d, a]
        toks = [(7 * t + 3 * i) % vocab for i in range(3)]  # parent and child diverge at once
        for s, tok in zip(live, toks):
            seqs[s].append(tok)
        check(runner, model, live, seqs, runner.decode(live, toks))
    runner.free([a])
    [e] = runner.alloc(1)
    seqs[e] = [1, 2, 3, 4]
    check(runner, model, [e], seqs, runner.prefill([e], [seqs[e]]))
    seqs[c].append(11)
    check(runner, model, [c], seqs, runner.decode([c], [11]))  # alone, in a range with live rows


def test_prefill_appends_to_a_slot_that_holds_tokens(model):
    runner = StaticRunner(model, max_rows_hint=2, max_len_hint=16)
    a, b = runner.alloc(2)
    seqs = {a: [3, 1, 4, 1, 5], b: [2, 7]}
    runner.prefill([a, b], [seqs[a], seqs[b]])
    more = {a: [9, 2, 6], b: [5, 3, 5, 8, 9, 7, 9]}
    logits = runner.prefill([b, a], [more[b], more[a]])
    for s in (a, b):
        seqs[s] += more[s]
    check(runner, model, [b, a], seqs, logits)


@pytest.mark.parametrize("arch,overrides", [
    ("llama", dict(tie_word_embeddings=True, rms_norm_eps=1e-5)),
    ("llama", dict(rope_parameters={"rope_type": "llama3", "rope_theta": 50000.0, "factor": 8.0,
                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 64})),
    ("llama", dict(rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
                   attention_bias=True, num_key_value_heads=4)),
    ("mistral", dict(sliding_window=None, num_key_value_heads=2)),
])
def test_config_variants_match(arch, overrides):
    model = config_model(arch, **overrides)
    runner = StaticRunner(model, max_rows_hint=2, max_len_hint=32)
    seqs = {0: list(range(40, 110)), 1: [7, 8, 9]}  # row 0 passes the scaled rope's original length
    slots = runner.alloc(2)
    assert slots == [0, 1]
    check(runner, model, slots, seqs, runner.prefill(slots, [seqs[0], seqs[1]]))
    for t in range(3):
        for s in slots:
            seqs[s].append(t + 1)
        check(runner, model, slots, seqs, runner.decode(slots, [t + 1, t + 1]))


def test_unsupported_models_are_named():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50))
    assert unsupported_reason(gpt2) == "model type 'gpt2' is not one of llama, qwen2, mistral"
    windowed = config_model("mistral", sliding_window=16)
    assert unsupported_reason(windowed) == "sliding-window attention"
    with pytest.raises(ValueError, match="StaticRunner does not support this model: sliding-window attention"):
        StaticRunner(windowed)
    dynamic = config_model("llama", rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})
    assert unsupported_reason(dynamic) == "rope type 'dynamic'"


@pytest.mark.slow
def test_embedded_model_greedy_tokens_equal_hf_generate():
    import s1

    engine = s1.load(dtype="float32")
    tok, model = engine.tokenizer, engine.model
    prompts = ["The three primary colours are", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number."]
    ids = [tok.encode(p, add_special_tokens=False) for p in prompts]
    runner = StaticRunner(model, max_rows_hint=2)
    slots = runner.alloc(2)
    logits = runner.prefill(slots, ids)
    ours = [[] for _ in ids]
    for _ in range(48):
        nxt = logits.argmax(-1).tolist()
        for o, t in zip(ours, nxt):
            o.append(t)
        logits = runner.decode(slots, nxt)
    for p, o in zip(ids, ours):
        with torch.inference_mode():
            out = model.generate(torch.tensor([p]), max_new_tokens=48, do_sample=False, pad_token_id=tok.pad_token_id)
        hf = out[0, len(p):].tolist()  # generate stops at an end token; our loop went on past it
        assert len(hf) >= 16 and o[: len(hf)] == hf
