"""REBASE's width allocation: how many children each unfinished node of a tree gets at one depth.

    from s1.search import rebase_widths; rebase_widths([0.5, 0.9, 0.1], 8, 0.2)  # -> [1, 7, 0]

The remaining width W is split by a softmax of the nodes' last-step rewards at temperature T: the
nodes sorted by reward, highest first, with e_i = exp(R_i / T) and S the sum of the e_i, each node
in turn gets n_i = ceil(W * e_i / S), then W -= n_i and S -= e_i. Computed naively in floating
point, S drifts below the weights still to come and a node can get one unit too many (about one
case in ten); here S is summed afresh (math.fsum) for each node, a quotient within 1e-9 of a whole
number counts as that number, and no node gets more than what is left, so the counts always sum
to the width (when there is at least one node).
"""

from __future__ import annotations

import math
from typing import Sequence

_EPS = 1e-9  # a quotient this close above a whole number is that number (rounding noise, not a share)


def rebase_widths(rewards: Sequence[float], width: int, temperature: float) -> list[int]:
    """One child count per reward, in the input order; they sum to `width` (0 nodes: []).
    Ties keep the input order. Raises ValueError for a width < 0, a temperature that is not a
    positive finite number, or a reward that is not finite."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise ValueError(f"width must be a whole number >= 0, got {width!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    rs = [float(r) for r in rewards]
    if any(not math.isfinite(r) for r in rs):
        raise ValueError(f"rewards must be finite numbers, got {list(rewards)!r}")
    if not rs:
        return []
    order = sorted(range(len(rs)), key=lambda i: -rs[i])  # stable: ties in input order
    top = rs[order[0]]
    # shifted by the largest reward: the same ratios, and no overflow for small temperatures
    e = [math.exp((rs[i] - top) / temperature) for i in order]
    counts = [0] * len(rs)
    left = width
    for k, i in enumerate(order):
        if left <= 0:
            break
        s = math.fsum(e[k:])
        share = left * e[k] / s if s > 0 else 0.0
        n = min(left, math.ceil(share - _EPS))
        counts[i] = max(n, 0)
        left -= counts[i]
    return counts
