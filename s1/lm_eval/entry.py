"""The lm-eval command line with the `s1` model registered: `python -m s1.lm_eval ARGS` / `s1 lm-eval ARGS`.

The arguments go to lm-eval unchanged (`lm-eval run ...`, the legacy form without `run`, `ls tasks`,
`--help`). Before lm-eval builds its task index (seconds), the `s1` model args are checked, so a
misspelt one fails at once. A mistake a user can fix (an unknown task, model or model arg, a budget
that does not fit) prints one line and exits 2, with no traceback and no result files.
"""

from __future__ import annotations

import sys

# lm-eval's own ValueErrors that are the user's input, by how their message starts
LM_EVAL_INPUT_ERRORS = ("Tasks not found", "Attempted to load model", "No tasks specified", "Invalid JSON")


def _user_errors() -> tuple[type[Exception], ...]:
    from ..backends import BackendError
    from ..budget import BudgetError
    from ..generation import GenerationError
    from ..models import ModelError
    from ..templates import TemplateError
    from .model import S1LMError

    return (S1LMError, BudgetError, TemplateError, ModelError, BackendError, GenerationError)


def main(argv: list[str] | None = None, prog: str = "python -m s1.lm_eval") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from lm_eval._cli.harness import HarnessCLI
    from lm_eval.utils import setup_logging
    from transformers.utils import logging as hf_logging

    from .model import ModelArgs, register

    register()
    setup_logging()
    hf_logging.set_verbosity_error()  # transformers' loading warnings would drown lm-eval's log
    hf_logging.disable_progress_bar()
    cli = HarnessCLI()
    saved, sys.argv = sys.argv, ["lm-eval", *argv]  # lm-eval's parser reads sys.argv (and adds `run`)
    try:
        args = cli.parse_args()
    finally:
        sys.argv = saved
    try:
        if getattr(args, "model", None) == "s1":
            ModelArgs.parse(args.model_args or {})
        cli.execute(args)
    except _user_errors() as e:
        return _fail(prog, e)
    except ValueError as e:
        if not str(e).startswith(LM_EVAL_INPUT_ERRORS):
            raise
        return _fail(prog, e)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0


def _fail(prog: str, e: Exception) -> int:
    text = " ".join(str(e).split()) or type(e).__name__
    if text.startswith("Tasks not found"):
        text += " (see `lm-eval ls tasks`; local YAML tasks need --include_path DIR)"
    print(f"{prog}: error: {text}", file=sys.stderr)
    return 2
