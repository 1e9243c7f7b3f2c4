"""The `s1` command: one small function per subcommand, no logic of its own.

    s1 generate "How many r in raspberry?" --max-thinking 64
"""

from __future__ import annotations

import argparse
import json
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


EPILOG_EVAL = """examples:
  s1 eval --task arith:n=50 --max-thinking 16,32,64,128 --out runs/smol-arith
  s1 eval --model M --task math500 --max-thinking 512,1024,2048,4096 --out runs/m-math500
  s1 eval --model M --task aime24 --num-ignore 0,1,2,4 --samples 8 --temperature 0.6 --out runs/m-aime
  s1 eval --model M --task aime24 --method token-conditional,class-conditional+forcing,rejection \\
          --max-thinking 1024,2048,4096 --out runs/m-baselines
  s1 eval --model M --task file --data my.jsonl --field prompt=problem --field answer=solution --out runs/mine

Grid: every --max-thinking x --num-ignore value is one grid point of budget forcing; the largest is
generated once and the smaller ones branch off it (the same results as separate runs, less compute).
Results: DIR/samples.jsonl (one line per sample), DIR/summary.json, DIR/points/*.json, DIR/scaling.png.
"""


EPILOG_TRAIN = """examples:
  s1 train --data s1k.parquet --out ckpt/ --max-length 1024 --epochs 3          # embedded model, CPU
  s1 train --model Qwen/Qwen2.5-7B-Instruct --data simplescaling/s1K-1.1 --trace deepseek --out ckpt/
  s1 train --model M --data s1k.jsonl --lora --max-length 4096 --out ckpt-lora/
  accelerate launch --config_file configs/fsdp_8gpu.yaml -m s1 train --model M --data D --out ckpt/
  s1 generate --model ckpt/ "How many r in raspberry?" --max-thinking 256
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

    e = sub.add_parser(
        "eval", help="evaluate a model on a task over a grid of budgets and methods",
        description="Budget sweeps and baselines on a task, graded, with Control / Scaling / Performance. "
                    "Run the same command again to resume an interrupted run.",
        epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--task", help="task name or name:key=value,... (see --list-tasks)")
    e.add_argument("--list-tasks", action="store_true", help="list the tasks and their options, then exit")
    e.add_argument("--data", metavar="FILE", help="local JSONL / JSON / Parquet file instead of the Hugging Face Hub")
    e.add_argument("--field", action="append", metavar="KEY=COLUMN",
                   help="field mapping for --data, e.g. prompt=problem, answer=solution, id=uid (repeatable)")
    e.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    e.add_argument("--out", required=False, metavar="DIR", help="run folder (results, summary, plot); required")
    e.add_argument("--overwrite", action="store_true", help="replace a run folder holding another configuration")
    _model_args(e)
    gm = e.add_argument_group("grid")
    gm.add_argument("--method", default="budget-forcing", metavar="M[,M...]",
                    help="budget-forcing (default), token-conditional, step-conditional, class-conditional "
                         "(each also as +forcing, e.g. class-conditional+forcing), rejection, majority")
    gm.add_argument("--max-thinking", default="none", metavar="N[,N...]",
                    help="maximum thinking tokens per grid point; 'none' = no limit (default none)")
    gm.add_argument("--num-ignore", default="0", metavar="K[,K...]", help="stops to ignore per grid point (default 0)")
    gm.add_argument("--min-thinking", type=int, default=0, metavar="N", help="budget forcing: minimum thinking tokens")
    gm.add_argument("--steps", default="2,4,8", metavar="N[,N...]", help="step-conditional: step limits (default 2,4,8)")
    gm.add_argument("--extend", action="append", metavar="TEXT", help="extension string (default Wait; repeat to rotate)")
    gm.add_argument("--answer-prefix", default="Final Answer:", metavar="TEXT", help="forced after a cut ('' for none)")
    gm.add_argument("--max-answer", type=int, default=512, metavar="N", help="max answer tokens (default 512)")
    gs = e.add_argument_group("sampling")
    gs.add_argument("--samples", type=int, default=1, metavar="K", help="samples per question (needs --temperature > 0)")
    gs.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gs.add_argument("--top-p", type=float, default=1.0)
    gs.add_argument("--top-k", type=int, default=0)
    gs.add_argument("--seed", type=int, default=0, help="seeds derive from it, the question and the sample")
    gs.add_argument("--rejection-tries", type=int, default=8, metavar="N", help="rejection sampling: tries per budget")
    gs.add_argument("--rejection-temperature", type=float, default=1.0)
    gg = e.add_argument_group("grading")
    gg.add_argument("--grade-timeout", type=float, default=5.0, metavar="S", help="hard limit per math check (s)")
    gg.add_argument("--judge-url", metavar="URL", help="optional LLM judge: OpenAI-compatible base URL (…/v1)")
    gg.add_argument("--judge-model", metavar="NAME", help="judge model name (key from $S1_JUDGE_API_KEY)")
    e.add_argument("--batch-size", type=int, default=16, help="questions decoded together (default 16)")
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("report", help="metrics table and scaling plot of one or more eval runs",
                       description="Print the Markdown metrics table of eval run folders and write the "
                                   "scaling plot (PNG and SVG). Two runs on the same questions also get a "
                                   "paired bootstrap interval per shared grid point.")
    r.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by s1 eval")
    r.add_argument("--out", metavar="DIR", help="where to write report.md and scaling.png/svg "
                                                "(default: the run folder for one run, ./report for several)")
    r.add_argument("--title", help="plot and report title")
    r.set_defaults(func=cmd_report)

    t = sub.add_parser(
        "train", help="fine-tune a model on reasoning traces (s1K format) with the s1 template",
        description="Supervised fine-tuning with TRL's SFTTrainer: loss on the thinking and answer only, the "
                    "paper's hyperparameters by default. Multi-GPU: accelerate launch --config_file "
                    "configs/fsdp_8gpu.yaml -m s1 train ...",
        epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--model", default=None, help="embedded default smollm2-135m, a local folder or a Hub id")
    t.add_argument("--data", required=False, help="s1K-format .jsonl/.json/.parquet/.csv, a folder or a Hub dataset id")
    t.add_argument("--out", required=False, help="output folder (a Hugging Face model folder when done)")
    t.add_argument("--split", default="train")
    t.add_argument("--trace", default="auto", help="which trace: auto (default), deepseek, gemini (s1K-1.1), s1k, plain")
    t.add_argument("--question-column", default="question")
    t.add_argument("--thinking-column", help="thinking column (overrides --trace)")
    t.add_argument("--answer-column", help="answer column (overrides --trace)")
    t.add_argument("--answer-prefix", default="Answer: ", help="text before the answer (default 'Answer: ')")
    t.add_argument("--template", default="s1", help="thinking template (default s1)")
    t.add_argument("--system", help="system prompt (default: the model's own)")
    t.add_argument("--max-length", type=int, default=32768, help="tokens per example (default 32768)")
    t.add_argument("--overflow", default="truncate", choices=["truncate", "drop"],
                   help="what to do with longer examples (counted and reported either way)")
    t.add_argument("--limit", type=int, help="only the first N examples")
    h = t.add_argument_group("optimisation (defaults: the paper's)")
    h.add_argument("--epochs", type=float, default=5.0)
    h.add_argument("--lr", type=float, default=1e-5, help="peak learning rate; cosine decay to 0")
    h.add_argument("--warmup-ratio", type=float, default=0.05)
    h.add_argument("--weight-decay", type=float, default=1e-4)
    h.add_argument("--adam-beta1", type=float, default=0.9)
    h.add_argument("--adam-beta2", type=float, default=0.95)
    h.add_argument("--global-batch", type=int, default=16, help="micro batch x accumulation x processes")
    h.add_argument("--micro-batch", type=int, default=1)
    h.add_argument("--dtype", default="auto", help="auto (bf16 mixed precision where supported), float32, bfloat16")
    h.add_argument("--gradient-checkpointing", action="store_true")
    h.add_argument("--packing", action="store_true", help="padding-free packing (flash attention only)")
    h.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps")
    h.add_argument("--seed", type=int, default=0)
    lo = t.add_argument_group("LoRA")
    lo.add_argument("--lora", action="store_true", help="train LoRA adapters, merged into the model on save")
    lo.add_argument("--lora-r", type=int, default=16)
    lo.add_argument("--lora-alpha", type=int, default=32)
    ck = t.add_argument_group("checkpoints")
    ck.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (default 0: every epoch; -1: none)")
    ck.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    ck.add_argument("--overwrite", action="store_true", help="replace what --out holds")
    ck.add_argument("--force", action="store_true", help="start even if the memory estimate says it will not fit")
    t.set_defaults(func=cmd_train)

    _curate_parser(sub)
    _serve_parser(sub)

    d = sub.add_parser(
        "demo", help="the whole s1 pipeline in miniature: curate, train, budget-forced eval, report",
        description="Runs a recipe (public s1 commands, one stage each) into a run folder, then writes "
                    "DIR/report/summary.md with the plots. Run it again to resume: finished stages are skipped.",
        epilog=EPILOG_DEMO, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--out", default="demo-run", metavar="DIR", help="run folder (default demo-run)")
    d.add_argument("--recipe", metavar="FILE", help="recipe YAML (default: recipes/demo.yaml)")
    d.add_argument("--tiny", action="store_true", help="the recipe's tiny settings (a CI-sized run)")
    d.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change a recipe variable")
    d.add_argument("--dry-run", action="store_true", help="print the stages' commands and exit")
    d.add_argument("--quick", action="store_true",
                   help="only show budget forcing on one question at three budgets (seconds, no training)")
    _model_args(d)
    d.add_argument("--question", default="How many r are in the word raspberry?", help="the question of --quick")
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


def _backend_options(args) -> dict:
    """The --backend flags that apply to the chosen backend; a flag for another backend is an error."""
    given = {"--base-url": args.base_url, "--served-model": args.served_model, "--tokenizer": args.tokenizer,
             "--tensor-parallel": None if args.tensor_parallel == 1 else args.tensor_parallel,
             "--gpu-memory-utilization": args.gpu_memory_utilization, "--max-model-len": args.max_model_len}
    own = {"openai": ("--base-url", "--served-model", "--tokenizer"),
           "vllm": ("--tensor-parallel", "--gpu-memory-utilization", "--max-model-len")}.get(args.backend, ())
    stray = [k for k, v in given.items() if v is not None and k not in own]
    if stray:
        raise InputError(f"{', '.join(stray)}: not an option of --backend {args.backend}")
    if args.backend == "openai":
        if not args.base_url:
            raise InputError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
        return {"base_url": args.base_url, "served_model": args.served_model, "tokenizer": args.tokenizer}
    if args.backend == "vllm":
        opts = {"tensor_parallel_size": args.tensor_parallel, "gpu_memory_utilization": args.gpu_memory_utilization,
                "max_model_len": args.max_model_len}
        return {k: v for k, v in opts.items() if v is not None}
    return {}


def _engine(args):
    """The backend the model flags ask for (the in-process engine by default)."""
    from transformers.utils import logging as hf_logging

    from .backends import load_backend

    _check_template_name(args.template)
    opts = _backend_options(args)
    hf_logging.disable_progress_bar()  # loading bars and warnings would drown the results
    hf_logging.set_verbosity_error()
    backend = args.backend
    if backend == "transformers":
        return load_backend(backend, args.model, template=args.template, dtype=args.dtype, device=args.device,
                            think_start=args.think_start, think_end=args.think_end)
    if args.device not in (None, "auto"):
        raise InputError(f"--device does not apply to --backend {backend}")
    return load_backend(backend, args.model, template=args.template,
                        dtype=None if args.dtype == "auto" or backend == "openai" else args.dtype,
                        think_start=args.think_start, think_end=args.think_end, **opts)


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
    from .generation import SamplingConfig

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
        from .files import write_text_atomic

        write_text_atomic(args.output, text)
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


def _show(r) -> None:
    from rich.console import Console
    from rich.panel import Panel

    c = Console()
    end = {"stop": "the model stopped", "eos": "the model ended its turn", "max_thinking": "cut at the maximum",
           "context": "cut at the context window"}.get(r.thinking_end, r.thinking_end)
    c.print(Panel(r.thinking.strip() or "(no thinking)", title=f"thinking · {r.thinking_tokens} tokens", style="dim"))
    c.print(Panel(r.answer.strip() or "(no answer)", title=f"answer · {r.answer_tokens} tokens"))
    c.print(f"thinking ended: {end} · stops ignored: {r.num_ignored} · finish: {r.finish_reason}")


EPILOG_DEMO = """examples:
  s1 demo                                    # the full miniature pipeline into demo-run/ (~16 min, 2 cores)
  s1 demo --dry-run                          # its commands, to copy and scale up
  s1 demo --recipe recipes/s1-32b.yaml --out runs/s1-32b --dry-run     # the full-size recipe
  s1 demo --set task=letters:n=40,seed=5     # change a recipe variable
  s1 demo --quick                            # budget forcing on one question, no training
"""


def cmd_demo(args) -> int:
    if not args.quick:
        return _demo_pipeline(args)
    from rich.console import Console
    from rich.table import Table

    from .generation import SamplingConfig

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


def _demo_pipeline(args) -> int:
    from .demo import DemoError, load_recipe, run_recipe

    recipe = args.recipe or str(Path(__file__).resolve().parent.parent / "recipes" / "demo.yaml")
    if not args.recipe and not Path(recipe).is_file():
        raise InputError(f"the default recipe is not at {recipe} (an installed copy of s1): pass --recipe FILE")
    sets = {}
    for item in args.set:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected NAME=VALUE")
        sets[key.strip()] = val.strip()
    if args.model:
        sets.setdefault("model", args.model)
    try:
        r = load_recipe(recipe, args.out, tiny=args.tiny, overrides=sets)
        run_recipe(r, log=print if args.dry_run else lambda m: print(m, file=sys.stderr, flush=True),
                   dry_run=args.dry_run)  # --dry-run: the commands on stdout, to pipe or save
    except DemoError as e:
        raise InputError(str(e)) from None
    return 0


def _int_list(text: str, flag: str, allow_none: bool = False) -> tuple:
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


def _fields(items: list[str] | None) -> dict | None:
    if not items:
        return None
    out = {}
    for it in items:
        key, sep, col = it.partition("=")
        if not sep or not key.strip() or not col.strip():
            raise InputError(f"--field {it!r}: expected KEY=COLUMN, e.g. prompt=problem")
        out[key.strip()] = col.strip()
    return out


def cmd_eval(args) -> int:
    from .evaluate import EvalConfig, evaluate
    from .report import report
    from .tasks import list_tasks

    if args.list_tasks:
        for name, desc in list_tasks():
            print(f"{name:16s} {desc}")
        return 0
    if not args.task:
        raise InputError("--task is required (see --list-tasks)")
    if not args.out:
        raise InputError("--out DIR is required (the run folder)")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    _check_template_name(args.template)
    cfg = EvalConfig(
        model=args.model, backend=args.backend, task=args.task, data=args.data, fields=_fields(args.field), limit=args.limit,
        methods=tuple(m.strip() for m in args.method.split(",") if m.strip()),
        max_thinking=_int_list(args.max_thinking, "--max-thinking", allow_none=True),
        num_ignore=_int_list(args.num_ignore, "--num-ignore"), min_thinking=args.min_thinking,
        extend=tuple(args.extend or ["Wait"]), answer_prefix=args.answer_prefix or None,
        max_answer_tokens=args.max_answer, steps=_int_list(args.steps, "--steps"), samples=args.samples,
        temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, seed=args.seed,
        rejection_tries=args.rejection_tries, rejection_temperature=args.rejection_temperature,
        template=args.template, think_start=args.think_start, think_end=args.think_end, system=args.system,
        dtype=None if args.dtype == "auto" else args.dtype, grade_timeout=args.grade_timeout,
        judge_url=args.judge_url, judge_model=args.judge_model,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    opts = _backend_options(args)
    if args.backend != "transformers" and args.device not in (None, "auto"):
        raise InputError(f"--device does not apply to --backend {args.backend}")
    evaluate(cfg, args.out, batch_size=args.batch_size, device=None if args.device == "auto" else args.device,
             progress=sys.stderr.isatty(), backend_options=opts)
    text, files = report([args.out])
    print(text)
    print(f"written: {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(
        model=args.model, data=args.data or "", out=args.out or "", split=args.split, trace=args.trace,
        question_column=args.question_column, thinking_column=args.thinking_column,
        answer_column=args.answer_column, answer_prefix=args.answer_prefix, template=args.template,
        system=args.system, max_length=args.max_length, overflow=args.overflow, limit=args.limit,
        epochs=args.epochs, learning_rate=args.lr, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
        adam_beta1=args.adam_beta1, adam_beta2=args.adam_beta2, global_batch=args.global_batch,
        micro_batch=args.micro_batch, dtype=args.dtype, gradient_checkpointing=args.gradient_checkpointing,
        packing=args.packing, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        save_steps=args.save_steps, max_steps=args.max_steps, seed=args.seed,
    )
    _check_template_name(args.template)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    s = train(cfg, resume=args.resume, overwrite=args.overwrite, force=args.force,
              progress=sys.stderr.isatty())
    if s:
        first, last = (s["losses"][0], s["losses"][-1]) if s["losses"] else (None, None)
        print(f"trained {s['steps']} steps; loss {first} -> {last}; {s['tokens_per_second']} tokens/s; "
              f"model written to {cfg.out}")
    return 0


EPILOG_CURATE = """examples:
  s1 curate init curate.yaml && s1 curate run curate.yaml       # the offline default, end to end
  s1 curate collect --source numina=AI-MO/NuminaMath-CoT --map numina:question=problem \\
                    --source local=pool.jsonl -o pool.jsonl
  s1 curate decontaminate pool.jsonl --against aime24,aime25,math500,gpqa_diamond -o clean.jsonl
  s1 curate traces clean.jsonl --teacher openai:https://host/v1:model-name --concurrency 32 -o traced.jsonl
  s1 curate featurize traced.jsonl --tokenizer Qwen/Qwen2.5-32B-Instruct --solvers M1,M2 -o feat.jsonl
  s1 curate select feat.jsonl --n 1000 --seed 0 -o s1k.parquet --report s1k-report/

Every stage reads and writes .jsonl or .parquet (loadable with datasets) and resumes when run again.
"""


def _curate_parser(sub) -> None:
    c = sub.add_parser("curate", help="build an s1K-style dataset: collect, decontaminate, traces, featurize, select",
                       description="The s1K data pipeline as resumable stages (or all of them with `run`).",
                       epilog=EPILOG_CURATE, formatter_class=argparse.RawDescriptionHelpFormatter)
    cs = c.add_subparsers(dest="stage", metavar="STAGE")
    i = cs.add_parser("init", help="write an example config (the offline default)")
    i.add_argument("config", help="path of the YAML file to write")
    r = cs.add_parser("run", help="every stage of a config, resuming where it stopped")
    r.add_argument("config", help="YAML config (s1 curate init writes one)")
    co = cs.add_parser("collect", help="merge question pools into one schema")
    co.add_argument("--source", action="append", required=True, metavar="NAME=SPEC",
                    help="a local file or Hub dataset id; 'builtin' for the built-in pool (repeatable)")
    co.add_argument("--map", action="append", default=[], metavar="NAME:COLUMN=SOURCECOLUMN",
                    help="column mapping of a source, e.g. numina:question=problem (repeatable)")
    co.add_argument("--limit", type=int, help="rows per source")
    co.add_argument("--on-error", default="raise", choices=["raise", "skip"],
                    help="malformed rows: stop with their location (default) or skip and count them")
    co.add_argument("-o", "--output", required=True)
    de = cs.add_parser("decontaminate", help="drop questions overlapping evaluation sets; drop duplicates")
    de.add_argument("input")
    de.add_argument("--against", required=True, help="comma-separated task names or files")
    de.add_argument("--ngram", type=int, default=8)
    de.add_argument("-o", "--output", required=True)
    tr = cs.add_parser("traces", help="a teacher answers each question (thinking + attempt)")
    tr.add_argument("input")
    tr.add_argument("--teacher", required=True, help="builtin | engine:MODEL | vllm:MODEL | openai:BASE_URL:MODEL")
    tr.add_argument("--concurrency", type=int, default=8)
    tr.add_argument("--retries", type=int, default=3)
    tr.add_argument("--timeout", type=float, default=600)
    tr.add_argument("--max-tokens", type=int)
    tr.add_argument("--limit", type=int, help="only the first N rows (raise it later: finished rows are kept)")
    tr.add_argument("--retry-failed", action="store_true", help="ask again for rows whose failure was recorded")
    tr.add_argument("-o", "--output", required=True)
    fe = cs.add_parser("featurize", help="trace length, difficulty (solver verdicts), domain (MSC 2020)")
    fe.add_argument("input")
    fe.add_argument("--tokenizer", help="model whose tokenizer counts trace tokens (default: the embedded model's)")
    fe.add_argument("--solvers", default="", help="comma-separated solvers: MODEL (in-process), vllm:MODEL or "
                                                  "openai:BASE_URL:MODEL (default: none)")
    fe.add_argument("--solver-budget", type=int, default=256, help="thinking tokens per solver answer")
    fe.add_argument("--classifier", default="offline", help="offline | hint | openai:BASE_URL:MODEL")
    fe.add_argument("-o", "--output", required=True)
    se = cs.add_parser("select", help="quality and difficulty filters, then the s1 selection")
    se.add_argument("input")
    se.add_argument("--n", type=int, default=1000)
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--method", default="s1", help="s1 (default), random, diverse, longest")
    se.add_argument("--keep-unknown-difficulty", action="store_true",
                    help="keep rows without solver verdicts (default: drop them)")
    se.add_argument("--report", metavar="DIR", help="write the funnel, domain and length plots and report.md")
    se.add_argument("--push-to-hub", metavar="REPO", help="also upload the selection as a Hub dataset (needs a login)")
    se.add_argument("-o", "--output", required=True)
    c.set_defaults(func=cmd_curate)


def cmd_curate(args) -> int:
    from .data import pipeline

    stage = getattr(args, "stage", None)
    if stage is None:
        raise InputError("give a stage: init, run, collect, decontaminate, traces, featurize or select")
    if stage == "init":
        p = Path(args.config)
        if p.exists():
            raise InputError(f"{p} exists; choose another name")
        p.write_text(pipeline.DEFAULT_CONFIG)
        print(f"wrote {p}; run it with: s1 curate run {p}")
        return 0
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    show = sys.stderr.isatty()
    if stage == "run":
        pipeline.run(args.config, progress=show, log=lambda m: print(m, file=sys.stderr))
        return 0
    if stage == "collect":
        from .data.collect import Source, collect
        from .data.io import write_rows

        maps: dict[str, dict] = {}
        for m in args.map:
            name, _, rest = m.partition(":")
            key, sep, col = rest.partition("=")
            if not sep or not name or not key or not col:
                raise InputError(f"--map {m!r}: expected NAME:COLUMN=SOURCECOLUMN")
            maps.setdefault(name, {})[key] = col
        sources = []
        for s in args.source:
            name, sep, spec = s.partition("=")
            if not sep:
                name, spec = Path(s).stem, s
            if spec == "builtin":
                from .data.pool import builtin_pool

                spec = str(Path(args.output).with_name(f".{name}-builtin.jsonl"))
                write_rows(spec, builtin_pool())
            sources.append(Source(name, spec, maps.get(name), limit=args.limit))
        unknown = set(maps) - {s.name for s in sources}
        if unknown:
            raise InputError(f"--map for unknown source(s): {', '.join(sorted(unknown))}")
        stats = collect(sources, args.output, on_error=args.on_error)
    elif stage == "decontaminate":
        from .data.decontaminate import decontaminate

        stats = decontaminate(args.input, args.output, [a.strip() for a in args.against.split(",") if a.strip()],
                              n=args.ngram)
    elif stage == "traces":
        from .data.traces import traces

        stats = traces(args.input, args.output, args.teacher, concurrency=args.concurrency, retries=args.retries,
                       timeout=args.timeout, max_tokens=args.max_tokens, limit=args.limit,
                       retry_failed=args.retry_failed, progress=show)
    elif stage == "featurize":
        from .data.featurize import featurize

        stats = featurize(args.input, args.output, tokenizer=args.tokenizer,
                          solvers=[s.strip() for s in args.solvers.split(",") if s.strip()],
                          classifier=args.classifier, solver_budget=args.solver_budget, progress=show)
    else:
        from .data.select import select

        stats = select(args.input, args.output, n=args.n, seed=args.seed, method=args.method,
                       solvers_must_fail=not args.keep_unknown_difficulty, report_dir=args.report)
        if args.report:
            from .data.io import iter_rows
            from .data.report import write_report

            cands = pipeline._candidates(Path(args.report))
            write_report(args.report, [tuple(x) for x in stats["funnel"]], cands, iter_rows(args.output))
        if args.push_to_hub:
            import datasets

            from .data.io import CurateError

            kind = "parquet" if args.output.endswith(".parquet") else "json"
            try:
                datasets.load_dataset(kind, data_files=args.output, split="train").push_to_hub(args.push_to_hub)
            except Exception as e:  # auth, network, repo errors: the selection on disk stays as written
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise CurateError(f"push to {args.push_to_hub} failed ({first}); {args.output} is written") from None
            print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}", file=sys.stderr)
    print(json.dumps({k: v for k, v in stats.items() if k not in ("examples",)}, default=str, indent=2))
    return 0


def cmd_report(args) -> int:
    from .report import report

    text, files = report(args.runs, args.out, args.title)
    print(text)
    print(f"written: {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0


EPILOG_SERVE = """examples:
  s1 serve                                              # embedded model on http://127.0.0.1:8000/v1
  s1 serve --model ckpt/ --port 8000 --api-key $KEY     # a fine-tuned checkpoint, with a key
  vllm serve Qwen/Qwen2.5-7B-Instruct --port 8001 &     # budget forcing in front of a vLLM server:
  s1 serve --upstream http://localhost:8001/v1 --model Qwen/Qwen2.5-7B-Instruct --port 8000

  client (official openai library):
    client.chat.completions.create(model="smollm2-135m", messages=[...],
        extra_body={"thinking": {"min_tokens": 64, "max_tokens": 256, "num_ignore": 1, "extend": ["Wait"]}})
    -> choices[0].message.reasoning_content (the thinking) and .content (the answer)
"""


def _serve_parser(sub) -> None:
    v = sub.add_parser(
        "serve", help="OpenAI-compatible server with thinking budgets (in-process model or --upstream)",
        description="Serve /v1/models, /v1/chat/completions and /v1/completions (streaming or not) with budget "
                    "forcing: requests set thinking budgets with extra_body={'thinking': {...}} or "
                    "reasoning_effort. Requests arriving together are decoded together.",
        epilog=EPILOG_SERVE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _model_args(v)
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (default: $S1_API_KEY if set)")
    v.add_argument("--name", metavar="NAME", help="model name clients use (default: the --model spec)")
    v.add_argument("--upstream", metavar="URL",
                   help="forward to this OpenAI-compatible server (…/v1) and apply budget forcing there")
    v.add_argument("--max-batch", type=int, default=16, help="rows decoded together in-process (default 16)")
    lim = v.add_argument_group("limits (requests beyond them get 400 / 413 / 429)")
    lim.add_argument("--max-concurrent", type=int, default=64, help="requests in flight (default 64)")
    lim.add_argument("--max-body-bytes", type=int, default=1 << 20, help="request body size (default 1 MiB)")
    lim.add_argument("--max-prompt-tokens", type=int, help="prompt tokens per request (default: the context)")
    lim.add_argument("--max-thinking-limit", type=int, metavar="N",
                     help="largest thinking budget a request may ask (default: the context)")
    lim.add_argument("--max-tokens-limit", type=int, default=4096, metavar="N", help="largest max_tokens (answer)")
    lim.add_argument("--default-max-tokens", type=int, default=1024, metavar="N",
                     help="answer tokens when a request sets no max_tokens (default 1024)")
    lim.add_argument("--default-thinking", type=int, metavar="N",
                     help="thinking budget when a request sets none (default: until the model stops)")
    lim.add_argument("--max-n", type=int, default=8, help="largest n (choices per request)")
    lim.add_argument("--effort", default="low=512,medium=2048,high=8192", metavar="L=N,...",
                     help="reasoning_effort levels as maximum thinking tokens")
    v.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    import os

    from .serve.main import run_server

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
    api_key = args.api_key or os.environ.get("S1_API_KEY") or None
    return run_server(args, effort, api_key)


def main(argv: list[str] | None = None) -> int:
    from .backends import BackendError
    from .evaluate import EvalError
    from .grading import GradingError
    from .models import ModelError
    from .tasks import TaskError
    from .templates import TemplateError
    from .train import TrainError
    from .data.io import CurateError

    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (InputError, BudgetError, TemplateError, ModelError, EvalError, TaskError, GradingError,
            TrainError, CurateError, BackendError) as e:
        print(f"s1: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s1: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
