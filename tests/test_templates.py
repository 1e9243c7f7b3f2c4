"""Thinking templates with real tokenizers: the exact s1 format on the Qwen2.5 tokenizer."""

import json

import pytest
from helpers import qwen_tokenizer, smol_tokenizer

from s1 import TEMPLATES, BudgetConfig, get_template
from s1.templates import QWEN_SYSTEM, TemplateError, ThinkingTemplate, detect_template

S1 = TEMPLATES["s1"]


def test_s1_prompt_is_the_reference_text_on_qwen():
    tok = qwen_tokenizer()
    text = S1.render_prompt(tok, "What is 1+1?", system=QWEN_SYSTEM)
    assert text == (f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\nWhat is 1+1?<|im_end|>\n"
                    "<|im_start|>assistant\n<|im_start|>think\n")
    ids = tok.encode(text, add_special_tokens=False)
    assert ids[0] == 151644 and ids.count(151644) == 4 and ids.count(151645) == 2


def test_s1_plan_on_qwen_ids():
    tok = qwen_tokenizer()
    plan = S1.plan(tok, BudgetConfig(max_thinking_tokens=10, extend=("Wait", "Hmm")))
    # the end delimiter is several tokens; the stop is detected on its first, <|im_start|>
    assert plan.think_end_ids[0] == 151644 and len(plan.think_end_ids) == 3
    assert tok.decode(plan.think_end_ids) == "<|im_start|>answer\n"
    assert plan.stop_ids == {151644, 151645}
    assert plan.eot_ids == {151645}
    assert [tok.decode(e) for e in plan.extend_ids] == ["Wait", "Hmm"]
    assert tok.decode(plan.answer_prefix_ids) == "Final Answer:"
    assert plan.ends_with_separator(tok.encode(".\n")[-1]) and not plan.ends_with_separator(tok.encode(" so")[0])


def test_split_text_and_ids_agree():
    tok = qwen_tokenizer()
    completion = "Let me count: r, r, r.\nWait, two r's... no, three.\n<|im_start|>answer\nAnswer: 3<|im_end|>"
    thinking, answer = S1.split(completion)
    assert thinking == "Let me count: r, r, r.\nWait, two r's... no, three.\n"
    assert answer == "Answer: 3"
    ids = tok.encode(completion, add_special_tokens=False)
    t_ids, a_ids = S1.split_ids(tok, ids)
    assert tok.decode(t_ids) == thinking and tok.decode(a_ids) == answer
    assert len(t_ids) == len(tok.encode(thinking, add_special_tokens=False))
    assert S1.split("no delimiter at all") == ("no delimiter at all", "")


def test_r1_and_custom_templates():
    r1 = TEMPLATES["r1"]
    assert r1.split("hmm\n</think>\n\nThe answer is 4.") == ("hmm\n", "The answer is 4.")
    tpl = get_template("custom", think_start="[THINK]", think_end="[/THINK]")
    assert (tpl.think_start, tpl.think_end) == ("[THINK]", "[/THINK]")
    tok = smol_tokenizer()
    plan = tpl.plan(tok, BudgetConfig())
    assert tok.decode(plan.think_end_ids) == "[/THINK]" and plan.think_end_ids[0] in plan.stop_ids


def test_detection_and_errors(tmp_path):
    assert detect_template(qwen_tokenizer()).name == "s1"
    assert detect_template(smol_tokenizer()).name == "s1"  # ChatML
    tok = smol_tokenizer()
    tok_r1 = type(tok).from_pretrained(tok.name_or_path)
    tok_r1.add_tokens(["<think>", "</think>"], special_tokens=False)
    assert detect_template(tok_r1).name == "r1"
    # a template saved with a checkpoint wins over detection
    ThinkingTemplate("mine", "<<", ">>", "<|im_end|>").save(tmp_path)
    assert get_template("auto", tok, tmp_path).name == "mine"
    with pytest.raises(TemplateError, match="unknown template 'qwen9'"):
        get_template("qwen9")
    with pytest.raises(TemplateError, match="needs --think-start"):
        get_template("custom")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(TemplateError, match="not a valid template"):
        get_template(str(bad))
