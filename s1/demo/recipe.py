"""A demo recipe: a YAML file of variables, files to write and public `s1 ...` commands, read and expanded.

    from s1.demo.recipe import load_recipe; load_recipe("recipes/demo.yaml", "demo-run", tiny=True)

A recipe has `vars` (referenced as ${name}; ${out} is the run folder), optional `tiny` overrides (the
CI-sized run), `files` (written into the run folder first, e.g. the curate config), `stages` (a name, the
command, the folder it writes and an estimated duration) and `report` (which folders hold the curation,
the trained models and the evaluations, for the summary).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path


class DemoError(Exception):
    """A problem the user can fix: a missing or malformed recipe, an unknown variable, a failed stage."""


@dataclass
class RecipeStage:
    name: str
    command: str  # expanded: what runs (and what the record compares)
    outputs: list[str] = field(default_factory=list)
    estimate: float = 60.0  # seconds on 2 idle CPU cores (the runner's ETA)
    about: str = ""


@dataclass
class Recipe:
    path: Path
    out: Path
    vars: dict[str, str]
    files: dict[str, str]
    stages: list[RecipeStage]
    report: dict
    tiny: bool


def _expand(text: str, env: dict[str, str], where: str) -> str:
    try:
        return string.Template(str(text)).substitute(env)
    except KeyError as e:
        raise DemoError(f"{where}: unknown variable ${{{e.args[0]}}} (known: {', '.join(sorted(env))})") from None
    except ValueError as e:
        raise DemoError(f"{where}: {e}") from None


def _expand_tree(obj, env):
    if isinstance(obj, dict):
        return {k: _expand_tree(v, env) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand_tree(v, env) for v in obj]
    return _expand(obj, env, "report") if isinstance(obj, str) else obj


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
        stages.append(RecipeStage(s["name"], " ".join(_expand(s["run"], env, where).split()),
                                  [_expand(o, env, where) for o in outs], float(s.get("estimate", 60)),
                                  " ".join(str(s.get("about", "")).split())))
    report = _expand_tree(raw.get("report") or {}, env)
    return Recipe(p, Path(out), env, files, stages, report, tiny)


__all__ = ["DemoError", "Recipe", "RecipeStage", "load_recipe"]
