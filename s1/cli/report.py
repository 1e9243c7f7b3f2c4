"""`s1 report`: the metrics table and scaling plot of one or more eval run folders.

    s1 report runs/m-math500 runs/m-aime --out report/
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    r = sub.add_parser("report", help="metrics table and scaling plot of one or more eval runs",
                       description="Print the Markdown metrics table of eval run folders and write the "
                                   "scaling plot (PNG and SVG). Two runs on the same questions also get a "
                                   "paired bootstrap interval per shared grid point.")
    r.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by s1 eval")
    r.add_argument("--out", metavar="DIR", help="where to write report.md and scaling.png/svg "
                                                "(default: the run folder for one run, ./report for several)")
    r.add_argument("--title", help="plot and report title")
    r.add_argument("--x-axis", choices=("auto", "thinking", "total"), default="auto",
                   help="the plot's x: average thinking tokens, or total tokens generated per question "
                        "(all samples / trajectories); auto (default): total when a run has a search method")
    r.set_defaults(func=run)


def run(args) -> int:
    from ..report import report

    text, files = report(args.runs, args.out, args.title, x=args.x_axis)
    print(text)
    print(f"written: {', '.join(str(f) for f in files)}", file=sys.stderr)
    return 0
