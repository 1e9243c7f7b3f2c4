"""The vLLM plugin's parts that need no vLLM: budget settings from vllm_xargs, replaying a forcing
server's tokens into a budget record, the reasoning split. (They run in `make test`.)"""

import pytest

from s1.backends.replay import Replayer, replay
from s1.budget import BudgetConfig, RowBudget
from s1.vllm_plugin import split_reasoning

pytest.importorskip("torch")
from s1.backends.xargs import parse_xargs  # noqa: E402


def test_xargs_become_a_checked_budget():
    assert parse_xargs(None) is None and parse_xargs({"other_processor_arg": 1}) is None
    spec = parse_xargs({"min_thinking_tokens": 8, "max_thinking_tokens": 16.0, "extend": "Hmm", "template": "s1"})
    b = BudgetConfig(**spec["budget"])
    assert (b.min_thinking_tokens, b.max_thinking_tokens, b.extend, spec["template"]) == (8, 16, ("Hmm",), "s1")
    assert b.answer_prefix == "Final Answer:" and parse_xargs({"max_thinking_tokens": 4, "answer_prefix": ""}
                                                              )["budget"]["answer_prefix"] is None


@pytest.mark.parametrize("xargs,message", [
    ({"min_thinking_tokens": 9, "max_thinking_tokens": 3}, "larger than max"),
    ({"num_ignore": -2}, ">= 0"),
    ({"max_thinking_tokens": True}, "whole number"),
    ({"max_thinking_tokens": 2.5}, "whole number"),
    ({"max_thinking_tokens": 8, "template": "chatml"}, "unknown template"),
    ({"min_thinking_tokens": 8, "extend": ""}, "non-empty"),
    ({"max_thinking_tokens": 8, "answer_prefix": 3}, "answer_prefix"),
    ({"max_thinking_tokens": 8, "on_turn_end": "nothing"}, "on_turn_end"),
])
def test_bad_xargs_say_why(xargs, message):
    with pytest.raises(ValueError, match=message):
        parse_xargs(xargs)


def test_replay_rebuilds_the_engines_records(tiny_engine):
    """The tokens of engine runs, replayed without the stop positions (as over HTTP), give the same
    records; fed one token at a time, too."""
    budgets = [BudgetConfig(min_thinking_tokens=12, max_thinking_tokens=20, max_answer_tokens=6),
               BudgetConfig(num_ignore=2, max_thinking_tokens=30, max_answer_tokens=6),
               BudgetConfig(max_thinking_tokens=5, max_answer_tokens=4)]
    grid = tiny_engine.generate_grid(["What is 2+2?", "Count the r in raspberry."], budgets)
    for results in grid:
        for b, r in zip(budgets, results):
            plan = tiny_engine.template.plan(tiny_engine.tokenizer, b)
            row = RowBudget(plan, room=tiny_engine.context_length - r.prompt_tokens)
            assert replay(row, r.completion_ids) == r.completion_ids
            assert (row.num_ignored, row.cut, row.thinking_end, row.finish_reason, len(row.thinking)) == \
                (r.num_ignored, r.thinking_cut, r.thinking_end, r.finish_reason, r.thinking_tokens)
            row2 = RowBudget(plan, room=tiny_engine.context_length - r.prompt_tokens)
            parts = []
            rep = Replayer(row2, on_token=lambda t, part: parts.append(part))
            for t in r.completion_ids:
                rep.push([t])
            rep.close()
            assert rep.out == r.completion_ids and row2.num_ignored == r.num_ignored
            assert parts.count("think") == r.thinking_tokens


def test_reasoning_split_only_grows():
    start, end = "<|im_start|>think\n", "<|im_start|>answer\n"
    text = start + "two and two. Wait, four." + end + "Final Answer: 4<|im_end|>"
    seen_t, seen_a = "", ""
    for k in range(len(text) + 1):
        t, a = split_reasoning(text[:k], start, end, "<|im_end|>", False)
        assert t.startswith(seen_t) and (a or "").startswith(seen_a)
        seen_t, seen_a = t, a or ""
    assert split_reasoning(text, start, end, "<|im_end|>", True) == ("two and two. Wait, four.", "Final Answer: 4")


def test_top_k_top_p_move_from_vllm_to_the_processor():
    """A budget request's top-k / top-p are applied by the processor before its stop masks; vLLM gets
    neutral ones (applied again after the masks they would re-cut the rest); penalties are refused."""
    from types import SimpleNamespace

    from s1.backends.xargs import check_params

    def params(**kw):
        base = dict(extra_args={"max_thinking_tokens": 8}, top_k=0, top_p=1.0, repetition_penalty=1.0,
                    presence_penalty=0.0, frequency_penalty=0.0, min_p=0.0, n=1, seed=None)
        return SimpleNamespace(**(base | kw))

    p = params(top_k=20, top_p=0.9)
    spec = check_params(p)
    assert (spec["top_k"], spec["top_p"], p.top_k, p.top_p) == (20, 0.9, 0, 1.0) and p.extra_args["s1"] is spec
    plain = params(extra_args=None, top_p=0.9)
    assert check_params(plain) is None and plain.top_p == 0.9
    with pytest.raises(ValueError, match="presence_penalty"):
        check_params(params(presence_penalty=0.5))
