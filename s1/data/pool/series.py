"""Pool generator, MSC 40 (sequences and series): finite arithmetic and geometric sums, added term by term.

    from s1.data.pool.series import gen_series; gen_series(random.Random(0), 3)
"""

from __future__ import annotations

import random

from .worked import Worked, sum_steps

def gen_series(rng: random.Random, d: int) -> Worked:
    if rng.random() < 0.6:
        a, r, n = rng.randint(-10, 20), rng.choice([v for v in range(-5, 10) if v]), rng.randint(3 + 2 * d, 4 + 4 * d)
        terms = [a + i * r for i in range(n)]
        sums, total = sum_steps(terms)
        steps = [f"The terms are {', '.join(map(str, terms))}."] + sums
        check = []
        if d >= 3:
            check = [f"Check with the formula n(first + last)/2 = {n} × ({a} + {terms[-1]}) / 2 "
                     f"= {n} × {a + terms[-1]} / 2 = {n * (a + terms[-1]) // 2}."]
        q = (f"What is the sum of the first {n} terms of the arithmetic sequence "
             f"{terms[0]}, {terms[1]}, {terms[2]}, ...?")
        return Worked(q, str(total), steps, f"The {n} terms add up to {total}.", "arithmetic", {"a": a, "r": r, "n": n},
                      intro=f"The common difference is {r}; I'll write out the terms and add them.", check=check)
    a, r, n = rng.randint(1, 5), rng.choice((2, 3, -2)), rng.randint(3 + d, 4 + 2 * d)
    terms = [a * r**i for i in range(n)]
    sums, total = sum_steps(terms)
    steps = [f"The terms are {', '.join(map(str, terms))}."] + sums
    check = []
    if d >= 3:
        check = [f"Check with a(r^n − 1)/(r − 1) = {a} × (({r})^{n} − 1) / ({r} − 1) = "
                 f"{a} × {r ** n - 1} / {r - 1} = {a * (r ** n - 1) // (r - 1)}."]
    q = (f"Find the sum of the first {n} terms of the geometric sequence whose first term is {a} and whose "
         f"common ratio is {r}.")
    return Worked(q, str(total), steps, f"The {n} terms add up to {total}.", "geometric", {"a": a, "r": r, "n": n},
                  intro="I'll write out the terms and add them one at a time.", check=check)


__all__ = ["gen_series"]
