"""Request parsing of `s1 serve`: the thinking object's turn-end setting (tests of the rest run through the app)."""

import pytest

from s1.serve.protocol import Limits, RequestError, parse

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def test_thinking_on_turn_end_defaults_to_an_answer_and_takes_the_reference_mode():
    assert parse(CHAT, "chat", Limits()).budget.on_turn_end == "answer"
    body = {**CHAT, "thinking": {"max_tokens": 8, "on_turn_end": "delimiter"}}
    assert parse(body, "chat", Limits()).budget.on_turn_end == "delimiter"
    with pytest.raises(RequestError, match="on_turn_end must be one of answer, delimiter, got 'stop'") as e:
        parse({**CHAT, "thinking": {"on_turn_end": "stop"}}, "chat", Limits())
    assert e.value.status == 400 and e.value.param == "thinking"
