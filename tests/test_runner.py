"""Model runners (s1/runner.py, and s1/static_runner.py where present): every slot operation against
a plain full forward of the same sequence, on tiny random Llama and Qwen2 models."""

import importlib.util
import warnings

import pytest
import torch
from helpers import WORDS, ScriptedModel, qwen_tokenizer, smol_tokenizer, tiny_model

from s1.runner import HFRunner, make_runner


def _runner_classes():
    classes = [HFRunner]
    if importlib.util.find_spec("s1.static_runner") is not None:
        from s1.static_runner import StaticRunner

        classes.append(StaticRunner)
    return classes


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def model(request):
    tok = smol_tokenizer() if request.param == "llama" else qwen_tokenizer()
    return tiny_model(tok, WORDS, seed=4, arch=request.param)


@torch.inference_mode()
def full(model, ids):
    """Next-token logits of a sequence from scratch (no cache at all)."""
    return model(input_ids=torch.tensor([ids])).logits[0, -1]


def close(a, b):
    torch.testing.assert_close(a, b, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("cls", _runner_classes(), ids=lambda c: c.__name__)
def test_prefill_decode_fork_free_match_full_forwards(model, cls):
    runner = cls(model)
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    seqs = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in (7, 3, 12)]
    slots = runner.alloc(3)
    logits = runner.prefill(slots, seqs)
    for i, s in enumerate(seqs):
        close(logits[i], full(model, s))
        assert runner.length(slots[i]) == len(s)
    # decode in another order than prefilled, then fork slot 0 and let parent and child differ
    for step in range(3):
        order = [2, 0, 1] if step % 2 else [1, 2, 0]
        toks = [int(t) for t in torch.randint(3, vocab, (3,), generator=g)]
        logits = runner.decode([slots[i] for i in order], toks)
        for row, (i, t) in enumerate(zip(order, toks)):
            seqs[i].append(t)
            close(logits[row], full(model, seqs[i]))
    [child] = runner.alloc(1)
    runner.fork(slots[0], child)
    assert runner.length(child) == len(seqs[0])
    seqs.append(list(seqs[0]))
    slots.append(child)
    runner.free([slots[1]])  # a finished row: the others must not notice
    live = [0, 2, 3]
    for _ in range(2):
        toks = [int(t) for t in torch.randint(3, vocab, (3,), generator=g)]
        logits = runner.decode([slots[i] for i in live], toks)
        for row, (i, t) in enumerate(zip(live, toks)):
            seqs[i].append(t)
            close(logits[row], full(model, seqs[i]))
    assert seqs[0] != seqs[3] and seqs[0][:-2] == seqs[3][:-2]
    # a freed slot is reused, and a new prompt joins the running rows
    [again] = runner.alloc(1)
    assert again == slots[1]
    new = torch.randint(3, vocab, (5,), generator=g).tolist()
    close(runner.prefill([again], [new])[0], full(model, new))
    # only some live slots decode this step; the others wait and are still right afterwards
    t = 17
    close(runner.decode([again], [t])[0], full(model, new + [t]))
    logits = runner.decode([slots[2], slots[0]], [5, 6])
    close(logits[0], full(model, seqs[2] + [5]))
    close(logits[1], full(model, seqs[0] + [6]))


def test_hf_runner_uses_the_cache_argument_the_model_takes(model):
    """transformers >= 5.24 takes `cache=` and warns about `past_key_values=`: no warning here."""
    runner = HFRunner(model)
    [s] = runner.alloc(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any deprecation warning fails the test
        runner.prefill([s], [[5, 6, 7]])
        runner.decode([s], [8])


def test_hf_runner_rows_are_never_mixed_up():
    """The scripted model reads each row's tokens back from its cache: after prefill, joins, forks
    and frees in any order, every row it is shown is exactly the row that was written."""
    model = ScriptedModel(lambda s: 0, 64)
    runner = HFRunner(model)
    rows = {}
    for s, p in zip(runner.alloc(2), ([1, 2, 3], [4])):
        rows[s] = list(p)
    runner.prefill(list(rows), list(rows.values()))
    for step in range(6):
        if step == 2:
            [c] = runner.alloc(1)
            runner.fork(next(iter(rows)), c)
            rows[c] = list(rows[next(iter(rows))])
        if step == 3:
            [n] = runner.alloc(1)
            runner.prefill([n], [[9, 9, 9, 9, 9, 9]])
            rows[n] = [9] * 6
        if step == 4:
            gone = list(rows)[1]
            runner.free([gone])
            del rows[gone]
        order = list(rows)[::-1] if step % 2 else list(rows)
        toks = [10 + step + i for i in range(len(order))]
        model.seen.clear()
        runner.decode(order, toks)
        for s, t in zip(order, toks):
            rows[s].append(t)
        assert [seq for seq, _ in model.seen] == [tuple(rows[s]) for s in order]


def test_make_runner_gives_a_runner_for_any_causal_lm():
    model = tiny_model(smol_tokenizer(), WORDS, seed=1)
    r = make_runner(model, max_rows_hint=4, max_len_hint=64)
    [s] = r.alloc(1)
    close(r.prefill([s], [[3, 4, 5]])[0], full(model, [3, 4, 5]))
