"""A worked question (answer, steps, a second check) and the small helpers that write computations out line by line.

    from s1.data.pool.worked import mul_steps; mul_steps([3, 4, 5])   # (["3 × 4 = 12", "12 × 5 = 60"], 60)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

CHECK_FROM = 4  # from this difficulty on a trace also re-checks its answer another way


@dataclass
class Worked:
    """One generated question with its answer and the trace that reaches it."""

    question: str
    answer: str  # plain text: "42", "3/8", "101101"
    steps: list[str]  # the worked reasoning, one step a line
    summary: str  # one sentence: how the answer follows (reference solution and attempt use it)
    kind: str
    params: dict
    intro: str = ""
    check: list[str] = field(default_factory=list)  # a second way to the answer (hard questions)
    boxed: str | None = None  # the LaTeX form when it differs from `answer` (fractions)
    numbered: bool = False  # steps are written as a numbered list


# -- small helpers that write out computations -----------------------------------------------------

def mul_steps(factors: list[int], label: str = "") -> tuple[list[str], int]:
    """'a × b = p', 'p × c = q', ...: a running product written out, one multiplication a line."""
    steps, acc = [], factors[0]
    for f in factors[1:]:
        steps.append(f"{label}{acc} × {f} = {acc * f}")
        acc *= f
    return steps, acc


def sum_steps(terms: list[int]) -> tuple[list[str], int]:
    steps, acc = [], terms[0]
    for t in terms[1:]:
        steps.append(f"{acc} {'+' if t >= 0 else '−'} {abs(t)} = {acc + t}")
        acc += t
    return steps, acc


def comb_steps(n: int, k: int) -> tuple[list[str], int]:
    """C(n, k) as a falling product over k!, with every multiplication and the division written out."""
    k = min(k, n - k)
    if k == 0:
        return [f"C({n}, 0) = 1"], 1
    top = list(range(n, n - k, -1))
    num_steps, num = mul_steps(top) if k > 1 else ([], top[0])
    den_steps, den = mul_steps(list(range(1, k + 1))) if k > 1 else ([], 1)
    steps = [f"C({n}, {k}) = ({' × '.join(map(str, top))}) / {k}!"]
    steps += num_steps + den_steps
    steps.append(f"{num} / {den} = {num // den}")
    return steps, num // den


def frac_steps(num: int, den: int) -> tuple[list[str], Fraction]:
    f = Fraction(num, den)
    g = math.gcd(num, den)
    if g == 1:
        return [f"{num}/{den} is already in lowest terms"], f
    return [f"gcd({num}, {den}) = {g}, so {num}/{den} = {f.numerator}/{f.denominator}"], f


def latex_frac(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"\\frac{{{f.numerator}}}{{{f.denominator}}}"


def spell(word: str) -> str:
    return "-".join(word)


def dice_count(n: int, sides: int, total: int) -> int:
    """Ordered outcomes of n dice with faces 1..sides summing to total (a small dynamic program)."""
    ways = {0: 1}
    for _ in range(n):
        nxt: dict[int, int] = {}
        for s, w in ways.items():
            for f in range(1, sides + 1):
                nxt[s + f] = nxt.get(s + f, 0) + w
        ways = nxt
    return ways.get(total, 0)


def dice_steps(n: int, sides: int, t: int) -> list[str]:
    """The favourable outcomes written out: pairs in one line, triples grouped by the first die."""
    if n == 2:
        pairs = [(i, t - i) for i in range(1, sides + 1) if 1 <= t - i <= sides]
        return ["Outcomes: " + ", ".join(f"({i}, {j})" for i, j in pairs) + f", which is {len(pairs)}."]
    steps = []
    for i in range(1, sides + 1):
        rest = [(j, t - i - j) for j in range(1, sides + 1) if 1 <= t - i - j <= sides]
        steps.append(f"First die {i}: the other two add to {t - i}: "
                     + (", ".join(f"({i}, {j}, {k})" for j, k in rest) or "none") + f" ({len(rest)})")
    return steps


__all__ = ["CHECK_FROM", "Worked", "comb_steps", "dice_count", "dice_steps", "frac_steps", "latex_frac", "mul_steps", "spell", "sum_steps"]
