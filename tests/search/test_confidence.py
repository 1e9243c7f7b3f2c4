"""DeepConf's confidence measures by hand (s1.rewards.confidence) and the confidence reward spec."""

import math

import pytest

from s1.rewards import load_reward
from s1.rewards.confidence import (ConfidenceReward, GroupWindow, group_confidences, to_score, token_confidence,
                                   trace_confidence)


def test_token_confidence_is_minus_the_mean_top_k_log_prob():
    assert token_confidence([-0.1, -2.3, -4.6]) == pytest.approx(7.0 / 3)
    # a peaked distribution is more confident than a flat one
    assert token_confidence([-0.01, -8.0, -9.0]) > token_confidence([-1.1, -1.1, -1.1])
    assert token_confidence([0.0, float("-inf")]) == pytest.approx(5000.0)  # -inf counts as -1e4


def test_groups_windows_and_trace_measures():
    conf = [4.0, 2.0, 6.0, 1.0, 3.0]
    assert group_confidences(conf, 2) == [3.0, 4.0, 3.5, 2.0]
    assert group_confidences(conf, 10) == [3.2]  # shorter than the window: one group
    assert trace_confidence(conf, "lowest", window=2) == 2.0
    assert trace_confidence(conf, "bottom10", window=2) == 2.0  # ceil(10% of 4) = 1 group
    assert trace_confidence(conf, "tail", tail=2) == 2.0
    assert trace_confidence(conf, "mean") == pytest.approx(3.2)
    assert trace_confidence([], "lowest") == 0.0
    with pytest.raises(ValueError, match="unknown confidence measure"):
        trace_confidence(conf, "median")


def test_running_window_matches_the_groups():
    w = GroupWindow(3)
    conf = [5.0, 1.0, 2.0, 8.0, 0.5]
    seen = []
    for c in conf:
        w.add(c)
        if w.full:
            seen.append(w.value)
    assert seen == pytest.approx(group_confidences(conf, 3))


def test_the_confidence_reward_scores_steps_by_their_lowest_group():
    rm = load_reward("confidence")
    assert isinstance(rm, ConfidenceReward) and rm.per_step and rm.needs_logprobs and rm.tokens_scored == 0
    rm.window = 2
    [[a, b]] = rm.score_confidences([[[10.0, 10.0, 2.0], [20.0, 20.0]]])
    assert a == pytest.approx(to_score(6.0)) and b == pytest.approx(1 - math.exp(-2.0))
    assert 0 < a < b < 1
    with pytest.raises(ValueError, match="cannot score text"):
        rm.score([("q", ["a step"])])
