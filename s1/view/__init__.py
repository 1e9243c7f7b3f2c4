"""`s1 view`: eval, curation and training runs as one self-contained HTML page to read traces in.

    from s1.view import write_view; write_view(["runs/a", "runs/b"], "view.html")

The page (s1.view.page) holds the scaling plot, a table of questions x grid points filterable by run,
method, budget and correctness, each trace with the pieces budget forcing put there marked
(s1.view.trace), one question at two budgets side by side with their shared prefix, and the plots of
curation and training runs (s1.view.runs). It loads nothing: open the file from disk, mail it, or
serve it (`serve_page`).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..files import write_text_atomic
from .page import render_page
from .runs import ViewError, load_runs


def build_view(runs, title: str | None = None) -> str:
    """The HTML page of run folders (ViewError when one is not a run)."""
    return render_page(load_runs(runs), title)


def write_view(runs, out: str | Path, title: str | None = None) -> Path:
    """Write the page of `runs` to `out` (written aside and renamed: never half a file)."""
    out = Path(out)
    if out.is_dir():
        raise ViewError(f"{out} is a folder; give a file name such as {out / 'view.html'}")
    page = build_view(runs, title)  # every run is read before anything is written
    if not out.parent.exists():
        raise ViewError(f"{out.parent}: no such folder")
    write_text_atomic(out, page)
    return out


def serve_page(page: str, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """An HTTP server answering GET / with the page (started in a daemon thread; call .shutdown())."""
    body = page.encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404, "the view is at /")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):  # no access log on stderr
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise ViewError(f"cannot serve on {host}:{port} ({e.strerror or e}); pick another --port") from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


__all__ = ["ViewError", "build_view", "serve_page", "write_view"]
