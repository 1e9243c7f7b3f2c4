"""`s1 demo`: the whole s1 pipeline in miniature (a recipe of public s1 commands), or --quick.

    s1 demo --dry-run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import InputError, make_backend, model_args

EPILOG = """examples:
  s1 demo                                    # the full miniature pipeline into demo-run/ (~14 min, 2 cores)
  s1 demo --dry-run                          # its commands, to copy and scale up
  s1 demo --recipe recipes/s1-32b.yaml --out runs/s1-32b --dry-run     # the full-size recipe
  s1 demo --set task=letters:n=40,seed=5     # change a recipe variable
  s1 demo --quick                            # budget forcing on one question, no training
"""


def add_parser(sub) -> None:
    d = sub.add_parser(
        "demo", help="the whole s1 pipeline in miniature: curate, train, budget-forced eval, report",
        description="Runs a recipe (public s1 commands, one stage each) into a run folder, then writes "
                    "DIR/report/summary.md with the plots. Run it again to resume: finished stages are skipped.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--out", default="demo-run", metavar="DIR", help="run folder (default demo-run)")
    d.add_argument("--recipe", metavar="FILE", help="recipe YAML (default: recipes/demo.yaml)")
    d.add_argument("--tiny", action="store_true", help="the recipe's tiny settings (a CI-sized run)")
    d.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change a recipe variable")
    d.add_argument("--dry-run", action="store_true", help="print the stages' commands and exit")
    d.add_argument("--quick", action="store_true",
                   help="only show budget forcing on one question at three budgets (seconds, no training)")
    model_args(d)
    d.add_argument("--question", default="How many r are in the word raspberry?", help="the question of --quick")
    d.set_defaults(func=run)


def run(args) -> int:
    if args.quick:
        from ..demo.quick import quick_demo

        quick_demo(make_backend(args), args.question, args.model or "smollm2-135m (embedded)", system=args.system)
        return 0
    from ..demo import DemoError, load_recipe, run_recipe

    # the recipes/ folder of a source checkout (s1/cli/demo.py -> the repository root)
    recipe = args.recipe or str(Path(__file__).resolve().parents[2] / "recipes" / "demo.yaml")
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
