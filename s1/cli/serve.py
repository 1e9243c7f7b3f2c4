"""`s1 serve`: an OpenAI-compatible server with thinking budgets (the in-process model or --upstream).

    s1 serve --model ckpt/ --port 8000
"""

from __future__ import annotations

import argparse
import os

from .common import InputError, backend_options, model_args, quiet_transformers

EPILOG = """examples:
  s1 serve                                              # embedded model on http://127.0.0.1:8000/v1
  s1 serve --model ckpt/ --port 8000 --api-key $KEY     # a fine-tuned checkpoint, with a key
  vllm serve Qwen/Qwen2.5-7B-Instruct --port 8001 &     # budget forcing in front of a vLLM server:
  s1 serve --upstream http://localhost:8001/v1 --model Qwen/Qwen2.5-7B-Instruct --port 8000

  client (official openai library):
    client.chat.completions.create(model="smollm2-135m", messages=[...],
        extra_body={"thinking": {"min_tokens": 64, "max_tokens": 256, "num_ignore": 1, "extend": ["Wait"]}})
    -> choices[0].message.reasoning_content (the thinking) and .content (the answer)

  lm-eval (pip install 'lm-eval[api]'), a thinking budget per request:
    lm-eval run --model local-chat-completions --apply_chat_template --tasks gsm8k \\
        --model_args base_url=http://127.0.0.1:8000/v1/chat/completions,model=smollm2-135m \\
        --gen_kwargs '{"thinking": {"max_tokens": 512}}'
"""


def add_parser(sub) -> None:
    v = sub.add_parser(
        "serve", help="OpenAI-compatible server with thinking budgets (in-process model or --upstream)",
        description="Serve /v1/models, /v1/chat/completions and /v1/completions (streaming or not) with budget "
                    "forcing: requests set thinking budgets with extra_body={'thinking': {...}} or "
                    "reasoning_effort. Requests arriving together are decoded together. Also vLLM's "
                    "/tokenizer_info, /tokenize and /detokenize, so lm-eval's local-completions and "
                    "local-chat-completions run against it (README: lm-evaluation-harness).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_args(v)
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (default: $S1_API_KEY if set)")
    v.add_argument("--name", metavar="NAME", help="model name clients use (default: the --model spec)")
    v.add_argument("--upstream", metavar="URL",
                   help="forward to this OpenAI-compatible server (…/v1) and apply budget forcing there")
    v.add_argument("--upstream-forcing", choices=("auto", "on", "off"), default="auto",
                   help="--upstream: one request per choice with its budget, forced by the server (a `vllm "
                        "serve` with the s1 plugin, see README); auto: probe the server once (default); "
                        "off: rounds of completions, for any server")
    v.add_argument("--max-batch", type=int, default=16, help="rows decoded together in-process (default 16)")
    lim = v.add_argument_group("limits (requests beyond them get 400 / 413 / 429)")
    lim.add_argument("--max-concurrent", type=int, default=64,
                     help="choices in flight, every choice of every request counted (default 64)")
    lim.add_argument("--max-body-bytes", type=int, default=1 << 20, help="request body size (default 1 MiB)")
    lim.add_argument("--max-prompt-tokens", type=int, help="prompt tokens per request (default: the context)")
    lim.add_argument("--max-thinking-limit", type=int, metavar="N",
                     help="largest thinking budget a request may ask (default: the context)")
    lim.add_argument("--max-tokens-limit", type=int, default=4096, metavar="N", help="largest max_tokens (answer)")
    lim.add_argument("--default-max-tokens", type=int, default=1024, metavar="N",
                     help="answer tokens when a request sets no max_tokens (default 1024)")
    lim.add_argument("--default-thinking", type=int, metavar="N",
                     help="thinking budget when a request sets none (default: until the model stops)")
    lim.add_argument("--max-n", type=int, default=8,
                     help="choices per request: n times the number of prompts (default 8)")
    lim.add_argument("--effort", default="low=512,medium=2048,high=8192", metavar="L=N,...",
                     help="reasoning_effort levels as maximum thinking tokens")
    v.set_defaults(func=run)


def run(args) -> int:
    from ..serve.main import ListenError, run_server

    if args.backend == "vllm":
        raise InputError("s1 serve runs the in-process engine or --upstream (put s1 serve in front of "
                         "`vllm serve` with --upstream)")
    if args.upstream and args.backend == "openai" and args.base_url:
        raise InputError("give either --upstream or --backend openai --base-url, not both")
    for flag, val, lo in (("--port", args.port, 1), ("--max-batch", args.max_batch, 1),
                          ("--max-concurrent", args.max_concurrent, 1), ("--max-body-bytes", args.max_body_bytes, 1),
                          ("--max-n", args.max_n, 1), ("--max-tokens-limit", args.max_tokens_limit, 1),
                          ("--default-max-tokens", args.default_max_tokens, 1)):
        if val < lo:
            raise InputError(f"{flag} must be >= {lo}, got {val}")
    effort = {}
    for part in args.effort.split(","):
        name, _, n = part.partition("=")
        if not name.strip() or not n.strip().isdigit():
            raise InputError(f"--effort: expected LEVEL=TOKENS,..., got {part!r}")
        effort[name.strip()] = int(n)
    if not args.upstream:
        backend_options(args)  # a flag of another backend is an error
    quiet_transformers()
    api_key = args.api_key or os.environ.get("S1_API_KEY") or None
    try:
        return run_server(args, effort, api_key)
    except ListenError as e:  # checked before the model loads
        raise InputError(str(e)) from None
