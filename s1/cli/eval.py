"""`s1 eval`: a model on a task over a grid of budgets and methods, graded, resumable.

    s1 eval --task arith:n=50 --max-thinking 16,32,64,128 --out runs/smol-arith
"""

from __future__ import annotations

import argparse
import sys

from ..budget import TURN_END
from ..search.names import AGGREGATES, VOTES
from .common import InputError, backend_options, int_list, key_values, model_args, quiet_transformers

EPILOG = """examples:
  s1 eval --task arith:n=50 --max-thinking 16,32,64,128 --out runs/smol-arith
  s1 eval --model M --task math500 --max-thinking 512,1024,2048,4096 --out runs/m-math500
  s1 eval --model M --task aime24 --num-ignore 0,1,2,4 --samples 8 --temperature 0.6 --out runs/m-aime
  s1 eval --model M --task aime24 --method token-conditional,class-conditional+forcing,rejection \\
          --max-thinking 1024,2048,4096 --out runs/m-baselines
  s1 eval --task arith:n=20 --method best-of-n,rebase,majority,budget-forcing --reward confidence \\
          --trajectories 1,4,16 --samples 16 --temperature 0.8 --max-thinking 128 --out runs/parallel
  s1 eval --model M --task file --data my.jsonl --field prompt=problem --field answer=solution --out runs/mine

  s1 eval --task arith:n=20 --max-thinking 64,128,256 --early-exit 0.9 --wait-schedule --break-loops \\
          --out runs/adaptive     # budget forcing and three adaptive methods on one plot

Grid: every --max-thinking x --num-ignore value is one grid point of budget forcing; the largest is
generated once and the smaller ones branch off it (the same results as separate runs, less compute).
Results: DIR/samples.jsonl (one line per sample), DIR/summary.json, DIR/points/*.json, DIR/scaling.png.
"""


def add_parser(sub) -> None:
    e = sub.add_parser(
        "eval", help="evaluate a model on a task over a grid of budgets and methods",
        description="Budget sweeps and baselines on a task, graded, with Control / Scaling / Performance. "
                    "Run the same command again to resume an interrupted run.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--task", help="task name or name:key=value,... (see --list-tasks)")
    e.add_argument("--list-tasks", action="store_true", help="list the tasks and their options, then exit")
    e.add_argument("--data", metavar="FILE", help="local JSONL / JSON / Parquet file instead of the Hugging Face Hub")
    e.add_argument("--field", action="append", metavar="KEY=COLUMN",
                   help="field mapping for --data, e.g. prompt=problem, answer=solution, id=uid (repeatable)")
    e.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    e.add_argument("--out", required=False, metavar="DIR", help="run folder (results, summary, plot); required")
    e.add_argument("--overwrite", action="store_true", help="replace a run folder holding another configuration")
    model_args(e)
    gm = e.add_argument_group("grid")
    gm.add_argument("--method", default="budget-forcing", metavar="M[,M...]",
                    help="budget-forcing (default), token-conditional, step-conditional, class-conditional "
                         "(each also as +forcing, e.g. class-conditional+forcing), rejection, majority, "
                         "length-conditional (+forcing; models trained with --length-instruction); adaptive: "
                         "early-exit, wait-schedule, break-loops, round-sampling; "
                         "parallel / tree search (see 'search'): best-of-n, beam, dvts, rebase, deepconf, "
                         "deepconf-online")
    gm.add_argument("--max-thinking", default="none", metavar="N[,N...]",
                    help="maximum thinking tokens per grid point; 'none' = no limit (default none)")
    gm.add_argument("--num-ignore", default="0", metavar="K[,K...]", help="stops to ignore per grid point (default 0)")
    gm.add_argument("--min-thinking", type=int, default=0, metavar="N", help="budget forcing: minimum thinking tokens")
    gm.add_argument("--steps", default="2,4,8", metavar="N[,N...]", help="step-conditional: step limits (default 2,4,8)")
    gm.add_argument("--extend", action="append", metavar="TEXT", help="extension string (default Wait; repeat to rotate)")
    gm.add_argument("--answer-prefix", default="Final Answer:", metavar="TEXT", help="forced after a cut ('' for none)")
    gm.add_argument("--on-turn-end", choices=TURN_END, default="answer",
                    help="the model ends its turn inside the thinking: force the delimiter and the answer prefix "
                         "(answer, default) or only the delimiter, as the s1 reference does (delimiter)")
    gm.add_argument("--max-answer", type=int, default=512, metavar="N", help="max answer tokens (default 512)")
    gs = e.add_argument_group("sampling")
    gs.add_argument("--samples", type=int, default=1, metavar="K", help="samples per question (needs --temperature > 0)")
    gs.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    gs.add_argument("--top-p", type=float, default=1.0)
    gs.add_argument("--top-k", type=int, default=0)
    gs.add_argument("--seed", type=int, default=0, help="seeds derive from it, the question and the sample")
    gs.add_argument("--rejection-tries", type=int, default=8, metavar="N", help="rejection sampling: tries per budget")
    gs.add_argument("--rejection-temperature", type=float, default=1.0)
    gt = e.add_argument_group(
        "search (best-of-n, beam, dvts, rebase, deepconf, deepconf-online; in-process engine, --temperature > 0; "
        "every trajectory is budget-forced by --max-thinking / --num-ignore)")
    gt.add_argument("--reward", metavar="SPEC",
                    help="reward model scoring the steps: confidence (the model's own log-probs), shepherd:PATH, "
                         "qwen-prm:PATH, orm:PATH, judge:URL:MODEL (needed by best-of-n, beam, dvts, rebase)")
    gt.add_argument("--trajectories", default="1,2,4,8,16", metavar="N[,N...]",
                    help="trajectories per question, one grid point each (default 1,2,4,8,16); best-of-n and "
                         "deepconf read the smaller counts off the largest run, tree searches run each count")
    gt.add_argument("--step-delimiter", default="\\n\\n", metavar="TEXT",
                    help="text that ends a step of the thinking (default a blank line, written \\n\\n)")
    gt.add_argument("--aggregate", choices=AGGREGATES, help="a trajectory's score from its step scores "
                                                            "(default last)")
    gt.add_argument("--vote", choices=VOTES, help="how the answer is chosen: best (highest score), majority, "
                                                  "weighted (scores summed per answer); default: best for "
                                                  "best-of-n / beam / dvts, majority for rebase, weighted for deepconf")
    gt.add_argument("--beam-expansions", type=int, metavar="M", help="beam, dvts: children per kept node (default 4)")
    gt.add_argument("--rebase-temperature", type=float, metavar="T",
                    help="rebase: softmax temperature of the width split (default 0.2; lower = greedier)")
    gt.add_argument("--max-depth", type=int, metavar="N", help="tree searches: steps before the nodes left "
                                                              "run to their end without branching (default 40)")
    gt.add_argument("--deepconf-keep", type=float, metavar="PCT",
                    help="deepconf: percent of the most confident traces that vote (default 90)")
    gt.add_argument("--deepconf-warmup", type=int, metavar="N",
                    help="deepconf-online: warm-up traces that set the stopping threshold (default 4)")
    gt.add_argument("--deepconf-consensus", type=float, metavar="TAU",
                    help="deepconf-online: stop sampling once one answer holds this share of the vote (default 0.95)")
    gt.add_argument("--deepconf-window", type=int, metavar="N", help="deepconf: tokens per confidence group "
                                                                      "(default 64)")
    ga = e.add_argument_group(
        "adaptive thinking (each flag adds its method next to the others, e.g. budget-forcing, on the same plot; "
        "methods early-exit, wait-schedule, break-loops, round-sampling run budget forcing's grid with the policy on)")
    ga.add_argument("--early-exit", nargs="?", type=float, const=0.9, metavar="T",
                    help="end thinking when a trial answer (probed on a fork at step boundaries and 'Wait') has a "
                         "mean token probability >= T (default 0.9); in-process engine only")
    ga.add_argument("--probe-tokens", type=int, metavar="N", help="early exit: answer tokens per trial (default 8)")
    ga.add_argument("--probe-mode", choices=("prob", "agree"),
                    help="early exit: prob (default) or agree (the same trial answer twice in a row, too)")
    ga.add_argument("--probe-gap", type=int, metavar="N", help="early exit: thinking tokens between probes (default 32)")
    ga.add_argument("--wait-schedule", nargs="?", const="linear:0.5@0.6", metavar="SHAPE:P@UNTIL",
                    help="'Wait' at step boundaries with probability P (constant, or linear: falling to 0) until "
                         "UNTIL x the thinking limit, then end thinking at the next boundary (default linear:0.5@0.6)")
    ga.add_argument("--break-loops", nargs="?", const="12:3", metavar="N:K",
                    help="an N-token sequence written K times, or a repeated paragraph, ends the thinking (default 12:3)")
    ga.add_argument("--loop-action", choices=("end", "extend"),
                    help="break loops: end the thinking (default) or append each --extend string once, then end")
    ga.add_argument("--round-temperature", metavar="T[,T...]",
                    help="thinking temperature after the 1st, 2nd ... refused stop (the last repeats)")
    ga.add_argument("--round-top-p", metavar="P[,P...]", help="thinking top_p after each refused stop")
    ga.add_argument("--extend-penalty", type=float, metavar="F",
                    help="frequency penalty on the extension words' tokens while thinking (logit - F x count)")
    gg = e.add_argument_group("grading")
    gg.add_argument("--grade-timeout", type=float, default=5.0, metavar="S", help="hard limit per math check (s)")
    gg.add_argument("--judge-url", metavar="URL", help="optional LLM judge: OpenAI-compatible base URL (…/v1)")
    gg.add_argument("--judge-model", metavar="NAME", help="judge model name (key from $S1_JUDGE_API_KEY)")
    e.add_argument("--batch-size", type=int, default=16, help="questions decoded together (default 16)")
    e.set_defaults(func=run)


def search_settings(args) -> dict:
    """The search flags as EvalConfig fields (only what was given goes into `search`)."""
    given = {"aggregate": args.aggregate, "vote": args.vote, "expansions": args.beam_expansions,
             "temperature": args.rebase_temperature, "max_depth": args.max_depth, "keep": args.deepconf_keep,
             "warmup": args.deepconf_warmup, "consensus": args.deepconf_consensus, "window": args.deepconf_window}
    delim = args.step_delimiter.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return {"reward": args.reward, "trajectories": int_list(args.trajectories, "--trajectories"),
            "step_delimiter": delim, "search": {k: v for k, v in given.items() if v is not None} or None}


def float_list(text: str | None, flag: str) -> tuple[float, ...]:
    if text is None:
        return ()
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise InputError(f"{flag}: expected numbers separated by commas, got {text!r}") from None


def adaptive_settings(args, methods: tuple[str, ...]) -> tuple[tuple[str, ...], dict]:
    """The methods with those the adaptive flags add, and the flags as EvalConfig fields."""
    rounds = (args.round_temperature, args.round_top_p, args.extend_penalty)
    flags = {"early-exit": args.early_exit is not None, "wait-schedule": args.wait_schedule is not None,
             "break-loops": args.break_loops is not None, "round-sampling": any(v is not None for v in rounds)}
    methods = methods + tuple(m for m, on in flags.items() if on and m not in methods)
    for method, given, names in (("early-exit", (args.probe_tokens, args.probe_mode, args.probe_gap),
                                  "--probe-tokens / --probe-mode / --probe-gap"),
                                 ("break-loops", (args.loop_action,), "--loop-action")):
        if method not in methods and any(v is not None for v in given):
            raise InputError(f"{names} only apply to {method}: add --{method} (or --method {method})")
    fields = {"early_exit": args.early_exit, "probe_tokens": args.probe_tokens, "probe_mode": args.probe_mode,
              "probe_gap": args.probe_gap, "wait_schedule": args.wait_schedule, "break_loops": args.break_loops,
              "loop_action": args.loop_action, "extend_penalty": args.extend_penalty,
              "round_temperatures": float_list(args.round_temperature, "--round-temperature") or None,
              "round_top_p": float_list(args.round_top_p, "--round-top-p") or None}
    return methods, {k: v for k, v in fields.items() if v is not None}


def run(args) -> int:
    from ..evaluate import EvalConfig, evaluate
    from ..report import report
    from ..tasks import list_tasks

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
    from ..backends.build import check_template_spec

    check_template_spec(args.template)  # before the run folder is made
    methods, adaptive = adaptive_settings(args, tuple(m.strip() for m in args.method.split(",") if m.strip()))
    cfg = EvalConfig(
        model=args.model, backend=args.backend, task=args.task, data=args.data,
        fields=key_values(args.field, "--field", "KEY=COLUMN, e.g. prompt=problem"), limit=args.limit,
        methods=methods,
        max_thinking=int_list(args.max_thinking, "--max-thinking", allow_none=True),
        num_ignore=int_list(args.num_ignore, "--num-ignore"), min_thinking=args.min_thinking,
        extend=tuple(args.extend or ["Wait"]), answer_prefix=args.answer_prefix or None,
        on_turn_end=args.on_turn_end, max_answer_tokens=args.max_answer, steps=int_list(args.steps, "--steps"),
        samples=args.samples,
        temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, seed=args.seed,
        rejection_tries=args.rejection_tries, rejection_temperature=args.rejection_temperature,
        template=args.template, think_start=args.think_start, think_end=args.think_end, system=args.system,
        dtype=None if args.dtype == "auto" else args.dtype, grade_timeout=args.grade_timeout,
        judge_url=args.judge_url, judge_model=args.judge_model, **adaptive,
        **search_settings(args),
    )
    quiet_transformers()
    opts = backend_options(args)
    evaluate(cfg, args.out, batch_size=args.batch_size, overwrite=args.overwrite, device=None if args.device == "auto" else args.device,
             progress=True, backend_options=opts)
    text, files = report([args.out])
    print(text)
    print(f"written: {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0
