"""Reward checkpoints of each layout (tiny random weights) load through load_reward and score right."""

import json
import shutil

import pytest
import torch

from s1.rewards import RewardError, RewardModel, load_reward
from s1.rewards.prm import shepherd_input

Q = "Compute 2 + 3 - 1."
STEPS = ["2 + 3 = 5.", "5 - 1 = 4.", "The answer is \\boxed{4}."]
ITEMS = [(Q, STEPS), ("What is 7 times 6?", ["7 * 6 = 42."]), (Q, STEPS[:2]), (Q, [])]


def in_unit(scores):
    return all(0.0 <= s <= 1.0 for row in scores for s in row)


def test_shepherd_scores_are_p_good_over_good_plus_bad_at_each_tag(shepherd_dir):
    from transformers import AutoModelForCausalLM

    rm = load_reward(f"shepherd:{shepherd_dir}", device="cpu", dtype="float32")
    assert isinstance(rm, RewardModel) and rm.per_step and rm.name == f"shepherd:{shepherd_dir}"
    scores = rm.score(ITEMS)
    assert [len(s) for s in scores] == [3, 1, 2, 0] and in_unit(scores)
    # by hand: the full model's next-token logits at each tag, good vs bad
    tok = rm.tokenizer
    tag, good, bad = (tok.convert_tokens_to_ids(t) for t in ("ки", "+", "-"))
    ids, pos = shepherd_input(tok, Q, STEPS, "ки", tag)
    assert [ids[p] for p in pos] == [tag] * 3 and ids.count(tag) == 3
    model = AutoModelForCausalLM.from_pretrained(shepherd_dir, dtype=torch.float32)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    want = [float(torch.softmax(logits[p, [good, bad]], -1)[0]) for p in pos]
    assert scores[0] == pytest.approx(want, abs=1e-5)
    # a prefix scores its steps as the full solution does (causal: later steps cannot change them)
    assert scores[2] == pytest.approx(want[:2], abs=1e-5)
    assert rm.score([(Q, STEPS)])[0] == pytest.approx(want, abs=1e-5)  # alone = in a padded batch
    assert rm.tokens_scored > len(ids)
    rm.close()


def test_shepherd_tokens_from_the_spec_override_the_checkpoint_file(shepherd_dir):
    rm = load_reward(f"shepherd:{shepherd_dir}:good=a,bad=b", device="cpu", dtype="float32")
    other = load_reward(f"shepherd:{shepherd_dir}", device="cpu", dtype="float32")
    a, b = rm.score([(Q, STEPS)])[0], other.score([(Q, STEPS)])[0]
    assert in_unit([a]) and a != pytest.approx(b)


def test_qwen_prm_head_is_read_from_the_checkpoint(qwen_prm_dir):
    path, base, head = qwen_prm_dir
    rm = load_reward(f"qwen-prm:{path}", device="cpu", dtype="float32")
    scores = rm.score(ITEMS)
    assert [len(s) for s in scores] == [3, 1, 2, 0] and in_unit(scores)
    ids, pos = rm.encode(Q, STEPS)
    with torch.no_grad():
        hidden = base.eval()(torch.tensor([ids])).last_hidden_state[0]
        want = torch.softmax(head(hidden[pos]), -1)[:, 1].tolist()
    assert scores[0] == pytest.approx(want, abs=1e-5)
    assert max(want) - min(want) > 1e-3  # the head really separates steps (not a constant)


@pytest.mark.parametrize("cls_name,labels", [("LlamaForSequenceClassification", 1),
                                             ("LlamaForSequenceClassification", 2),
                                             ("LlamaForTokenClassification", 2)])
def test_outcome_models_give_one_score_per_solution(classifier, cls_name, labels):
    path, model, tok = classifier(cls_name, labels, labels)
    rm = load_reward(f"orm:{path}", device="cpu", dtype="float32")
    assert not rm.per_step
    scores = rm.score(ITEMS[:3])
    assert [len(s) for s in scores] == [1, 1, 1] and in_unit(scores)
    ids = rm.tokenizer.encode(rm.tokenizer.apply_chat_template(
        [{"role": "user", "content": Q}, {"role": "assistant", "content": "\n\n".join(STEPS)}], tokenize=False),
        add_special_tokens=False)
    with torch.no_grad():
        logits = model.eval()(torch.tensor([ids])).logits
    logits = logits[0, -1] if "Token" in cls_name else logits[0]
    want = float(torch.sigmoid(logits[0]) if labels == 1 else torch.softmax(logits, -1)[1])
    assert scores[0][0] == pytest.approx(want, abs=1e-5)


def test_wrong_layouts_and_bad_specs_are_one_line_errors(shepherd_dir, plain_lm_dir, qwen_prm_dir, tmp_path):
    cases = {
        f"qwen-prm:{shepherd_dir}": "no step classification head",
        f"shepherd:{plain_lm_dir}": "no single token for the step tag",
        f"shepherd:{plain_lm_dir}:tag=+": "good and bad",  # a tag that exists; good defaults to + as well? no:
        f"orm:{shepherd_dir}": "not a sequence- or token-classification model",
        f"shepherd:{tmp_path / 'missing'}": "does not exist",
        "shepherd:": "expected shepherd:PATH",
        "prm:/x": "unknown reward",
        "": "no reward given",
        f"shepherd:{shepherd_dir}:colour=red": "unknown option 'colour'",
        f"shepherd:{shepherd_dir}:good=": "needs a value",
        "judge:http://127.0.0.1:8000/v1": "expected judge:URL:MODEL",
        "confidence:x": "takes no path",
    }
    del cases[f"shepherd:{plain_lm_dir}:tag=+"]  # the tag may be any single token; covered below instead
    for spec, words in cases.items():
        with pytest.raises(RewardError) as e:
            load_reward(spec, device="cpu")
        assert words in str(e.value) and "\n" not in str(e.value), spec
    empty = tmp_path / "no-weights"
    shutil.copytree(shepherd_dir, empty)
    for f in empty.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(RewardError, match="no .safetensors"):
        load_reward(f"shepherd:{empty}")
    (empty / "config.json").unlink()
    with pytest.raises(RewardError, match="no config.json"):
        load_reward(f"orm:{empty}")
    with pytest.raises(RewardError, match="same token"):
        load_reward(f"shepherd:{shepherd_dir}:good=+,bad=+", device="cpu")
    assert json.loads((shepherd_dir / "s1_prm.json").read_text())["tag"] == "ки"


def test_confidence_resolves_to_the_policys_own_confidence():
    rm = load_reward("confidence")
    assert rm.name == "confidence" and rm.per_step and rm.tokens_scored == 0
