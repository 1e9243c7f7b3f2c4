"""The LLM judge reward against a real OpenAI-compatible server (`s1 serve` on loopback over a scripted model)."""

import pytest
from helpers import ScriptedModel, free_port, serve_engine, smol_tokenizer

from s1 import TEMPLATES, Engine
from s1.rewards import RewardError, load_reward
from s1.rewards.judge import parse_rating
from s1.runner import HFRunner


@pytest.fixture(scope="module")
def judge_server():
    """A server whose model rates 3 when the request mentions " banana", else 8, then ends its turn."""
    tok = smol_tokenizer()
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    three, eight, banana = (tok.encode(w, add_special_tokens=False)[0] for w in ("3", "8", " banana"))
    model = ScriptedModel(lambda s: eot if s[-1] in (three, eight) else three if banana in s else eight, len(tok))
    srv, _ = serve_engine(Engine(model, tok, TEMPLATES["s1"], 2048, runner=HFRunner(model)))
    yield srv, model
    srv.stop()


def test_judge_rates_each_step_once_through_a_real_server(judge_server):
    srv, model = judge_server
    rm = load_reward(f"judge:{srv.url}:m")
    assert rm.per_step and rm.name == f"judge:{srv.url}:m"
    scores = rm.score([("Compute 1 + 1.", ["1 + 1 = 2.", "a banana"]), ("Compute 1 + 1.", ["1 + 1 = 2."])])
    assert scores == [[0.8, 0.3], [0.8]] and rm.unparsed == 0
    calls = model.calls
    assert rm.score([("Compute 1 + 1.", ["1 + 1 = 2."])]) == [[0.8]] and model.calls == calls  # remembered
    rm.close()


def test_judge_errors_are_one_line():
    rm = load_reward(f"judge:http://127.0.0.1:{free_port()}/v1:m")
    rm.judge.retries = 0
    with pytest.raises(RewardError, match="unreachable") as e:
        rm.score([("q", ["a"])])
    assert "\n" not in str(e.value)


def test_parse_rating():
    assert [parse_rating(r) for r in ("7", "Rating: 10/10", "<think>maybe 2</think> 6.5", "none", "42")] == \
        [0.7, 1.0, 0.65, None, 1.0]
