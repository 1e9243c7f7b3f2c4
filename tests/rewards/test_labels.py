"""Math-Shepherd step labels on a scripted policy whose rollouts' outcomes are known by construction."""

import json

import pytest
from helpers import ScriptedModel, smol_tokenizer

from s1 import TEMPLATES, BudgetConfig, Engine
from s1.rewards.labels import LabelConfig, LabelError, StepEnds, make_labels, paragraphs, read_labels
from s1.runner import HFRunner
from s1.tasks import Question

A, B, C, D = 253, 278, 265, 287  # " a" " b" " c" " d"
NL2 = 1116  # "\n\n"


def scripted_engine():
    """Thinking " a" / blank line / " b" or " c" (a coin toss) / blank line / " d", then it stops and answers
    7 when it wrote " b", else 3. So from the end of step 2 every rollout has the solution's outcome,
    and from the end of step 1 a rollout reaches 7 with probability 1/2."""
    tok = smol_tokenizer()
    tpl = TEMPLATES["s1"]
    plan = tpl.plan(tok, BudgetConfig())
    stop, delim = plan.think_end_ids[0], list(plan.think_end_ids)
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    seven, three = (tok.encode(d, add_special_tokens=False)[0] for d in ("7", "3"))
    start = tok.convert_tokens_to_ids("<|im_start|>")

    def script(s):
        last = s[-1]
        think = s[max(i for i, t in enumerate(s) if t == start):]  # from the last <|im_start|>
        if s[-len(delim):] == delim:
            return seven if B in s else three
        if last in (seven, three):
            return eot
        if last == A or last in (B, C):
            return NL2
        if last == NL2:
            return {B: 0.0, C: 0.0} if s[-2] == A else D
        if last == D:
            return stop
        return A if len(think) < 8 else stop

    model = ScriptedModel(script, len(tok))
    return Engine(model, tok, tpl, 512, runner=HFRunner(model))


def test_labels_follow_the_rollouts(tmp_path):
    engine = scripted_engine()
    qs = [Question("q1", "Say seven.", "7", "integer"), Question("q2", "Say seven again.", "7", "integer")]
    cfg = LabelConfig(samples=6, rollouts=4, temperature=1.0, max_thinking_tokens=40, max_answer_tokens=4,
                      batch_size=2)
    path = tmp_path / "labels.jsonl"
    counts = make_labels(engine, qs, cfg, path)
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["question_id"] for r in recs] == ["q1", "q2"] and counts["solutions"] == 12
    mixed = 0
    for rec in recs:
        for sol in rec["solutions"]:
            wrote_b = sol["steps"][1] == "b"
            assert sol["steps"][0] == "a" and sol["steps"][1] in ("b", "c")
            assert sol["correct"] == wrote_b and sol["steps"][2] == "d\n\n" + ("7" if wrote_b else "3")
            first, second = sol["rollouts_correct"]
            assert second == (4 if wrote_b else 0)  # forked after step 2: they all end as the solution does
            mixed += 0 < first < 4  # forked after step 1: each rollout tosses its own coin
            # the rule: good when any rollout from the step's end (or the solution itself) reaches 7
            assert sol["labels"] == [int(wrote_b or first > 0), int(wrote_b), int(wrote_b)]
    assert mixed >= 3  # rollouts draw with their own seeds (a copied generator would always agree)
    assert len(read_labels(path)) == 12
    # resumable: a rerun labels nothing new; a torn last line is dropped and redone
    assert make_labels(engine, qs, cfg, path)["resumed"] == 2
    text = path.read_text()
    path.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1] + text.splitlines()[-1][:50])
    again = make_labels(engine, qs, cfg, path)
    assert again["resumed"] == 1 and again["solutions"] == 6
    assert path.read_text() == text  # seeded: the redone question gets the same labels


def test_step_ends_and_paragraphs():
    tok = smol_tokenizer()
    ends = StepEnds(lambda t: tok.decode([t]))
    ids = tok.encode("One.\n\nTwo\n\n\nThree.\n\n", add_special_tokens=False)
    marks = [ends.feed(t) for t in ids]
    assert sum(marks) == 3
    assert paragraphs(" One.\n\nTwo\n \n\nThree.\n\n") == ["One.", "Two", "Three."]


def test_bad_settings():
    engine = scripted_engine()
    with pytest.raises(LabelError, match="temperature"):
        make_labels(engine, [], LabelConfig(temperature=0), "x.jsonl")
    with pytest.raises(LabelError, match="grade exactly"):
        make_labels(engine, [Question("m", "q", "1/2", "math")], LabelConfig(), "x.jsonl")
