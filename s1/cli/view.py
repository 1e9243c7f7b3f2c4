"""`s1 view`: eval, curation and training runs as one self-contained HTML page (traces with forcing marked).

    s1 view runs/a runs/b --out view.html        # then open view.html in a browser
    s1 view runs/a --serve --port 8765           # or serve it on http://127.0.0.1:8765/
"""

from __future__ import annotations

import argparse
import sys

from .common import InputError

EPILOG = """examples:
  s1 eval --task arith:n=20 --max-thinking 16,64 --num-ignore 0,1 --out runs/a
  s1 view runs/a                                  # writes runs/a/view.html
  s1 view runs/a runs/b --out compare.html        # two eval runs in one page
  s1 view demo-run/eval/base demo-run/curate demo-run/models/s1 --out demo.html
  s1 view demo-run --out demo.html                # an s1 demo folder: all its runs
  s1 view runs/a --serve                          # on http://127.0.0.1:8765/ until Ctrl-C

The page loads nothing from the network: open it from disk, attach it to a mail, put it anywhere.
In a trace, forced pieces are coloured: extension strings ("Wait") after a refused stop, step markers,
the cut point, the forced end of thinking and the forced answer prefix.
"""


def add_parser(sub) -> None:
    v = sub.add_parser(
        "view", help="read eval traces (forcing marked), plots and filters in one HTML page",
        description="Write one self-contained HTML page (no network) of run folders: for eval runs the "
                    "scaling plot, a table of questions x grid points filterable by method, budget and "
                    "correctness, each trace with the pieces budget forcing put there marked, and one "
                    "question at two budgets side by side with their shared prefix; for `s1 curate run` "
                    "folders the curation plots; for `s1 train` folders the loss curve.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("runs", nargs="+", metavar="RUN",
                   help="folders written by s1 eval (--out), s1 curate run (out:), s1 train (--out) or s1 demo")
    v.add_argument("--out", metavar="FILE.html",
                   help="the page to write (default: RUN/view.html for one run, ./view.html for several)")
    v.add_argument("--title", help="page title")
    v.add_argument("--serve", action="store_true", help="also serve the page on localhost until Ctrl-C")
    v.add_argument("--port", type=int, default=8765, metavar="N", help="port of --serve (default 8765)")
    v.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..view import ViewError, serve_page, write_view

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")
    out = Path(args.out) if args.out else (Path(args.runs[0]) / "view.html" if len(args.runs) == 1
                                           else Path("view.html"))
    try:
        path = write_view(args.runs, out, args.title)
        print(f"written: {path}", file=sys.stderr)
        if not args.serve:
            return 0
        server = serve_page(path.read_text(encoding="utf-8"), port=args.port)
    except ViewError as e:
        raise InputError(str(e)) from None
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        import threading

        threading.Event().wait()
    finally:
        server.shutdown()
    return 0
