"""Pool generator, MSC 97 (mathematics education): a chain of additions and subtractions, kept as a running total.

    from s1.data.pool.chains import gen_chains; gen_chains(random.Random(0), 2)   # a Worked question

The trace starts from the first number and writes one operation a line ("9 - 5 = 4"), with the operator
as the question writes it, so the last line holds the answer and a cut anywhere before it leaves the
answer unknown. Difficulty d has d + 3 numbers (one digit up to d = 2, two digits from d = 3 on).
"""

from __future__ import annotations

import random

from .worked import CHECK_FROM, Worked

ASK = ("Calculate {expr}.", "Calculate the value of {expr}.", "Use arithmetic to find {expr}.")


def gen_chains(rng: random.Random, d: int) -> Worked:
    top = 9 if d <= 2 else 99
    numbers = [rng.randint(1, top) for _ in range(d + 3)]
    ops = [rng.choice("+-") for _ in numbers[1:]]
    expr = str(numbers[0]) + "".join(f" {o} {x}" for o, x in zip(ops, numbers[1:]))
    acc, steps = numbers[0], [f"Start with {numbers[0]}."]
    for o, x in zip(ops, numbers[1:]):
        new = acc + x if o == "+" else acc - x
        steps.append(f"{acc} {o} {x} = {new}")
        acc = new
    check = []
    if d >= CHECK_FROM:
        plus = [numbers[0]] + [x for o, x in zip(ops, numbers[1:]) if o == "+"]
        minus = [x for o, x in zip(ops, numbers[1:]) if o == "-"] or [0]
        check = [f"The added numbers make {' + '.join(map(str, plus))} = {sum(plus)}, the subtracted ones "
                 f"{' + '.join(map(str, minus))} = {sum(minus)}, and {sum(plus)} - {sum(minus)} = {acc}."]
    question = rng.choice(ASK).format(expr=expr)
    return Worked(question, str(acc), steps, f"Working from left to right, the running total ends at {acc}.",
                  "chain", {"numbers": numbers, "ops": ops},
                  intro="I'll go from left to right and keep a running total.", check=check)


__all__ = ["gen_chains"]
