"""`s1 curate run config.yaml`: every curation stage in order, resuming where it stopped.

    from s1.data.pipeline import run; run("curate.yaml")

Each stage writes its own file in the run folder (01-pool.jsonl, 02-clean.jsonl, 03-traced.jsonl,
04-features.jsonl, s1k.parquet, ablation files, report/). `stages.json` is the record of
s1.stages (the runner `s1 demo` uses too), keyed by a hash of each stage's settings: a stage whose
settings are unchanged and whose output exists is skipped; an interrupted stage resumes from its own
work file; a stage whose settings changed is run again on an emptied output, and so is everything after it.
"""

from __future__ import annotations

from pathlib import Path

from ..stages import Stage, run_stages, settings_key
from . import CurateError
from .rowfiles import write_rows

DEFAULT_CONFIG = """\
# s1 curate run: the offline default (built-in pool, code-written traces, the embedded model as
# solver, the offline domain classifier). For the real thing, add Hub sources, use a teacher
# endpoint (openai:https://host/v1:model) and strong solvers, and select 1000.
out: curate-run
sources:
  - name: builtin
    builtin: {n: 300, seed: 0}
  # - name: numina
  #   spec: AI-MO/NuminaMath-CoT
  #   mapping: {question: problem, solution: solution}
  #   limit: 20000
decontaminate:
  against: [arith, letters, combinatorics]   # evaluation tasks (names or files); aime24, math500, ... online
  ngram: 8
traces:
  teacher: builtin          # builtin | engine:MODEL | openai:BASE_URL:MODEL
  concurrency: 8
featurize:
  tokenizer: null           # null: the embedded model's tokenizer
  solvers: [smollm2-135m]   # difficulty: rows any solver gets right are dropped
  solver_budget: 32          # thinking tokens a solver gets
  answer_tokens: 24
  classifier: offline       # offline | openai:BASE_URL:MODEL
select:
  n: 100
  seed: 0
  method: s1                # s1 | random | diverse | longest
  ablations: [random]       # extra selections of the same size
"""

STAGE_KEYS = {
    "sources": None,
    "decontaminate": {"against", "ngram"},
    "traces": {"teacher", "concurrency", "retries", "timeout", "max_tokens"},
    "featurize": {"tokenizer", "solvers", "solver_budget", "answer_tokens", "classifier", "batch_size", "dtype"},
    "select": {"n", "seed", "method", "ablations", "solvers_must_fail", "seed_ids"},
}


def load_config(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise CurateError(f"config file not found: {path} (s1 curate init writes an example)")
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise CurateError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CurateError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(cfg, dict):
        raise CurateError(f"{path}: expected a mapping of settings")
    unknown = set(cfg) - set(STAGE_KEYS) - {"out"}
    if unknown:
        raise CurateError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; known: out, "
                          + ", ".join(STAGE_KEYS))
    for stage, keys in STAGE_KEYS.items():
        if keys is None or stage not in cfg:
            continue
        if not isinstance(cfg[stage], dict):
            raise CurateError(f"{path}: '{stage}' must be a mapping")
        bad = set(cfg[stage]) - keys
        if bad:
            raise CurateError(f"{path}: unknown {stage} setting(s) {', '.join(sorted(bad))}; known: "
                              + ", ".join(sorted(keys)))
    if not cfg.get("sources"):
        raise CurateError(f"{path}: no sources")
    _check_types(cfg, path)  # before the run folder is made: a typo must not leave an empty one behind
    cfg.setdefault("out", str(p.with_suffix("")) + "-run")
    return cfg


# The type of every setting a stage reads: (kind, minimum). Checked when the config is read, so a
# wrong type is one line naming the setting, not a traceback from deep inside a stage.
SETTING_TYPES = {
    "decontaminate": {"against": ("names", None), "ngram": ("int", 1)},
    "traces": {"teacher": ("str", None), "concurrency": ("int", 1), "retries": ("int", 0), "timeout": ("number", 0),
               "max_tokens": ("int", 1)},
    "featurize": {"tokenizer": ("str?", None), "solvers": ("names", None), "solver_budget": ("int", 0),
                  "answer_tokens": ("int", 1), "classifier": ("str", None), "batch_size": ("int", 1)},
    "select": {"n": ("int", 1), "seed": ("int", None), "method": ("str", None), "ablations": ("names", None),
               "solvers_must_fail": ("bool", None), "seed_ids": ("ids", None)},
    "builtin": {"n": ("int", 1), "seed": ("int", None), "generators": ("names?", None),
                "difficulties": ("names?", None)},
    "rg": {"datasets": ("names", None), "n": ("int", 1), "seed": ("int", None)},
    "source": {"name": ("str", None), "spec": ("str", None), "split": ("str", None), "limit": ("int", 1),
               "config": ("str?", None), "revision": ("str?", None), "cot_type": ("str?", None)},
}
_KIND_WORDS = {"int": "a whole number", "number": "a number", "str": "a string", "bool": "true or false",
               "names": "a list of names", "ids": "a file name or a list of ids"}


def _type_ok(v, kind: str) -> bool:
    if kind.endswith("?"):
        if v is None:
            return True
        kind = kind[:-1]
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "str":
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "ids":  # a file of ids, or the ids themselves
        return v is None or isinstance(v, str) or _type_ok(v, "names")
    return isinstance(v, list) and all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in v)


def _check_group(values: dict, types: dict, where: str, path) -> None:
    for key, (kind, low) in types.items():
        if key not in values:
            continue
        v = values[key]
        if not _type_ok(v, kind):
            words = _KIND_WORDS[kind.rstrip("?")] + (" or null" if kind.endswith("?") else "")
            raise CurateError(f"{path}: {where}{key} must be {words}, got {v!r}")
        if low is not None and v is not None and v < low:
            raise CurateError(f"{path}: {where}{key} must be >= {low}, got {v!r}")


def _check_types(cfg: dict, path) -> None:
    if "out" in cfg and not isinstance(cfg["out"], str):
        raise CurateError(f"{path}: out must be a folder name, got {cfg['out']!r}")
    if not isinstance(cfg["sources"], list):
        raise CurateError(f"{path}: sources must be a list")
    for stage in ("decontaminate", "traces", "featurize", "select"):
        _check_group(cfg.get(stage) or {}, SETTING_TYPES[stage], f"{stage}.", path)
    for i, src in enumerate(cfg["sources"], 1):
        if not isinstance(src, dict):
            raise CurateError(f"{path}: source {i} must be a mapping (name, and spec or builtin)")
        _check_group(src, SETTING_TYPES["source"], f"source {i}: ", path)
        if "builtin" in src:
            if src["builtin"] is not None and not isinstance(src["builtin"], dict):
                raise CurateError(f"{path}: source {i}: builtin must be a mapping of options")
            _check_group(src["builtin"] or {}, SETTING_TYPES["builtin"], f"source {i}: builtin.", path)
        if "rg" in src:  # reasoning-gym (s1.data.rg_source): a bad dataset name fails here, before the run folder
            from .rg_source import parse_specs

            opts = src["rg"] if isinstance(src["rg"], dict) else {}
            if not isinstance(src["rg"], dict) or set(opts) - set(SETTING_TYPES["rg"]):
                raise CurateError(f"{path}: source {i}: rg must be a mapping of datasets, n, seed")
            _check_group(opts, SETTING_TYPES["rg"], f"source {i}: rg.", path)
            try:
                parse_specs(opts.get("datasets"), opts.get("n", 100), opts.get("seed", 0))
            except CurateError as e:
                raise CurateError(f"{path}: source {i}: {e}") from None


def _sources(cfg: dict, out: Path):
    from .collect import Source
    from .pool import builtin_pool

    srcs = []
    for i, s in enumerate(cfg["sources"]):
        if not isinstance(s, dict) or "name" not in s:
            raise CurateError(f"source {i + 1}: needs a name (and spec, or builtin)")
        if "builtin" in s:
            opts = s["builtin"] or {}
            path = out / f"00-{s['name']}.jsonl"
            bad = set(opts) - {"n", "seed", "generators", "difficulties"}
            if bad:
                raise CurateError(f"source {s['name']}: unknown builtin option(s) {', '.join(sorted(bad))}; "
                                  "known: n, seed, generators, difficulties")
            try:
                rows = builtin_pool(n=int(opts.get("n", 600)), seed=int(opts.get("seed", 0)),
                                    generators=opts.get("generators"), difficulties=opts.get("difficulties"))
            except ValueError as e:
                raise CurateError(f"source {s['name']}: {e}") from None
            write_rows(path, rows)
            srcs.append(Source(s["name"], str(path)))
        elif "rg" in s:
            from .rg_source import rg_rows

            opts = s["rg"] or {}
            path = out / f"00-{s['name']}.jsonl"
            write_rows(path, rg_rows(opts.get("datasets"), n=int(opts.get("n", 100)), seed=int(opts.get("seed", 0))))
            srcs.append(Source(s["name"], str(path)))
        else:
            if "spec" not in s:
                raise CurateError(f"source {s['name']}: needs a spec (a file, a Hub dataset id), builtin or rg")
            known = {"name", "spec", "mapping", "split", "limit", "config", "cot_type", "revision"}
            bad = set(s) - known
            if bad:
                raise CurateError(f"source {s['name']}: unknown key(s) {', '.join(sorted(bad))}")
            srcs.append(Source(**{k: v for k, v in s.items() if k in known}))
    return srcs


def run(config: str | Path | dict, progress: bool = False, log=print) -> dict:
    """Run every stage of a config (a YAML path or a dict); returns the stage records."""
    from .collect import collect
    from .decontaminate import decontaminate
    from .featurize import featurize
    from .report import write_report
    from .select import read_candidates, select
    from .traces import traces

    cfg = load_config(config) if not isinstance(config, dict) else config
    out = Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    files = {"collect": out / "01-pool.jsonl", "decontaminate": out / "02-clean.jsonl",
             "traces": out / "03-traced.jsonl", "featurize": out / "04-features.jsonl", "select": out / "s1k.parquet"}
    dec, tr, fe, se = (cfg.get(k) or {} for k in ("decontaminate", "traces", "featurize", "select"))
    plan = [
        ("collect", cfg["sources"], lambda: collect(_sources(cfg, out), files["collect"])),
        ("decontaminate", dec, lambda: decontaminate(files["collect"], files["decontaminate"],
                                                     against=list(dec.get("against", [])), n=int(dec.get("ngram", 8)))),
        ("traces", tr, lambda: traces(files["decontaminate"], files["traces"], teacher=tr.get("teacher", "builtin"),
                                      **{k: tr[k] for k in ("concurrency", "retries", "timeout", "max_tokens") if k in tr},
                                      progress=progress)),
        ("featurize", fe, lambda: featurize(files["traces"], files["featurize"], tokenizer=fe.get("tokenizer"),
                                            solvers=list(fe.get("solvers", [])), classifier=fe.get("classifier", "offline"),
                                            solver_budget=int(fe.get("solver_budget", 256)),
                                            **{k: int(fe[k]) for k in ("batch_size", "answer_tokens") if k in fe},
                                            dtype=fe.get("dtype"),
                                            progress=progress)),
        ("select", se, lambda: _select_all(files["featurize"], out, se, select)),
    ]
    def stage(name, settings, fn):
        if progress and name in ("collect", "decontaminate", "select"):  # no count of their own to show
            fn = _alive(name, fn)
        return Stage(name, settings_key(settings), [files[name]], fn, {"out": str(files[name])})

    state = run_stages([stage(*p) for p in plan], out / "stages.json", root=out,
                       skipped=lambda i, st, rec: log(f"s1 curate: {st.name}: done already ({rec['seconds']:.1f}s), skipped"),
                       starting=lambda i, st, resumed: log(f"s1 curate: {st.name} ...{' (resuming)' if resumed else ''}"),
                       finished=lambda i, st, rec: log(f"s1 curate: {st.name}: {_brief(st.name, rec['stats'])} "
                                                       f"({rec['seconds']:.1f}s)"))["stages"]

    from .rowfiles import iter_rows

    sel = state["select"]["stats"]
    funnel = [("pool (collected)", state["collect"]["stats"]["rows"]),
              ("decontaminated", state["decontaminate"]["stats"]["kept"])]
    funnel += [(n if n == "selected" else f"filter: {n}", c) for n, c in sel["funnel"][1:]]
    pool_rows = read_candidates(out / "report")
    report = write_report(out / "report", funnel, pool_rows, iter_rows(files["select"]), state)
    log(f"s1 curate: report: {report[0]}")
    return state


def _alive(name: str, fn):
    """`fn` with a spinner in a terminal, or a line every period in a log, while it runs."""
    def go():
        from ..progress import ticker

        stop = ticker(name)
        try:
            return fn()
        finally:
            stop()
    return go


def _select_all(inp: Path, out: Path, se: dict, select) -> dict:
    n, seed = int(se.get("n", 1000)), int(se.get("seed", 0))
    kw = {k: se[k] for k in ("solvers_must_fail", "seed_ids") if k in se}
    stats = select(inp, out / "s1k.parquet", n=n, seed=seed, method=se.get("method", "s1"),
                   report_dir=out / "report", **kw)
    for abl in se.get("ablations", []) or []:
        s = select(inp, out / f"ablation-{abl}.parquet", n=n, seed=seed, method=abl, **kw)
        stats[f"ablation_{abl}"] = {"selected": s["selected"], "length": s.get("length")}
    return stats


def _brief(name: str, s: dict) -> str:
    keys = {"collect": ["rows"], "decontaminate": ["kept", "dropped_contaminated", "dropped_duplicate"],
            "traces": ["ok", "failed", "resumed"], "featurize": ["rows", "with_trace"], "select": ["selected"]}[name]
    return ", ".join(f"{k} {s.get(k)}" for k in keys if k in s)
