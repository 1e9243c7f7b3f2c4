"""The `s1` command: argument parsing per command group (one module each), calling the library.

    s1 generate "How many r in raspberry?" --max-thinking 64        # or: python -m s1 ...

Each module here adds its subcommand's flags and turns them into one library call; what a command
does lives in the module that owns it (s1.evaluate, s1.data.*, s1.serve, s1.demo ...). Nothing in the
package imports s1.cli. Errors a user can cause print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from . import curate, demo, eval, generate, lm_eval, report, serve, train, view
from .common import InputError

GROUPS = (generate, eval, report, view, train, curate, serve, lm_eval, demo)  # the order of `s1 --help`


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s1", description="s1: simple test-time scaling with budget forcing.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_parser(sub)
    return p


def _user_errors() -> tuple[type[Exception], ...]:
    """The error types whose message is all a user needs: one line, exit 2 (imported late: they pull in torch)."""
    from ..backends import BackendError
    from ..budget import BudgetError
    from ..data import CurateError
    from ..evaluate import EvalError
    from ..generation import GenerationError
    from ..grading import GradingError
    from ..jsonl import JSONLError
    from ..models import ModelError
    from ..stages import StageError
    from ..tasks import TaskError
    from ..templates import TemplateError
    from ..train import TrainError

    return (InputError, BudgetError, TemplateError, ModelError, EvalError, TaskError, GradingError, TrainError,
            CurateError, BackendError, JSONLError, GenerationError, StageError)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [lm_eval.NAME]:  # lm-eval's own options follow: they bypass our parser
        return lm_eval.run(argv[1:])
    p = parser()
    args = p.parse_args(argv)
    if not getattr(args, "func", None):
        p.print_help()
        return 2
    try:
        return args.func(args)
    except _user_errors() as e:
        print(f"s1: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("s1: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
