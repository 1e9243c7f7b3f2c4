"""`s1 demo`: run a recipe (a YAML list of public `s1 ...` commands) stage by stage, then write a report folder.

    from s1.demo import run_recipe; run_recipe("recipes/demo.yaml", "demo-run")      # what `make demo` does

A recipe has `vars` (referenced as ${name}; ${out} is the run folder), optional `tiny` overrides (the
CI-sized run), `files` (written into the run folder first, e.g. the curate config), `stages` (a name, the
command, the folder it writes and an estimated duration) and `report` (which folders hold the curation,
the trained models and the evaluations, for the summary). Each stage runs as a subprocess of the same
Python (`s1 ...` -> `python -m s1 ...`): exactly the command a user would type, in a fresh process (the
trainer's and the engine's memory and threads are gone when the stage ends), and a stage that crashes
cannot take the runner with it. `DIR/demo.json` records every stage's command, status and time: a stage
that finished with the same command is skipped; an interrupted one is run again and resumes by itself
(every `s1` stage does); a stage whose command changed, or that follows a stage that ran again, starts
over on an emptied output folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .files import write_text_atomic

RECORD = "demo.json"


class DemoError(Exception):
    """A problem the user can fix: a missing or malformed recipe, an unknown variable."""


@dataclass
class Stage:
    name: str
    command: str  # expanded: what runs (and what the record compares)
    outputs: list[str] = field(default_factory=list)
    estimate: float = 60.0  # seconds on 2 CPU cores (the runner's ETA)
    about: str = ""


@dataclass
class Recipe:
    path: Path
    out: Path
    vars: dict[str, str]
    files: dict[str, str]
    stages: list[Stage]
    report: dict
    tiny: bool


def _expand(text: str, env: dict[str, str], where: str) -> str:
    try:
        return string.Template(str(text)).substitute(env)
    except KeyError as e:
        raise DemoError(f"{where}: unknown variable ${{{e.args[0]}}} (known: {', '.join(sorted(env))})") from None
    except ValueError as e:
        raise DemoError(f"{where}: {e}") from None


def load_recipe(path: str | Path, out: str | Path, tiny: bool = False, overrides: dict[str, str] | None = None) -> Recipe:
    """Read a recipe and expand its variables: tiny overrides, then --set overrides, then ${out}."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise DemoError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise DemoError(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML "
                        f"({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise DemoError(f"{path}: expected a mapping with vars, stages and report")
    unknown = set(raw) - {"vars", "tiny", "files", "stages", "report"}
    if unknown:
        raise DemoError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: vars, tiny, files, stages, report")
    if not isinstance(raw.get("stages"), list) or not raw["stages"]:
        raise DemoError(f"{path}: no stages")
    env = {k: str(v) for k, v in (raw.get("vars") or {}).items()}
    if tiny:
        if not raw.get("tiny"):
            raise DemoError(f"{path}: the recipe has no tiny settings")
        env.update({k: str(v) for k, v in raw["tiny"].items()})
    for k, v in (overrides or {}).items():
        if k not in env:
            raise DemoError(f"--set {k}: the recipe has no variable {k!r} (it has: {', '.join(sorted(env))})")
        env[k] = v
    env["out"] = str(out)
    env = {k: _expand(v, env, f"variable {k}") for k, v in env.items()}  # vars may use ${out}
    files = {name: _expand(text, env, f"file {name}") for name, text in (raw.get("files") or {}).items()}
    stages, seen = [], set()
    for i, s in enumerate(raw["stages"]):
        if not isinstance(s, dict) or not s.get("name") or not s.get("run"):
            raise DemoError(f"{path}: stage {i + 1} needs a name and a run command")
        if s["name"] in seen:
            raise DemoError(f"{path}: two stages are named {s['name']!r}")
        seen.add(s["name"])
        outs = s.get("out") or []
        outs = [outs] if isinstance(outs, str) else list(outs)
        where = f"stage {s['name']}"
        stages.append(Stage(s["name"], " ".join(_expand(s["run"], env, where).split()),
                            [_expand(o, env, where) for o in outs], float(s.get("estimate", 60)),
                            " ".join(str(s.get("about", "")).split())))
    report = _expand_tree(raw.get("report") or {}, env)
    return Recipe(p, Path(out), env, files, stages, report, tiny)


def _expand_tree(obj, env):
    if isinstance(obj, dict):
        return {k: _expand_tree(v, env) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand_tree(v, env) for v in obj]
    return _expand(obj, env, "report") if isinstance(obj, str) else obj


def argv(command: str) -> list[str]:
    """A recipe command as argv: a leading `s1` runs this Python's package (`python -m s1`)."""
    args = shlex.split(command)
    if args and args[0] == "s1":
        return [sys.executable, "-m", "s1", *args[1:]]
    return args


def _fmt(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _inside(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root.resolve()) and Path(path).resolve() != root.resolve()
    except OSError:
        return False


def _subprocess(command: str, logfile) -> int:
    # stdout (tables, JSON stats) to the stage's log; stderr (progress bars with ETA, errors) to the user
    return subprocess.call(argv(command), stdout=logfile, stderr=None, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run_recipe(recipe: Recipe, log=print, dry_run: bool = False, execute=_subprocess) -> dict:
    """Run every stage (skipping finished ones), then write DIR/report/. Returns the record.
    `execute(command, logfile) -> exit code` runs one stage (default: a subprocess)."""
    out = recipe.out
    if dry_run:
        for s in recipe.stages:
            log(f"# {s.name}: {s.about}" if s.about else f"# {s.name}")
            log(s.command)
        return {}
    if out.exists() and not out.is_dir():
        raise DemoError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    rec_path = out / RECORD
    record = json.loads(rec_path.read_text()) if rec_path.exists() else {}
    if record.get("tiny", recipe.tiny) != recipe.tiny:
        raise DemoError(f"{out} holds a {'tiny' if record['tiny'] else 'full'} run; use another --out")
    record.update(recipe=str(recipe.path), tiny=recipe.tiny, vars=recipe.vars)
    stages = record.setdefault("stages", {})

    def save():
        write_text_atomic(rec_path, json.dumps(record, indent=2) + "\n")

    for name, text in recipe.files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            write_text_atomic(target, text)
    (out / "logs").mkdir(exist_ok=True)

    total = len(recipe.stages)
    t_run = time.perf_counter()
    spent = estimated = 0.0  # this invocation: actual vs estimated seconds of the stages run so far
    changed = False
    for i, st in enumerate(recipe.stages, 1):
        prev = stages.get(st.name)
        same = prev is not None and prev.get("command") == st.command
        if not changed and same and prev.get("status") == "done" and all(Path(o).exists() for o in st.outputs):
            log(f"[{i}/{total}] {st.name}: done already ({_fmt(prev['seconds'])}), skipped")
            continue
        fresh = changed or (prev is not None and not same) or (prev is not None and prev.get("status") == "done")
        if fresh:  # its inputs or its command changed: old outputs would be mixed with new ones
            for o in st.outputs:
                if Path(o).exists() and _inside(o, out):
                    shutil.rmtree(o) if Path(o).is_dir() else Path(o).unlink()
        changed = changed or fresh or prev is None
        left = sum(s.estimate for s in recipe.stages[i - 1:]) * (spent / estimated if estimated else 1.0)
        log(f"[{i}/{total}] {st.name}: {st.about}" if st.about else f"[{i}/{total}] {st.name}")
        log(f"    $ {st.command}")
        resumed = prev is not None and same and prev.get("status") != "done"
        log(f"    {'resuming; ' if resumed else ''}estimated {_fmt(st.estimate)} on 2 CPU cores; "
            f"about {_fmt(left)} left for the whole run")
        before = float(prev.get("seconds", 0.0)) if resumed else 0.0
        stages[st.name] = {"command": st.command, "status": "running", "seconds": before,
                           "estimate": st.estimate, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        save()
        t, cpu = time.perf_counter(), _cpu_seconds()
        logf = out / "logs" / f"{st.name}.log"
        with open(logf, "a") as f:
            f.write(f"$ {st.command}\n")
            f.flush()
            try:
                rc = execute(st.command, f)
            except FileNotFoundError as e:
                rc = 127
                log(f"    cannot run {e.filename}")
            except KeyboardInterrupt:
                rc = 130
        took = time.perf_counter() - t
        cpu_before = float(prev.get("cpu_seconds", 0.0)) if resumed else 0.0
        stages[st.name].update(seconds=round(before + took, 1), cpu_seconds=round(cpu_before + _cpu_seconds() - cpu, 1),
                               status="done" if rc == 0 else "failed", exit=rc)
        save()
        if rc != 0:
            if rc == 130:
                raise KeyboardInterrupt
            raise DemoError(f"stage {st.name} failed (exit {rc}); its output is in {logf}; "
                            "run the same command again to resume")
        spent += took
        estimated += st.estimate
        log(f"    done in {_fmt(took)}")
    record["wall_seconds_last_run"] = round(time.perf_counter() - t_run, 1)
    mine = [s for n, s in stages.items() if n in {x.name for x in recipe.stages}]
    record["seconds"] = round(sum(s["seconds"] for s in mine), 1)
    record["cpu_seconds"] = round(sum(s.get("cpu_seconds", 0.0) for s in mine), 1)
    save()
    files = write_report(recipe, record)
    log("")
    log(stage_table(recipe, record))
    log(f"report: {files[0]}")
    return record


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children: what a stage cost whatever
    else the machine was doing (wall time on a shared machine says more about the neighbours)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def stage_table(recipe: Recipe, record: dict) -> str:
    lines = ["| stage | wall seconds | CPU seconds | estimate (s) |", "| --- | ---: | ---: | ---: |"]
    for st in recipe.stages:
        s = record["stages"].get(st.name, {})
        lines.append(f"| {st.name} | {s.get('seconds', 0):.0f} | {s.get('cpu_seconds', 0):.0f} | {st.estimate:.0f} |")
    lines.append(f"| **total** | **{record.get('seconds', 0):.0f}** ({_fmt(record.get('seconds', 0))}) | "
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
    from .evaluate import load_run
    from .metrics import paired_bootstrap

    _, sa, ra = load_run(a_dir)
    _, sb, rb = load_run(b_dir)
    rows = []
    for p in _bf_points(sb):
        qa, qb = _per_question(ra, "budget-forcing", p["point"]), _per_question(rb, "budget-forcing", p["point"])
        qs = sorted(set(qa) & set(qb))
        if len(qs) >= 2:
            rows.append({"point": p["point"], **paired_bootstrap([qa[q] for q in qs], [qb[q] for q in qs], seed=seed)})
    return rows


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
    cstate = _read_json(cur / "stages.json") if cur else None
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
        findings += _eval_findings(sums)

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
    from .data.rowfiles import iter_rows

    sel = cstate["select"]["stats"]
    fe = cstate.get("featurize", {}).get("stats", {})
    solved = sum((fe.get("solved") or {}).values())
    pool = cstate["collect"]["stats"]["rows"]
    chosen = list(iter_rows(cur / "s1k.parquet")) if (cur / "s1k.parquet").exists() else []
    cands = []
    cpath = cur / "report" / "candidates.jsonl"
    if cpath.exists():
        cands = [json.loads(x) for x in cpath.read_text().splitlines() if x.strip()]
        cands = [c for c in cands if not c.get("dropped_by")]
    lens = [r.get("trace_tokens") for r in chosen if r.get("trace_tokens")]
    plens = [c.get("length") for c in cands if c.get("length")]
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


def _eval_findings(sums: dict) -> list[str]:
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
        if sc is None:
            verdict = "has no Scaling value"
        elif sc > 0.5 and hi["accuracy"] > lo["accuracy"]:
            verdict = "scales"
        elif sc > 0.5:  # a positive average slope, but the largest budget is no better than the smallest
            verdict = "does not scale reliably"
        else:
            verdict = "does not scale"
        text = (f"**{label}**: budget forcing {verdict} (Scaling {_pct(sc)} pts per doubling, Control "
                f"{_pct(bf.get('control'))}%): {lo['accuracy']:.1f}% at {lo['point'].split(',')[0]} "
                f"({lo['thinking_tokens']:.0f} thinking tokens), {hi['accuracy']:.1f}% at {hi['point'].split(',')[0]} "
                f"({hi['thinking_tokens']:.0f} tokens), best {best['accuracy']:.1f}% at {best['point']}. "
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


__all__ = ["DemoError", "Recipe", "Stage", "load_recipe", "run_recipe", "write_report"]
