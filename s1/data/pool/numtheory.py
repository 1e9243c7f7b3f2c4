"""Pool generator, MSC 11 (number theory): gcd by Euclid, modular powers, divisor counts.

    from s1.data.pool.numtheory import gen_numtheory; gen_numtheory(random.Random(0), 3)
"""

from __future__ import annotations

import math
import random

from .worked import CHECK_FROM, Worked

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


__all__ = ["gen_numtheory"]
