"""Curation throughput and memory: decontamination and selection over a pool the size of the s1 paper's (59,029).
Run: python benchmarks/bench_curate.py [--rows 59029] [--n 1000] [--keep]

A synthetic pool (questions ~60 words, traces ~1-8k characters, 40 MSC domains of Zipf-like sizes,
solver verdicts, a few percent of rows with quality defects, some duplicates and rows carrying an
8+-word span of an evaluation question) is written as Parquet to /tmp. Each stage then runs in a fresh
process, so that its peak RSS (resource.getrusage ru_maxrss) is its own:
  read          iter_rows over the whole file, nothing else (the floor both stages pay)
  decontaminate against the arith task's prompts plus a synthetic 1,000-question eval set (a JSONL file)
  select        quality + difficulty filters and the s1 algorithm, n=1000, on decontaminate's output
                (two passes over the file)
The s1 package import (torch) is outside the timings; rss_after_imports_mib is the RSS it leaves.
Prints a table and writes results/curate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
WORK = Path("/tmp/s1-bench-curate")
ARITH = "arith:n=1000,steps=3"


def vocab(rng: random.Random, size: int = 6000) -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "da", "gri", "ton", "mel", "sar", "qu", "ex"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def text(rng: random.Random, words: list[str], weights: list[float], n: int) -> str:
    ws = rng.choices(words, weights, k=n)
    # a few math-looking tokens, as real questions have
    for _ in range(n // 12):
        ws[rng.randrange(n)] = rng.choice(["$x^2$", "$f(n)$", "3", "17", "2024", "$\\frac{1}{2}$", "=", "+"])
    return " ".join(ws).capitalize() + "?"


def build(rows: int, seed: int = 0) -> tuple[Path, Path, dict]:
    """Write the pool (Parquet) and the synthetic eval set (JSONL); returns their paths and the planted counts."""
    from s1.data.rowfiles import RowWriter, write_rows
    from s1.data.schema import row_id

    rng = random.Random(seed)
    words = vocab(rng)
    weights = [1 / (i + 10) for i in range(len(words))]  # Zipf-like word frequencies
    evals = [text(rng, words, weights, rng.randint(40, 80)) for _ in range(1000)]
    WORK.mkdir(parents=True, exist_ok=True)
    eval_path = WORK / "eval.jsonl"
    write_rows(eval_path, [{"problem": q, "answer": "1"} for q in evals])
    sentences = [text(rng, words, weights, rng.randint(8, 30)).rstrip("?") + "." for _ in range(3000)]
    domains = [f"{c:02d}" for c in (0, 3, 5, 6, 8, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 26, 28, 30, 31, 32,
                                    33, 34, 35, 37, 39, 40, 41, 42, 44, 45, 46, 47, 49, 51, 52, 53, 54, 55, 60)]
    dweights = [1 / (i + 1) ** 1.1 for i in range(len(domains))]
    flaws = ["![figure](fig1.png) ", "[asy] draw((0,0)--(1,1)); [/asy] ", "1. first\n3. third\n"]
    pool_path = WORK / "pool.parquet"
    questions: list[str] = []
    planted = {"contaminated": 0, "duplicate": 0}
    tainted: set[str] = set()
    seen: set[str] = set()
    with RowWriter(pool_path, batch=2048) as w:
        for i in range(rows):
            r = rng.random()
            if r < 0.01 and questions:  # exact duplicate of an earlier question
                q = rng.choice(questions)
            else:
                q = text(rng, words, weights, max(20, int(rng.gauss(60, 15))))
                if r < 0.015:  # carries a 12-word span of an eval question: contaminated
                    ev = rng.choice(evals).split()
                    k = rng.randrange(max(1, len(ev) - 12))
                    q = q + " " + " ".join(ev[k:k + 12])
                    tainted.add(q)
                elif r < 0.045:
                    q = rng.choice(flaws) + q
                if len(questions) < 5000:
                    questions.append(q)
            # ground truth as decontaminate counts it: contamination first, then repeats of a kept question
            if q in tainted:
                planted["contaminated"] += 1
            elif q in seen:
                planted["duplicate"] += 1
            seen.add(q)
            level = rng.random()
            thinking = " ".join(rng.choices(sentences, k=5 + int(level * 60)))
            w.write({"id": row_id(q), "question": q, "solution": f"\\boxed{{{rng.randint(1, 999)}}}",
                     "cot_type": "math", "source_type": f"src{rng.randrange(16)}", "metadata": {"i": i},
                     "thinking": thinking, "attempt": f"The answer is \\boxed{{{rng.randint(1, 999)}}}.",
                     "trace_error": "timeout" if rng.random() < 0.005 else None, "teacher": "synthetic",
                     "trace_tokens": len(thinking) // 4,
                     # harder questions (longer traces) are solved less often
                     "solver_correct": {"small": rng.random() < 0.5 * (1 - level),
                                        "large": rng.random() < 0.9 * (1 - level)},
                     "domain": rng.choices(domains, dweights)[0], "domain_name": "", "feature_error": None})
    return pool_path, eval_path, planted


def stage(name: str, pool: str, evals: str, n: int) -> dict:
    """One stage in this (fresh) process; returns its timing and peak RSS."""
    import pyarrow.parquet  # noqa: F401  (its import, pandas included, is a fixed cost, not per row)

    from s1.data.decontaminate import build_index, decontaminate
    from s1.data.rowfiles import count_rows, iter_rows
    from s1.data.select import select

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if name == "select":  # the pipeline's order: select reads decontaminate's output
        pool = str(WORK / "clean.parquet")
    rows = count_rows(pool)
    extra: dict = {}
    t = time.perf_counter()
    if name == "read":
        sum(1 for _ in iter_rows(pool))
    elif name == "decontaminate":
        ti = time.perf_counter()
        index = build_index([ARITH, evals], n=8)
        extra["index_seconds"] = round(time.perf_counter() - ti, 3)
        s = decontaminate(pool, WORK / "clean.parquet", [], index=index)
        extra.update({k: s[k] for k in ("kept", "dropped_contaminated", "dropped_duplicate")},
                     index_ngrams=len(index.grams), against=s["against"])
    elif name == "select":
        s = select(pool, WORK / "s1k.parquet", n=n, seed=0)
        extra.update(selected=s["selected"], funnel=s["funnel"], candidates=s["candidates"],
                     length=s["length"], domains_selected=len([d for d in s["domains"].values() if d["selected"]]))
    else:
        raise SystemExit(f"unknown stage {name}")
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"stage": name, "rows": rows, "seconds": round(wall, 2), "rows_per_s": round(rows / wall),
            "peak_rss_mib": round(rss / 1024, 1), "rss_after_imports_mib": round(rss0 / 1024, 1), **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=59029)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the files in /tmp/s1-bench-curate")
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage in this process
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--evals", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, args.pool, args.evals, args.n)))
        return

    t = time.perf_counter()
    pool, evals, planted = build(args.rows)
    build_s = time.perf_counter() - t
    size_mib = pool.stat().st_size / 2**20
    print(f"pool: {args.rows} rows, {size_mib:.0f} MiB Parquet at {pool} (built in {build_s:.0f} s)")
    results = []
    for name in ("read", "decontaminate", "select"):
        proc = subprocess.run([sys.executable, __file__, "--stage", name, "--pool", str(pool), "--evals", str(evals),
                               "--n", str(args.n)], capture_output=True, text=True, env={**os.environ})
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("\n| stage | rows | seconds | rows/s | peak RSS MiB | RSS after imports MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['stage']} | {r['rows']} | {r['seconds']} | {r['rows_per_s']} | {r['peak_rss_mib']} "
              f"| {r['rss_after_imports_mib']} |")
    d = results[1]
    s = results[2]
    print(f"\ndecontaminate: kept {d['kept']}, contaminated {d['dropped_contaminated']}, duplicates "
          f"{d['dropped_duplicate']} (planted: {planted['contaminated']} contaminated, {planted['duplicate']} "
          f"duplicates); index {d['index_ngrams']} 8-grams built in {d['index_seconds']} s")
    print(f"select: {s['candidates']} candidates -> {s['selected']} selected over {s['domains_selected']} domains; "
          f"mean trace tokens pool {s['length']['pool_mean']} vs selected {s['length']['selected_mean']}")
    print("funnel: " + " -> ".join(f"{k} {v}" for k, v in s["funnel"]))
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "python": platform.python_version(), "rows": args.rows, "pool_parquet_mib": round(size_mib, 1),
           "against": [ARITH, "synthetic eval set (1,000 questions, 40-80 words)"], "n": args.n,
           "planted": planted, "stages": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "curate.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'curate.json'}")
    if not args.keep:
        for p in WORK.iterdir():
            p.unlink()
        WORK.rmdir()


if __name__ == "__main__":
    main()
