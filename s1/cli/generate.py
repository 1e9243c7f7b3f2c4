"""`s1 generate`: budget-forced generation for one prompt or a JSONL file of prompts.

    s1 generate "How many r in raspberry?" --max-thinking 64
"""

from __future__ import annotations

import argparse
import json
import sys

from ..budget import TURN_END
from ..files import output_problem
from .common import InputError, make_backend, model_args

EPILOG = """examples:
  s1 generate "How many r in raspberry?" --max-thinking 64
  s1 generate "How many r in raspberry?" --min-thinking 300 --extend Wait
  s1 generate --input prompts.jsonl --output out.jsonl --max-thinking 512 --num-ignore 2 --batch-size 16

JSONL input: one object per line with a "prompt" (or "question") field and an optional "id";
every other field is copied to the output record.
"""


def add_parser(sub) -> None:
    g = sub.add_parser(
        "generate", help="budget-forced generation for one prompt or a JSONL file",
        description="Ask a reasoning question and control how many tokens the model thinks.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("prompt", nargs="?", help="the question (or use --input)")
    g.add_argument("-i", "--input", help="JSONL file of prompts")
    g.add_argument("-o", "--output", help="JSONL file for results (default: standard output)")
    g.add_argument("--json", action="store_true", help="print the result of one prompt as JSON")
    model_args(g)
    b = g.add_argument_group("budget forcing")
    b.add_argument("--max-thinking", type=int, metavar="N", help="cut thinking at N tokens (default: no limit)")
    b.add_argument("--min-thinking", type=int, default=0, metavar="N",
                   help="refuse to stop thinking before N tokens; append the extension instead")
    b.add_argument("--num-ignore", type=int, default=0, metavar="K", help="refuse the first K attempts to stop thinking")
    b.add_argument("--extend", action="append", metavar="TEXT",
                   help="string appended when a stop is refused (default Wait; repeat to rotate)")
    b.add_argument("--answer-prefix", default="Final Answer:", metavar="TEXT",
                   help="text forced after a cut at the maximum (default 'Final Answer:'; '' for none)")
    b.add_argument("--on-turn-end", choices=TURN_END, default="answer",
                   help="the model ends its turn inside the thinking: force the delimiter and the answer prefix "
                        "(answer, default) or only the delimiter, as the s1 reference does (delimiter)")
    b.add_argument("--max-answer", type=int, default=512, metavar="N", help="max answer tokens (default 512)")
    s = g.add_argument_group("sampling (thinking phase; the answer phase uses the same unless set)")
    s.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    s.add_argument("--top-p", type=float, default=1.0)
    s.add_argument("--top-k", type=int, default=0)
    s.add_argument("--seed", type=int, help="row i gets seed+i: results do not depend on batching")
    s.add_argument("--answer-temperature", type=float)
    s.add_argument("--answer-top-p", type=float)
    s.add_argument("--answer-seed", type=int)
    g.add_argument("--batch-size", type=int, default=16, help="rows decoded together (default 16)")
    g.set_defaults(func=run)


def _settings(args) -> tuple:
    from ..budget import BudgetConfig
    from ..generation import SamplingConfig

    budget = BudgetConfig(
        max_thinking_tokens=args.max_thinking,
        min_thinking_tokens=args.min_thinking,
        num_ignore=args.num_ignore,
        extend=tuple(args.extend or ["Wait"]),
        answer_prefix=args.answer_prefix or None,
        max_answer_tokens=args.max_answer,
        on_turn_end=args.on_turn_end,
    ).validate()
    think = SamplingConfig(args.temperature, args.top_p, args.top_k, args.seed).validate()
    answer = think.for_answer(args.answer_temperature, args.answer_top_p, args.answer_seed).validate()
    return budget, think, answer


def read_prompts(path: str) -> list[dict]:
    """Records of a JSONL prompt file, each with `_line` and `_prompt` added; errors name the file and line."""
    from ..jsonl import read_jsonl

    records = []
    for n, rec in read_jsonl(path):
        text = rec.get("prompt", rec.get("question"))
        if text is None:
            raise InputError(f"{path}:{n}: no \"prompt\" (or \"question\") field")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{n}: empty prompt")
        records.append({"_line": n, "_prompt": text, **rec})
    if not records:
        raise InputError(f"{path}: no prompts")
    return records


def run(args) -> int:
    if args.prompt is not None and not args.prompt.strip():
        raise InputError("the prompt is empty")
    if bool(args.prompt) == bool(args.input):
        raise InputError("give either a prompt or --input FILE")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    budget, think, answer = _settings(args)  # bad budgets fail before the model loads
    if args.output and (problem := output_problem(args.output)):
        raise InputError(f"--output: {problem}")  # checked before generating, not after
    records = read_prompts(args.input) if args.input else [{"_line": 1, "_prompt": args.prompt}]
    backend = make_backend(args)
    prompts = [r["_prompt"] for r in records]
    if args.input:
        results = _with_progress(backend, prompts, budget, think, answer, args)
    else:
        results = backend.generate(prompts, budget, think, answer, batch_size=args.batch_size, system=args.system)
    if not args.input and not args.output:
        if args.json:
            print(json.dumps(results[0].to_dict(), ensure_ascii=False, indent=2))
        else:
            _show(results[0])
        return 0
    out_lines = []
    for rec, res in zip(records, results):
        extra = {k: v for k, v in rec.items() if not k.startswith("_") and k not in ("prompt", "question")}
        out_lines.append(json.dumps({"id": rec.get("id", rec["_line"]), **extra, **res.to_dict()},
                                    ensure_ascii=False))
    text = "\n".join(out_lines) + "\n"
    if args.output:
        from ..files import write_text_atomic

        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _with_progress(backend, prompts, budget, think, answer, args):
    from ..progress import progress_bar

    step = progress_bar("generate", "prompts", len(prompts))  # a bar in a terminal, periodic lines in a log
    try:
        return backend.generate(prompts, budget, think, answer, batch_size=args.batch_size, system=args.system,
                                progress=step)
    finally:
        step(None)


def _show(r) -> None:
    from rich.console import Console
    from rich.panel import Panel

    c = Console()
    end = {"stop": "the model stopped", "eos": "the model ended its turn", "max_thinking": "cut at the maximum",
           "context": "cut at the context window"}.get(r.thinking_end, r.thinking_end)
    c.print(Panel(r.thinking.strip() or "(no thinking)", title=f"thinking · {r.thinking_tokens} tokens", style="dim"))
    c.print(Panel(r.answer.strip() or "(no answer)", title=f"answer · {r.answer_tokens} tokens"))
    c.print(f"thinking ended: {end} · stops ignored: {r.num_ignored} · finish: {r.finish_reason}")
