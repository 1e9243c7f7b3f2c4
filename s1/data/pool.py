"""A built-in question pool for `s1 curate`: generated questions in 7 MSC domains, with exact answers and worked traces.

    from s1.data.pool import builtin_pool; rows = builtin_pool(600, seed=0)   # schema rows, deterministic

Every row carries a reference `solution` ending in \\boxed{answer} and a reasoning trace written by code
(`metadata["worked_thinking"]`, `metadata["worked_attempt"]`) whose length grows with the difficulty
(1-5): harder questions take more steps, and from difficulty 4 on the trace re-checks its result another
way, as long reasoning traces do. So the whole pipeline (traces "builtin", featurize, select) runs offline.
One row in `flaw_every` is deliberately flawed (an [asy] drawing or an image in the question, a numbered
list that skips a number in the question and in the trace, no trace at all) so the quality filters of
selection have something to remove; `metadata["flaw"]` names the flaw (None on clean rows).

The wordings are our own, not the evaluation tasks' (arith, letters, combinatorics): a pool row must not
share a word 8-gram with an evaluation prompt, or decontamination would rightly drop it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

from ..tasks.combinatorics import arrangements
from ..tasks.words import WORDS
from .schema import row_id

# generator name -> MSC class of its questions (the classifier should find the same; tests check it)
DOMAINS: dict[str, str] = {
    "arith": "97",  # Mathematics education: multi-step word problems
    "numtheory": "11",  # Number theory: gcd, modular powers, divisor counts
    "combinatorics": "05",  # Combinatorics: counting
    "probability": "60",  # Probability theory: exact fractions
    "strings": "68",  # Computer science: characters, binary
    "polynomials": "26",  # Real functions: evaluating polynomials
    "series": "40",  # Sequences, series, summability: finite sums
}
FLAWS = ("asymptote", "image_reference", "broken_numbering", "missing_trace")
DIFFICULTIES = (1, 2, 3, 4, 5)
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

def _mul_steps(factors: list[int], label: str = "") -> tuple[list[str], int]:
    """'a × b = p', 'p × c = q', ...: a running product written out, one multiplication a line."""
    steps, acc = [], factors[0]
    for f in factors[1:]:
        steps.append(f"{label}{acc} × {f} = {acc * f}")
        acc *= f
    return steps, acc


def _sum_steps(terms: list[int]) -> tuple[list[str], int]:
    steps, acc = [], terms[0]
    for t in terms[1:]:
        steps.append(f"{acc} {'+' if t >= 0 else '−'} {abs(t)} = {acc + t}")
        acc += t
    return steps, acc


def _comb_steps(n: int, k: int) -> tuple[list[str], int]:
    """C(n, k) as a falling product over k!, with every multiplication and the division written out."""
    k = min(k, n - k)
    if k == 0:
        return [f"C({n}, 0) = 1"], 1
    top = list(range(n, n - k, -1))
    num_steps, num = _mul_steps(top) if k > 1 else ([], top[0])
    den_steps, den = _mul_steps(list(range(1, k + 1))) if k > 1 else ([], 1)
    steps = [f"C({n}, {k}) = ({' × '.join(map(str, top))}) / {k}!"]
    steps += num_steps + den_steps
    steps.append(f"{num} / {den} = {num // den}")
    return steps, num // den


def _frac_steps(num: int, den: int) -> tuple[list[str], Fraction]:
    f = Fraction(num, den)
    g = math.gcd(num, den)
    if g == 1:
        return [f"{num}/{den} is already in lowest terms"], f
    return [f"gcd({num}, {den}) = {g}, so {num}/{den} = {f.numerator}/{f.denominator}"], f


def _latex_frac(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"\\frac{{{f.numerator}}}{{{f.denominator}}}"


def _spell(word: str) -> str:
    return "-".join(word)


# -- 97: multi-step word problems -------------------------------------------------------------------

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


# -- 11: number theory -------------------------------------------------------------------------------

def gen_numtheory(rng: random.Random, d: int) -> Worked:
    kind = rng.choice(("gcd", "modpow", "divisors"))
    if kind == "gcd":
        g = rng.randint(2, 6 * d + 3)
        x, y = rng.sample(range(2, 8 * 4**d), 2)
        a, b = max(x, y) * g, min(x, y) * g
        steps, p, q = [], a, b
        while q:
            steps.append(f"{p} = {p // q} × {q} + {p % q}")
            p, q = q, p % q
        steps.append(f"The remainder is 0, so the last nonzero remainder, {p}, is the gcd.")
        check = []
        if d >= CHECK_FROM:
            check = [f"Check: {a} / {p} = {a // p} and {b} / {p} = {b // p}.",
                     f"gcd({a // p}, {b // p}) = {math.gcd(a // p, b // p)}, so nothing larger divides both."]
        return Worked(f"What is the greatest common divisor of {a} and {b}?", str(p), steps,
                      f"The Euclidean algorithm on {a} and {b} ends with remainder 0 after {p}.", kind,
                      {"a": a, "b": b}, intro="I'll use the Euclidean algorithm: divide, keep the remainder, repeat.",
                      check=check)
    if kind == "modpow":
        base, mod = rng.randint(2, 5 + 3 * d), rng.randint(5, 6 + 4 * d)
        exp = rng.randint(10, 10 * 5 ** (d - 1) + 10)
        seen, powers, steps = {}, [None], []
        r = base % mod
        i = 1
        steps.append(f"{base}^1 ≡ {r} (mod {mod})")
        while r not in seen and i < exp:
            seen[r] = i
            powers.append(r)
            nxt = r * base
            steps.append(f"{base}^{i + 1} ≡ {r} × {base} = {nxt} ≡ {nxt % mod} (mod {mod})")
            r, i = nxt % mod, i + 1
        if i == exp and r not in seen:
            ans = r
            steps.append(f"That is the power asked for: the remainder is {ans}.")
        else:
            first = seen[r]
            period = i - first
            pos = first + (exp - first) % period
            ans = powers[pos]
            steps.append(f"{base}^{i} has the same remainder as {base}^{first}, so the remainders repeat "
                         f"with period {period} from exponent {first} on.")
            steps.append(f"({exp} − {first}) mod {period} = {(exp - first) % period}, so {base}^{exp} ≡ "
                         f"{base}^{pos} ≡ {ans} (mod {mod}).")
        check = []
        if d >= CHECK_FROM:  # square-and-multiply over the binary digits of the exponent
            bits = format(exp, "b")
            check.append(f"{exp} in binary is {bits}; squaring step by step modulo {mod}:")
            sq, acc = base % mod, 1
            for j, bit in enumerate(reversed(bits)):
                if bit == "1":
                    check.append(f"bit {j} is 1: result {acc} × {sq} = {acc * sq} ≡ {acc * sq % mod}")
                    acc = acc * sq % mod
                if j < len(bits) - 1:
                    check.append(f"{base}^{2 ** (j + 1)} ≡ {sq}² = {sq * sq} ≡ {sq * sq % mod}")
                    sq = sq * sq % mod
            check.append(f"Square-and-multiply also gives {acc}.")
        assert ans == pow(base, exp, mod)
        return Worked(f"Find the remainder when ${base}^{{{exp}}}$ is divided by {mod}.", str(ans), steps,
                      f"Powers of {base} modulo {mod} repeat, and exponent {exp} lands on remainder {ans}.", kind,
                      {"base": base, "exp": exp, "mod": mod},
                      intro=f"I'll list powers of {base} modulo {mod} until a remainder repeats.", check=check)
    primes = [2, 3, 5, 7, 11, 13][: 2 + (d + 1) // 2]
    chosen = sorted(rng.sample(primes, min(len(primes), 1 + (d + 1) // 2)))
    exps = {p: rng.randint(1, 1 + d // 2) for p in chosen}
    n = math.prod(p**e for p, e in exps.items())
    steps, m = [], n
    for p in chosen:
        while m % p == 0:
            steps.append(f"{m} / {p} = {m // p}")
            m //= p
    fact = " × ".join(f"{p}^{e}" if e > 1 else str(p) for p, e in exps.items())
    count = math.prod(e + 1 for e in exps.values())
    steps.append(f"So {n} = {fact}.")
    steps.append("A divisor picks each prime's exponent from 0 up to its exponent: "
                 + " × ".join(f"({e} + 1)" for e in exps.values()) + f" = {count}.")
    check = []
    if d >= CHECK_FROM:
        divs = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
        pairs = [f"{k}·{n // k}" for k in divs]
        total = sum(2 if k * k != n else 1 for k in divs)
        if count <= 40:  # a longer list would be a wall of numbers, not a check
            check = ["Listing divisor pairs to be sure: " + ", ".join(pairs) + ".",
                     f"That is {total} divisors, matching {count}."]
    return Worked(f"How many positive divisors does {n} have?", str(count), steps,
                  f"{n} = {fact}, and the number of divisors is the product of (exponent + 1), which is {count}.",
                  kind, {"n": n}, intro=f"First I factor {n} into primes by repeated division.", check=check)


# -- 05: counting --------------------------------------------------------------------------------

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


def _dice_count(n: int, sides: int, total: int) -> int:
    """Ordered outcomes of n dice with faces 1..sides summing to total (a small dynamic program)."""
    ways = {0: 1}
    for _ in range(n):
        nxt: dict[int, int] = {}
        for s, w in ways.items():
            for f in range(1, sides + 1):
                nxt[s + f] = nxt.get(s + f, 0) + w
        ways = nxt
    return ways.get(total, 0)


def _dice_steps(n: int, sides: int, t: int) -> list[str]:
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


def gen_combinatorics(rng: random.Random, d: int) -> Worked:
    s = 3 + d
    kind = rng.choice(("choose", "seat", "medals", "anagram", "grid", "subsets", "codes", "dice", "marbles",
                       "pairs"))
    if kind == "choose":
        m = rng.randint(4, s + 8)
        k = rng.randint(2, m - 2)
        steps, ans = _comb_steps(m, k)
        q = rng.choice(CHOOSE_CTX).format(m=m, k=k)
        return Worked(q, str(ans), steps, f"The count is C({m}, {k}) = {ans}.", kind, {"m": m, "k": k},
                      intro="Order does not matter, so this is a binomial coefficient.")
    if kind == "seat":
        m = rng.randint(3, s + 3)
        steps, ans = _mul_steps(list(range(1, m + 1)))
        q = rng.choice(SEAT_CTX).format(m=m)
        return Worked(q, str(ans), steps, f"Every order counts once: {m}! = {ans}.", kind, {"m": m},
                      intro=f"Each ordering of the {m} items is different, so the count is {m}!.")
    if kind == "medals":
        m = rng.randint(4, s + 10)
        steps, ans = _mul_steps([m, m - 1, m - 2])
        q = rng.choice(MEDAL_CTX).format(m=m)
        return Worked(q, str(ans), steps, f"The three distinct roles give {m} × {m - 1} × {m - 2} = {ans}.",
                      kind, {"m": m},
                      intro=f"The first role has {m} choices, the second one fewer, the third one fewer again.")
    if kind == "anagram":
        pool = [w for w in WORDS if 3 <= len(w) <= s + 3 and len(set(w)) < len(w)]
        w = rng.choice(pool)
        counts = {c: w.count(c) for c in dict.fromkeys(w)}
        steps = [f"The word is {_spell(w)}, with {len(w)} letters: "
                 + ", ".join(f"{c} × {k}" for c, k in counts.items()) + "."]
        fs, total = _mul_steps(list(range(1, len(w) + 1)))
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
        steps, ans = _comb_steps(a + b, a)
        q = (f"An ant walks along the lines of a {a}-by-{b} street grid from the south-west corner to the "
             f"north-east corner, always heading east or north. How many shortest routes can it take?")
        return Worked(q, str(ans), steps, f"A route is {a} east moves among {a + b} moves: C({a + b}, {a}) = {ans}.",
                      kind, {"a": a, "b": b}, intro="Each route is a sequence of east and north moves.")
    if kind == "subsets":
        m = rng.randint(3, s + 6)
        steps, ans = _mul_steps([2] * m)
        q = rng.choice(SUBSET_CTX).format(m=m)
        return Worked(q, str(ans), steps, f"Each of the {m} is independently in or out: 2^{m} = {ans}.", kind, {"m": m},
                      intro="Each option is independently chosen or not, so the count is a power of 2.")
    if kind == "codes":
        m, k = rng.randint(3, 12), rng.randint(2, 2 + d // 2)
        steps, ans = _mul_steps([m] * k)
        q = rng.choice(CODE_CTX).format(m=m, k=k)
        return Worked(q, str(ans), steps, f"{k} independent positions with {m} options each: {m}^{k} = {ans}.", kind,
                      {"m": m, "k": k}, intro="The positions are independent, so the counts multiply.")
    if kind == "dice":
        n = 2 if d < 4 else 3
        sides = rng.choice((4, 6, 8, 10, 12) if n == 2 else (4, 6, 8))
        t = rng.randint(n + 1, sides * n - 1)
        ans = _dice_count(n, sides, t)
        steps = _dice_steps(n, sides, t) + [f"Counting all of them: {ans}."]
        word = {2: "Two", 3: "Three"}[n]
        q = (f"{word} {sides}-sided dice, one red{', one green' if n == 3 else ''} and one blue, are thrown together. "
             f"Count the ordered outcomes in which the faces sum to {t}.")
        return Worked(q, str(ans), steps, f"Listing the outcomes with sum {t} gives {ans}.", kind,
                      {"dice": n, "sides": sides, "total": t},
                      intro="I'll go through the values of the first die and count what the others can be.")
    if kind == "marbles":
        c, r = rng.randint(2, s + 4), rng.randint(2, min(5, s))
        steps, ans = _comb_steps(c + r - 1, r - 1)
        steps.insert(0, f"Stars and bars: {c} stars and {r - 1} bars, choose the bar positions among {c + r - 1}.")
        q = (f"In how many ways can {c} identical marbles be put into {r} labelled jars, if a jar may stay "
             f"empty?")
        return Worked(q, str(ans), steps, f"Stars and bars gives C({c + r - 1}, {r - 1}) = {ans}.", kind,
                      {"marbles": c, "jars": r}, intro="Identical objects into distinct jars: stars and bars.")
    m = rng.randint(4, s + 12)
    steps, ans = _comb_steps(m, 2)
    check = []
    if d >= CHECK_FROM:
        run, _ = _sum_steps(list(range(1, m)))
        check = [f"Check another way: the first joins {m - 1} new pairs, the second one fewer, and so on."] + run
    q = rng.choice(GAME_CTX).format(m=m)
    return Worked(q, str(ans), steps, f"Each one is an unordered pair: C({m}, 2) = {ans}.", "pairs", {"m": m},
                  intro="Each one corresponds to an unordered pair.", check=check)


# -- 60: probability ----------------------------------------------------------------------------------

COLOURS = (("red", "blue"), ("green", "yellow"), ("black", "white"))


def gen_probability(rng: random.Random, d: int) -> Worked:
    kind = rng.choice(("dice", "urn", "coins"))
    if kind == "dice":
        n = 2 if d < 4 else 3
        sides = rng.choice((4, 6, 8, 10, 12) if n == 2 else (4, 6, 8))
        t = rng.randint(n + 1, sides * n - 1)
        total = sides**n
        fav = _dice_count(n, sides, t)
        steps = _dice_steps(n, sides, t) + [f"{fav} favourable outcomes out of {sides}^{n} = {total}."]
        fs, f = _frac_steps(fav, total)
        steps += fs
        q = (f"{'Two' if n == 2 else 'Three'} fair {sides}-sided dice are rolled. What is the probability that the "
             f"numbers shown add up to {t}? Express your answer as a common fraction.")
        return Worked(q, f"{f.numerator}/{f.denominator}", steps,
                      f"{fav} of the {total} equally likely outcomes sum to "
                      f"{t}, so the probability is {f}.", kind, {"dice": n, "sides": sides, "total": t},
                      intro="All outcomes are equally likely, so I count the favourable ones.", boxed=_latex_frac(f))
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
        steps += _frac_steps(num, den)[0]
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
                      boxed=_latex_frac(f))
    n = rng.randint(3, 4 + d)
    k = rng.randint(1, n - 1)
    at_least = rng.random() < 0.5
    ps, total = _mul_steps([2] * n)
    steps = [f"There are 2^{n} equally likely sequences of tosses:"] + ps
    if at_least:  # a sum of binomial coefficients: a longer trace for the same question shape
        ways = 0
        for j in range(k, n + 1):
            cs, c = _comb_steps(n, j)
            steps += [f"Exactly {j} heads:"] + cs
            ways += c
            steps.append(f"Running count of favourable sequences: {ways}")
        what = f"at least {k} heads"
    else:
        cs, ways = _comb_steps(n, k)
        steps += cs
        what = f"exactly {k} heads"
    fs, f = _frac_steps(ways, total)
    steps += fs
    q = (f"A fair coin is tossed {n} times. What is the probability of getting {what}? "
         f"Express your answer as a common fraction.")
    return Worked(q, f"{f.numerator}/{f.denominator}", steps, f"{ways} of the {total} sequences have {what}, so the "
                  f"probability is {f}.", "coins", {"n": n, "k": k, "at_least": at_least},
                  intro="Each sequence of tosses is equally likely; I count the favourable ones.", boxed=_latex_frac(f))


# -- 68: strings and bits ------------------------------------------------------------------------------

VOWELS = "aeiou"


def gen_strings(rng: random.Random, d: int) -> Worked:
    kind = rng.choice(("count", "binary", "vowels"))
    if kind == "binary":
        n = rng.randint(2 ** (d + 1), 2 ** (2 * d + 3))
        steps, m = [], n
        while m:
            steps.append(f"{m} ÷ 2 = {m // 2} remainder {m % 2}")
            m //= 2
        b = format(n, "b")
        steps.append(f"Reading the remainders from the last to the first: {b}.")
        check = []
        if d >= CHECK_FROM:
            ones = [len(b) - 1 - i for i, c in enumerate(b) if c == "1"]
            check = [f"Check: {' + '.join(f'2^{k}' for k in ones)} = {' + '.join(str(2**k) for k in ones)} = {n}."]
        q = f"Convert the decimal number {n} to base 2 (binary). Give the binary digits."
        return Worked(q, b, steps, f"Repeated division by 2 gives {n} = {b} in base 2.", kind, {"n": n},
                      intro="I'll divide by 2 repeatedly and collect the remainders.", check=check)
    phrase = " ".join(rng.sample(WORDS, d))
    if kind == "vowels":
        steps = []
        total = 0
        for w in phrase.split():
            v = [c for c in w if c in VOWELS]
            total += len(v)
            steps.append(f"{_spell(w)}: vowels {', '.join(v) or 'none'} → {len(v)}, running total {total}")
        q = f'Count the vowels (a, e, i, o, u) in the text "{phrase}", with repeats counted each time.'
        ans = sum(c in VOWELS for c in phrase)
        return Worked(q, str(ans), steps, f"Going word by word there are {ans} vowels.", kind, {"text": phrase},
                      intro="I'll go word by word and spell each one out.")
    present = sorted(set(phrase) - {" "})
    repeated = [c for c in present if phrase.count(c) > 1]
    letter = rng.choice(repeated or present)
    steps, total = [], 0
    for w in phrase.split():
        hits = [str(i + 1) for i, c in enumerate(w) if c == letter]
        total += len(hits)
        where = f"at positions {', '.join(hits)}" if hits else "not present"
        steps.append(f"{_spell(w)}: {letter} {where} → {len(hits)}, running total {total}")
    check = []
    if d >= CHECK_FROM:
        seen = 0
        walk = []
        for c in phrase.replace(" ", ""):
            seen += c == letter
            walk.append(f"{c}{'*' if c == letter else ''}")
        check = ["Scanning once more character by character (* marks a match): " + " ".join(walk)
                 + f". That is {seen}."]
    q = f'Count how often the character "{letter}" occurs in the text "{phrase}".'
    ans = phrase.count(letter)
    return Worked(q, str(ans), steps, f'The character "{letter}" occurs {ans} times.', "count",
                  {"text": phrase, "letter": letter}, intro="I'll spell each word and note where the character is.",
                  check=check)


# -- 26: polynomials -------------------------------------------------------------------------------------

def _poly_text(coeffs: list[int]) -> str:
    """LaTeX of sum c_i x^i, highest power first; coeffs[i] is the coefficient of x^i."""
    out = []
    for i in range(len(coeffs) - 1, -1, -1):
        c = coeffs[i]
        if c == 0:
            continue
        mag = abs(c)
        body = ("" if mag == 1 and i > 0 else str(mag)) + ("" if i == 0 else "x" if i == 1 else f"x^{{{i}}}")
        sign = ("-" if c < 0 else "") if not out else (" - " if c < 0 else " + ")
        out.append(sign + body)
    return "".join(out)


def gen_polynomials(rng: random.Random, d: int) -> Worked:
    deg = d + 1
    coeffs = [rng.randint(-9, 9) for _ in range(deg)] + [rng.choice([c for c in range(-6, 7) if c])]
    x = rng.choice([v for v in range(-(2 + d), 3 + d) if abs(v) >= 2])
    fname = rng.choice("fgp")
    steps, terms = [], []
    for i in range(deg, -1, -1):
        c = coeffs[i]
        if c == 0:
            continue
        if i >= 2:
            _, pw = _mul_steps([x] * i)
            steps.append(f"({x})^{i} = {pw}, so {c} × {pw} = {c * pw}")
            terms.append(c * pw)
        elif i == 1:
            steps.append(f"{c} × ({x}) = {c * x}")
            terms.append(c * x)
        else:
            steps.append(f"constant term {c}")
            terms.append(c)
    sums, val = _sum_steps(terms)
    steps += ["Adding the terms: " + ("; ".join(sums) if sums else str(val))]
    check = []
    if d >= CHECK_FROM:
        acc, check = coeffs[deg], [f"Horner's scheme as a check, starting from the leading coefficient {coeffs[deg]}:"]
        for i in range(deg - 1, -1, -1):
            check.append(f"{acc} × ({x}) + ({coeffs[i]}) = {acc * x + coeffs[i]}")
            acc = acc * x + coeffs[i]
        check.append(f"Horner gives {acc} as well.")
    assert val == sum(c * x**i for i, c in enumerate(coeffs))
    q = f"Let ${fname}(x) = {_poly_text(coeffs)}$. Evaluate ${fname}({x})$."
    return Worked(q, str(val), steps, f"Substituting x = {x} term by term gives {fname}({x}) = {val}.", "evaluate",
                  {"coeffs": coeffs, "x": x}, intro=f"I'll substitute x = {x} into each term.", check=check)


# -- 40: sequences and series ------------------------------------------------------------------------------

def gen_series(rng: random.Random, d: int) -> Worked:
    if rng.random() < 0.6:
        a, r, n = rng.randint(-10, 20), rng.choice([v for v in range(-5, 10) if v]), rng.randint(3 + 2 * d, 4 + 4 * d)
        terms = [a + i * r for i in range(n)]
        sums, total = _sum_steps(terms)
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
    sums, total = _sum_steps(terms)
    steps = [f"The terms are {', '.join(map(str, terms))}."] + sums
    check = []
    if d >= 3:
        check = [f"Check with a(r^n − 1)/(r − 1) = {a} × (({r})^{n} − 1) / ({r} − 1) = "
                 f"{a} × {r ** n - 1} / {r - 1} = {a * (r ** n - 1) // (r - 1)}."]
    q = (f"Find the sum of the first {n} terms of the geometric sequence whose first term is {a} and whose "
         f"common ratio is {r}.")
    return Worked(q, str(total), steps, f"The {n} terms add up to {total}.", "geometric", {"a": a, "r": r, "n": n},
                  intro="I'll write out the terms and add them one at a time.", check=check)


GENERATORS = {"arith": gen_arith, "numtheory": gen_numtheory, "combinatorics": gen_combinatorics,
              "probability": gen_probability, "strings": gen_strings, "polynomials": gen_polynomials,
              "series": gen_series}


# -- rows --------------------------------------------------------------------------------------------------

BROKEN_LIST = "1. Show every step.\n2. Check the result.\n4. Give the final answer."  # item 3 is missing
ASY = ("[asy]\nsize(120);\ndraw((0,0)--(4,0)--(4,3)--cycle);\nlabel(\"$A$\",(0,0),SW);\n"
       "label(\"$B$\",(4,0),SE);\nlabel(\"$C$\",(4,3),NE);\n[/asy]")


def _thinking(w: Worked, broken: bool = False) -> str:
    steps = list(w.steps)
    if broken:
        while len(steps) < 3:  # a skip needs a third item
            steps.append(f"So far the result is {w.answer}.")
        nums = [1, 2] + list(range(4, len(steps) + 2))  # 1. 2. 4. 5. ...: the third number is missing
        body = "\n".join(f"{k}. {s}" for k, s in zip(nums, steps))
    elif w.numbered:
        body = "\n".join(f"{k}. {s}" for k, s in enumerate(steps, 1))
    else:
        body = "\n".join(steps)
    parts = [w.intro, body]
    if w.check:
        parts.append("Wait, let me verify this another way.\n" + "\n".join(w.check))
    parts.append(f"So the answer is {w.answer}.")
    return "\n\n".join(p for p in parts if p)


def _row(w: Worked, generator: str, d: int, flaw: str | None) -> dict:
    question = w.question
    if flaw == "asymptote":
        question += "\n\n" + ASY
    elif flaw == "image_reference":
        question += "\n\n![figure](fig.png)"
    elif flaw == "broken_numbering":  # in the question (what selection checks) and in the trace below
        question += "\n\n" + BROKEN_LIST
    boxed = w.boxed or w.answer
    solution = f"{w.summary} The answer is $\\boxed{{{boxed}}}$."
    thinking = attempt = None
    if flaw != "missing_trace":
        thinking = _thinking(w, broken=flaw == "broken_numbering")
        key = w.steps[-1] if w.steps else ""
        attempt = f"{w.intro}\n\n{key}\n\n{w.summary}\n\n**Final Answer**\n$\\boxed{{{boxed}}}$"
    return {
        "id": row_id(question),
        "question": question,
        "solution": solution,
        "cot_type": "math",
        "source_type": f"builtin/{generator}",
        "metadata": {
            "generator": generator,
            "kind": w.kind,
            "difficulty": d,
            "domain_hint": DOMAINS[generator],
            "answer": w.answer,
            "params": w.params,
            "flaw": flaw,
            "worked_thinking": thinking,
            "worked_attempt": attempt,
        },
    }


def builtin_pool(n: int = 600, seed: int = 0, flaw_every: int = 25) -> list[dict]:
    """`n` rows in the curate schema, generated round-robin over the 7 generators (DOMAINS).

    Row i uses generator i mod 7, a difficulty drawn from 1-5 and its own RNG seeded by (seed, i, attempt),
    so a smaller n gives a prefix of a larger one and the same seed gives the same rows on every machine.
    A question already drawn (same row id) is redrawn. Row i is flawed when i mod flaw_every ==
    flaw_every // 2 (0: no flaws), cycling through FLAWS: 4% of the rows by default, each kind once per 100.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    names = list(GENERATORS)
    rows, seen = [], set()
    for i in range(n):
        gen = names[i % len(names)]
        flaw = None
        if flaw_every and i % flaw_every == flaw_every // 2:
            flaw = FLAWS[(i // flaw_every) % len(FLAWS)]
        for attempt in range(1000):
            rng = random.Random(f"s1-pool/{seed}/{i}/{attempt}")
            d = rng.choice(DIFFICULTIES)
            row = _row(GENERATORS[gen](rng, d), gen, d, flaw)
            if row["id"] not in seen:
                break
        else:  # pragma: no cover - the generators have far more than 1000 distinct questions each
            raise RuntimeError(f"builtin pool: cannot draw a new {gen} question for row {i}")
        seen.add(row["id"])
        rows.append(row)
    return rows


__all__ = ["DOMAINS", "FLAWS", "GENERATORS", "builtin_pool"]
