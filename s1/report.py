"""Reports of evaluation runs: the metrics table (Markdown) and the test-time scaling plot.

    from s1.report import report; text, files = report(["runs/a", "runs/b"], out="report/")

One run: a table per grid point and one per method (Control / Scaling / Performance), and the
scaling plot (accuracy against average thinking tokens, log2 axis), one line per method. Several
runs: lines per run and method, and a paired bootstrap interval for every grid point that two runs
share on the same questions.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .evaluate import EvalError, load_run
from .files import write_text_atomic

POINT_COLUMNS = [
    ("run", "run"), ("method", "method"), ("point", "point"), ("accuracy", "accuracy %"),
    ("thinking_tokens", "avg thinking tokens"), ("within_limit", "within limit %"), ("n_questions", "questions"),
]
METHOD_COLUMNS = [
    ("run", "run"), ("method", "method"), ("control", "Control %"), ("scaling", "Scaling (pts / doubling)"),
    ("performance", "Performance %"), ("runs", "grid points"),
]


def _label(folder: Path, ident: dict, used: set) -> str:
    cfg = ident.get("config", {})
    name = folder.name or str(folder)
    if name in used:
        name = f"{name} ({cfg.get('model') or 'smollm2-135m'})"
    used.add(name)
    return name


X_AXES = {"thinking": ("thinking_tokens", "Average thinking tokens"),
          "total": ("total_tokens", "Average generated tokens per question")}
X_NOTES = {"thinking": "average thinking tokens of the answer (majority voting: of all its samples)",
           "total": "average tokens generated per question, thinking and answer, over all samples or "
                    "trajectories (majority voting: its k samples; searches: every trajectory, pruned ones "
                    "included); search methods' Scaling is per doubling of these tokens"}


def report(runs: list[str | Path], out: str | Path | None = None, title: str | None = None,
           bootstrap_seed: int = 0, x: str = "auto") -> tuple[str, list[Path]]:
    """Markdown text and the files written (report.md, scaling.png, scaling.svg) for run folders.
    x: the plot's x-axis, "thinking" (average thinking tokens of the answer), "total" (every token
    generated per question: all samples or trajectories, thinking and answer) or "auto" (total when
    a run has a parallel or tree-search method, so all methods share one compute axis)."""
    from .baselines import SEARCH_METHODS
    from .metrics import format_table, paired_bootstrap
    from .plots import plot_scaling

    if not runs:
        raise EvalError("no run folder given")
    loaded = []
    used: set = set()
    for r in runs:
        folder = Path(r)
        ident, summary, records = load_run(folder)
        loaded.append((_label(folder, ident, used), ident, summary, records))
    out = Path(out) if out is not None else (Path(runs[0]) if len(runs) == 1 else Path("report"))
    if x == "auto":
        x = "total" if any(m in SEARCH_METHODS for _, _, sm, _ in loaded for m in sm["methods"]) else "thinking"
    if x not in X_AXES:
        raise EvalError(f"unknown x-axis {x!r}; choose from auto, {', '.join(X_AXES)}")
    x_key, x_label = X_AXES[x]
    several = len(loaded) > 1

    point_rows, method_rows, series = [], [], {}
    for label, ident, summary, _ in loaded:
        for method, m in summary["methods"].items():
            method_rows.append({"run": label, "method": method, **{k: m.get(k) for k in
                                                                   ("control", "scaling", "performance", "runs")}})
            for p in m["points"]:
                point_rows.append({"run": label, **p})
                if p.get("accuracy") is not None and p.get(x_key) is not None:
                    name = method + (f" ({p['series']})" if p.get("series") else "")
                    series.setdefault(f"{label}: {name}" if several else name, []).append(
                        (p[x_key], p["accuracy"]))

    if x == "total":
        extra = [("total_tokens", "avg generated tokens"), ("reward_tokens", "avg reward-model tokens")]
        cols_p = POINT_COLUMNS[:5] + extra + POINT_COLUMNS[5:]
    else:
        cols_p = POINT_COLUMNS
    cols_p = cols_p if several else cols_p[1:]
    cols_m = METHOD_COLUMNS if several else METHOD_COLUMNS[1:]
    first = loaded[0][1]["config"]
    heading = title or (f"s1 evaluation: {first.get('task')} · {first.get('model') or 'smollm2-135m'}"
                        if not several else "s1 evaluation: " + " vs ".join(x[0] for x in loaded))
    parts = [f"# {heading}", ""]
    incomplete = [x[0] for x in loaded if not x[2].get("complete")]
    if incomplete:
        parts += [f"**Incomplete runs** (resume them with the same command): {', '.join(incomplete)}", ""]
    parts += ["## Methods", "", format_table(method_rows, cols_m), "",
              "Control: share of grid points whose average thinking stays within the requested limits. "
              "Scaling: accuracy points gained per doubling of thinking tokens, averaged over all pairs "
              "of grid points. Performance: best accuracy.", "",
              "## Grid points", "", format_table(point_rows, cols_p), ""]

    if several:
        rows = _paired(loaded, paired_bootstrap, bootstrap_seed)
        if rows:
            parts += ["## Paired differences (bootstrap over questions, 95%)", "",
                      format_table(rows, [("method", "method"), ("point", "point"), ("a", "run A"), ("b", "run B"),
                                          ("diff", "B - A (pts)"), ("low", "low"), ("high", "high"),
                                          ("n", "questions")]), ""]
    files = []
    out.mkdir(parents=True, exist_ok=True)
    if series:
        files += plot_scaling(series, out / "scaling", title=heading, xlabel=x_label)
        parts += ["![scaling plot](scaling.png)", "", f"Plot x-axis: {X_NOTES[x]}.", ""]
    text = "\n".join(parts)
    write_text_atomic(out / "report.md", text)
    files.insert(0, out / "report.md")
    return text, files


def _per_question(records: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    acc: dict[tuple[str, str], dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        acc[(r["method"], r["point"])][r["question_id"]].append(r["correct"])
    return {k: {q: sum(v) / len(v) for q, v in d.items()} for k, d in acc.items()}


def _paired(loaded, paired_bootstrap, seed: int) -> list[dict]:
    """Bootstrap intervals for the first run against each other run, per shared grid point."""
    base_label, base_ident, _, base_records = loaded[0]
    base = _per_question(base_records)
    rows = []
    for label, ident, _, records in loaded[1:]:
        other = _per_question(records)
        for key in [k for k in base if k in other]:  # grid order, as the runs wrote them
            qs = sorted(set(base[key]) & set(other[key]))
            if len(qs) < 2:
                continue
            b = paired_bootstrap([base[key][q] for q in qs], [other[key][q] for q in qs], seed=seed)
            rows.append({"method": key[0], "point": key[1], "a": base_label, "b": label, **b})
    return rows
