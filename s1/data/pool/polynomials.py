"""Pool generator, MSC 26 (real functions): evaluating a polynomial term by term, Horner as a check.

    from s1.data.pool.polynomials import gen_polynomials; gen_polynomials(random.Random(0), 3)
"""

from __future__ import annotations

import random

from .worked import CHECK_FROM, Worked, mul_steps, sum_steps

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
            _, pw = mul_steps([x] * i)
            steps.append(f"({x})^{i} = {pw}, so {c} × {pw} = {c * pw}")
            terms.append(c * pw)
        elif i == 1:
            steps.append(f"{c} × ({x}) = {c * x}")
            terms.append(c * x)
        else:
            steps.append(f"constant term {c}")
            terms.append(c)
    sums, val = sum_steps(terms)
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


__all__ = ["gen_polynomials"]
