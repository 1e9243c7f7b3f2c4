"""Pool generator, MSC 60 (probability): dice, urns and coins, answers as exact fractions.

    from s1.data.pool.probability import gen_probability; gen_probability(random.Random(0), 3)
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from .worked import CHECK_FROM, Worked, comb_steps, dice_count, dice_steps, frac_steps, latex_frac, mul_steps

COLOURS = (("red", "blue"), ("green", "yellow"), ("black", "white"))


def gen_probability(rng: random.Random, d: int) -> Worked:
    kind = rng.choice(("dice", "urn", "coins"))
    if kind == "dice":
        n = 2 if d < 4 else 3
        sides = rng.choice((4, 6, 8, 10, 12) if n == 2 else (4, 6, 8))
        t = rng.randint(n + 1, sides * n - 1)
        total = sides**n
        fav = dice_count(n, sides, t)
        steps = dice_steps(n, sides, t) + [f"{fav} favourable outcomes out of {sides}^{n} = {total}."]
        fs, f = frac_steps(fav, total)
        steps += fs
        q = (f"{'Two' if n == 2 else 'Three'} fair {sides}-sided dice are rolled. What is the probability that the "
             f"numbers shown add up to {t}? Express your answer as a common fraction.")
        return Worked(q, f"{f.numerator}/{f.denominator}", steps,
                      f"{fav} of the {total} equally likely outcomes sum to "
                      f"{t}, so the probability is {f}.", kind, {"dice": n, "sides": sides, "total": t},
                      intro="All outcomes are equally likely, so I count the favourable ones.", boxed=latex_frac(f))
    if kind == "urn":
        c1, c2 = rng.choice(COLOURS)
        a, b = rng.randint(2, 3 + 2 * d), rng.randint(1, 3 + 2 * d)
        draws = 2 if d < 3 else 3
        a = max(a, draws)
        n = a + b
        f, steps = Fraction(1), []
        for i in range(draws):
            steps.append(f"Draw {i + 1}: {a - i} {c1} of {n - i} left, probability {a - i}/{n - i}.")
            f *= Fraction(a - i, n - i)
        num = math.prod(range(a - draws + 1, a + 1))
        den = math.prod(range(n - draws + 1, n + 1))
        steps.append(f"Multiplying: {num}/{den}.")
        steps += frac_steps(num, den)[0]
        check = []
        if d >= CHECK_FROM:
            ca, cn = math.comb(a, draws), math.comb(n, draws)
            check = [f"Check with combinations: C({a}, {draws}) / C({n}, {draws}) = {ca}/{cn}",
                     f"= {Fraction(ca, cn)}, the same."]
        q = (f"A bag contains {a} {c1} marbles and {b} {c2} marbles. {draws} marbles are drawn at random without "
             f"replacement. What is the probability that all of them are {c1}? Express your answer as a common "
             f"fraction.")
        return Worked(q, f"{f.numerator}/{f.denominator}", steps, f"Multiplying the draw probabilities gives {f}.",
                      kind,
                      {"a": a, "b": b, "draws": draws},
                      intro="Draws without replacement: multiply the conditional probabilities.", check=check,
                      boxed=latex_frac(f))
    n = rng.randint(3, 4 + d)
    k = rng.randint(1, n - 1)
    at_least = rng.random() < 0.5
    ps, total = mul_steps([2] * n)
    steps = [f"There are 2^{n} equally likely sequences of tosses:"] + ps
    if at_least:  # a sum of binomial coefficients: a longer trace for the same question shape
        ways = 0
        for j in range(k, n + 1):
            cs, c = comb_steps(n, j)
            steps += [f"Exactly {j} heads:"] + cs
            ways += c
            steps.append(f"Running count of favourable sequences: {ways}")
        what = f"at least {k} heads"
    else:
        cs, ways = comb_steps(n, k)
        steps += cs
        what = f"exactly {k} heads"
    fs, f = frac_steps(ways, total)
    steps += fs
    q = (f"A fair coin is tossed {n} times. What is the probability of getting {what}? "
         f"Express your answer as a common fraction.")
    return Worked(q, f"{f.numerator}/{f.denominator}", steps, f"{ways} of the {total} sequences have {what}, so the "
                  f"probability is {f}.", "coins", {"n": n, "k": k, "at_least": at_least},
                  intro="Each sequence of tosses is equally likely; I count the favourable ones.", boxed=latex_frac(f))


__all__ = ["gen_probability"]
