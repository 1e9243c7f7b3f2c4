"""Tiny random reward checkpoints saved in each published layout (built once per test run)."""

import json

import pytest
import torch


def fresh_tokenizer(*extra):
    """The SmolLM2 tokenizer with `extra` tokens added (a fresh copy: the shared one stays untouched)."""
    from transformers import AutoTokenizer

    from s1.models import embedded_path

    tok = AutoTokenizer.from_pretrained(embedded_path())
    if extra:
        tok.add_tokens(list(extra))
    return tok


def tiny_kw(tok, hidden=32):
    return dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                tie_word_embeddings=False)


def make_classifier(tmp_path_factory, cls_name, labels, seed):
    """A tiny random classification checkpoint: (folder, model, tokenizer)."""
    import transformers

    d = tmp_path_factory.mktemp(f"orm-{cls_name}-{labels}")
    tok = fresh_tokenizer()
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(**tiny_kw(tok), num_labels=labels, pad_token_id=tok.pad_token_id)
    model = getattr(transformers, cls_name)(cfg)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d, model, tok


@pytest.fixture
def classifier(tmp_path_factory):
    """make_classifier for a test: classifier(cls_name, labels, seed)."""
    return lambda *a: make_classifier(tmp_path_factory, *a)


@pytest.fixture(scope="session")
def shepherd_dir(tmp_path_factory):
    """A tiny random Llama causal LM whose tokenizer has the step tag ки (as `s1 train --objective prm` saves)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    d = tmp_path_factory.mktemp("shepherd")
    tok = fresh_tokenizer("ки")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**tiny_kw(tok))).save_pretrained(d)
    tok.save_pretrained(d)
    (d / "s1_prm.json").write_text(json.dumps({"layout": "shepherd", "tag": "ки", "good": "+", "bad": "-"}))
    return d


@pytest.fixture(scope="session")
def plain_lm_dir(tmp_path_factory):
    """A tiny random causal LM with the plain SmolLM2 tokenizer (no ки token, no head)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    d = tmp_path_factory.mktemp("plain-lm")
    tok = fresh_tokenizer()
    torch.manual_seed(1)
    LlamaForCausalLM(LlamaConfig(**tiny_kw(tok))).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def qwen_prm_dir(tmp_path_factory):
    """The Qwen2.5-Math-PRM layout: backbone tensors under model.*, the head as score.0.* and score.2.*,
    architectures Qwen2ForProcessRewardModel with an auto_map to remote code (which is never run)."""
    from safetensors.torch import save_file
    from transformers import Qwen2Config, Qwen2Model

    d = tmp_path_factory.mktemp("qwen-prm")
    tok = fresh_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    cfg = Qwen2Config(**tiny_kw(tok))
    torch.manual_seed(2)
    base = Qwen2Model(cfg)
    head = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    with torch.no_grad():
        head[2].weight.mul_(20)  # spread the class probabilities away from 0.5
    state = {f"model.{k}": v.contiguous() for k, v in base.state_dict().items()}
    state |= {f"score.{k}": v.contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
    cfg.architectures = ["Qwen2ForProcessRewardModel"]
    cfg.save_pretrained(d)
    c = json.loads((d / "config.json").read_text())
    c["auto_map"] = {"AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"}
    (d / "config.json").write_text(json.dumps(c))
    tok.save_pretrained(d)
    return d, base, head
