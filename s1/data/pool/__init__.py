"""A built-in question pool for `s1 curate`: generated questions in 7 MSC domains (and one opt-in drill), with exact
answers and worked traces.

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

import random

from ..schema import row_id
from .arith import gen_arith
from .chains import gen_chains
from .combinatorics import gen_combinatorics
from .numtheory import gen_numtheory
from .polynomials import gen_polynomials
from .probability import gen_probability
from .series import gen_series
from .strings import gen_strings
from .worked import Worked

# generator name -> MSC class of its questions (the classifier should find the same; tests check it)
DOMAINS: dict[str, str] = {
    "arith": "97",  # Mathematics education: multi-step word problems
    "numtheory": "11",  # Number theory: gcd, modular powers, divisor counts
    "combinatorics": "05",  # Combinatorics: counting
    "probability": "60",  # Probability theory: exact fractions
    "strings": "68",  # Computer science: characters, binary
    "polynomials": "26",  # Real functions: evaluating polynomials
    "series": "40",  # Sequences, series, summability: finite sums
    "chains": "97",  # Mathematics education: + and - chains as a running total (opt-in, not in the default pool)
}
FLAWS = ("asymptote", "image_reference", "broken_numbering", "missing_trace")
DIFFICULTIES = (1, 2, 3, 4, 5)

GENERATORS = {"arith": gen_arith, "numtheory": gen_numtheory, "combinatorics": gen_combinatorics,
              "probability": gen_probability, "strings": gen_strings, "polynomials": gen_polynomials,
              "series": gen_series, "chains": gen_chains}
DEFAULT_GENERATORS = ("arith", "numtheory", "combinatorics", "probability", "strings", "polynomials", "series")


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
        attempt = f"{w.summary}\n\n**Final Answer**\n$\\boxed{{{boxed}}}$"  # short: the work is in the thinking
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


def builtin_pool(n: int = 600, seed: int = 0, flaw_every: int = 25, generators: list[str] | None = None,
                 difficulties: list[int] | None = None) -> list[dict]:
    """`n` rows in the curate schema, generated round-robin over the generators (default: DEFAULT_GENERATORS, the
    7 domains; "chains", a drill for the demo's held-out running totals, only when asked for).

    Row i uses generator i mod len(generators), a difficulty drawn from `difficulties` (default 1-5) and
    its own RNG seeded by (seed, i, attempt), so a smaller n gives a prefix of a larger one and the same
    seed gives the same rows on every machine. A question already drawn (same row id) is redrawn. Row i is
    flawed when i mod flaw_every == flaw_every // 2 (0: no flaws), cycling through FLAWS: 4% of the rows
    by default, each kind once per 100. A pool for one skill: generators=["arith", "series"], difficulties=[1, 2].
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    names = list(generators or DEFAULT_GENERATORS)
    unknown = [g for g in names if g not in GENERATORS]
    if unknown:
        raise ValueError(f"unknown pool generator(s) {', '.join(unknown)}; known: {', '.join(GENERATORS)}")
    levels = tuple(difficulties or DIFFICULTIES)
    if set(levels) - set(DIFFICULTIES):
        raise ValueError(f"pool difficulties must be among {', '.join(map(str, DIFFICULTIES))}, got {list(levels)}")
    rows, seen = [], set()
    for i in range(n):
        gen = names[i % len(names)]
        flaw = None
        if flaw_every and i % flaw_every == flaw_every // 2:
            flaw = FLAWS[(i // flaw_every) % len(FLAWS)]
        for attempt in range(1000):
            rng = random.Random(f"s1-pool/{seed}/{i}/{attempt}")
            d = rng.choice(levels)
            row = _row(GENERATORS[gen](rng, d), gen, d, flaw)
            if row["id"] not in seen:
                break
        else:  # pragma: no cover - the generators have far more than 1000 distinct questions each
            raise RuntimeError(f"builtin pool: cannot draw a new {gen} question for row {i}")
        seen.add(row["id"])
        rows.append(row)
    return rows


__all__ = ["DEFAULT_GENERATORS", "DOMAINS", "FLAWS", "GENERATORS", "builtin_pool"]
