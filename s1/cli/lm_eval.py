"""`s1 lm-eval ARGS`: lm-evaluation-harness's own command line with the `s1` model registered.

    s1 lm-eval --model s1 --model_args max_thinking=512 --tasks gsm8k --log_samples --output_path out

The same as `python -m s1.lm_eval ARGS` (s1.lm_eval.entry): every argument after `lm-eval` goes to
lm-eval unchanged, so `s1 lm-eval --help` and `s1 lm-eval ls tasks` are lm-eval's own.
"""

from __future__ import annotations

import argparse
import sys

NAME = "lm-eval"


def add_parser(sub) -> None:
    p = sub.add_parser(NAME, add_help=False, help="lm-evaluation-harness with budget forcing (--model s1); "
                                                  "arguments go to lm-eval unchanged (s1 lm-eval --help)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda a: run(a.args))


def run(argv: list[str]) -> int:
    """lm-eval's CLI on argv (which argparse must not see: its options are lm-eval's)."""
    try:
        from ..lm_eval.entry import main
    except ImportError as e:
        print(f"s1 lm-eval: error: {e}", file=sys.stderr)
        return 2
    return main(argv, prog="s1 lm-eval")
