"""The task protocol, the question record, the registry and `name:key=value` spec parsing.

    get_task("arith:n=20,steps=3").load()   # -> list[Question]
"""

from __future__ import annotations

import dataclasses as dc
import random
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol, runtime_checkable

KINDS = ("math", "integer", "choice", "exact")
# graded by the question's own verifier (metadata), so a data file cannot ask for them
VERIFIED_KINDS = ("rg",)

# The closing line of every generated and hub math prompt: graders look for the last \boxed{}.
BOXED = "Think step by step, then give the final answer inside \\boxed{}."


class TaskError(Exception):
    """Something the user can fix: an unknown task or key, a bad data file, a missing field, a gated dataset."""


@dataclass(frozen=True)
class Question:
    id: str  # unique within its task, stable across runs (resumed runs match on it)
    prompt: str  # the user message given to the model
    answer: str  # gold answer; for multiple choice the letter
    kind: str  # how to grade it: one of KINDS
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS + VERIFIED_KINDS:
            raise ValueError(f"question {self.id}: kind must be one of {', '.join(KINDS + VERIFIED_KINDS)}, "
                             f"got {self.kind!r}")

    def to_dict(self) -> dict:
        return {"id": self.id, "prompt": self.prompt, "answer": self.answer, "kind": self.kind,
                "metadata": dict(self.metadata)}


@runtime_checkable
class Task(Protocol):
    name: str

    def load(self) -> list[Question]: ...

    def config(self) -> dict: ...


# -- the registry --------------------------------------------------------------------------------

TASKS: dict[str, type[BaseTask]] = {}


def register(name: str, description: str) -> Callable[[type[BaseTask]], type[BaseTask]]:
    """Class decorator: `@register("arith", "...")` makes the class the factory of task `name`."""

    def deco(cls: type[BaseTask]) -> type[BaseTask]:
        if name in TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        cls.name, cls.description = name, description
        TASKS[name] = cls
        return cls

    return deco


def list_tasks() -> list[tuple[str, str]]:
    """(name, one line: description and knobs with their defaults), sorted by name."""
    out = []
    for name in sorted(TASKS):
        cls = TASKS[name]
        knobs = ", ".join(f"{k}={'none' if v is None else v}" for k, v in cls.knob_defaults().items())
        out.append((name, f"{cls.description} [{knobs}]" if knobs else cls.description))
    return out


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'arith:n=100,seed=3' -> ('arith', {'n': '100', 'seed': '3'}). Values stay strings here."""
    name, sep, rest = spec.strip().partition(":")
    name = name.strip()
    if not name:
        raise TaskError(f"empty task name in {spec!r}; expected name or name:key=value,key=value")
    return name, parse_knobs(spec, rest if sep else "", "name or name:key=value,key=value")


def parse_knobs(spec: str, knobs: str, expected: str) -> dict[str, str]:
    """'n=100,seed=3' (the knobs part of `spec`) -> {'n': '100', 'seed': '3'}; TaskError naming the
    `expected` form when a part is not key=value, or a key is set twice."""
    pairs: dict[str, str] = {}
    if not knobs.strip():
        return pairs
    for part in knobs.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key:
            raise TaskError(f"bad task spec {spec!r}: expected {expected}")
        if key in pairs:
            raise TaskError(f"task spec {spec!r} sets {key!r} twice")
        pairs[key] = value.strip()
    return pairs


def get_task(spec: str, data: str | None = None, fields: dict[str, str] | None = None,
             limit: int | None = None) -> Task:
    """Build a task from `name` or `name:key=value,...`; `data` reads a local file instead of the hub."""
    head = spec.strip().partition(":")[0].strip()
    if head in TASKS and hasattr(TASKS[head], "from_spec"):  # a family with its own spec, e.g. rg:<dataset>:knobs
        return TASKS[head].from_spec(spec, data=data, fields=fields, limit=limit)
    name, pairs = parse_spec(spec)
    cls = TASKS.get(name)
    if cls is None:
        raise TaskError(f"unknown task {name!r}; available tasks: {', '.join(sorted(TASKS))}")
    defaults = cls.knob_defaults()
    knobs = {}
    for key, text in pairs.items():
        if key not in defaults:
            valid = ", ".join(defaults) if defaults else "(none)"
            raise TaskError(f"unknown key {key!r} for task {name!r}; valid keys: {valid}")
        knobs[key] = _coerce(name, key, text, defaults[key])
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise TaskError(f"limit must be a positive integer, got {limit!r}")
    if (data is not None or fields) and not cls.columns:
        raise TaskError(f"task {name!r} is generated: it reads no data file, so --data and fields do not apply")
    if data is not None:
        hub_only = [k for k in pairs if k in cls.hub_keys]
        if hub_only:
            raise TaskError(f"{', '.join(hub_only)} only apply to the hub; task {name!r} reads {data} instead")
    fields = dict(fields or {})
    for role, column in fields.items():
        if role not in cls.columns:
            raise TaskError(f"unknown field {role!r} for task {name!r}; valid fields: {', '.join(cls.columns)}")
        if not isinstance(column, str) or not column:
            raise TaskError(f"field {role!r} of task {name!r} must name a column, got {column!r}")
    return cls(**knobs, data=data, fields=fields, limit=limit)


def _coerce(task: str, key: str, text: str, default: object) -> object:
    # A knob's type is its default's type; None defaults (e.g. revision) take strings.
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise TaskError(f"{task}: {key} must be true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise TaskError(f"{task}: {key} must be an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise TaskError(f"{task}: {key} must be a number, got {text!r}") from None
    if not text:
        raise TaskError(f"{task}: {key} needs a value")
    return text


# -- the common base of every registered task ---------------------------------------------------

COMMON = ("data", "fields", "limit")


@dataclass
class BaseTask:
    """A registered task: its dataclass fields (other than COMMON) are its spec keys ("knobs")."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Bump when the prompt wording or question construction changes: it goes into config(),
    # so a run resumed under newer code refuses questions that would differ.
    version: ClassVar[int] = 1
    # role -> candidate column names, first present wins; empty for generated tasks (no data file)
    columns: ClassVar[dict[str, tuple[str, ...]]] = {}
    hub_keys: ClassVar[tuple[str, ...]] = ()

    data: str | None = field(default=None, kw_only=True)
    fields: dict[str, str] = field(default_factory=dict, kw_only=True)
    limit: int | None = field(default=None, kw_only=True)

    @classmethod
    def knob_defaults(cls) -> dict[str, object]:
        return {f.name: f.default for f in dc.fields(cls) if f.init and f.name not in COMMON}

    def knobs(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.knob_defaults()}

    def questions(self) -> list[Question]:
        """All questions of the task, in a fixed order (before `limit`)."""
        raise NotImplementedError

    def load(self) -> list[Question]:
        qs = self.questions()
        if self.limit is not None:
            qs = qs[: self.limit]
        seen: set[str] = set()
        for q in qs:
            if q.id in seen:
                raise TaskError(f"{self.name}: duplicate question id {q.id!r}; map a unique id column")
            seen.add(q.id)
        return qs

    def config(self) -> dict:
        return {"name": self.name, "version": self.version, **self.knobs(), "limit": self.limit}

    def _check(self, key: str, lo: int, hi: int) -> None:
        v = getattr(self, key)
        if not lo <= v <= hi:
            raise TaskError(f"{self.name}: {key} must be between {lo} and {hi}, got {v}")


@dataclass
class Generated(BaseTask):
    """A task drawn from a seed: no download, exact answers; subclasses add knobs and `draw`."""

    n: int = 100  # number of questions
    seed: int = 0  # another seed gives other questions: a held-out set

    def __post_init__(self):
        self._check("n", 1, 100_000)

    def draw(self, rng: random.Random) -> tuple[str, str, dict]:
        """One question from `rng`: (prompt, answer, metadata)."""
        raise NotImplementedError

    def questions(self) -> list[Question]:
        """Question i is drawn from its own RNG seeded by (task, seed, i, attempt).

        So each question depends only on the seed, the knobs and the questions before it, and a
        smaller n (or a limit) gives a prefix of a larger one. A repeated prompt is redrawn (the
        next attempt): small settings such as arith:steps=1,digits=1 have few distinct questions,
        and a duplicate would count twice in a score.
        """
        count = self.n if self.limit is None else min(self.n, self.limit)
        seen: set[str] = set()
        out = []
        for i in range(count):
            for attempt in range(200):
                # str seeds go through SHA-512 inside random: the same on every platform and run
                prompt, answer, meta = self.draw(random.Random(f"{self.name}/{self.seed}/{i}/{attempt}"))
                if prompt not in seen:
                    break
            else:
                raise TaskError(f"{self.name}: only {i} distinct questions exist at these settings; "
                                f"lower n or make the questions harder")
            seen.add(prompt)
            out.append(Question(f"{self.name}-s{self.seed}-{i:04d}", prompt, answer, "integer", meta))
        return out
