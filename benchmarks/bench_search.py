"""REBASE on the in-process engine: does tree search re-run prefixes, and what does it cost per token?
Run: python benchmarks/bench_search.py [--questions 1] [--width 16] [--max-thinking 48]

REBASE with 16 trajectories per question (the confidence reward: the policy's own log-probs, so no
second model competes for the CPU) on the embedded model and the built-in arith task, then 16
independent samples per question with the same budget and sampling in one batch (what majority voting
runs). Reported: decoded tokens / all model tokens processed (prefill + decode rows; 1.0 means
nothing was ever run twice, the goal is >= 0.9), the same for the independent samples, and the wall
time per generated token of REBASE against the independent samples (the two runs generate about,
not exactly, the same number of tokens). Writes benchmarks/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import s1
from s1 import BudgetConfig, SamplingConfig
from s1.rewards import load_reward
from s1.search import search
from s1.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=1)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--max-thinking", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=0.2, help="REBASE softmax temperature")
    args = ap.parse_args()
    engine = s1.load()
    prompts = [q.prompt for q in get_task(f"arith:n={args.questions}").load()]
    budget = BudgetConfig(max_thinking_tokens=args.max_thinking, max_answer_tokens=16)
    sampling = SamplingConfig(0.8, seed=1)
    load = os.getloadavg()[0]

    stats: dict = {}
    t = time.perf_counter()
    res = search(engine, prompts, "rebase", args.width, reward=load_reward("confidence"), budget=budget,
                 thinking=sampling, stats=stats, temperature=args.temperature)
    t_rebase = time.perf_counter() - t
    generated = sum(r[0].total_tokens for r in res)
    processed = stats["prefill_tokens"] + stats["decode_row_steps"]
    print(f"rebase: {generated} tokens generated, {processed} processed, {t_rebase:.0f}s", flush=True)

    ind: dict = {}
    t = time.perf_counter()
    grid = engine.generate_grid([p for p in prompts for _ in range(args.width)], [budget], sampling,
                                batch_size=len(prompts) * args.width, stats=ind,
                                seeds=list(range(len(prompts) * args.width)))
    t_ind = time.perf_counter() - t
    ind_generated = sum(len(g[0].completion_ids) for g in grid)
    ind_processed = ind["prefill_tokens"] + ind["decode_row_steps"]

    row = {
        "questions": len(prompts), "width": args.width, "max_thinking": args.max_thinking,
        "rebase": {**stats, "generated_tokens": generated, "seconds": round(t_rebase, 1),
                   "decoded_over_processed": round(generated / processed, 3),
                   "finished": sum(r[0].finished for r in res)},
        "independent": {**ind, "generated_tokens": ind_generated, "seconds": round(t_ind, 1),
                        "decoded_over_processed": round(ind_generated / ind_processed, 3)},
        "time_per_token_ratio": round((t_rebase / generated) / (t_ind / ind_generated), 3),
        "load_average_start": round(load, 1), "load_average_end": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(row, indent=2))
    out = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
           "dtype": str(next(engine.model.parameters()).dtype), "rows": [row]}
    path = Path(__file__).parent / "results" / "search.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    r, i = row["rebase"], row["independent"]
    print("\n| run | generated tokens | prefill tokens | decode rows | decoded / processed | wall time | s / 1k tokens |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, d in (("REBASE x16", r), ("16 independent", i)):
        print(f"| {name} | {d['generated_tokens']} | {d['prefill_tokens']} | {d['decode_row_steps']} | "
              f"{d['decoded_over_processed']:.3f} | {d['seconds']:.0f}s | {1000 * d['seconds'] / d['generated_tokens']:.1f} |")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
