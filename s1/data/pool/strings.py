"""Pool generator, MSC 68 (computer science): counting characters and vowels word by word, binary conversion.

    from s1.data.pool.strings import gen_strings; gen_strings(random.Random(0), 3)
"""

from __future__ import annotations

import random

from ...tasks.words import WORDS
from .worked import CHECK_FROM, Worked, spell

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
            steps.append(f"{spell(w)}: vowels {', '.join(v) or 'none'} → {len(v)}, running total {total}")
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
        steps.append(f"{spell(w)}: {letter} {where} → {len(hits)}, running total {total}")
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


__all__ = ["gen_strings"]
