"""Pool generator, MSC 05 (combinatorics): counting questions in several everyday settings.

    from s1.data.pool.combinatorics import gen_combinatorics; gen_combinatorics(random.Random(0), 3)
"""

from __future__ import annotations

import math
import random

from ...tasks.combinatorics import arrangements
from ...tasks.words import WORDS
from .worked import CHECK_FROM, Worked, comb_steps, dice_count, dice_steps, mul_steps, spell, sum_steps

# Several settings per kind: more distinct questions per seed, and counting rather than one sentence.
CHOOSE_CTX = (
    "A coach must pick {k} runners out of a squad of {m} for a relay team; the running order is decided later. "
    "How many different teams can the coach pick?",
    "A jury of {k} is drawn from a panel of {m} candidates. How many different juries are possible?",
    "Ravi wants to invite {k} of his {m} cousins to a picnic. How many different groups of cousins can he invite?",
    "A florist makes a bouquet from {k} different flower types chosen from the {m} types in stock. "
    "How many different choices of flower types are there?",
)
SEAT_CTX = (
    "Count the distinct ways to seat {m} wedding guests on a bench with exactly {m} places.",
    "Count the distinct ways to line up {m} different trophies on a mantelpiece.",
    "A playlist holds {m} different tracks. Count the distinct orders in which all of them can be played once each.",
    "Count the distinct finishing orders of {m} swimmers in a heat, if no two touch the wall together.",
)
MEDAL_CTX = (
    "A school awards one gold, one silver and one bronze medal among {m} finalists, and nobody wins two medals. "
    "How many ways can the medals be awarded?",
    "A club with {m} members elects a president, a secretary and a treasurer, three different people. "
    "How many outcomes can the election have?",
    "From {m} paintings a museum hangs one in the hall, one on the stairs and one in the cafe. "
    "How many ways can the three spots be filled?",
)
SUBSET_CTX = (
    "A pizza shop has {m} toppings, and a customer may order any selection of them, a plain pizza with none "
    "included. How many different pizzas can be ordered?",
    "An ice cream stand offers {m} sauces; a cone may get any selection of them, also none. "
    "How many different cones can be served?",
    "A room has {m} light switches, each up or down. How many different switch patterns are there?",
)
CODE_CTX = (
    "A bike lock has {k} wheels, and each wheel shows one of {m} symbols. How many different combinations can "
    "the lock be set to?",
    "A license plate has {k} positions; each position holds one of {m} permitted symbols, and a symbol may be "
    "reused. How many different license plates are possible?",
    "A quiz has {k} questions, each with {m} possible responses. How many ways can the whole quiz be answered?",
)
GAME_CTX = (
    "In a round-robin chess event with {m} players, every two players meet exactly once. How many games take place?",
    "{m} friends meet and every two of them exchange one phone number card. How many exchanges happen?",
    "{m} points lie on a circle, no three on a line. How many different pairs of points can be joined by a chord?",
)


def gen_combinatorics(rng: random.Random, d: int) -> Worked:
    s = 3 + d
    kind = rng.choice(("choose", "seat", "medals", "anagram", "grid", "subsets", "codes", "dice", "marbles",
                       "pairs"))
    if kind == "choose":
        m = rng.randint(4, s + 8)
        k = rng.randint(2, m - 2)
        steps, ans = comb_steps(m, k)
        q = rng.choice(CHOOSE_CTX).format(m=m, k=k)
        return Worked(q, str(ans), steps, f"The count is C({m}, {k}) = {ans}.", kind, {"m": m, "k": k},
                      intro="Order does not matter, so this is a binomial coefficient.")
    if kind == "seat":
        m = rng.randint(3, s + 3)
        steps, ans = mul_steps(list(range(1, m + 1)))
        q = rng.choice(SEAT_CTX).format(m=m)
        return Worked(q, str(ans), steps, f"Every order counts once: {m}! = {ans}.", kind, {"m": m},
                      intro=f"Each ordering of the {m} items is different, so the count is {m}!.")
    if kind == "medals":
        m = rng.randint(4, s + 10)
        steps, ans = mul_steps([m, m - 1, m - 2])
        q = rng.choice(MEDAL_CTX).format(m=m)
        return Worked(q, str(ans), steps, f"The three distinct roles give {m} × {m - 1} × {m - 2} = {ans}.",
                      kind, {"m": m},
                      intro=f"The first role has {m} choices, the second one fewer, the third one fewer again.")
    if kind == "anagram":
        pool = [w for w in WORDS if 3 <= len(w) <= s + 3 and len(set(w)) < len(w)]
        w = rng.choice(pool)
        counts = {c: w.count(c) for c in dict.fromkeys(w)}
        steps = [f"The word is {spell(w)}, with {len(w)} letters: "
                 + ", ".join(f"{c} × {k}" for c, k in counts.items()) + "."]
        fs, total = mul_steps(list(range(1, len(w) + 1)))
        steps += fs
        ans = total
        for c, k in counts.items():
            if k > 1:
                steps.append(f"Divide by {k}! = {math.factorial(k)} for the repeated {c}: "
                             f"{ans} / {math.factorial(k)} = {ans // math.factorial(k)}")
                ans //= math.factorial(k)
        assert ans == arrangements(w)
        q = f'How many distinguishable rearrangements does the word "{w}" have, using all of its letters?'
        return Worked(q, str(ans), steps, f"{len(w)}! divided by the factorials of the repeats gives {ans}.", kind,
                      {"word": w},
                      intro="Rearrangements of a word with repeated letters: n! over the repeats' factorials.")
    if kind == "grid":
        a, b = rng.randint(2, s + 1), rng.randint(2, s + 1)
        steps, ans = comb_steps(a + b, a)
        q = (f"An ant walks along the lines of a {a}-by-{b} street grid from the south-west corner to the "
             f"north-east corner, always heading east or north. How many shortest routes can it take?")
        return Worked(q, str(ans), steps, f"A route is {a} east moves among {a + b} moves: C({a + b}, {a}) = {ans}.",
                      kind, {"a": a, "b": b}, intro="Each route is a sequence of east and north moves.")
    if kind == "subsets":
        m = rng.randint(3, s + 6)
        steps, ans = mul_steps([2] * m)
        q = rng.choice(SUBSET_CTX).format(m=m)
        return Worked(q, str(ans), steps, f"Each of the {m} is independently in or out: 2^{m} = {ans}.", kind, {"m": m},
                      intro="Each option is independently chosen or not, so the count is a power of 2.")
    if kind == "codes":
        m, k = rng.randint(3, 12), rng.randint(2, 2 + d // 2)
        steps, ans = mul_steps([m] * k)
        q = rng.choice(CODE_CTX).format(m=m, k=k)
        return Worked(q, str(ans), steps, f"{k} independent positions with {m} options each: {m}^{k} = {ans}.", kind,
                      {"m": m, "k": k}, intro="The positions are independent, so the counts multiply.")
    if kind == "dice":
        n = 2 if d < 4 else 3
        sides = rng.choice((4, 6, 8, 10, 12) if n == 2 else (4, 6, 8))
        t = rng.randint(n + 1, sides * n - 1)
        ans = dice_count(n, sides, t)
        steps = dice_steps(n, sides, t) + [f"Counting all of them: {ans}."]
        word = {2: "Two", 3: "Three"}[n]
        q = (f"{word} {sides}-sided dice, one red{', one green' if n == 3 else ''} and one blue, are thrown together. "
             f"Count the ordered outcomes in which the faces sum to {t}.")
        return Worked(q, str(ans), steps, f"Listing the outcomes with sum {t} gives {ans}.", kind,
                      {"dice": n, "sides": sides, "total": t},
                      intro="I'll go through the values of the first die and count what the others can be.")
    if kind == "marbles":
        c, r = rng.randint(2, s + 4), rng.randint(2, min(5, s))
        steps, ans = comb_steps(c + r - 1, r - 1)
        steps.insert(0, f"Stars and bars: {c} stars and {r - 1} bars, choose the bar positions among {c + r - 1}.")
        q = (f"In how many ways can {c} identical marbles be put into {r} labelled jars, if a jar may stay "
             f"empty?")
        return Worked(q, str(ans), steps, f"Stars and bars gives C({c + r - 1}, {r - 1}) = {ans}.", kind,
                      {"marbles": c, "jars": r}, intro="Identical objects into distinct jars: stars and bars.")
    m = rng.randint(4, s + 12)
    steps, ans = comb_steps(m, 2)
    check = []
    if d >= CHECK_FROM:
        run, _ = sum_steps(list(range(1, m)))
        check = [f"Check another way: the first joins {m - 1} new pairs, the second one fewer, and so on."] + run
    q = rng.choice(GAME_CTX).format(m=m)
    return Worked(q, str(ans), steps, f"Each one is an unordered pair: C({m}, 2) = {ans}.", "pairs", {"m": m},
                  intro="Each one corresponds to an unordered pair.", check=check)


__all__ = ["gen_combinatorics"]
