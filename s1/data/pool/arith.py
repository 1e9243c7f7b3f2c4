"""Pool generator, MSC 97 (mathematics education): money word problems, followed one event at a time.

    from s1.data.pool.arith import gen_arith; gen_arith(random.Random(0), 3)   # a Worked question
"""

from __future__ import annotations

import random

from .worked import CHECK_FROM, Worked

NAMES = (("Maya", "she"), ("Leo", "he"), ("Priya", "she"), ("Tomas", "he"), ("Aisha", "she"), ("Chen", "he"),
         ("Sofia", "she"), ("Omar", "he"), ("Greta", "she"), ("Kofi", "he"))
ITEMS = (("notebooks", 2, 6), ("pencils", 1, 3), ("comic books", 3, 9), ("cinema tickets", 5, 12),
         ("sandwiches", 3, 8), ("flower pots", 4, 10), ("bus passes", 2, 7), ("paint brushes", 1, 5))
JOBS = ("walking dogs", "mowing a lawn", "selling lemonade", "washing cars", "tutoring a classmate")
GIFTS = ("a birthday present", "a concert ticket", "a school trip", "a new backpack")


def gen_arith(rng: random.Random, d: int) -> Worked:
    name, pron = rng.choice(NAMES)
    money = rng.randint(20, 40 + 30 * d)
    start = money
    events, steps, ops = [], [f"{name} starts with {money} dollars."], []
    for _ in range(d + 1):
        choices = ["buy", "earn", "give"]
        if money % 2 == 0 and money >= 10:
            choices.append("half")
        if money <= 150:
            choices.append("double")
        op = rng.choice(choices)
        if op == "buy":
            item, lo, hi = rng.choice(ITEMS)
            k, p = rng.randint(2, 2 + d), rng.randint(lo, hi)
            if k * p >= money:
                op = "earn"
            else:
                events.append(f"{pron} buys {k} {item} at {p} dollars each")
                steps.append(f"{k} {item} at {p} dollars each cost {k} × {p} = {k * p} dollars, "
                             f"so {money} − {k * p} = {money - k * p} dollars are left.")
                ops.append(["-", k * p])
                money -= k * p
        if op == "earn":
            x = rng.randint(5, 10 * d + 10)
            events.append(f"{pron} earns {x} dollars {rng.choice(JOBS)}")
            steps.append(f"Earning {x} dollars gives {money} + {x} = {money + x} dollars.")
            ops.append(["+", x])
            money += x
        elif op == "give":
            x = rng.randint(1, max(1, money // 3))
            events.append(f"{pron} gives {x} dollars to a friend")
            steps.append(f"Giving away {x} dollars leaves {money} − {x} = {money - x} dollars.")
            ops.append(["-", x])
            money -= x
        elif op == "half":
            events.append(f"{pron} spends half of the money {pron} has on {rng.choice(GIFTS)}")
            steps.append(f"Half of {money} is {money} / 2 = {money // 2}, so {money // 2} dollars are left.")
            ops.append(["/", 2])
            money //= 2
        elif op == "double":
            events.append(f"a relative doubles the money {pron} has")
            steps.append(f"Doubling {money} gives 2 × {money} = {2 * money} dollars.")
            ops.append(["*", 2])
            money *= 2
    middle = ("Then", "After that", "Next", "Later")
    words = ["First"] + [middle[(i - 1) % len(middle)] for i in range(1, len(events) - 1)] + ["Finally"]
    text = ". ".join(f"{w} {e}" for w, e in zip(words, events))
    question = f"{name} has {start} dollars. {text}. How many dollars does {name} have at the end?"
    check = []
    if d >= CHECK_FROM:
        trail, acc = [str(start)], start
        for op, x in ops:
            acc = {"+": acc + x, "-": acc - x, "/": acc // 2, "*": acc * 2}[op]
            trail.append(str(acc))
        check = [f"Tracking the amount once more: {' → '.join(trail)}.",
                 f"Each change matches the steps above, so {name} ends with {money} dollars."]
    return Worked(question, str(money), steps, f"Following the money step by step, {name} ends with {money} dollars.",
                  "money", {"start": start, "ops": ops},
                  intro="Let me follow the money one event at a time.", check=check, numbered=True)


__all__ = ["gen_arith"]
