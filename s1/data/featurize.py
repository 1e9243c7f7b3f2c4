"""Stage 4 of `s1 curate`: per-question features for selection: trace length, difficulty (solver verdicts), domain.

    featurize("traced.jsonl", "features.jsonl", solvers=["Qwen/Qwen2.5-7B-Instruct"], classifier="offline")

Columns added to each row: `trace_tokens` (tokens of `thinking` under the named tokenizer, None without a
trace), `solver_correct` ({solver spec: bool}, None where a verdict could not be had: no gold answer),
`domain` / `domain_name` (a top-level MSC 2020 class), `domain_source` (how the domain was decided) and
`feature_error` (None, or what failed on this row; the other features are still filled where they could be).
Rows stream through in batches; finished rows go to a work file, so a killed run re-run continues.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import CurateError
from .checkpoint import Checkpoint
from .domains import Classifier, parse_classifier
from .msc import MSC
from .rg_source import rg_verifier
from .rowfiles import RowWriter, count_rows, iter_rows

log = logging.getLogger(__name__)

# What the solvers are told after the question, so that their final answer is findable (a last \boxed{}).
SOLVER_SUFFIX = "Think step by step, then give the final answer inside \\boxed{}."


# -- token counts ---------------------------------------------------------------------------------------

def load_tokenizer(name: str | None):
    """The tokenizer of a model spec (None: the embedded SmolLM2's), without loading its weights."""
    from ..models import ModelError, load_tokenizer as load

    try:
        return load(name)[0]
    except ModelError as e:
        raise CurateError(str(e)) from None


def count_tokens(tok, texts: Sequence[str]) -> list[int]:
    """Tokens of each text as the model would see it inside a longer sequence: no BOS/EOS added."""
    if not texts:
        return []
    # verbose=False: a trace longer than the tokenizer's model_max_length is fine here (we only count)
    return [len(ids) for ids in tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]]


# -- difficulty ---------------------------------------------------------------------------------------------

def gold_answer(solution: str | None) -> str | None:
    """What a solver's answer is compared with: the last \\boxed{} of the solution, else the whole solution."""
    from ..grading import extract_answer

    if not solution or not solution.strip():
        return None
    boxed = extract_answer(solution, "math") if "\\boxed" in solution or "\\fbox" in solution else None
    return boxed or solution.strip()


def grade_answer(answer_text: str, solution: str | None, judge=None, timeout: float = 5.0,
                 verifier: dict | None = None) -> bool | None:
    """A solver's verdict on one row: True/False, or None when the row has no solution to grade against.
    verifier: a reasoning-gym row's (metadata["rg"], s1.data.rg_source): the dataset's own check decides."""
    from ..grading import grade

    gold = gold_answer(solution)
    if verifier is not None:
        return grade(answer_text or "", gold or "", "rg", timeout=timeout, verifier=verifier).correct
    if gold is None:
        return None
    return grade(answer_text or "", gold, "math", timeout=timeout, judge=judge).correct


@dataclass
class _Solver:
    spec: str
    backend: object  # a Backend (load_spec)


def _load_solvers(specs: Sequence[str], dtype: str | None = None) -> list[_Solver]:
    """Solvers: 'MODEL' (in-process), 'vllm:MODEL' or 'openai:BASE_URL:MODEL' (see s1.backends.load_spec)."""
    from ..backends import load_spec

    out = []
    for spec in specs:
        try:
            # a fixed precision (float32) makes the difficulty filter the same on CPUs with and without bf16
            out.append(_Solver(spec, load_spec(spec, **({"dtype": dtype} if dtype else {}))))
        except Exception as e:  # noqa: BLE001 - ModelError, OSError, ValueError...: one line for the user
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CurateError(f"cannot load solver {spec!r}: {first}") from None
    return out


def _solve(solver: _Solver, rows: list[dict], idx: list[int], budget: int, answer_tokens: int,
           batch_size: int) -> dict[int, tuple[str | None, str | None]]:
    """row index -> (answer text, error) for the rows `idx`: batched, and row by row when a batch fails,
    so one bad row (a prompt beyond the context window) does not take its batch down with it."""
    from ..budget import BudgetConfig
    from ..generation import SamplingConfig

    cfg = BudgetConfig(max_thinking_tokens=budget, max_answer_tokens=answer_tokens)
    greedy = SamplingConfig(temperature=0.0)

    def prompt(i: int) -> str:
        return f"{rows[i]['question'].strip()}\n\n{SOLVER_SUFFIX}"

    def text(r) -> str:
        # the answer part; a model that never left its thinking may still have boxed an answer there
        return r.answer if r.answer and r.answer.strip() else r.thinking

    def one_line(e: Exception) -> str:
        return f"solver {solver.spec}: {' '.join(str(e).split())[:200] or type(e).__name__}"

    try:
        results = solver.backend.generate([prompt(i) for i in idx], cfg, greedy, batch_size=batch_size)
        return {i: (text(r), None) for i, r in zip(idx, results)}
    except Exception as e:  # noqa: BLE001 - recorded in feature_error, or retried row by row to find the culprit
        if len(idx) == 1:
            return {idx[0]: (None, one_line(e))}
        log.info("solver %s: a batch failed (%s); retrying its rows one by one", solver.spec, e)
    out: dict[int, tuple[str | None, str | None]] = {}
    for i in idx:
        try:
            [r] = solver.backend.generate([prompt(i)], cfg, greedy, batch_size=1)
            out[i] = (text(r), None)
        except Exception as e:  # noqa: BLE001 - recorded in feature_error
            out[i] = (None, one_line(e))
    return out


# -- the stage ----------------------------------------------------------------------------------------------

def _features(rows: list[dict], tok, solvers: list[_Solver], classifier: Classifier, budget: int,
              answer_tokens: int, batch_size: int, judge, concurrency: int) -> list[dict]:
    errors: list[list[str]] = [[] for _ in rows]
    out = [dict(r) for r in rows]

    # trace length
    has = [i for i, r in enumerate(rows) if isinstance(r.get("thinking"), str)]
    for r in out:
        r["trace_tokens"] = None
    try:
        for i, n in zip(has, count_tokens(tok, [rows[i]["thinking"] for i in has])):
            out[i]["trace_tokens"] = n
    except Exception:  # noqa: BLE001 - find the row that breaks the tokenizer
        for i in has:
            try:
                out[i]["trace_tokens"] = count_tokens(tok, [rows[i]["thinking"]])[0]
            except Exception as e:  # noqa: BLE001
                errors[i].append(f"tokenizer: {' '.join(str(e).split())[:200]}")

    # difficulty
    for r in out:  # None without solvers: "unknown", the same after a round trip through Parquet
        r["solver_correct"] = {s.spec: None for s in solvers} if solvers else None
    verifiers = [rg_verifier(r) for r in rows]
    gradable = [i for i, r in enumerate(rows) if (gold_answer(r.get("solution")) is not None or verifiers[i])
                and (r.get("question") or "").strip()]
    for solver in solvers:
        answers = _solve(solver, rows, gradable, budget, answer_tokens, batch_size) if gradable else {}
        for i, (answer, err) in answers.items():
            if err:
                errors[i].append(err)
                continue
            try:
                out[i]["solver_correct"][solver.spec] = grade_answer(answer, rows[i].get("solution"), judge,
                                                                     verifier=verifiers[i])
            except Exception as e:  # noqa: BLE001 - GradingError (e.g. an unreachable judge) and friends
                errors[i].append(f"grading {solver.spec}: {' '.join(str(e).split())[:200]}")

    # domain
    if classifier.kind == "openai" and concurrency > 1 and len(rows) > 1:
        with ThreadPoolExecutor(min(concurrency, len(rows))) as pool:
            domains = list(pool.map(classifier.classify, rows))
    else:
        domains = [classifier.classify(r) for r in rows]
    for r, (code, source) in zip(out, domains):
        r["domain"], r["domain_name"], r["domain_source"] = code, MSC[code], source

    for r, errs in zip(out, errors):
        r["feature_error"] = "; ".join(errs) if errs else None
    return out


def _progress(enabled: bool, inp: Path, done: int) -> Callable[[int | None], None]:
    """A progress bar on stderr (counting the input costs a pass over it: only when asked)."""
    if not enabled:
        return lambda n: None
    from ..progress import progress_bar

    return progress_bar("featurize", "rows", count_rows(inp), completed=done)


def featurize(inp: str | Path, out: str | Path, tokenizer: str | None = None, solvers: Sequence[str] = (),
              classifier: str = "offline", solver_budget: int = 256, batch_size: int = 16, judge=None,
              progress: bool = False, *, answer_tokens: int = 256, concurrency: int = 8,
              dtype: str | None = None) -> dict:
    """Add trace_tokens, solver_correct, domain, domain_name, domain_source and feature_error to every row.

    tokenizer: a model spec whose tokenizer counts the trace (None: the embedded model's). solvers: model
    specs run in-process (`s1.load`), greedy, thinking cut at `solver_budget` tokens, answers of up to
    `answer_tokens`, `batch_size` rows at a time; each answer is graded against the row's solution
    (`s1.grading.grade`, kind math, gold = the solution's last \\boxed{} or else its text; `judge`, an
    s1.grading.Judge, is passed through). classifier: "offline" | "hint" | "openai:BASE_URL:MODEL"
    (`concurrency` requests in flight). A row's failures go to its feature_error; the stage does not stop.
    Re-running a killed run continues it; a re-run with other settings is refused (delete the work file
    `<out>.partial.jsonl` to start over). Returns stats: rows, resumed, new, skipped_no_question, with_trace,
    solved / unknown per solver, domains {code: count}, domain_sources, feature_errors, seconds.
    """
    t0 = time.monotonic()
    inp, out = Path(inp), Path(out)
    if batch_size < 1:
        raise CurateError(f"batch size must be >= 1, got {batch_size}")
    if solver_budget < 1:
        raise CurateError(f"solver budget must be >= 1 thinking token, got {solver_budget}")
    solvers = list(solvers or ())
    if len(set(solvers)) != len(solvers):
        raise CurateError(f"a solver is named twice: {', '.join(solvers)}")
    clf = parse_classifier(classifier)
    if not inp.is_file():
        raise CurateError(f"{inp}: no such file")
    meta = {"stage": "featurize", "tokenizer": tokenizer or "embedded", "solvers": solvers,
            "classifier": clf.label, "solver_budget": solver_budget, "answer_tokens": answer_tokens,
            "judge": None if judge is None else f"{getattr(judge, 'base_url', '?')}:{getattr(judge, 'model', '?')}"}
    ck = Checkpoint(out, every=batch_size, meta=meta)
    done = ck.done_ids()  # also refuses a work file written with other settings, before any model loads
    step = _progress(progress, inp, len(done))  # started first: loading the solver models shows in a log too
    new = resumed = skipped = 0
    try:
        tok = load_tokenizer(tokenizer)
        loaded = _load_solvers(solvers, dtype)
        with ck:
            batch: list[dict] = []
            queued: set[str] = set()

            def run() -> None:
                nonlocal new
                for row in _features(batch, tok, loaded, clf, solver_budget, answer_tokens, batch_size, judge,
                                     concurrency):
                    ck.add(row)
                new += len(batch)
                step(len(batch))
                batch.clear()

            for row in iter_rows(inp):
                if not row.get("id"):  # no question: nothing to featurize, and no id to resume by
                    skipped += 1
                    continue
                if row["id"] in done:
                    resumed += 1
                    continue
                if row["id"] in queued:  # a duplicate question: one row in the output, as in the other stages
                    continue
                queued.add(row["id"])
                batch.append(row)
                if len(batch) >= batch_size:
                    run()
            if batch:
                run()
    finally:
        step(None)
        clf.close()

    stats = {"rows": 0, "resumed": resumed, "new": new, "skipped_no_question": skipped, "with_trace": 0,
             "solved": {s: 0 for s in solvers}, "unknown": {s: 0 for s in solvers},
             "domains": Counter(), "domain_sources": Counter(), "feature_errors": 0}
    order = (r["id"] for r in iter_rows(inp) if r.get("id"))
    with RowWriter(out) as w:
        for row in ck.rows(order):
            w.write(row)
            stats["rows"] += 1
            stats["with_trace"] += row.get("trace_tokens") is not None
            for s, v in (row.get("solver_correct") or {}).items():
                if s in stats["solved"]:
                    stats["solved"][s] += v is True
                    stats["unknown"][s] += v is None
            stats["domains"][row.get("domain")] += 1
            source = row.get("domain_source") or ""
            stats["domain_sources"][source.split(" (")[0] + (" (fallback)" if "(" in source else "")] += 1
            stats["feature_errors"] += bool(row.get("feature_error"))
    ck.discard()
    stats["domains"] = dict(sorted(stats["domains"].items(), key=lambda kv: (-kv[1], str(kv[0]))))
    stats["domain_sources"] = dict(stats["domain_sources"])
    stats.update(tokenizer=tokenizer or "embedded", classifier=clf.label, solver_budget=solver_budget,
                 seconds=round(time.monotonic() - t0, 3), out=str(out))
    return stats


__all__ = ["count_tokens", "featurize", "gold_answer", "grade_answer", "load_tokenizer"]
