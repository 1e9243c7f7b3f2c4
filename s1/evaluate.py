"""Evaluation sweeps: a task, methods and budgets as a grid, graded, with the paper's scaling metrics.

    from s1.evaluate import EvalConfig, evaluate; evaluate(EvalConfig(task="arith", max_thinking=(64, 256)), "runs/x")

A run folder holds `config.json` (what was asked), `samples.jsonl` (one line per question, sample
and grid point, appended as work finishes), `summary.json` and `points/*.json` (metrics, rewritten
after every batch). Run the same command again and it continues where it stopped: work is done in
*units* (one question, one sample, one group of grid points) whose records are written in one
append. Units are decoded in batches planned over the whole run, and a batch's neighbours change
its numbers (padding, batched kernels), so a batch with any unit missing (a kill mid-write) is
dropped whole and redone with the same units in the same order: a resumed run's records equal an
uninterrupted run's. The batch size is therefore part of the run's identity. A different
configuration in the same folder is refused instead of mixing results.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import baselines
from .baselines import Group, with_instruction
from .budget import TURN_END
from .eval_summary import SUMMARY_FILE, write_summary
from .files import write_text_atomic
from .jsonl import JSONLError, parse_jsonl

if TYPE_CHECKING:
    from .generation import Backend as Engine, GenerationResult

SAMPLES_FILE, CONFIG_FILE = "samples.jsonl", "config.json"


class EvalError(Exception):
    """A problem the user can fix: bad settings, a folder holding another run."""


@dataclass
class EvalConfig:
    """Everything that decides the results of a run (saved as config.json; a resumed run must match)."""

    model: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    backend: str = "transformers"  # transformers | vllm | openai (numerics differ: part of the identity)
    task: str = "arith"
    data: str | None = None  # local file instead of the Hub
    fields: dict[str, str] | None = None  # field mapping for --data
    limit: int | None = None  # first N questions
    methods: tuple[str, ...] = ("budget-forcing",)
    max_thinking: tuple[int | None, ...] = (None,)
    num_ignore: tuple[int, ...] = (0,)
    min_thinking: int = 0
    extend: tuple[str, ...] = ("Wait",)
    answer_prefix: str | None = "Final Answer:"
    on_turn_end: str = "answer"  # an end of turn inside the thinking: answer | delimiter (the reference)
    max_answer_tokens: int = 512
    steps: tuple[int, ...] = (2, 4, 8)  # step-conditional control
    samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    rejection_tries: int = 8
    rejection_temperature: float = 1.0
    template: str = "auto"
    think_start: str | None = None
    think_end: str | None = None
    system: str | None = None
    dtype: str | None = None
    grade_timeout: float = 5.0
    judge_url: str | None = None
    judge_model: str | None = None
    # adaptive thinking methods (early-exit, wait-schedule, break-loops, round-sampling); left out of a
    # run's identity while at their defaults, so runs made before they existed still resume
    early_exit: float = 0.9
    probe_tokens: int = 8
    probe_mode: str = "prob"
    probe_gap: int = 32
    wait_schedule: str = "linear:0.5@0.6"
    break_loops: str = "12:3"
    loop_action: str = "end"
    round_temperatures: tuple[float, ...] = ()
    round_top_p: tuple[float, ...] = ()
    extend_penalty: float = 0.0
    # parallel and tree search (s1.search): reward spec, trajectory counts, step delimiter, method options
    reward: str | None = None
    trajectories: tuple[int, ...] = (1, 2, 4, 8, 16)
    step_delimiter: str = "\n\n"
    search: dict | None = None  # s1.search.DEFAULTS keys (beam expansions, REBASE temperature, vote ...)

    def validate(self) -> "EvalConfig":
        from .generation import GenerationError, SamplingConfig

        if not self.grade_timeout > 0:  # also rejects NaN
            raise EvalError(f"grade timeout must be > 0 seconds, got {self.grade_timeout}")
        if self.limit is not None and self.limit < 1:
            raise EvalError(f"limit must be >= 1, got {self.limit}")
        if self.max_answer_tokens < 1:
            raise EvalError(f"max answer tokens must be >= 1, got {self.max_answer_tokens}")
        if self.min_thinking < 0:
            raise EvalError(f"min thinking tokens must be >= 0, got {self.min_thinking}")
        if self.on_turn_end not in TURN_END:
            raise EvalError(f"on_turn_end must be one of {', '.join(TURN_END)}, got {self.on_turn_end!r}")
        if not self.rejection_temperature > 0:
            raise EvalError(f"rejection temperature must be > 0, got {self.rejection_temperature}")
        try:
            SamplingConfig(self.temperature, self.top_p, self.top_k, self.seed).validate()
        except GenerationError as e:
            raise EvalError(str(e)) from None
        if self.samples < 1:
            raise EvalError(f"samples must be >= 1, got {self.samples}")
        if self.samples > 1 and self.temperature == 0:
            raise EvalError("several samples per question need --temperature > 0 (greedy samples are identical)")
        if self.rejection_tries < 1:
            raise EvalError(f"rejection tries must be >= 1, got {self.rejection_tries}")
        if not self.methods:
            raise EvalError("no method to run")
        if len(set(self.methods)) != len(self.methods):
            raise EvalError("a method is listed twice")
        for m in self.max_thinking:
            if m is not None and m < 0:
                raise EvalError(f"max thinking tokens must be >= 0, got {m}")
        if any(k < 0 for k in self.num_ignore):
            raise EvalError("ignore counts must be >= 0")
        if any(n < 0 for n in self.steps):
            raise EvalError("step counts must be >= 0")
        self._validate_search()
        if bool(self.judge_url) != bool(self.judge_model):
            raise EvalError("an LLM judge needs both --judge-url and --judge-model")
        forking = [m for m in self.methods if m in baselines.FORKING_METHODS]
        if forking and self.backend != "transformers":
            raise EvalError(f"{forking[0]} runs on the transformers backend only (it forks rows / changes "
                            f"sampling per row), not on {self.backend}")
        return self

    def _validate_search(self) -> None:
        from .search.run import check_config

        try:
            check_config(self)
        except ValueError as e:  # SearchError
            raise EvalError(str(e)) from None

    def identity(self) -> dict:
        d = json.loads(json.dumps(asdict(self)))  # tuples -> lists, as they read back from disk
        return {k: v for k, v in d.items() if k not in ADAPTIVE_DEFAULTS or v != ADAPTIVE_DEFAULTS[k]}


ADAPTIVE_DEFAULTS = json.loads(json.dumps({k: getattr(EvalConfig, k) for k in (
    "early_exit", "probe_tokens", "probe_mode", "probe_gap", "wait_schedule", "break_loops", "loop_action",
    "round_temperatures", "round_top_p", "extend_penalty")}))


@dataclass
class Unit:
    """One question x sample x group of points: the unit of work and of resumption."""

    method: str
    group: Group
    qi: int  # question index
    sample: int

    def key(self, qid: str) -> str:
        return f"{self.method}|{self.group.id}|{qid}|{self.sample}"


def unit_seed(seed: int, qid: str, sample: int, attempt: int = 0) -> int:
    """A sample's seed depends on the question and sample only: not on batching, order or resumption."""
    h = hashlib.sha256(f"{seed}/{qid}/{sample}/{attempt}".encode()).digest()
    return int.from_bytes(h[:4], "little")


# -- the run folder -----------------------------------------------------------------------------

def _describe_change(old: dict, new: dict) -> str:
    diffs = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            diffs.append(f"{k}: {json.dumps(old.get(k))} there, {json.dumps(new.get(k))} now")
    return "; ".join(diffs[:4]) + (" ..." if len(diffs) > 4 else "")


def open_run(out: Path, identity: dict, overwrite: bool = False) -> list[dict] | None:
    """Check the run folder: None for a new run, else the records of the same configuration to resume.
    Nothing is written here (a model that then fails to load leaves no half-made run behind)."""
    cfg_path = out / CONFIG_FILE
    if out.exists() and not out.is_dir():
        raise EvalError(f"{out} exists and is not a folder")
    if cfg_path.exists() and not overwrite:
        try:
            old = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, OSError) as e:
            raise EvalError(f"{cfg_path}: unreadable ({e}); use another --out or --overwrite") from None
        if old != identity:
            raise EvalError(
                f"{out} holds a run with another configuration ({_describe_change(old, identity)}); "
                "use another --out, or --overwrite to replace it"
            )
        return _read_records(out / SAMPLES_FILE)
    if out.exists() and any(out.iterdir()) and not cfg_path.exists() and not overwrite:
        raise EvalError(f"{out} is not empty and holds no s1 evaluation; use another --out")
    return None


def start_run(out: Path, identity: dict) -> None:
    """A new run: an empty folder (an overwritten run's files removed) with its config.json."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (SAMPLES_FILE, SUMMARY_FILE):
        (out / name).unlink(missing_ok=True)
    if (out / "points").exists():
        for f in (out / "points").glob("*.json"):
            f.unlink()
    write_text_atomic(out / CONFIG_FILE, json.dumps(identity, indent=2) + "\n")


def _read_records(path: Path, repair: bool = True) -> list[dict]:
    """Read samples.jsonl; a torn last line (a kill during the write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data) and repair:  # the tail after the last newline never finished: drop it on disk too
        with open(path, "r+b") as f:
            f.truncate(end)
    try:
        return [rec for _, rec in parse_jsonl(data[:end].decode("utf-8", errors="replace"), str(path))]
    except JSONLError as e:
        raise EvalError(f"{e}; the run folder is damaged") from None


# -- running ------------------------------------------------------------------------------------

class Runner:
    """Generates and grades units of work for one run."""

    def __init__(self, cfg: EvalConfig, engine: Engine, questions, judge=None, batch_size: int = 16):
        self.cfg, self.engine, self.questions = cfg, engine, questions
        self.judge, self.batch_size = judge, batch_size
        from .generation import SamplingConfig

        self.thinking = SamplingConfig(cfg.temperature, cfg.top_p, cfg.top_k, cfg.seed).validate()
        self.reward = None  # the reward model of search methods (set by evaluate)

    def run_units(self, units: Sequence[Unit], progress=None) -> list[list[dict]]:
        """Generate and grade a batch of units of one method and group: records per unit. `progress(1)`
        is called as each unit x grid point finishes generating (by the methods that generate a grid)."""
        method, group = units[0].method, units[0].group
        prompts = [with_instruction(self.questions[u.qi].prompt, group.instruction) for u in units]
        if method == "rejection":
            results, extra = self._rejection(units, prompts, group)
        elif method in baselines.SEARCH_METHODS:
            results, extra = self._search(units, prompts, group)
        else:
            seeds = [unit_seed(self.cfg.seed, self.questions[u.qi].id, u.sample) for u in units]
            grid = self.engine.generate_grid(prompts, [p.budget for p in group.points], self.thinking,
                                             batch_size=self.batch_size, system=self.cfg.system, seeds=seeds,
                                             progress=progress)
            results, extra = grid, [[{} for _ in group.points] for _ in units]
        return [self._records(u, group, res, ex) for u, res, ex in zip(units, results, extra)]

    def _search(self, units, prompts, group: Group):
        """A search per unit (s1.search); every point of the group is one trajectory count."""
        from .search.run import eval_units

        seeds = [unit_seed(self.cfg.seed, self.questions[u.qi].id, u.sample) for u in units]
        return eval_units(self.engine, self.reward, self.cfg, units[0].method, [self.questions[u.qi] for u in units],
                          prompts, group, self.thinking, seeds)

    def _rejection(self, units, prompts, group: Group):
        """Sample (temperature cfg.rejection_temperature) until thinking fits each budget, up to
        cfg.rejection_tries tries. Tries are shared across budgets: a try that ends by itself after
        n thinking tokens is the accepted sample of every budget >= n that has none yet (it is the
        same run with any of those limits). Budgets left without a fitting try fall back to the
        first try cut at the budget (forcing), marked fit=False."""
        cfg = self.cfg
        from .generation import SamplingConfig

        temp = SamplingConfig(cfg.rejection_temperature, cfg.top_p, cfg.top_k, cfg.seed).validate()
        caps = [p.budget.max_thinking_tokens for p in group.points]
        probe = baselines.point_budget(cfg, max_thinking_tokens=max(caps) + 1, min_thinking_tokens=0)
        chosen: list[list[GenerationResult | None]] = [[None] * len(caps) for _ in units]
        tries = [[0] * len(caps) for _ in units]
        first: list[list[GenerationResult]] = []
        todo = list(range(len(units)))
        for attempt in range(cfg.rejection_tries):
            if not todo:
                break
            seeds = [unit_seed(cfg.seed, self.questions[units[i].qi].id, units[i].sample, attempt) for i in todo]
            budgets = [p.budget for p in group.points] + [probe] if attempt == 0 else [probe]
            grid = self.engine.generate_grid([prompts[i] for i in todo], budgets, temp,
                                             batch_size=self.batch_size, system=cfg.system, seeds=seeds)
            if attempt == 0:
                first = [g[:-1] for g in grid]
            for i, g in zip(todo, grid):
                r = g[-1]
                natural = r.thinking_end in ("stop", "eos")
                for j, cap in enumerate(caps):
                    if chosen[i][j] is None:
                        tries[i][j] = attempt + 1
                        if natural and r.thinking_tokens <= cap:
                            chosen[i][j] = r
            todo = [i for i in todo if any(c is None for c in chosen[i])]
        results, extra = [], []
        for i in range(len(units)):
            results.append([c if c is not None else first[i][j] for j, c in enumerate(chosen[i])])
            extra.append([{"tries": tries[i][j], "fit": chosen[i][j] is not None} for j in range(len(caps))])
        return results, extra

    def _records(self, unit: Unit, group: Group, results: Sequence[GenerationResult], extra) -> list[dict]:
        from .grading import grade

        q = self.questions[unit.qi]
        recs = []
        for point, r, ex in zip(group.points, results, extra):
            v = grade(r.answer, q.answer, q.kind, timeout=self.cfg.grade_timeout, judge=self.judge,
                      verifier=q.metadata.get("rg"))
            recs.append({
                "unit": unit.key(q.id), "method": unit.method, "point": point.id, "question_id": q.id,
                "question": q.prompt, "sample": unit.sample, "gold": q.answer, "extracted": v.extracted, "correct": v.correct,
                "grading": v.method, "grading_reason": v.reason, "thinking_tokens": r.thinking_tokens, "answer_tokens": r.answer_tokens,
                "thinking_steps": r.thinking_steps, "num_ignored": r.num_ignored, "thinking_end": r.thinking_end,
                "finish_reason": r.finish_reason, "events": self._located(r), "probe_tokens": r.probe_tokens, **ex,
                "thinking": r.thinking, "answer": r.answer,
            })
        return recs

    def _located(self, r: GenerationResult) -> list[dict]:
        """The forcing events, each with `char`: where it happened in the thinking text (its `at`, a
        token count, as a character offset), so a viewer can mark the forced pieces."""
        ids, tok = r.completion_ids[:r.thinking_tokens], getattr(self.engine, "tokenizer", None)
        if tok is None or len(ids) != r.thinking_tokens:
            return [dict(e) for e in r.events]
        return [dict(e, char=len(tok.decode(ids[:e["at"]]))) for e in r.events]


def plan_units(cfg: EvalConfig, questions) -> list[list[Unit]]:
    """All units, grouped so that each list shares one method and group (one engine call each)."""
    plan = []
    for method in cfg.methods:
        try:
            groups = baselines.expand(method, cfg)
        except ValueError as e:
            raise EvalError(f"{method}: {e}") from None
        for g in groups:
            plan.append([Unit(method, g, qi, s) for qi in range(len(questions)) for s in range(cfg.samples)])
    return plan


def plan_batches(plan: list[list[Unit]], batch_size: int) -> list[list[Unit]]:
    """The run's batches: fixed by the plan and the batch size alone, never by what is done already."""
    return [units[i:i + batch_size] for units in plan for i in range(0, len(units), batch_size)]


def evaluate(cfg: EvalConfig, out: str | Path, engine: Engine | None = None, batch_size: int = 16,
             overwrite: bool = False, device: str | None = None, judge_api_key: str | None = None,
             progress: bool = False, stop_after: int | None = None, backend_options: dict | None = None) -> dict:
    """Run (or resume) an evaluation into `out`; returns the summary. `stop_after`: stop after that
    many batches (for tests and to split long runs). `backend_options`: how to reach the backend
    (base_url, tensor_parallel_size ...); not part of the run's identity."""
    from .tasks import get_task

    cfg.validate()
    if batch_size < 1:
        raise EvalError(f"batch size must be >= 1, got {batch_size}")
    out = Path(out)
    task = get_task(cfg.task, data=cfg.data, fields=cfg.fields, limit=cfg.limit)
    questions = task.load()
    if not questions:
        raise EvalError(f"task {cfg.task} has no questions")
    plan = plan_units(cfg, questions)
    identity = {"config": cfg.identity(), "task": task.config(),
                "questions": hashlib.sha256("\n".join(q.id for q in questions).encode()).hexdigest(),
                "batch_size": batch_size}
    judge = None
    if cfg.judge_url:
        from .grading import Judge

        judge = Judge(cfg.judge_url, cfg.judge_model, api_key=judge_api_key or os.environ.get("S1_JUDGE_API_KEY"))
        judge.check()  # an unreachable judge fails now, not after an hour of generation
    records = open_run(out, identity, overwrite)
    if engine is None:
        from .backends import load_backend

        engine = load_backend(cfg.backend, cfg.model, template=cfg.template, dtype=cfg.dtype, device=device,
                              think_start=cfg.think_start, think_end=cfg.think_end, **(backend_options or {}))
    reward = _search_setup(cfg, engine, device)  # bad reward / delimiter: fails before the folder is made
    if records is None:
        start_run(out, identity)
        records = []

    # resumption: keep complete batches only (a unit's records were appended in one write, but a
    # batch redone with other neighbours would decode differently)
    batches_all = plan_batches(plan, batch_size)
    expected = {u.key(questions[u.qi].id): len(u.group.points) for b in batches_all for u in b}
    count = Counter(r["unit"] for r in records)
    complete = {k for k, n in count.items() if expected.get(k) == n}
    todo = [b for b in batches_all if not all(u.key(questions[u.qi].id) in complete for u in b)]
    keep = complete - {u.key(questions[u.qi].id) for b in todo for u in b}
    if sum(count[k] for k in keep) != len(records):
        records = [r for r in records if r["unit"] in keep]
        write_text_atomic(out / SAMPLES_FILE, "".join(json.dumps(r) + "\n" for r in records))
    total = sum(len(u.group.points) for b in todo for u in b)  # traces: unit x grid point

    runner = Runner(cfg, engine, questions, judge, batch_size)
    runner.reward = reward
    bar = _progress(progress, total, sum(count[k] for k in keep))
    try:
        with open(out / SAMPLES_FILE, "a") as f:
            for n, chunk in enumerate(todo):
                if stop_after is not None and n >= stop_after:
                    return write_summary(out, cfg, questions, records, complete=False)
                want, ticked = sum(len(u.group.points) for u in chunk), [0]

                def tick(k: int, want: int = want, ticked: list = ticked) -> None:  # rows as the engine ends them
                    k = min(k, want - ticked[0])
                    ticked[0] += k
                    bar(k)

                for recs in runner.run_units(chunk, progress=tick):
                    f.write("".join(json.dumps(r) + "\n" for r in recs))  # one unit, one write
                    records.extend(recs)
                f.flush()
                os.fsync(f.fileno())
                write_summary(out, cfg, questions, records, complete=False)
                bar(want - ticked[0])  # the rest of the batch (methods that do not report rows)
    finally:
        bar(None)
    summary = write_summary(out, cfg, questions, records, complete=True)
    return summary


def _search_setup(cfg: EvalConfig, engine, device: str | None):
    """The reward model of the run's search methods (None without one); checks the step delimiter."""
    from .search.run import setup

    try:
        return setup(cfg, engine, device)
    except ValueError as e:  # SearchError, RewardError
        raise EvalError(str(e)) from None


def _progress(enabled: bool, total: int, already: int):
    if not enabled or total == 0:
        return lambda n: None
    from .progress import progress_bar

    return progress_bar("eval", "traces", total, resumed=already)


def load_run(folder: str | Path) -> tuple[dict, dict, list[dict]]:
    """(config.json, summary.json, records) of a run folder."""
    folder = Path(folder)
    for name in (CONFIG_FILE, SUMMARY_FILE):
        if not (folder / name).exists():
            raise EvalError(f"{folder}: no {name}; is it an `s1 eval` output folder?")
    try:
        ident = json.loads((folder / CONFIG_FILE).read_text())
        summary = json.loads((folder / SUMMARY_FILE).read_text())
    except json.JSONDecodeError as e:
        raise EvalError(f"{folder}: damaged run files ({e})") from None
    return ident, summary, _read_records(folder / SAMPLES_FILE, repair=False)


__all__ = ["EvalConfig", "EvalError", "evaluate", "load_run", "unit_seed"]
