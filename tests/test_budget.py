"""The budget-forcing state machine on bare token ids (no tokenizer, no model)."""

import pytest

from s1.budget import BudgetConfig, BudgetError, ForcingPlan, RowBudget

NL, END1, END2, END3, EOT, WAIT, HMM1, HMM2, FA1, FA2 = 10, 1, 20, 21, 2, 30, 40, 41, 50, 51


def plan(**kw):
    b = BudgetConfig(**{"answer_prefix": None, **kw})
    ext = {"Wait": (WAIT,), "Hmm ok": (HMM1, HMM2)}
    return ForcingPlan(
        budget=b.validate(), stop_ids=frozenset({END1, EOT}), think_end_ids=(END1, END2, END3),
        eot_ids=frozenset({EOT}), extend_ids=tuple(ext[s] for s in b.extend),
        answer_prefix_ids=(FA1, FA2) if b.answer_prefix else (), separator_ids=(NL,),
        ends_with_separator=lambda t: t == NL,
    )


def run(row, model_tokens):
    """Drive a row with a scripted 'model': each sampled step takes the next scripted token."""
    it = iter(model_tokens)
    out = []
    while not row.done:
        tok = next(it) if row.wants_sample() else None
        out.append(row.advance(tok))
    return out


def test_max_cut_is_exact_and_adds_separator_delimiter_and_prefix():
    row = RowBudget(plan(max_thinking_tokens=3, answer_prefix="Final Answer:"))
    out = run(row, [5, 6, 7, 8, 9, EOT])
    assert out == [5, 6, 7, NL, END1, END2, END3, FA1, FA2, 8, 9, EOT]
    assert row.thinking == [5, 6, 7] and row.cut and row.thinking_end == "max_thinking"
    assert row.answer == [FA1, FA2, 8, 9] and row.finish_reason == "stop"


def test_no_separator_when_thinking_ends_with_it_or_is_empty():
    out = run(RowBudget(plan(max_thinking_tokens=2)), [5, NL, EOT])
    assert out == [5, NL, END1, END2, END3, EOT]
    out = run(RowBudget(plan(max_thinking_tokens=0)), [EOT])
    assert out == [END1, END2, END3, EOT]


def test_min_refuses_stops_and_extension_counts_as_thinking():
    row = RowBudget(plan(min_thinking_tokens=4))
    out = run(row, [5, END1, 6, EOT, 7, END1, 8, EOT])
    # stops at 1 and 3 thinking tokens are refused ("Wait" instead); at 5 it is accepted
    assert out == [5, WAIT, 6, WAIT, 7, END1, END2, END3, 8, EOT]
    assert row.thinking == [5, WAIT, 6, WAIT, 7] and row.num_ignored == 2 and not row.cut
    assert [e.kind for e in row.events] == ["extend", "extend", "stop"]
    assert row.thinking_end == "stop"


def test_num_ignore_and_rotation():
    row = RowBudget(plan(num_ignore=3, extend=("Wait", "Hmm ok")))
    out = run(row, [END1, END1, END1, END1, 9, EOT])
    assert out == [WAIT, HMM1, HMM2, WAIT, END1, END2, END3, 9, EOT]
    assert row.num_ignored == 3 and [e.text for e in row.events[:3]] == ["Wait", "Hmm ok", "Wait"]


def test_end_of_turn_inside_thinking_forces_the_answer_as_after_a_cut():
    row = RowBudget(plan(answer_prefix="Final Answer:"))
    out = run(row, [5, EOT, 6, EOT])
    assert out == [5, NL, END1, END2, END3, FA1, FA2, 6, EOT]
    assert row.thinking == [5] and row.answer == [FA1, FA2, 6]
    assert row.thinking_end == "eos" and not row.cut and [e.kind for e in row.events] == ["eos"]
    # empty thinking: no separator (think_start ends the line); no prefix configured: delimiter only
    assert run(RowBudget(plan(answer_prefix="Final Answer:")), [EOT, 6, EOT]) == [END1, END2, END3, FA1, FA2, 6, EOT]
    assert run(RowBudget(plan()), [5, EOT, 6, EOT]) == [5, NL, END1, END2, END3, 6, EOT]


def test_reference_turn_end_forces_only_the_delimiter():
    """on_turn_end='delimiter' is the s1 reference: the end of turn becomes the delimiter, no
    separator and no prefix, so the model may end its answer at once."""
    row = RowBudget(plan(answer_prefix="Final Answer:", on_turn_end="delimiter"))
    out = run(row, [5, EOT, EOT])
    assert out == [5, END1, END2, END3, EOT]
    assert row.thinking_end == "eos" and row.answer == [] and row.finish_reason == "stop"


def test_turn_end_setting_leaves_thinking_delimiter_stops_and_refusals_alone():
    for mode in ("answer", "delimiter"):
        row = RowBudget(plan(answer_prefix="Final Answer:", on_turn_end=mode, num_ignore=1))
        out = run(row, [5, EOT, 6, END1, 7, EOT])
        assert out == [5, WAIT, 6, END1, END2, END3, 7, EOT]  # a refused eos is "Wait"; a stop is the delimiter
        assert row.thinking_end == "stop" and row.answer == [7]


def test_extension_is_truncated_at_the_maximum():
    row = RowBudget(plan(max_thinking_tokens=3, num_ignore=5, extend=("Hmm ok",)))
    out = run(row, [5, 6, END1, 7, EOT])
    assert row.thinking == [5, 6, HMM1] and len(row.thinking) == 3 and row.cut
    assert out[:4] == [5, 6, HMM1, NL]


def test_max_answer_tokens_and_prefix_count():
    row = RowBudget(plan(max_thinking_tokens=1, answer_prefix="Final Answer:", max_answer_tokens=4))
    out = run(row, [5, 8, 9, 10, 11])
    assert row.answer == [FA1, FA2, 8, 9] and row.finish_reason == "length"
    assert out[-2:] == [8, 9]


def test_context_room_caps_thinking():
    p = plan(max_answer_tokens=5)
    row = RowBudget(p, room=20)  # 20 - (1 separator + 3 delimiter + 5 answer) = 11 thinking tokens
    run(row, [5] * 11 + [EOT])
    assert len(row.thinking) == 11 and row.thinking_end == "context"


@pytest.mark.parametrize("kw, msg", [
    ({"max_thinking_tokens": -1}, "max thinking tokens must be >= 0"),
    ({"min_thinking_tokens": -3}, "min thinking tokens must be >= 0"),
    ({"min_thinking_tokens": 10, "max_thinking_tokens": 5}, "larger than max"),
    ({"num_ignore": -1}, "num_ignore"),
    ({"max_answer_tokens": 0}, "max answer tokens"),
    ({"num_ignore": 1, "extend": ("",)}, "non-empty"),
    ({"on_turn_end": "prefix"}, "on_turn_end must be one of answer, delimiter, got 'prefix'"),
])
def test_bad_budgets(kw, msg):
    with pytest.raises(BudgetError, match=msg):
        BudgetConfig(**kw).validate()


def test_advance_misuse_is_loud():
    row = RowBudget(plan())
    with pytest.raises(RuntimeError):
        row.advance(None)
    run(row, [EOT, EOT])
    with pytest.raises(RuntimeError):
        row.advance(5)


NN, M0, M1, M2, M3, MK = 11, 60, 61, 62, 63, 64  # "\n\n"; markers "k steps left" for k = 0..3; a marker body
TEXT = {NL: "\n", NN: "\n\n", 5: "a", 6: ".\n\n", 7: "b"}


def step_plan(**kw):
    p = plan(**kw)
    from dataclasses import replace
    return replace(p, step_marker_ids=tuple((m, MK) for m in (M0, M1, M2, M3)[: p.budget.max_steps + 1]),
                   token_text=lambda t: TEXT.get(t, "x"))


def test_step_countdown_markers_and_forced_stop_at_zero():
    row = RowBudget(step_plan(max_steps=3))
    # steps end at a blank line: "\n" + "\n" across tokens, ".\n\n" in one token, "\n\n" alone
    out = run(row, [5, NL, NL, 5, 6, 7, NN, 5, 9, EOT])
    assert out == [M3, MK, 5, NL, NL, M2, MK, 5, 6, M1, MK, 7, NN, NL, END1, END2, END3, 5, 9, EOT]
    assert row.steps == 3 and row.cut and row.thinking_end == "max_steps"
    assert [e.kind for e in row.events] == ["step", "step", "step", "cut"]


def test_step_countdown_without_forcing_lets_thinking_go_on():
    row = RowBudget(step_plan(max_steps=1, stop_at_zero_steps=False))
    out = run(row, [5, NN, 7, NN, 5, END1, 9, EOT])
    assert out == [M1, MK, 5, NN, M0, MK, 7, NN, 5, END1, END2, END3, 9, EOT]
    assert row.steps == 2 and not row.cut and row.thinking_end == "stop"


def test_step_markers_respect_the_token_budget():
    row = RowBudget(step_plan(max_steps=2, max_thinking_tokens=5))
    out = run(row, [5, NN, 9, EOT])
    assert out[:5] == [M2, MK, 5, NN, M1] and len(row.thinking) == 5 and row.thinking_end == "max_thinking"
    assert RowBudget(step_plan(max_steps=0)).thinking_end == "max_steps"
