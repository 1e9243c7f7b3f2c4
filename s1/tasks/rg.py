"""reasoning-gym's procedural datasets as tasks, graded by each dataset's own verifier (`score_answer`).

    get_task("rg:basic_arithmetic:n=50,seed=1,min_terms=2").load()   # pip install 's1[rg]'

`rg:<dataset>[:key=value,...]`: n (questions) and seed are ours, every other key is a field of the
dataset's config class (a list value is written a|b|c). Question i is the dataset's item i at that seed,
so the same spec gives the same questions, and a smaller n a prefix. Questions are graded with kind "rg":
the answer is extracted like any other (last \\boxed{}, else "Answer:", else the last line) and the
dataset's score_answer decides; 1.0 is correct. Everything is generated locally: no download.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import json
import os
import types
import typing
from dataclasses import dataclass, field

from ..grading.rgverify import RG_INSTALL, make_dataset, registry
from .base import BOXED, BaseTask, Question, TaskError, parse_knobs, register

OURS = {"n": 100, "seed": 0}  # our keys; the dataset's config supplies the rest
HIDDEN = ("composite", )  # a dataset of datasets: its settings are not key=value
# Datasets whose questions changed with PYTHONHASHSEED in reasoning-gym 0.1.25 (measured: seed 7, items
# 0-3, two hash seeds): they iterate over sets of strings, so a seed alone does not fix their questions.
HASH_DEPENDENT = frozenset({"isomorphic_strings", "knight_swap", "polynomial_multiplication", "ransom_note",
                            "word_ladder"})
LIST_SEP = "|"


def datasets() -> dict:
    """reasoning-gym's datasets (name -> (dataset class, config class)); TaskError when it is not installed."""
    try:
        reg = registry()
    except ImportError:
        raise TaskError(RG_INSTALL) from None
    return {k: v for k, v in reg.items() if k not in HIDDEN}


def version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version("reasoning-gym")


def close(word: str, options, n: int = 5) -> str:
    hits = difflib.get_close_matches(word, list(options), n=n, cutoff=0.5)
    return f"did you mean {', '.join(hits)}?" if hits else ""


def check_dataset(name: str) -> None:
    names = datasets()
    if not name:
        raise TaskError(f"rg needs a dataset: rg:<dataset>[:key=value,...]; reasoning-gym has {', '.join(sorted(names))}")
    if name not in names:
        hint = close(name, names)
        raise TaskError(f"unknown reasoning-gym dataset {name!r}; "
                        + (hint if hint else f"reasoning-gym has {', '.join(sorted(names))}"))
    if name in HASH_DEPENDENT and os.environ.get("PYTHONHASHSEED", "random") == "random":
        raise TaskError(f"rg:{name}: reasoning-gym draws these questions in an order that changes from one Python "
                        f"process to the next, so a seed does not fix them; run with PYTHONHASHSEED=0 set")


def knob_fields(dataset: str) -> dict[str, tuple[object, object]]:
    """The dataset's own keys: name -> (type, default); seed and size are ours (seed, n)."""
    cfg_cls = datasets()[dataset][1]
    hints = typing.get_type_hints(cfg_cls)
    out = {}
    for f in dataclasses.fields(cfg_cls):
        if f.init and f.name not in ("seed", "size"):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out[f.name] = (hints.get(f.name, type(default)), default)
    return out


def _scalar(tp, text: str, where: str):
    """`text` as a value of type `tp` (int, float, bool, str, a Literal, an Optional of those)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.lower() == "none" and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _scalar(inner[0], text, where)
    if origin is typing.Literal:
        if text not in [str(a) for a in args]:
            raise TaskError(f"{where} must be one of {', '.join(map(str, args))}, got {text!r}")
        return next(a for a in args if str(a) == text)
    if tp is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise TaskError(f"{where} must be true or false, got {text!r}")
    if tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            raise TaskError(f"{where} must be {'an integer' if tp is int else 'a number'}, got {text!r}") from None
    if tp is str:
        return text
    raise TaskError(f"{where} has type {getattr(tp, '__name__', tp)}, which a task spec cannot set")


def coerce(dataset: str, key: str, text: str, tp, default):
    """A spec value as the config field wants it; lists and tuples are written a|b|c (JSON-able: a list)."""
    where = f"rg:{dataset}: {key}"
    if not text:
        raise TaskError(f"{where} needs a value")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if text.lower() == "none" and type(None) in args:
            return None
        if len(inner) == 1:
            return coerce(dataset, key, text, inner[0], default)
    if tp in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        item = args[0] if args else (type(default[0]) if default else str)
        return [_scalar(item, part.strip(), where) for part in text.split(LIST_SEP)]
    return _scalar(tp, text, where)


def settings(dataset: str, pairs: dict[str, str]) -> tuple[int, int, dict]:
    """(n, seed, the dataset's settings as JSON-able values) from spec pairs; TaskError names a bad key."""
    known = knob_fields(dataset)
    n, seed, config = OURS["n"], OURS["seed"], {}
    for key, text in pairs.items():
        if key in OURS:
            try:
                value = int(text)
            except ValueError:
                raise TaskError(f"rg:{dataset}: {key} must be an integer, got {text!r}") from None
            if key == "n":
                n = value
            else:
                seed = value
        elif key in known:
            config[key] = coerce(dataset, key, text, *known[key])
        else:
            hint = "use n for the number of questions" if key == "size" else close(key, list(known) + list(OURS))
            valid = ", ".join(f"{k}={v!r}" for k, (_, v) in known.items())
            raise TaskError(f"unknown key {key!r} for rg:{dataset}" + (f" ({hint})" if hint else "")
                            + f"; valid keys: n, seed, {valid}")
    if not 1 <= n <= 100_000:
        raise TaskError(f"rg:{dataset}: n must be between 1 and 100000, got {n}")
    return n, seed, config


def build(dataset: str, config: dict, n: int, seed: int):
    """The dataset object (its settings checked by reasoning-gym itself: a refusal becomes a TaskError)."""
    try:
        return make_dataset(dataset, {**config, "seed": seed, "size": n})
    except (AssertionError, ValueError, TypeError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise TaskError(f"rg:{dataset}: reasoning-gym refuses these settings: {msg}") from None


def entries(dataset: str, config: dict, n: int, seed: int, count: int | None = None) -> list[tuple[dict, dict]]:
    """The first `count` (default n) items at this seed, each with its verifier ({dataset, config, entry})."""
    ds = build(dataset, config, n, seed)
    full = {**config, "seed": seed, "size": n}
    out = []
    for i in range(n if count is None else min(n, count)):
        e = ds[i]
        # as JSON from the start: what grading and pool rows get back from a file is what is graded here
        entry = json.loads(json.dumps({"question": e["question"], "answer": e.get("answer"),
                                       "metadata": e.get("metadata", {})}, default=str))
        out.append((entry, {"dataset": dataset, "config": full, "entry": entry}))
    return out


def parse(spec: str) -> tuple[str, dict[str, str]]:
    """'rg:basic_arithmetic:n=5,min_terms=2' -> ('basic_arithmetic', {'n': '5', 'min_terms': '2'})."""
    _, _, rest = spec.strip().partition(":")
    dataset, sep, knobs = rest.partition(":")
    dataset = dataset.strip()
    if "=" in dataset:
        raise TaskError(f"bad task spec {spec!r}: expected rg:<dataset>[:key=value,...]")
    return dataset, parse_knobs(spec, knobs if sep else "", "rg:<dataset>[:key=value,...]")


@register("rg", "reasoning-gym's procedural datasets, graded by their own verifiers (pip install 's1[rg]'): "
                "rg:<dataset>[:n=100,seed=0,<the dataset's keys>], e.g. rg:basic_arithmetic:n=50,min_terms=2")
@dataclass
class ReasoningGym(BaseTask):
    dataset: str = ""
    n: int = 100
    seed: int = 0
    settings: dict = field(default_factory=dict)  # the dataset's own keys, typed

    @classmethod
    def knob_defaults(cls) -> dict[str, object]:
        return dict(OURS)  # what `s1 eval --list-tasks` shows; the dataset's keys depend on the dataset

    @classmethod
    def from_spec(cls, spec: str, data: str | None = None, fields: dict | None = None,
                  limit: int | None = None) -> ReasoningGym:
        dataset, pairs = parse(spec)
        check_dataset(dataset)
        if data is not None or fields:
            raise TaskError(f"task rg:{dataset} is generated: it reads no data file, so --data and fields do not apply")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise TaskError(f"limit must be a positive integer, got {limit!r}")
        n, seed, config = settings(dataset, pairs)
        build(dataset, config, n, seed)  # bad settings fail now, not when the questions are drawn
        return cls(dataset=dataset, n=n, seed=seed, settings=config, limit=limit)

    def knobs(self) -> dict[str, object]:
        return {"dataset": self.dataset, "n": self.n, "seed": self.seed, "settings": dict(self.settings)}

    def config(self) -> dict:
        return {**super().config(), "reasoning_gym": version()}

    def questions(self) -> list[Question]:
        count = self.n if self.limit is None else min(self.n, self.limit)
        out = []
        for i, (entry, verifier) in enumerate(entries(self.dataset, self.settings, self.n, self.seed, count)):
            gold = "" if entry["answer"] is None else str(entry["answer"])
            out.append(Question(f"rg-{self.dataset}-s{self.seed}-{i:04d}", f"{entry['question']}\n\n{BOXED}",
                                gold, "rg", {"rg": verifier}))
        return out
