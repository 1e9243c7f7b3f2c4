"""`s1 serve` against the in-process engine: the same requests, the same batch, side by side.
Run: python benchmarks/bench_serve.py [--requests 32] [--batch 16] [--thinking 64]

N chat requests (built-in arith questions, greedy, thinking forced to exactly --thinking tokens with
min = max, answers up to 16 tokens) go to (a) `Engine.generate` with batch_size B, and (b) a real
`s1 serve` on loopback (uvicorn, continuous batching with --max-batch B) as N concurrent HTTP
clients, non-streaming and streaming (SSE). Reports requests/s and generated tokens/s of each and
the ratio serve / engine, and checks that both wrote the same thinking. fp32 (the engine's dtype in
bench_engine.py); the three modes are interleaved in a rotating order, best of --repeat each, with
OpenMP threads that sleep while waiting (see bench_engine.py). Writes benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import threading
import time
from pathlib import Path

import httpx


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _clients(url: str, prompts: list[str], thinking: int, stream: bool) -> list[dict]:
    async def one(client, p):
        body = {"model": "m", "messages": [{"role": "user", "content": p}], "max_tokens": 16, "temperature": 0,
                "thinking": {"min_tokens": thinking, "max_tokens": thinking}}
        if not stream:
            r = await client.post(url + "/chat/completions", json=body)
            r.raise_for_status()
            d = r.json()
            return {"thinking": d["choices"][0]["message"]["reasoning_content"],
                    "tokens": d["usage"]["completion_tokens"]}
        body |= {"stream": True, "stream_options": {"include_usage": True}}
        think, tokens = "", 0
        async with client.stream("POST", url + "/chat/completions", json=body) as r:
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                d = json.loads(line[6:])
                if d["choices"]:
                    think += d["choices"][0]["delta"].get("reasoning_content") or ""
                elif d.get("usage"):
                    tokens = d["usage"]["completion_tokens"]
        return {"thinking": think, "tokens": tokens}

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=len(prompts))) as client:
        return await asyncio.gather(*[one(client, p) for p in prompts])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--thinking", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved repetitions; the best time of each mode counts")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP threads
    import torch
    import uvicorn

    import s1
    from s1 import BudgetConfig, SamplingConfig
    from s1.serve import LocalService
    from s1.serve.app import ServeSettings, create_app
    from s1.tasks import get_task

    load_start = os.getloadavg()
    engine = s1.load(dtype="float32")
    prompts = [q.prompt for q in get_task(f"arith:n={args.requests},steps=3,digits=2,seed=11").load()]
    budget = BudgetConfig(min_thinking_tokens=args.thinking, max_thinking_tokens=args.thinking, max_answer_tokens=16)
    engine.generate(prompts[:2], budget, SamplingConfig(), batch_size=2)  # warm-up

    eot = engine.template.eot_ids(engine.tokenizer)
    port = _port()
    service = LocalService(engine, args.batch)
    app = create_app(service, ServeSettings("m"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/v1"
    names = ["in-process Engine.generate", "s1 serve, non-streaming", "s1 serve, streaming (SSE)"]
    best = {n: None for n in names}
    same = {}
    for rep in range(args.repeat):  # interleaved, best of each: load from other processes hits all modes alike
        t = time.perf_counter()
        ref = engine.generate(prompts, budget, SamplingConfig(), batch_size=args.batch)
        dt = time.perf_counter() - t
        # the engine's count: every token after the prompt, as the server's usage counts them (end of turn aside)
        tokens = sum(len([x for x in r.completion_ids if x not in eot]) for r in ref)
        if best[names[0]] is None or dt < best[names[0]]["seconds"]:
            best[names[0]] = {"mode": names[0], "seconds": round(dt, 2), "tokens": tokens}
        modes = [(False, names[1]), (True, names[2])]
        for stream, name in modes[rep % 2:] + modes[: rep % 2]:
            t = time.perf_counter()
            got = asyncio.run(_clients(url, prompts, args.thinking, stream))
            dt = time.perf_counter() - t
            same[name] = same.get(name, True) and all(g["thinking"] == r.thinking for g, r in zip(got, ref))
            if best[name] is None or dt < best[name]["seconds"]:
                best[name] = {"mode": name, "seconds": round(dt, 2), "tokens": sum(g["tokens"] for g in got)}
    server.should_exit = True
    rows = [best[n] for n in names]
    for r in rows:
        r["requests_per_s"] = round(args.requests / r["seconds"], 2)
        r["tokens_per_s"] = round(r["tokens"] / r["seconds"], 1)
        r["ratio_vs_engine"] = round(r["tokens_per_s"] / rows[0]["tokens_per_s"], 3)
    out = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
           "dtype": "float32", "load_average_start": load_start, "load_average_end": os.getloadavg(),
           "requests": args.requests, "batch": args.batch, "thinking_tokens": args.thinking, "repeat": args.repeat,
           "same_thinking_as_engine": same, "batcher": dict(service.batcher.stats), "rows": rows}
    path = Path(__file__).parent / "results" / "serve.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\n{args.requests} requests, batch {args.batch}, thinking = {args.thinking} tokens (min = max), greedy")
    print("| mode | s | requests/s | tokens/s | vs engine |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['seconds']} | {r['requests_per_s']} | {r['tokens_per_s']} | "
              f"{r['ratio_vs_engine']:.2f}x |")
    print(f"same thinking as the engine: {same}\nwritten: {path}")


if __name__ == "__main__":
    main()
