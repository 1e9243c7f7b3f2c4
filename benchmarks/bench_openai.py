"""The OpenAI client backend against a real llama.cpp server (xllamacpp, embedded SmolLM2 GGUF) vs plain
completion requests to the same server: same prompts, same concurrency, same number of generated
tokens per row. Run: python benchmarks/bench_openai.py [--quick]

For each budget setting the backend runs once for the token counts; then every row's exact count is
replayed as one plain request (`max_tokens` = that count, `ignore_eos`), so both sides generate the same tokens per row;
then the backend runs again, timed (both sides see warm prefix caches).
The difference is the cost of rounds: a re-sent prompt (prefix-cached by llama.cpp), a new request and
a fresh slot per round. Writes benchmarks/results/openai.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from s1.backends.openai import OpenAIBackend  # noqa: E402
from s1.budget import BudgetConfig  # noqa: E402

QUESTIONS = [f"What is {a} * {b} + {c}? Think step by step." for a, b, c in
             [(17, 23, 5), (41, 12, 9), (8, 99, 14), (35, 35, 1), (72, 6, 30), (13, 47, 2), (64, 8, 11), (29, 31, 3),
              (11, 11, 11), (52, 3, 7), (90, 9, 4), (21, 19, 6)]]


def settings(n: int) -> dict[str, BudgetConfig]:
    return {
        "no forcing (answer only, 1 round)": BudgetConfig(max_thinking_tokens=0, answer_prefix=None,
                                                          max_answer_tokens=n),
        "num_ignore=2 (Wait x2)": BudgetConfig(num_ignore=2, max_thinking_tokens=n, max_answer_tokens=16),
        f"min=max={n} (Wait until {n})": BudgetConfig(min_thinking_tokens=n, max_thinking_tokens=n,
                                                      max_answer_tokens=16),
    }


async def plain(url: str, model: str, prompts: list[list[int]], counts: list[int], concurrency: int) -> float:
    """Plain completions: row i generates exactly counts[i] tokens. Returns wall seconds."""
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=600) as client:
        async def one(ids, n):
            async with sem:
                for attempt in range(3):
                    try:
                        r = await client.post(url + "/completions", json={
                            "model": model, "prompt": ids, "max_tokens": n, "temperature": 0, "ignore_eos": True})
                        break
                    except httpx.TransportError:  # a stale keep-alive connection
                        if attempt == 2:
                            raise
                r.raise_for_status()
                got = r.json()["usage"]["completion_tokens"]
                assert got == n, (got, n)

        t = time.perf_counter()
        await asyncio.gather(*(one(ids, n) for ids, n in zip(prompts, counts) if n > 0))
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=96)
    args = ap.parse_args()
    from test_backend_openai import start_llama

    n_tok = 48 if args.quick else args.tokens
    questions = QUESTIONS[:4] if args.quick else QUESTIONS
    conc = args.concurrency
    server, root = start_llama(n_parallel=conc, n_ctx=1024 * conc)
    url = root + "/v1"
    backend = OpenAIBackend(base_url=url, concurrency=conc)
    prompts = [backend.tokenizer.encode(backend.render(q), add_special_tokens=False) for q in questions]
    # warm up both paths once
    backend.generate(questions[:1], BudgetConfig(max_thinking_tokens=4, max_answer_tokens=4))
    asyncio.run(plain(url, backend.served_model, prompts[:1], [4], 1))

    rows = []
    for name, budget in settings(n_tok).items():
        res = backend.generate_grid(questions, [budget], batch_size=conc)  # token counts (and warm caches)
        counts = [len(r[0].completion_ids) for r in res]
        base = asyncio.run(plain(url, backend.served_model, prompts, counts, conc))
        stats: dict = {}
        t = time.perf_counter()  # timed after plain, so both sides find the prompts prefix-cached alike
        again = backend.generate_grid(questions, [budget], batch_size=conc, stats=stats)
        ours = time.perf_counter() - t
        assert [len(r[0].completion_ids) for r in again] == counts  # greedy: the same traces
        total = sum(counts)
        rows.append({
            "setting": name, "rows": len(questions), "concurrency": conc, "tokens": total,
            "rounds": stats.get("rounds"), "rounds_per_row": round(stats.get("rounds", 0) / len(questions), 1),
            "mean_thinking_tokens": round(sum(r[0].thinking_tokens for r in res) / len(res), 1),
            "mean_waits": round(sum(r[0].num_ignored for r in res) / len(res), 1),
            "backend_s": round(ours, 2), "plain_s": round(base, 2),
            "backend_tok_s": round(total / ours, 1), "plain_tok_s": round(total / base, 1),
            "backend_req_s": round(len(questions) / ours, 2), "plain_req_s": round(len(questions) / base, 2),
            "ratio": round(base / ours, 3),
        })
        print(f"{name}: {rows[-1]}", file=sys.stderr)
    del server
    gc.collect()

    out = {
        "what": "OpenAI client backend (rounds, streaming) vs plain /v1/completions, llama.cpp server (xllamacpp) "
                "on SmolLM2-135M Q4_1, 1 thread, greedy, same tokens per row",
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "quick": args.quick, "id_mode": backend.id_mode, "results": rows,
    }
    path = Path(__file__).parent / "results" / "openai.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("| setting | rounds/row | Waits/row | tokens | backend tok/s | plain tok/s | backend req/s | plain req/s "
          "| ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['rounds_per_row']} | {r['mean_waits']} | {r['tokens']} | {r['backend_tok_s']} "
              f"| {r['plain_tok_s']} | {r['backend_req_s']} | {r['plain_req_s']} | {r['ratio']:.2f} |")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
