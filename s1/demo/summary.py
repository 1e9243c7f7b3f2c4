"""The demo's report folder: summary.md (findings in sentences computed from the runs, tables), plots, stage times.

    from s1.demo.summary import write_report; write_report(recipe, record)   # what `s1 demo` does last

It reads only what the stages left on disk: the curate run's stages.json and report, each model's
s1_train.json (loss curve), each eval run's summary.json and records (paired bootstrap for the ablation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..files import write_text_atomic
from ..progress import fmt_seconds
from .recipe import Recipe


def stage_table(recipe: Recipe, record: dict) -> str:
    lines = ["| stage | wall seconds | CPU seconds | estimate (s) |", "| --- | ---: | ---: | ---: |"]
    for st in recipe.stages:
        s = record["stages"].get(st.name, {})
        lines.append(f"| {st.name} | {s.get('seconds', 0):.0f} | {s.get('cpu_seconds', 0):.0f} | {st.estimate:.0f} |")
    lines.append(f"| **total** | **{record.get('seconds', 0):.0f}** ({fmt_seconds(record.get('seconds', 0))}) | "
                 f"{record.get('cpu_seconds', 0):.0f} | {sum(s.estimate for s in recipe.stages):.0f} |")
    return "\n".join(lines)


# -- the report folder ----------------------------------------------------------------------------

def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _pct(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def _copy(src: Path, dst: Path, files: list[Path]) -> None:
    if src.exists():
        shutil.copyfile(src, dst)
        files.append(dst)


def plot_losses(curves: dict[str, list[float]], stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for name, losses in curves.items():
        if losses:
            ax.plot(range(1, len(losses) + 1), losses, marker="o", label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("Fine-tuning loss")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    fig.savefig(paths[0], dpi=130, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None})
    return paths


def _bf_points(summary: dict) -> list[dict]:
    m = (summary or {}).get("methods", {}).get("budget-forcing")
    return [p for p in (m or {}).get("points", []) if p.get("accuracy") is not None]


def _parse_point(pid: str) -> tuple[float, int]:
    m = re.match(r"max=(\w+),ignore=(\d+)", pid)
    if not m:
        return (float("inf"), 0)
    return (float("inf") if m.group(1) == "none" else float(m.group(1)), int(m.group(2)))


def _per_question(records: list[dict], method: str, point: str) -> dict[str, float]:
    acc: dict[str, list[bool]] = {}
    for r in records:
        if r["method"] == method and r["point"] == point:
            acc.setdefault(r["question_id"], []).append(bool(r["correct"]))
    return {q: sum(v) / len(v) for q, v in acc.items()}


def ablation(a_dir: Path, b_dir: Path, seed: int = 0) -> list[dict]:
    """Paired bootstrap (b - a) at every budget-forcing point both runs share."""
    from ..evaluate import load_run
    from ..metrics import paired_bootstrap

    _, sa, ra = load_run(a_dir)
    _, sb, rb = load_run(b_dir)
    rows = []
    for p in _bf_points(sb):
        qa, qb = _per_question(ra, "budget-forcing", p["point"]), _per_question(rb, "budget-forcing", p["point"])
        qs = sorted(set(qa) & set(qb))
        if len(qs) >= 2:
            rows.append({"point": p["point"], **paired_bootstrap([qa[q] for q in qs], [qb[q] for q in qs], seed=seed)})
    return rows


def budget_gain(run_dir: Path, seed: int = 0) -> dict | None:
    """Paired bootstrap of budget forcing at the largest maximum against the smallest (no extension), over
    questions: whether accuracy rises with the budget by more than chance (the demo's main claim)."""
    from ..evaluate import load_run
    from ..metrics import paired_bootstrap

    _, s, records = load_run(run_dir)
    ser = _series(_bf_points(s))
    if len(ser) < 2:
        return None
    lo, hi = ser[0][1]["point"], ser[-1][1]["point"]
    qa, qb = _per_question(records, "budget-forcing", lo), _per_question(records, "budget-forcing", hi)
    qs = sorted(set(qa) & set(qb))
    if len(qs) < 2:
        return None
    return {"low_point": lo, "high_point": hi, **paired_bootstrap([qa[q] for q in qs], [qb[q] for q in qs], seed=seed)}


def write_report(recipe: Recipe, record: dict) -> list[Path]:
    """DIR/report/: summary.md, the plots (curation, loss, scaling) and stage_times.json."""
    rep = recipe.report
    folder = recipe.out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    md: list[str] = [f"# {rep.get('title', 's1 demo')}" + (" (tiny)" if recipe.tiny else ""), ""]
    if rep.get("description"):
        md += [" ".join(str(rep["description"]).split()), ""]
    findings: list[str] = []

    # curation
    cur = Path(rep["curate"]) if rep.get("curate") else None
    cstate = ((_read_json(cur / "stages.json") or {}).get("stages") if cur else None)
    if cstate and "select" in cstate:
        for name in ("funnel", "domains", "lengths"):
            _copy(cur / "report" / f"{name}.png", folder / f"curate-{name}.png", files)
        sel = cstate["select"]["stats"]
        funnel = [("pool (collected)", cstate["collect"]["stats"]["rows"]),
                  ("decontaminated", cstate["decontaminate"]["stats"]["kept"])]
        funnel += [(n if n == "selected" else f"filter: {n}", c) for n, c in sel["funnel"][1:]]
        md += ["## 1. Curation", "", "| step | rows |", "| --- | ---: |"]
        md += [f"| {n} | {c:,} |" for n, c in funnel]
        text = _curation_text(cur, cstate)
        md += ["", text, "", "| ![funnel](curate-funnel.png) | ![domains](curate-domains.png) |", "| --- | --- |", ""]
        findings.append(text)

    # training
    models = rep.get("models") or {}
    curves = {}
    train_rows = []
    for label, path in models.items():
        s = _read_json(Path(path) / "s1_train.json")
        if not s:
            continue
        curves[label] = s.get("losses") or []
        losses = s.get("losses") or [None]
        train_rows.append(f"| {label} | {s['data']['rows']} | {s['data']['tokens']:,} | {s['steps']} | "
                          f"{_num(losses[0])} | {_num(losses[-1])} | {_num(s.get('train_runtime'), 0)} |")
    if curves:
        files += plot_losses(curves, folder / "train-loss")
        md += ["## 2. Fine-tuning", "", "| model | examples | tokens | steps | first loss | last loss | seconds |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: |", *train_rows, "", "![loss](train-loss.png)", ""]

    # evaluation
    evals = {k: Path(v) for k, v in (rep.get("evals") or {}).items()}
    sums = {k: _read_json(v / "summary.json") for k, v in evals.items()}
    sums = {k: v for k, v in sums.items() if v}
    if sums:
        scaling_src = Path(rep["scaling_plot"]) if rep.get("scaling_plot") else None
        if scaling_src:
            _copy(scaling_src, folder / "scaling.png", files)
        first = next(iter(sums.values()))
        md += ["## 3. Test-time scaling", "",
               f"Task `{first.get('task')}` ({first.get('n_questions')} held-out questions), greedy.", ""]
        md += ["| model | method | Control % | Scaling (pts / doubling) | Performance % |",
               "| --- | --- | ---: | ---: | ---: |"]
        for label, s in sums.items():
            for method, m in s["methods"].items():
                md.append(f"| {label} | {method} | {_pct(m.get('control'))} | {_pct(m.get('scaling'))} | "
                          f"{_pct(m.get('performance'))} |")
        md += ["", "Budget forcing per grid point: accuracy % (average thinking tokens; % of answers with an "
               "extractable answer). `ignore=1`: the first attempt to stop is refused and \"Wait\" appended.", ""]
        labels = list(sums)
        md += ["| point | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
        pts = {label: {p["point"]: p for p in _bf_points(s)} for label, s in sums.items()}
        order = sorted({pid for d in pts.values() for pid in d}, key=lambda x: (_parse_point(x)[1], _parse_point(x)[0]))
        for pid in order:
            cells = []
            for label in labels:
                p = pts[label].get(pid)
                cells.append("–" if p is None else f"{p['accuracy']:.1f} ({p['thinking_tokens']:.0f}; "
                             f"{_pct(p.get('extracted'))})")
            md.append(f"| {pid} | " + " | ".join(cells) + " |")
        md += ["", "![scaling](scaling.png)", ""]
        gains = {label: budget_gain(evals[label]) for label in sums}
        gains = {k: v for k, v in gains.items() if v}
        if gains:
            md += ["Largest against smallest maximum (budget forcing, no extension): paired bootstrap over "
                   "questions, 95%.", "", "| model | points | gain (pts) | 95% interval | p |",
                   "| --- | --- | ---: | --- | ---: |"]
            md += [f"| {k} | {g['low_point'].split(',')[0]} -> {g['high_point'].split(',')[0]} | {g['diff']:+.1f} | "
                   f"({g['low']:+.1f}, {g['high']:+.1f}) | {g['p_value']:.3f} |" for k, g in gains.items()]
            md.append("")
        findings += _eval_findings(sums, gains)

    # ablation
    ab = rep.get("ablation")
    if ab and all(k in evals and k in sums for k in ab):
        a, b = ab
        rows = ablation(evals[a], evals[b])
        if rows:
            md += [f"## 4. Data ablation: {b} - {a} (paired bootstrap over questions, 95%)", "",
                   "| point | difference (pts) | 95% interval | p |", "| --- | ---: | --- | ---: |"]
            md += [f"| {r['point']} | {r['diff']:+.1f} | ({r['low']:+.1f}, {r['high']:+.1f}) | {r['p_value']:.2f} |"
                   for r in rows]
            md.append("")
            findings.append(_ablation_text(a, b, rows))

    # stage times
    md += ["## Stage times", "", stage_table(recipe, record), ""]
    times = {"stages": {st.name: {k: record["stages"].get(st.name, {}).get(k) for k in ("seconds", "cpu_seconds")}
                        for st in recipe.stages},
             "total_seconds": record.get("seconds"), "total_cpu_seconds": record.get("cpu_seconds"),
             "cores": os.cpu_count(), "tiny": recipe.tiny}
    write_text_atomic(folder / "stage_times.json", json.dumps(times, indent=2) + "\n")
    files.append(folder / "stage_times.json")
    summary = md[:2] + ["## What the numbers show", ""] + [f"- {f}" for f in findings if f] + [""] + md[2:]
    write_text_atomic(folder / "summary.md", "\n".join(summary))
    return [folder / "summary.md", *files]


def _num(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _curation_text(cur: Path, cstate: dict) -> str:
    from ..data.rowfiles import iter_rows
    from ..data.select import read_candidates

    sel = cstate["select"]["stats"]
    fe = cstate.get("featurize", {}).get("stats", {})
    solved = sum((fe.get("solved") or {}).values())
    pool = cstate["collect"]["stats"]["rows"]
    chosen = list(iter_rows(cur / "s1k.parquet")) if (cur / "s1k.parquet").exists() else []
    cands = read_candidates(cur / "report")  # the rows that passed every filter
    lens = [r.get("trace_tokens") for r in chosen if r.get("trace_tokens")]
    plens = [c.get("trace_tokens") for c in cands if c.get("trace_tokens")]
    doms = {r.get("domain") for r in chosen}
    text = (f"Curation kept {len(cands) or '?'} of {pool} pool questions after the quality and difficulty filters "
            f"(the base model, as solver, solved {solved}) and selected {sel.get('selected')} from "
            f"{len(doms)} domains")
    if lens and plens:
        ml, mp = sum(lens) / len(lens), sum(plens) / len(plens)
        text += f", with traces {ml / mp:.2f}x as long as the candidates' on average ({ml:.0f} vs {mp:.0f} tokens)"
    abl = {k[len("ablation_"):]: v for k, v in sel.items() if k.startswith("ablation_")}
    for name, v in abl.items():
        text += f"; the same-size {name} selection is the ablation"
    return text + "."


def _series(points: list[dict], ignore: int = 0) -> list[tuple[float, dict]]:
    return sorted((_parse_point(p["point"])[0], p) for p in points if _parse_point(p["point"])[1] == ignore)


def _eval_findings(sums: dict, gains: dict) -> list[str]:
    out = []
    for label, s in sums.items():
        bf = s["methods"].get("budget-forcing")
        if not bf:
            continue
        ser = _series(_bf_points(s))
        if not ser:
            continue
        lo, hi = ser[0][1], ser[-1][1]
        best = max(ser, key=lambda x: x[1]["accuracy"])[1]
        ends = hi.get("thinking_end") or {}
        natural = sum(v for k, v in ends.items() if k in ("stop", "eos"))
        share = 100 * natural / max(sum(ends.values()), 1)
        sc = bf.get("scaling")
        g = gains.get(label)
        if sc is None:
            verdict = "has no Scaling value"
        elif sc > 0 and g and g["low"] > 0:  # the slope is positive and the gain is more than chance
            verdict = "scales"
        elif sc > 0 and hi["accuracy"] > lo["accuracy"]:
            verdict = "rises, but within chance"
        elif sc > 0:  # a positive average slope, but the largest budget is no better than the smallest
            verdict = "does not scale reliably"
        else:
            verdict = "does not scale"
        text = (f"**{label}**: budget forcing {verdict} (Scaling {_pct(sc)} pts per doubling, Control "
                f"{_pct(bf.get('control'))}%): {lo['accuracy']:.1f}% at {lo['point'].split(',')[0]} "
                f"({lo['thinking_tokens']:.0f} thinking tokens), {hi['accuracy']:.1f}% at {hi['point'].split(',')[0]} "
                f"({hi['thinking_tokens']:.0f} tokens)"
                + (f", a gain of {g['diff']:+.1f} pts (95% interval {g['low']:+.1f} to {g['high']:+.1f})" if g else "")
                + f"; best {best['accuracy']:.1f}% at {best['point']}. "
                f"At the largest budget {share:.0f}% of its thinking ended by itself")
        eos = ends.get("eos", 0)
        if eos:
            text += (f" ({100 * eos / max(sum(ends.values()), 1):.0f}% by ending the whole turn inside the thinking"
                     f"), and {_pct(hi.get('extracted'))}% of its answers hold an extractable answer")
        drops = [f"{a[1]['point'].split(',')[0]} -> {b[1]['point'].split(',')[0]} "
                 f"({a[1]['accuracy']:.1f}% -> {b[1]['accuracy']:.1f}%)"
                 for a, b in zip(ser, ser[1:]) if b[1]["accuracy"] < a[1]["accuracy"]]
        if drops:
            text += "; accuracy fell where the budget grew: " + ", ".join(drops)
        flat = [b for a, b in zip(ser, ser[1:]) if abs(b[1]["thinking_tokens"] - a[1]["thinking_tokens"]) < 1]
        if flat:
            text += (f"; budgets above {flat[0][1]['point'].split(',')[0].split('=')[1]} change nothing "
                     "(the model stops thinking before reaching them)")
        waits = _series(_bf_points(s), 1)
        if waits:
            w = dict(waits)
            pairs = [(x, p, w[x]) for x, p in ser if x in w]
            if pairs:
                x, p0, p1 = pairs[-1]
                d = p1["accuracy"] - p0["accuracy"]
                text += (f". Extending once with \"Wait\" at {p0['point'].split(',')[0]}: {p0['accuracy']:.1f}% -> "
                         f"{p1['accuracy']:.1f}% ({d:+.1f} pts, {p0['thinking_tokens']:.0f} -> "
                         f"{p1['thinking_tokens']:.0f} thinking tokens)")
        out.append(text + ".")
        for method, m in s["methods"].items():
            if method == "budget-forcing":
                continue
            out.append(f"**{label}**, baseline {method}: Scaling {_pct(m.get('scaling'))} pts per doubling, "
                       f"Performance {_pct(m.get('performance'))}% (budget forcing: {_pct(bf.get('scaling'))}, "
                       f"{_pct(bf.get('performance'))}%).")
    return out


def _ablation_text(a: str, b: str, rows: list[dict]) -> str:
    # the pre-declared comparison point: the largest maximum without extension (not the best-looking one)
    main = max(rows, key=lambda r: (_parse_point(r["point"])[1] == 0, _parse_point(r["point"])[0]))
    sig = [r for r in rows if r["low"] > 0 or r["high"] < 0]
    text = (f"Ablation, {b} selection vs {a} selection of the same size, at {main['point']}: {main['diff']:+.1f} pts "
            f"(95% interval {main['low']:+.1f} to {main['high']:+.1f}, {main['n']} questions)")
    if not sig:
        text += "; every grid point's interval includes 0: at this size the selection makes no measurable difference"
    else:
        text += (f"; the interval excludes 0 at {len(sig)} of {len(rows)} grid points ("
                 + ", ".join(f"{r['point']}: {r['diff']:+.1f}" for r in sig) + ")")
    return text + "."


__all__ = ["ablation", "plot_losses", "stage_table", "write_report"]
