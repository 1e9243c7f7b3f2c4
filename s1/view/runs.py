"""Run folders as the data of the view page: eval runs (rows, traces, the scaling plot), curation runs
(stage table and the curation plots), training runs (the loss curve).

    from s1.view.runs import load_runs; runs = load_runs(["runs/a", "demo-run/curate", "ckpt/"])

Which kind a folder is: `summary.json` + `config.json` (s1 eval), `stages.json` (s1 curate run),
`s1_train.json` or `run_config.json` (s1 train); an `s1 demo` folder (`demo.json`) stands for the runs
in it. Anything else is refused with ViewError.
Plots are PNG images as base64 strings (the page embeds them; it never loads a file or URL).
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
from pathlib import Path

from .trace import CUT_ENDS, pieces


class ViewError(Exception):
    """A folder that cannot be shown (not a run, damaged files): the message says which and why."""


def kind_of(folder: Path) -> str:
    if (folder / "summary.json").is_file() and (folder / "config.json").is_file():
        return "eval"
    if (folder / "stages.json").is_file():
        return "curate"
    if (folder / "s1_train.json").is_file() or (folder / "run_config.json").is_file():
        return "train"
    raise ViewError(f"{folder} is not a run folder (no summary.json of s1 eval, stages.json of s1 curate run "
                    "or s1_train.json of s1 train)")


def runs_in_demo(folder: Path) -> list[Path]:
    """The run folders an `s1 demo` folder holds: its curation, its trained models, its evaluations."""
    subs = [folder / "curate"] + [d for k in ("models", "eval") if (folder / k).is_dir()
                                  for d in sorted((folder / k).iterdir()) if d.is_dir()]
    found = []
    for d in subs:
        try:
            kind_of(d)
        except ViewError:
            continue
        found.append(d)
    return found


def load_runs(folders) -> list[dict]:
    """Every folder's page data, in order (an `s1 demo` folder stands for the runs in it); the first
    problem found is raised before anything is built."""
    if not folders:
        raise ViewError("no run folder given")
    expanded = []
    for f in folders:
        folder = Path(f)
        if not folder.is_dir():
            raise ViewError(f"{folder}: no such folder")
        if (folder / "demo.json").is_file() and not (folder / "stages.json").is_file():
            inner = runs_in_demo(folder)
            if not inner:
                raise ViewError(f"{folder}: an s1 demo folder with no finished run in it yet")
            expanded += [(d, f"{d.parent.name}/{d.name}" if d.name != "curate" else "curate") for d in inner]
        else:
            expanded.append((folder, None))
    runs, names = [], set()
    for folder, label in expanded:
        kind = kind_of(folder)
        name = label or folder.resolve().name or str(folder)
        while name in names:
            name += "'"
        names.add(name)
        load = {"eval": _eval, "curate": _curate, "train": _train}[kind]
        runs.append({"kind": kind, "name": name, "path": str(folder), **load(folder, name)})
    evals = [r for r in runs if r["kind"] == "eval"]
    if evals:
        evals[0]["scaling_png"] = _scaling_png(evals)
    return runs


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ViewError(f"{path}: unreadable ({' '.join(str(e).split())[:120]})") from None


# -- eval runs ---------------------------------------------------------------------------------

def _eval(folder: Path, name: str) -> dict:
    from ..evaluate import EvalError, load_run

    try:
        ident, summary, records = load_run(folder)
    except EvalError as e:
        raise ViewError(str(e)) from None
    cfg = ident.get("config", {}) if isinstance(ident, dict) else {}
    on_turn_end = cfg.get("on_turn_end", "answer")
    prefix = cfg.get("answer_prefix", "Final Answer:")
    budgets = {}  # point id -> its maximum thinking tokens (or steps): the budget filter's order
    for method, m in (summary.get("methods") or {}).items():
        for p in m.get("points", []):
            budgets[(method, p.get("point"))] = p.get("max_requested")
    rows = []
    for r in records:
        if not isinstance(r, dict) or "point" not in r:
            raise ViewError(f"{folder}/samples.jsonl: a line is not an s1 eval record")
        rows.append({
            "run": name, "method": r.get("method"), "point": r.get("point"), "qid": r.get("question_id"),
            "question": r.get("question"), "sample": r.get("sample", 0), "gold": r.get("gold"),
            "extracted": r.get("extracted"), "correct": bool(r.get("correct")),
            "tokens": r.get("thinking_tokens"), "answer_tokens": r.get("answer_tokens"),
            "refused": r.get("num_ignored", 0), "cut": r.get("thinking_end") in CUT_ENDS,
            "end": r.get("thinking_end"), "budget": budgets.get((r.get("method"), r.get("point"))),
            "pieces": pieces(r, on_turn_end, prefix),  # the thinking is its pieces' text (no second copy)
        })
    methods = [{"method": k, **{x: v.get(x) for x in ("control", "scaling", "performance", "runs")}}
               for k, v in (summary.get("methods") or {}).items()]
    return {"task": cfg.get("task"), "model": cfg.get("model") or "smollm2-135m (embedded)",
            "complete": bool(summary.get("complete")), "methods": methods, "rows": rows}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _scaling_png(evals: list[dict]) -> str | None:
    """The scaling plot of every eval run (one line per run and method), as s1 report draws it."""
    from ..plots import plot_scaling

    several = len(evals) > 1
    series: dict[str, list[tuple[float, float]]] = {}
    for run in evals:
        summary = _read_json(Path(run["path"]) / "summary.json")
        for method, m in (summary.get("methods") or {}).items():
            for p in m.get("points", []):
                if p.get("accuracy") is None or p.get("thinking_tokens") is None:
                    continue
                label = method + (f" ({p['series']})" if p.get("series") else "")
                series.setdefault(f"{run['name']}: {label}" if several else label, []).append(
                    (p["thinking_tokens"], p["accuracy"]))
    if not series:
        return None
    with tempfile.TemporaryDirectory() as tmp:  # plot_scaling writes files; the page takes the PNG
        png = plot_scaling(series, Path(tmp) / "scaling")[0]
        return base64.b64encode(png.read_bytes()).decode("ascii")


# -- curation and training runs ----------------------------------------------------------------

def _curate(folder: Path, name: str) -> dict:
    state = _read_json(folder / "stages.json")
    stages = []
    for stage, rec in (state.get("stages") or {}).items() if isinstance(state, dict) else []:
        stats = rec.get("stats") or {}
        rows = next((stats[k] for k in ("selected", "kept", "ok", "rows") if isinstance(stats.get(k), int)), None)
        stages.append({"stage": stage, "status": rec.get("status"), "seconds": rec.get("seconds"), "rows": rows})
    plots = {}
    for stem in ("funnel", "domains", "lengths"):  # written by the select stage (s1.data.report)
        png = folder / "report" / f"{stem}.png"
        if png.is_file():
            plots[stem] = base64.b64encode(png.read_bytes()).decode("ascii")
    return {"stages": stages, "plots": plots}


def _losses(folder: Path) -> tuple[list[tuple[float, float]], dict]:
    """(step, loss) points and the run's summary: s1_train.json when the run finished, else the newest
    checkpoint's trainer_state.json (a run still going or stopped)."""
    if (folder / "s1_train.json").is_file():
        summary = _read_json(folder / "s1_train.json")
        losses = summary.get("losses") or []
        every = (summary.get("config") or {}).get("logging_steps") or 1
        return [((i + 1) * every, loss) for i, loss in enumerate(losses)], summary
    states = sorted(folder.glob("checkpoint-*/trainer_state.json"),
                    key=lambda p: int(p.parent.name.split("-")[-1]) if p.parent.name.split("-")[-1].isdigit() else -1)
    history = _read_json(states[-1]).get("log_history", []) if states else []
    return [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h], {}


def _train(folder: Path, name: str) -> dict:
    points, summary = _losses(folder)
    png = None
    if points:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, linewidth=1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title(f"{name}: training loss")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        png = _png(fig)
    cfg = summary.get("config") or (_read_json(folder / "run_config.json") if (folder / "run_config.json").is_file()
                                    else {})
    facts = {"model": cfg.get("model"), "data": cfg.get("data"), "steps": summary.get("steps"),
             "epochs": cfg.get("epochs"), "learning rate": cfg.get("learning_rate"),
             "finished": bool(summary), "tokens / s": summary.get("tokens_per_second")}
    return {"facts": {k: v for k, v in facts.items() if v not in (None, "")}, "loss_png": png,
            "losses": len(points)}


__all__ = ["ViewError", "kind_of", "load_runs", "runs_in_demo"]
