"""REBASE's width allocation, by hand-computed cases (s1.search.rebase_widths)."""

import math
import random

import pytest

from s1.search import rebase_widths


@pytest.mark.parametrize("rewards,width,temp,expected", [
    # sorted 0.9, 0.5, 0.1; e = exp(4.5), exp(2.5), exp(0.5) = 90.02, 12.18, 1.65; S = 103.85
    # 0.9: ceil(8 * 90.02 / 103.85) = ceil(6.93) = 7, W = 1; 0.5: ceil(1 * 12.18 / 13.83) = 1, W = 0; 0.1: 0
    ([0.5, 0.9, 0.1], 8, 0.2, [1, 7, 0]),
    # equal rewards: 4 * 1/4 = 1 each
    ([0.3, 0.3, 0.3, 0.3], 4, 1.0, [1, 1, 1, 1]),
    # 3 equal nodes, width 4: ceil(4/3) = 2, then ceil(2 * 1/2) = 1, then ceil(1 * 1/1) = 1
    ([1.0, 1.0, 1.0], 4, 0.5, [2, 1, 1]),
    # T = 1, rewards 1 and 0: e = 1, 0.368; ceil(5 * 1/1.368) = ceil(3.66) = 4, then the rest: 1
    ([0.0, 1.0], 5, 1.0, [1, 4]),
    # a greedy temperature gives everything to the best node; the others are pruned (0)
    ([0.2, 0.8, 0.79], 6, 0.001, [0, 6, 0]),
    # more nodes than width: the later ones get nothing
    ([0.9, 0.8, 0.7, 0.6], 2, 10.0, [1, 1, 0, 0]),
    ([0.4], 3, 0.2, [3]),
    ([0.4, 0.5], 0, 0.2, [0, 0]),
    ([], 4, 0.2, []),
])
def test_hand_computed_cases(rewards, width, temp, expected):
    assert rebase_widths(rewards, width, temp) == expected


def test_ties_keep_the_input_order():
    # sorted: 0.5 (i=1), 0.5 (i=2), 0.1 (i=0); e ~ 1, 1, 0.018: ceil(3 * 1/2.018) = 2, ceil(1 * 1/1.018) = 1
    assert rebase_widths([0.1, 0.5, 0.5], 3, 0.1) == [0, 2, 1]


def test_counts_always_sum_to_the_width():
    """The naive running sum over-allocates by one in about 1 case in 10; these never do."""
    rng = random.Random(0)
    for _ in range(20000):
        n, w = rng.randint(1, 16), rng.randint(1, 64)
        rewards = [rng.random() for _ in range(n)]
        temp = rng.choice([0.01, 0.1, 0.2, 0.7, 1.0, 5.0])
        counts = rebase_widths(rewards, w, temp)
        assert sum(counts) == w and min(counts) >= 0
        # a higher reward never gets fewer children than a lower one
        order = sorted(range(n), key=lambda i: -rewards[i])
        assert all(counts[a] >= counts[b] for a, b in zip(order, order[1:]))


def test_naive_running_sum_drifts_where_this_does_not():
    """The reason for the guard: a plain `S -= e` loop over-allocates for some inputs."""
    def naive(rewards, width, temp):
        e = sorted((math.exp(r / temp) for r in rewards), reverse=True)
        s, left, out = sum(e), width, []
        for x in e:
            n = math.ceil(left * x / s)
            out.append(n)
            left -= n
            s -= x
        return out

    rng = random.Random(1)
    drift = 0
    for _ in range(2000):
        rewards = [rng.random() for _ in range(rng.randint(2, 16))]
        w = rng.randint(1, 32)
        drift += sum(naive(rewards, w, 0.2)) != w
        assert sum(rebase_widths(rewards, w, 0.2)) == w
    assert drift > 0


@pytest.mark.parametrize("args,msg", [
    (([0.1], -1, 0.2), "width must be a whole number >= 0"),
    (([0.1], 2.5, 0.2), "width must be a whole number >= 0"),
    (([0.1], 4, 0.0), "temperature must be a finite number > 0"),
    (([0.1], 4, float("nan")), "temperature must be a finite number > 0"),
    (([0.1], 4, float("inf")), "temperature must be a finite number > 0"),
    (([float("nan")], 4, 0.2), "rewards must be finite"),
])
def test_bad_arguments(args, msg):
    with pytest.raises(ValueError, match=msg):
        rebase_widths(*args)
