"""The `s1` command: one small function per subcommand, no logic of its own.

    s1 generate "How many r in raspberry?" --max-thinking 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .budget import BudgetConfig, BudgetError

EPILOG_GENERATE = """examples:
  s1 generate "How many r in raspberry?" --max-thinking 64
  s1 generate "How many r in raspberry?" --min-thinking 300 --extend Wait
  s1 generate --input prompts.jsonl --output out.jsonl --max-thinking 512 --num-ignore 2 --batch-size 16

JSONL input: one object per line with a "prompt" (or "question") field and an optional "id";
every other field is copied to the output record.
"""


class InputError(ValueError):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s1", description="s1: simple test-time scaling with budget forcing.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser(
        "generate", help="budget-forced generation for one prompt or a JSONL file",
        description="Ask a reasoning question and control how many tokens the model thinks.",
        epilog=EPILOG_GENERATE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("prompt", nargs="?", help="the question (or use --input)")
    g.add_argument("-i", "--input", help="JSONL file of prompts")
    g.add_argument("-o", "--output", help="JSONL file for results (default: standard output)")
    g.add_argument("--json", action="store_true", help="print the result of one prompt as JSON")
    _model_args(g)
    b = g.add_argument_group("budget forcing")
    b.add_argument("--max-thinking", type=int, metavar="N", help="cut thinking at N tokens (default: no limit)")
    b.add_argument("--min-thinking", type=int, default=0, metavar="N",
                   help="refuse to stop thinking before N tokens; append the extension instead")
    b.add_argument("--num-ignore", type=int, default=0, metavar="K", help="refuse the first K attempts to stop thinking")
    b.add_argument("--extend", action="append", metavar="TEXT",
                   help="string appended when a stop is refused (default Wait; repeat to rotate)")
    b.add_argument("--answer-prefix", default="Final Answer:", metavar="TEXT",
                   help="text forced after a cut at the maximum (default 'Final Answer:'; '' for none)")
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
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="budget forcing on the embedded model: one question, several budgets",
                       description="Shows the same question at a small and a large thinking budget.")
    _model_args(d)
    d.add_argument("--question", default="How many r are in the word raspberry?")
    d.set_defaults(func=cmd_demo)
    return p


def _model_args(p: argparse.ArgumentParser) -> None:
    m = p.add_argument_group("model")
    m.add_argument("--model", default=None,
                   help="embedded default smollm2-135m, a local folder or a Hugging Face model id")
    m.add_argument("--template", default="auto", help="auto (default), s1, r1, custom or a template .json file")
    m.add_argument("--think-start", help="custom delimiter that opens thinking")
    m.add_argument("--think-end", help="custom delimiter that ends thinking")
    m.add_argument("--system", help="system prompt")
    m.add_argument("--dtype", default="auto", help="auto (bf16 where supported), bfloat16, float16, float32")
    m.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:1 ...")


def _engine(args):
    from transformers.utils import logging as hf_logging

    from . import load

    _check_template_name(args.template)
    hf_logging.disable_progress_bar()  # loading bars and warnings would drown the results
    hf_logging.set_verbosity_error()
    return load(args.model, args.template, args.dtype, args.device, args.think_start, args.think_end)


def _check_template_name(spec: str) -> None:
    from .templates import TEMPLATES, TemplateError

    if spec not in ("auto", "custom", *TEMPLATES) and not (spec.endswith(".json") and Path(spec).is_file()):
        raise TemplateError(f"unknown template {spec!r} (choose auto, s1, r1, custom or a .json file)")


def read_prompts(path: str) -> list[dict]:
    """Records of a JSONL prompt file; errors name the file and line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) else e}") from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise InputError(f"{path}:{n}: expected a JSON object with a \"prompt\" field")
        text = rec.get("prompt", rec.get("question"))
        if text is None:
            raise InputError(f"{path}:{n}: no \"prompt\" (or \"question\") field")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{n}: empty prompt")
        records.append({"_line": n, "_prompt": text, **rec})
    if not records:
        raise InputError(f"{path}: no prompts")
    return records


def _budget(args) -> tuple:
    from .engine import SamplingConfig

    budget = BudgetConfig(
        max_thinking_tokens=args.max_thinking,
        min_thinking_tokens=args.min_thinking,
        num_ignore=args.num_ignore,
        extend=tuple(args.extend or ["Wait"]),
        answer_prefix=args.answer_prefix or None,
        max_answer_tokens=args.max_answer,
    ).validate()
    think = SamplingConfig(args.temperature, args.top_p, args.top_k, args.seed).validate()
    answer = think.for_answer(args.answer_temperature, args.answer_top_p, args.answer_seed).validate()
    return budget, think, answer


def cmd_generate(args) -> int:
    if args.prompt is not None and not args.prompt.strip():
        raise InputError("the prompt is empty")
    if bool(args.prompt) == bool(args.input):
        raise InputError("give either a prompt or --input FILE")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    budget, think, answer = _budget(args)  # bad budgets fail before the model loads
    records = read_prompts(args.input) if args.input else [{"_line": 1, "_prompt": args.prompt}]
    if args.output and Path(args.output).is_dir():
        raise InputError(f"--output {args.output} is a folder")
    engine = _engine(args)
    prompts = [r["_prompt"] for r in records]
    if args.input:
        results = _with_progress(engine, prompts, budget, think, answer, args)
    else:
        results = engine.generate(prompts, budget, think, answer, batch_size=args.batch_size, system=args.system)
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
        _write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def _with_progress(engine, prompts, budget, think, answer, args):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*cols, transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("gen", total=len(prompts))
        return engine.generate(prompts, budget, think, answer, batch_size=args.batch_size, system=args.system,
                               progress=lambda n: bar.advance(task, n))


def _write_atomic(path: Path, text: str) -> None:
    """Write next to the target, then rename: a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _show(r) -> None:
    from rich.console import Console
    from rich.panel import Panel

    c = Console()
    end = {"stop": "the model stopped", "eos": "the model ended its turn", "max_thinking": "cut at the maximum",
           "context": "cut at the context window"}.get(r.thinking_end, r.thinking_end)
    c.print(Panel(r.thinking.strip() or "(no thinking)", title=f"thinking · {r.thinking_tokens} tokens", style="dim"))
    c.print(Panel(r.answer.strip() or "(no answer)", title=f"answer · {r.answer_tokens} tokens"))
    c.print(f"thinking ended: {end} · stops ignored: {r.num_ignored} · finish: {r.finish_reason}")


def cmd_demo(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .engine import SamplingConfig

    engine = _engine(args)
    settings = [  # (label, budget): the same question, greedy, at three thinking budgets
        ("no budget: the model decides", BudgetConfig(max_answer_tokens=48)),
        ("small: --min-thinking 16 --max-thinking 16",
         BudgetConfig(min_thinking_tokens=16, max_thinking_tokens=16, max_answer_tokens=48)),
        ("large: --min-thinking 128 --max-thinking 160",
         BudgetConfig(min_thinking_tokens=128, max_thinking_tokens=160, max_answer_tokens=48)),
    ]
    c = Console(width=max(Console().width, 110))
    c.print(f"[bold]s1 budget forcing[/bold] · model {args.model or 'smollm2-135m (embedded)'} · template "
            f"{engine.template.name}\nquestion: {args.question}\n")
    t = Table("setting", "thinking tokens", "stops refused ('Wait')", "cut at max", "answer tokens")
    shown = []
    for name, budget in settings:
        [r] = engine.generate([args.question], budget, SamplingConfig(), system=args.system)
        t.add_row(name, str(r.thinking_tokens), str(r.num_ignored), "yes" if r.thinking_cut else "no",
                  str(r.answer_tokens))
        shown.append((name, r))
    c.print(t)
    for name, r in shown:
        thinking = " ".join(r.thinking.split())
        thinking = thinking if len(thinking) <= 300 else thinking[:140] + " … " + thinking[-140:]
        c.print(f"[bold]{name}[/bold]\n  [dim]thinking:[/dim] {thinking or '(none)'}\n"
                f"  [dim]answer:[/dim] {' '.join(r.answer.split()) or '(none)'}", highlight=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    from .models import ModelError
    from .templates import TemplateError

    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (InputError, BudgetError, TemplateError, ModelError) as e:
        print(f"s1: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s1: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
