"""The vllm backend's cost: vLLM plain decoding vs vLLM with the s1 budget processor, and the
in-process engine on the same workload. Needs vLLM (the .venv-vllm of `make test-vllm`).

    .venv-vllm/bin/python benchmarks/bench_vllm.py [--quick] [--dtype float32]

Workloads, greedy, batch 16 and 32, n thinking tokens per row:
  - "cut": max = n, no extension: rows that stop early end naturally, the others are cut at n;
  - "wait": min = max = n: every attempt to stop is replaced by "Wait", every row thinks exactly n.
Then the delimiter and one answer token. "plain" is vLLM decoding exactly as many tokens per row,
greedy, without the processor (same engine: the processor is registered but idle for plain
requests). The in-process engine runs the forced workloads after vLLM is shut down. Writes benchmarks/results/vllm.json and prints a Markdown table. Ratios are measured
side by side; absolute speeds on a shared machine are noisy (best of `--reps`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

QUESTIONS = [f"What is {a} * {b} + {c}? Think step by step." for a, b, c in
             [(17, 23, 5), (41, 12, 9), (8, 99, 14), (35, 35, 1), (72, 6, 30), (13, 47, 2), (64, 8, 11), (29, 31, 3)]]


def best_of(fn, reps):
    best, out = None, None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, out


def main():
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "0-1" if (os.cpu_count() or 1) > 1 else "0")
    import s1
    from s1 import BudgetConfig
    from s1.backends.vllm import VLLMBackend
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tokens (a smoke run)")
    ap.add_argument("--dtype", default="float32", help="both engines (float32: the engine's dtype on this CPU)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--no-engine", action="store_true", help="skip the in-process engine")
    ap.add_argument("--engine-only", action="store_true",
                    help="keep the vLLM rows of --out and (re)run only the in-process engine")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "vllm.json"))
    args = ap.parse_args()
    n = 32 if args.quick else 128
    out = Path(args.out)

    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")

    if args.engine_only:
        res = json.loads(out.read_text())
        n = res["tokens_per_row"]
    else:
        t = time.perf_counter()
        vb = VLLMBackend(dtype=args.dtype, max_model_len=2048)
        import vllm

        res = {"model": "SmolLM2-135M-Instruct (embedded)", "dtype": args.dtype, "vllm": vllm.__version__,
               "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "tokens_per_row": n, "engine_start_s": round(time.perf_counter() - t, 1), "rows": []}

    def plain(prompts, lengths):
        ids = [vb.tokenizer.encode(vb.render(p), add_special_tokens=False) for p in prompts]
        outs = vb.llm.generate([TokensPrompt(prompt_token_ids=x) for x in ids],
                               [SamplingParams(temperature=0, max_tokens=k, ignore_eos=True, detokenize=False)
                                for k in lengths], use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outs)

    def forced(backend, prompts, budget, batch):
        rs = backend.generate(prompts, budget, batch_size=batch)
        return sum(len(r.completion_ids) for r in rs), rs

    budgets = {
        "cut": BudgetConfig(max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None),
        "wait": BudgetConfig(min_thinking_tokens=n, max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None),
    }
    work = [(batch, kind) for batch in (16, 32) for kind in budgets]
    if not args.engine_only:
        plain(QUESTIONS[:2], [4, 4])  # warm-up
        for batch, kind in work:
            prompts = (QUESTIONS * 4)[:batch]
            tf, (nf, rs) = best_of(lambda: forced(vb, prompts, budgets[kind], batch), args.reps)
            lengths = [len(r.completion_ids) for r in rs]
            tp, np_ = best_of(lambda: plain(prompts, lengths), args.reps)
            row = {"batch": batch, "workload": kind, "waits": sum(r.num_ignored for r in rs),
                   "tokens": nf, "vllm_plain_tok_s": np_ / tp, "vllm_s1_tok_s": nf / tf}
            row["s1_over_plain"] = row["vllm_s1_tok_s"] / row["vllm_plain_tok_s"]
            res["rows"].append(row)
            print(json.dumps(row), flush=True)
        save()
        vb.close()  # its worker polls for work: it would slow the engine down on a small CPU
    if not args.no_engine:
        engine = s1.load(dtype=args.dtype)
        forced(engine, QUESTIONS[:2], BudgetConfig(max_thinking_tokens=4, max_answer_tokens=1, answer_prefix=None), 2)
        for (batch, kind), row in zip(work, res["rows"]):
            prompts = (QUESTIONS * 4)[:batch]
            te, (ne, _) = best_of(lambda: forced(engine, prompts, budgets[kind], batch), 1)
            row["engine_tok_s"] = ne / te
            row["vllm_s1_over_engine"] = row["vllm_s1_tok_s"] / row["engine_tok_s"]
            print(json.dumps(row), flush=True)
    save()
    print(table(res))


def table(res) -> str:
    lines = [f"model {res['model']}, {res['dtype']}, vLLM {res['vllm']}, {res['cpus']} CPUs, "
             f"{res['tokens_per_row']} thinking tokens/row, engine start {res['engine_start_s']} s", "",
             "| batch | workload | Waits | vLLM plain tok/s | vLLM + s1 tok/s | s1 / plain | engine tok/s | vLLM+s1 / engine |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        eng = f"{r['engine_tok_s']:.1f} | {r['vllm_s1_over_engine']:.2f}x" if "engine_tok_s" in r else "- | -"
        lines.append(f"| {r['batch']} | {r['workload']} | {r['waits']} | {r['vllm_plain_tok_s']:.1f} | "
                     f"{r['vllm_s1_tok_s']:.1f} | {r['s1_over_plain']:.2f} | {eng} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
