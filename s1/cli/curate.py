"""`s1 curate`: build an s1K-style dataset in resumable stages (collect, decontaminate, traces, featurize, select).

    s1 curate init curate.yaml && s1 curate run curate.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import InputError, quiet_transformers

EPILOG = """examples:
  s1 curate init curate.yaml && s1 curate run curate.yaml       # the offline default, end to end
  s1 curate collect --source numina=AI-MO/NuminaMath-CoT --map numina:question=problem \\
                    --source local=pool.jsonl -o pool.jsonl
  s1 curate decontaminate pool.jsonl --against aime24,aime25,math500,gpqa_diamond -o clean.jsonl
  s1 curate traces clean.jsonl --teacher openai:https://host/v1:model-name --concurrency 32 -o traced.jsonl
  s1 curate featurize traced.jsonl --tokenizer Qwen/Qwen2.5-32B-Instruct --solvers M1,M2 -o feat.jsonl
  s1 curate select feat.jsonl --n 1000 --seed 0 -o s1k.parquet --report s1k-report/

Every stage reads and writes .jsonl or .parquet (loadable with datasets) and resumes when run again.
"""


def add_parser(sub) -> None:
    c = sub.add_parser("curate", help="build an s1K-style dataset: collect, decontaminate, traces, featurize, select",
                       description="The s1K data pipeline as resumable stages (or all of them with `run`).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    cs = c.add_subparsers(dest="stage", metavar="STAGE")
    i = cs.add_parser("init", help="write an example config (the offline default)")
    i.add_argument("config", help="path of the YAML file to write")
    r = cs.add_parser("run", help="every stage of a config, resuming where it stopped")
    r.add_argument("config", help="YAML config (s1 curate init writes one)")
    co = cs.add_parser("collect", help="merge question pools into one schema")
    co.add_argument("--source", action="append", required=True, metavar="NAME=SPEC",
                    help="a local file or Hub dataset id; 'builtin' for the built-in pool; "
                         "'rg:<dataset>[:n=100,seed=0,...]' for reasoning-gym questions (repeatable)")
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
    c.set_defaults(func=run)


def _names(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def run(args) -> int:
    from ..data import pipeline

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
    quiet_transformers()
    show = True  # a bar in a terminal, periodic lines in a log (s1.progress)
    if stage == "run":
        pipeline.run(args.config, progress=show, log=lambda m: print(m, file=sys.stderr))
        return 0
    if stage == "collect":
        from ..data.collect import collect, sources_from_specs

        stats = collect(sources_from_specs(args.source, args.map, args.output, args.limit), args.output,
                        on_error=args.on_error)
    elif stage == "decontaminate":
        from ..data.decontaminate import decontaminate

        stats = decontaminate(args.input, args.output, _names(args.against), n=args.ngram)
    elif stage == "traces":
        from ..data.traces import traces

        stats = traces(args.input, args.output, args.teacher, concurrency=args.concurrency, retries=args.retries,
                       timeout=args.timeout, max_tokens=args.max_tokens, limit=args.limit,
                       retry_failed=args.retry_failed, progress=show)
    elif stage == "featurize":
        from ..data.featurize import featurize

        stats = featurize(args.input, args.output, tokenizer=args.tokenizer, solvers=_names(args.solvers),
                          classifier=args.classifier, solver_budget=args.solver_budget, progress=show)
    else:
        from ..data.rowfiles import iter_rows
        from ..data.report import write_report
        from ..data.select import push_to_hub, read_candidates, select

        stats = select(args.input, args.output, n=args.n, seed=args.seed, method=args.method,
                       solvers_must_fail=not args.keep_unknown_difficulty, report_dir=args.report)
        if args.report:
            write_report(args.report, [tuple(x) for x in stats["funnel"]], read_candidates(args.report),
                         iter_rows(args.output))
        if args.push_to_hub:
            push_to_hub(args.output, args.push_to_hub)
            print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}", file=sys.stderr)
    print(json.dumps({k: v for k, v in stats.items() if k not in ("examples",)}, default=str, indent=2))
    return 0
