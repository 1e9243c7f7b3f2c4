"""Length-conditioned training: `s1 train --length-instruction` and the eval method that measures it."""

import pytest
from helpers import smol_tokenizer

from s1.baselines import LENGTH_INSTRUCTION, expand
from s1.evaluate import EvalConfig
from s1.templates import TEMPLATES
from s1.train import TrainConfig, TrainError, build_examples


def test_each_question_asks_for_its_traces_real_length_rounded():
    tok = smol_tokenizer()
    thinking = "one two three four five six seven eight nine ten " * 4
    n = len(tok.encode(thinking, add_special_tokens=False))
    row = {"question": "What is 2+3?", "thinking": thinking, "answer": "5"}
    [ex], _ = build_examples([row], tok, TEMPLATES["s1"], TrainConfig(data="x", out="y", trace="plain",
                                                                       length_instruction=8))
    text = tok.decode(ex["input_ids"])
    want = LENGTH_INSTRUCTION.format(n=round(n / 8) * 8)
    assert f"What is 2+3?\n\n{want}" in text
    prompt = tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == -100])
    assert want in prompt  # the instruction is prompt: no loss on it
    [plain], _ = build_examples([row], tok, TEMPLATES["s1"], TrainConfig(data="x", out="y", trace="plain"))
    assert "Think for" not in tok.decode(plain["input_ids"])
    with pytest.raises(TrainError, match="length instruction"):
        TrainConfig(data="x", out="y", length_instruction=-1).validate()


def test_length_conditional_eval_asks_in_the_trained_words():
    cfg = EvalConfig(methods=("length-conditional+forcing",), max_thinking=(64, 128))
    groups = expand("length-conditional+forcing", cfg)
    assert [g.instruction for g in groups] == ["Think for 64 tokens.", "Think for 128 tokens."]
    assert [g.points[0].budget.max_thinking_tokens for g in groups] == [64, 128]
    assert [g.points[0].budget.max_thinking_tokens for g in expand("length-conditional", cfg)] == [None, None]
