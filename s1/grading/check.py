"""The bounded check worker: extraction and the equivalence check of one answer, in a helper process
with a hard wall-clock limit per call. Used by `s1.grading.grade`; `check(text, gold, kind, limit)`.

Every step that looks at the model's text runs here, not in the caller: math-verify (sympy) can spend
unbounded time on inputs like 9^{9^{9^{9}}}, regular expressions can be quadratic on pathological
text, and int() refuses more than 4300 digits. Past the limit the helper is killed and restarted by
the next call; any exception becomes a wrong verdict with its reason. math-verify's own limit is
SIGALRM-based and works only on the main thread of the main interpreter, hence the process.

The helper is a fresh interpreter (subprocess + a socket carrying multiprocessing's Connection
framing), not a multiprocessing.Process: multiprocessing refuses to start children from daemonic
pool workers (multiprocessing.Pool, datasets.map(num_proc=...)), and its spawn/forkserver contexts
would import the `s1` package (torch, seconds) and re-run the caller's __main__ in the helper. The
helper runs this very file with runpy and loads extraction.py by path: the standard library and
math-verify only (and, for reasoning-gym questions, rgverify.py and reasoning_gym).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

HELPER_NAME = "__s1_grading_helper__"
_START_LIMIT = 120.0  # importing sympy + antlr on a loaded machine; not charged to any call's timeout
_ORPHAN_GRACE = 5.0  # the helper ends itself this long after a call's limit, if nobody killed it
_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name=%r)" % HELPER_NAME
_REASON_CHARS = 300  # a reason is one line in a record, not an exception's whole repr


class CheckError(Exception):
    """The helper cannot run at all (cannot start, math-verify missing): the caller's setup, one line."""


def _load_sibling(filename: str):
    """A file of this folder as a module, without importing the `s1` package (torch) into the helper."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)
    spec = importlib.util.spec_from_file_location("s1_grading_" + filename.removesuffix(".py"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load_extraction():
    return _load_sibling("extraction.py")


def _one_line(e: BaseException) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text[:_REASON_CHARS]


def _mv_equal(mv, pred_src: str, gold_src: str) -> bool:
    parse, verify, config = mv
    # The timeouts are off on purpose: they use SIGALRM, which the helper reserves for itself.
    gold = parse(gold_src, extraction_config=config, parsing_timeout=None)
    pred = parse(pred_src, extraction_config=config, parsing_timeout=None)
    return bool(gold and pred and verify(gold, pred, timeout_seconds=None))


_RG: list = []  # rgverify.py, loaded by the first reasoning-gym question


def _rg_decide(conn: Connection, extracted: str, gold: str, limit: float) -> tuple:
    """Kind "rg": `gold` is the question's verifier as JSON; the dataset's score_answer decides (1.0: correct).

    Importing reasoning-gym and building a dataset (word lists, puzzles) is setup, not the answer's time:
    around it the helper sends ("loading",) and ("clock",), and the parent restarts the call's clock."""
    fresh = not _RG
    if fresh:
        _RG.append(_load_sibling("rgverify.py"))
    rg = _RG[0]
    try:
        verifier = rg.parse_verifier(gold)
    except ValueError as e:
        return ("gold", f"kind rg needs a reasoning-gym verifier as gold: {_one_line(e)}")
    if fresh or not rg.SCORER.ready(verifier):
        conn.send(("loading",))
        signal.setitimer(signal.ITIMER_REAL, _START_LIMIT + _ORPHAN_GRACE)
        try:
            rg.SCORER.prepare(verifier)
        except ImportError:
            return ("setup", rg.RG_INSTALL)
        except Exception as e:  # noqa: BLE001 - an unknown dataset or settings: the question's fault, not the answer's
            return ("gold", f"reasoning-gym cannot build {verifier['dataset']}: {_one_line(e)}")
        signal.setitimer(signal.ITIMER_REAL, limit + _ORPHAN_GRACE)
        conn.send(("clock",))
    return ("done", rg.score(extracted, verifier) == 1.0, "reasoning-gym")


def _decide(ex, mv, conn: Connection, text: str, gold: str, kind: str, limit: float) -> tuple:
    """Runs in the helper. Sends ("extracted", x) as soon as it is known, returns the final reply."""
    extracted = ex.extract_answer(text, kind)
    conn.send(("extracted", extracted))
    if extracted is None:
        return ("done", False, "none")
    if kind == "rg":
        return _rg_decide(conn, extracted, gold, limit)
    decided = ex.compare(extracted, gold, kind)
    if decided is not None:
        return ("done", *decided)
    if isinstance(mv, str):
        return ("setup", mv)
    return ("done", _mv_equal(mv, ex.math_source(extracted), ex.math_source(ex.gold_core(gold))), "math-verify")


def _helper_main(fd: int) -> None:
    """The helper's loop: (text, gold, kind, limit) in; ("extracted", x), then one of ("done",
    correct, method), ("gold", message), ("error", reason), ("setup", message) out."""
    conn = Connection(fd)
    # Ctrl-C in the terminal reaches the whole process group; the parent decides what to do.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGALRM's default action ends the process even inside a long C loop (a huge int power);
    # each call arms it, so a helper whose parent died mid-call cannot spin forever.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    _, path = conn.recv()
    sys.path[:] = path
    ex = _load_extraction()
    try:
        import logging

        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

        logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout is disabled" warnings
        mv = (parse, verify, [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()])
        _mv_equal(mv, "$\\frac{1}{2}$", "$0.5$")  # first call loads the grammar; do it before timing
    except BaseException as e:  # noqa: BLE001 - non-math kinds still work; math calls report this
        mv = f"math grading needs math-verify (pip install 'math-verify[antlr4_13_2]'): {_one_line(e)}"
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # parent gone
            return
        if msg is None:
            return
        text, gold, kind, limit = msg
        signal.setitimer(signal.ITIMER_REAL, limit + _ORPHAN_GRACE)
        try:
            reply = _decide(ex, mv, conn, text, gold, kind, limit)
        except ex.GradingError as e:
            reply = ("gold", str(e))
        except (Exception, RecursionError, MemoryError) as e:  # noqa: BLE001 - the answer's fault: wrong
            reply = ("error", _one_line(e))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        conn.send(reply)


class Helper:
    """One check helper process shared by all threads of this process, started lazily, killed on
    timeout and restarted by the next call. Calls are serialised by a lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        mine, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen(
                # -P: no current directory on sys.path, so a local file cannot shadow the stdlib.
                [sys.executable, "-P", "-c", _BOOT, os.path.abspath(__file__), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )
        except OSError as e:
            mine.close()
            raise CheckError(f"cannot start the grading helper ({sys.executable}): {e}") from e
        finally:
            theirs.close()
        conn = Connection(mine.detach())
        self._proc, self._conn = proc, conn
        try:
            conn.send(("hello", list(sys.path)))
            if not conn.poll(_START_LIMIT):
                raise CheckError(f"the grading helper did not start within {_START_LIMIT:g} s")
            conn.recv()
        except (EOFError, OSError) as e:
            self._kill()
            raise CheckError(f"the grading helper died while starting (exit code {proc.wait()})") from e
        except BaseException:
            self._kill()
            raise

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if conn is not None:
            conn.close()

    def check(self, text: str, gold: str, kind: str, limit: float) -> tuple:
        """The helper's reply (see _helper_main) plus the extracted answer, within `limit` seconds:
        (extracted, reply), reply ("timeout", step) when it did not finish and ("error", reason)
        when the helper died. The clock starts once the helper is up: a (re)start is not charged."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                self._start()
            extracted, step = None, "extracting the answer"
            try:
                deadline = time.monotonic() + limit
                self._conn.send((text, gold, kind, limit))
                while True:
                    if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                        self._kill()
                        return extracted, ("timeout", step)
                    reply = self._conn.recv()
                    if reply[0] == "loading":  # the helper loads a verifier: setup, not charged to the call
                        deadline, step = time.monotonic() + _START_LIMIT, "loading the verifier"
                    elif reply[0] == "clock":
                        deadline, step = time.monotonic() + limit, "checking the answer"
                    elif reply[0] != "extracted":
                        return extracted, reply
                    else:
                        extracted, step = reply[1], "checking the answer"
            except (EOFError, OSError):  # killed from outside, out of memory...
                code = self._proc.poll() if self._proc else None
                self._kill()
                return extracted, ("error", f"the grading helper died while {step} (exit code {code})")
            except BaseException:  # e.g. KeyboardInterrupt: its late reply would answer the next call
                self._kill()
                raise

    def close(self) -> None:
        with self._lock:
            self._kill()

    def forget(self) -> None:
        """In a forked child: the helper belongs to the parent; drop it without touching it."""
        self._lock = threading.Lock()
        if self._conn is not None:
            self._conn.close()  # our copy of the descriptor only
        self._proc = self._conn = None


HELPER = Helper()
if __name__ != HELPER_NAME:
    atexit.register(HELPER.close)
    os.register_at_fork(after_in_child=HELPER.forget)


def check(text: str, gold: str, kind: str, limit: float) -> tuple:
    """HELPER.check: (extracted, reply) for one answer, bounded by `limit` seconds."""
    return HELPER.check(text, gold, kind, limit)


if __name__ == HELPER_NAME:
    _helper_main(int(sys.argv[2]))
