"""What several `s1` commands share: the input error, the model and backend flags, list flags.

    from s1.cli.common import InputError, model_args
"""

from __future__ import annotations

import argparse


class InputError(ValueError):
    """A command-line value the user can fix (a missing flag, a malformed list)."""


def model_args(p: argparse.ArgumentParser) -> None:
    m = p.add_argument_group("model")
    m.add_argument("--model", default=None,
                   help="embedded default smollm2-135m, a local folder or a Hugging Face model id")
    m.add_argument("--template", default="auto", help="auto (default), s1, r1, custom or a template .json file")
    m.add_argument("--think-start", help="custom delimiter that opens thinking")
    m.add_argument("--think-end", help="custom delimiter that ends thinking")
    m.add_argument("--system", help="system prompt")
    m.add_argument("--dtype", default="auto", help="auto (bf16 where supported), bfloat16, float16, float32")
    m.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1 ...")
    k = p.add_argument_group("backend (where the model runs; budget forcing is the same on each)")
    k.add_argument("--backend", default="transformers", choices=("transformers", "vllm", "openai"),
                   help="transformers: in-process (default); vllm: vLLM's offline engine; "
                        "openai: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, s1 serve)")
    k.add_argument("--base-url", metavar="URL", help="openai: the server, e.g. http://localhost:8000/v1 "
                                                     "(API key from $OPENAI_API_KEY)")
    k.add_argument("--served-model", metavar="NAME",
                   help="openai: model name the server knows (default: the server's only model)")
    k.add_argument("--tokenizer", metavar="SPEC", help="openai: tokenizer of the served model (default: --model)")
    k.add_argument("--tensor-parallel", type=int, default=1, metavar="N", help="vllm: GPUs per model (default 1)")
    k.add_argument("--gpu-memory-utilization", type=float, metavar="F", help="vllm: fraction of GPU memory")
    k.add_argument("--max-model-len", type=int, metavar="N", help="vllm: context length to allocate")


def backend_options(args) -> dict:
    """The --backend flags that apply to the chosen backend; a flag for another backend is an error."""
    given = {"--base-url": args.base_url, "--served-model": args.served_model, "--tokenizer": args.tokenizer,
             "--tensor-parallel": None if args.tensor_parallel == 1 else args.tensor_parallel,
             "--gpu-memory-utilization": args.gpu_memory_utilization, "--max-model-len": args.max_model_len}
    own = {"openai": ("--base-url", "--served-model", "--tokenizer"),
           "vllm": ("--tensor-parallel", "--gpu-memory-utilization", "--max-model-len")}.get(args.backend, ())
    stray = [k for k, v in given.items() if v is not None and k not in own]
    if stray:
        raise InputError(f"{', '.join(stray)}: not an option of --backend {args.backend}")
    if args.backend != "transformers" and args.device not in (None, "auto"):  # also checked by load_backend,
        raise InputError(f"--device does not apply to --backend {args.backend}")  # but s1 eval must fail first
    if args.backend == "openai":
        if not args.base_url:
            raise InputError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
        return {"base_url": args.base_url, "served_model": args.served_model, "tokenizer": args.tokenizer}
    if args.backend == "vllm":
        opts = {"tensor_parallel_size": args.tensor_parallel, "gpu_memory_utilization": args.gpu_memory_utilization,
                "max_model_len": args.max_model_len}
        return {k: v for k, v in opts.items() if v is not None}
    return {}


def make_backend(args):
    """The backend the model flags ask for (the in-process engine by default)."""
    from ..backends import load_backend

    opts = backend_options(args)
    quiet_transformers()  # loading bars and warnings would drown the results
    return load_backend(args.backend, args.model, template=args.template, dtype=args.dtype, device=args.device,
                        think_start=args.think_start, think_end=args.think_end, **opts)


def quiet_transformers(progress_bars: bool = False) -> None:
    """Only errors from transformers (and, unless asked, no download bars): a command's own output stays readable.
    Set here, by the command, because a library must not change the process's logging."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if not progress_bars:
        hf_logging.disable_progress_bar()


def int_list(text: str, flag: str, allow_none: bool = False) -> tuple:
    """'16,32,none' -> (16, 32, None): whole, non-negative, distinct values."""
    vals = []
    for part in text.split(","):
        part = part.strip().lower()
        if allow_none and part in ("none", "inf", "unlimited"):
            vals.append(None)
            continue
        try:
            vals.append(int(part))
        except ValueError:
            raise InputError(f"{flag}: {part!r} is not a whole number"
                             + (" (or 'none')" if allow_none else "")) from None
        if vals[-1] < 0:
            raise InputError(f"{flag}: {part} is negative")
    if len(set(vals)) != len(vals):
        raise InputError(f"{flag}: a value is listed twice")
    return tuple(vals)


def key_values(items: list[str] | None, flag: str, example: str) -> dict | None:
    """['prompt=problem', ...] -> {'prompt': 'problem', ...} (None when no item is given)."""
    if not items:
        return None
    out = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise InputError(f"{flag} {it!r}: expected {example}")
        out[key.strip()] = val.strip()
    return out
