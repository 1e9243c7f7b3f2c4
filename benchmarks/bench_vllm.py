"""The vllm backend's cost: vLLM plain decoding vs vLLM with the s1 batch budget processor on the same
requests, and against the s1 reference algorithm (re-submission rounds) on the same vLLM.
Needs vLLM (the .venv-vllm of `make test-vllm`).

    .venv-vllm/bin/python benchmarks/bench_vllm.py [--tokens 64] [--batches 16,64,128,256] [--reps 1]

Workloads, n thinking tokens per row, then the delimiter and one answer token:
  - "cut": max = n, no extension: rows that stop early end naturally, the others are cut at n;
  - "wait": min = max = n: every attempt to stop is replaced by "Wait", every row thinks exactly n;
each greedy and sampled (temperature 0.8, top_p 0.95, seeded). "plain" is the same engine decoding
exactly as many tokens per row with the same sampling settings and no budget (the processor is
registered but idle for plain requests). The engine runs in this process
(VLLM_ENABLE_V1_MULTIPROCESSING=0) so the processor's own time per step and per row can be read.
"rounds": the reference algorithm on the same vLLM with prefix caching: greedy generation until the
model tries to stop, append "Wait", re-submit prompt + text, for 0 / 2 / 4 refused stops, against
the processor's one pass with num_ignore = 0 / 2 / 4. Writes benchmarks/results/vllm.json and
prints Markdown tables. Ratios are measured side by side; absolute speeds on a shared machine are noisy.
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
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    from s1 import BudgetConfig, SamplingConfig
    from s1.backends.vllm import VLLMBackend
    from s1.backends.vllm_processor import processor_stats
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64, help="thinking tokens per row (default 64)")
    ap.add_argument("--batches", default="16,64,128,256", help="batch sizes (default 16,64,128,256)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--kv-mib", type=int, default=1536, help="KV cache size in MiB (default 1536)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "vllm.json"))
    args = ap.parse_args()
    n = args.tokens
    batches = [int(b) for b in args.batches.split(",")]
    t = time.perf_counter()
    vb = VLLMBackend(dtype=args.dtype, max_model_len=1024, max_num_seqs=max(batches), enable_prefix_caching=True,
                     kv_cache_memory_bytes=args.kv_mib << 20, max_num_batched_tokens=16384)
    # (one prefill chunk per prompt: vllm-cpu 0.32 cannot rewind a seeded request's generator after a partial one)
    import vllm

    res = {"model": "SmolLM2-135M-Instruct (embedded)", "dtype": args.dtype, "vllm": vllm.__version__,
           "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_average": os.getloadavg()[0], "tokens_per_row": n,
           "engine_start_s": round(time.perf_counter() - t, 1), "rows": [], "rounds": []}
    out = Path(args.out)

    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")

    sampling = {"greedy": SamplingConfig(), "sampled": SamplingConfig(temperature=0.8, top_p=0.95, seed=0)}

    def ids_of(prompts):
        return [vb.tokenizer.encode(vb.render(p), add_special_tokens=False) for p in prompts]

    def plain(prompts, lengths, cfg):
        outs = vb.llm.generate([TokensPrompt(prompt_token_ids=x) for x in ids_of(prompts)],
                               [SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p,
                                               seed=None if cfg.seed is None else cfg.seed + i, max_tokens=k,
                                               ignore_eos=True, detokenize=False)
                                for i, k in enumerate(lengths)], use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outs)

    def forced(prompts, budget, cfg, batch):
        before = processor_stats()
        rs = vb.generate(prompts, budget, cfg, batch_size=batch)
        after = processor_stats()
        used = {k: after[k] - before[k] for k in after}
        return sum(len(r.completion_ids) for r in rs), rs, used

    budgets = {
        "cut": BudgetConfig(max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None),
        "wait": BudgetConfig(min_thinking_tokens=n, max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None),
    }
    plain(QUESTIONS[:2], [4, 4], sampling["greedy"])  # warm-up
    for batch in batches:
        for mode, cfg in sampling.items():
            for kind, budget in budgets.items():
                prompts = (QUESTIONS * (batch // len(QUESTIONS) + 1))[:batch]
                tf, (nf, rs, used) = best_of(lambda: forced(prompts, budget, cfg, batch), args.reps)
                lengths = [len(r.completion_ids) for r in rs]
                tp, np_ = best_of(lambda: plain(prompts, lengths, cfg), args.reps)
                row = {"batch": batch, "sampling": mode, "workload": kind, "waits": sum(r.num_ignored for r in rs),
                       "tokens": nf, "vllm_plain_tok_s": np_ / tp, "vllm_s1_tok_s": nf / tf,
                       "processor_ms_per_step": 1e3 * used["seconds"] / max(used["steps"], 1),
                       "processor_us_per_row_step": 1e6 * used["seconds"] / max(used["rows"], 1)}
                row["s1_over_plain"] = row["vllm_s1_tok_s"] / row["vllm_plain_tok_s"]
                res["rows"].append(row)
                print(json.dumps(row), flush=True)
                save()
    # the reference algorithm: rounds of re-submission on the same engine (prefix caching on)
    eot = sorted(vb.template.plan(vb.tokenizer, BudgetConfig()).stop_ids)
    wait = vb.tokenizer.encode("Wait", add_special_tokens=False)
    batch = min(batches[0], 16)
    prompts = (QUESTIONS * 2)[:batch]
    for k in (0, 2, 4):
        budget = BudgetConfig(num_ignore=k, max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None)
        tf, (nf, rs, _) = best_of(lambda: forced(prompts, budget, sampling["greedy"], batch), args.reps)

        def rounds():
            seqs = ids_of(prompts)
            grown = [[] for _ in seqs]
            calls = 0
            for r in range(k + 1):
                live = [i for i in range(len(seqs)) if len(grown[i]) < n]
                if not live:
                    break
                outs = vb.llm.generate([TokensPrompt(prompt_token_ids=seqs[i] + grown[i]) for i in live],
                                       [SamplingParams(temperature=0, max_tokens=n - len(grown[i]), stop_token_ids=eot,
                                                       detokenize=False) for i in live], use_tqdm=False)
                calls += 1
                for i, o in zip(live, outs):
                    toks = [t for t in o.outputs[0].token_ids if t not in eot]
                    grown[i] += toks
                    if r < k and len(grown[i]) < n:
                        grown[i] += wait[: n - len(grown[i])]
            return sum(len(g) for g in grown), calls

        tr, (nr, calls) = best_of(rounds, args.reps)
        row = {"refused_stops": k, "batch": batch, "s1_tok_s": nf / tf, "rounds_tok_s": nr / tr, "round_calls": calls,
               "s1_over_rounds_time": tf / tr}
        res["rounds"].append(row)
        print(json.dumps(row), flush=True)
        save()
    vb.close()
    print(table(res))


def table(res) -> str:
    lines = [f"model {res['model']}, {res['dtype']}, vLLM {res['vllm']}, {res['cpus']} CPUs (load {res['load_average']:.1f}), "
             f"{res['tokens_per_row']} thinking tokens/row, engine start {res['engine_start_s']} s", "",
             "| batch | sampling | workload | Waits | vLLM plain tok/s | vLLM + s1 tok/s | s1 / plain | processor ms/step | µs/row/step |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        lines.append(f"| {r['batch']} | {r['sampling']} | {r['workload']} | {r['waits']} | {r['vllm_plain_tok_s']:.1f} | "
                     f"{r['vllm_s1_tok_s']:.1f} | {r['s1_over_plain']:.2f} | {r['processor_ms_per_step']:.2f} | "
                     f"{r['processor_us_per_row_step']:.0f} |")
    lines += ["", "| refused stops | batch | s1 one pass tok/s | reference rounds tok/s | s1 time / rounds time |",
              "|---:|---:|---:|---:|---:|"]
    for r in res["rounds"]:
        lines.append(f"| {r['refused_stops']} | {r['batch']} | {r['s1_tok_s']:.1f} | {r['rounds_tok_s']:.1f} | "
                     f"{r['s1_over_rounds_time']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
