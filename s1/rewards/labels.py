"""Step labels made the Math-Shepherd way: roll the policy out from every step of its own solutions.

    from s1.rewards.labels import LabelConfig, make_labels
    make_labels(engine, questions, LabelConfig(), "labels.jsonl")   # questions: s1.tasks Questions

For each question the policy samples `samples` solutions. Steps are paragraphs of the thinking (a
blank line ends one, as in the step-conditional baseline). Each time a solution ends a step, `rollouts`
rows fork off it (they share its KV-cache prefix: nothing is re-run) with their own seeds and finish
the solution. A step is good (1) when any rollout from its end reaches the gold answer, or the
solution itself does (it is one more completion of the same prefix); else bad (0) ("hard estimation").
The thinking's last paragraph (when no blank line ends it) and the answer make the final step, as the
search methods split a finished trajectory; it is labelled by the solution's own correctness.
Paragraphs past `max_forks` rolled-out steps stay unlabelled (None). One JSON line per question is
appended to the labels file as soon as its solutions are done, so a rerun skips what is there.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

EXACT_KINDS = ("integer", "exact", "choice")  # graded without symbolic checks or a judge: labels are certain


class LabelError(ValueError):
    """Settings or a labels file a user can get wrong."""


@dataclass
class LabelConfig:
    samples: int = 4  # solutions sampled per question
    rollouts: int = 4  # completions rolled out from the end of each step
    temperature: float = 0.8
    top_p: float = 1.0
    seed: int = 0
    max_thinking_tokens: int = 256  # thinking budget of a solution (a rollout finishes within the same budget)
    max_answer_tokens: int = 32
    max_forks: int = 12  # steps rolled out per solution (the first ones); later paragraphs stay unlabelled
    batch_size: int = 4  # questions decoded together (each holds samples x (1 + forks x rollouts) rows at most)

    def validate(self) -> "LabelConfig":
        for name in ("samples", "rollouts", "max_thinking_tokens", "max_answer_tokens", "max_forks", "batch_size"):
            if getattr(self, name) < 1:
                raise LabelError(f"{name.replace('_', ' ')} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.temperature <= 10:
            raise LabelError(f"rollouts need sampling: temperature must be in (0, 10], got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise LabelError(f"top_p must be in (0, 1], got {self.top_p}")
        return self


def seed_of(*parts) -> int:
    """A stable seed for a row named by parts (Python's hash of a str changes per process)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs of a text (split at blank lines), stripped."""
    import re

    return [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


class StepEnds:
    """Tells, token by token, where a thinking text ends a step: the token after which it first shows a
    blank line (two newlines in a row, across tokens), with text since the last step end."""

    def __init__(self, decode):
        self.decode, self.newlines, self.text_since = decode, 0, False

    def feed(self, tok: int) -> bool:
        text = self.decode(tok)
        body = text.strip("\n")
        before = self.newlines
        if not body:
            self.newlines += len(text)
        else:
            self.text_since = self.text_since or bool(body.strip())
            self.newlines = len(text) - len(text.rstrip("\n"))
            before = 0
        if before < 2 <= self.newlines and self.text_since:
            self.text_since = False
            return True
        return False


@dataclass(eq=False)
class Solution:
    qi: int
    sample: int
    seq: object
    ends: StepEnds
    cuts: list  # thinking length at each rolled-out step end
    rollouts: list  # per cut: the answer texts of its rollouts (filled as they finish)
    seen: int = 0


def label_solution(tok, sol: Solution, correct: bool, rollout_correct: list[list[bool]]) -> tuple[list, list]:
    """(steps, labels) of one finished solution: paragraphs of the thinking + the answer."""
    row = sol.seq.row
    steps, labels = [], []
    bounds = [0, *sol.cuts, len(row.thinking)]
    tail = False  # thinking text after the last step end
    for k in range(len(bounds) - 1):
        paras = paragraphs(tok.decode(row.thinking[bounds[k] : bounds[k + 1]]))
        if not paras:
            continue
        tail = k == len(bounds) - 2
        label = correct if tail else (correct or any(rollout_correct[k]))
        steps += paras
        labels += [None] * (len(paras) - 1) + [int(label)]  # a blank line inside a token: no fork, no label
    answer = tok.decode(row.answer).strip()
    if answer and tail:  # the unfinished last paragraph and the answer are one final step, as search splits them
        steps[-1] = f"{steps[-1]}\n\n{answer}"
    elif answer:
        steps.append(answer)
        labels.append(int(correct))
    return steps, labels


def done_ids(path: Path) -> set[str]:
    """Question ids already labelled in `path` (a torn last line, from a kill, is dropped and rewritten)."""
    if not path.is_file():
        return set()
    lines = path.read_text(encoding="utf-8").split("\n")
    ids, keep = set(), []
    for line in lines:
        if not line.strip():
            continue
        try:
            ids.add(json.loads(line)["question_id"])
            keep.append(line)
        except (ValueError, KeyError, TypeError):
            break  # only the last line can be torn; everything after it is dropped too
    if len(keep) != len([x for x in lines if x.strip()]):
        from ..files import write_text_atomic

        write_text_atomic(path, "".join(x + "\n" for x in keep))
    return ids


def settings(cfg: LabelConfig):
    """(budget, sampling) of solutions and rollouts."""
    from ..budget import BudgetConfig
    from ..generation import SamplingConfig

    return (BudgetConfig(max_thinking_tokens=cfg.max_thinking_tokens, max_answer_tokens=cfg.max_answer_tokens),
            SamplingConfig(cfg.temperature, cfg.top_p, 0, cfg.seed))


def check_fits(engine, questions, cfg: LabelConfig) -> None:
    """Raise the engine's own error (BudgetError) when a prompt and the budget do not fit its context."""
    budget, sampling = settings(cfg.validate())
    engine.prepare([q.prompt for q in questions], [budget], sampling)


def make_labels(engine, questions, cfg: LabelConfig, path: str | Path, progress=None) -> dict:
    """Label the steps of sampled solutions of `questions` (s1.tasks Questions with exact answers) into
    the JSONL file `path`, skipping questions already there. Returns counts."""
    from ..grading import grade
    from ..step import Batch, Seq

    cfg.validate()
    bad = sorted({q.kind for q in questions} - set(EXACT_KINDS))
    if bad:
        raise LabelError(f"step labels need answers that grade exactly ({', '.join(EXACT_KINDS)}); these "
                         f"questions are graded as {', '.join(bad)}")
    path = Path(path)
    have = done_ids(path)
    todo = [q for q in questions if q.id not in have]
    counts = {"questions": len(questions), "resumed": len(questions) - len(todo), "solutions": 0, "rollouts": 0,
              "steps": 0, "good": 0, "bad": 0, "unlabelled": 0, "correct_solutions": 0,
              # prompt tokens run, and what rolling out by re-running prompt + step prefix would have run
              "prefill_tokens": 0, "rerun_prefix_tokens": 0, "decoded_row_steps": 0}
    stats: dict = {}
    budget, sampling = settings(cfg)
    phases = {"think": sampling, "answer": sampling}
    tok = engine.tokenizer
    text_of = {}  # token id -> text, for step ends

    def decode(t: int) -> str:
        if t not in text_of:
            text_of[t] = tok.decode([t])
        return text_of[t]

    for start in range(0, len(todo), cfg.batch_size):
        chunk = todo[start : start + cfg.batch_size]
        prep = engine.prepare([q.prompt for q in chunk], [budget], sampling)
        batch = Batch(engine.runner, stats)
        leads = [Seq(prep.row(i, 0, engine.context_length), phases, {"think": 0, "answer": 0})
                 for i in range(len(chunk))]
        batch.add(prep.ids, leads)
        sols: list[Solution] = []
        for i, lead in enumerate(leads):
            for j in range(cfg.samples):  # every sample forks the prompt's slot before the first draw
                seq = lead if j == 0 else batch.fork(lead)
                seq.gens, s = {}, seed_of(cfg.seed, chunk[i].id, j)
                seq.seeds = {"think": s, "answer": s}
                sols.append(Solution(i, j, seq, StepEnds(decode), [], []))
        rollout_of = {}  # rollout Seq -> (solution, cut index)
        answers: dict[object, str] = {}

        def on_token(seq, _tok, _part):
            if seq.row.done:
                answers[seq] = tok.decode(seq.row.answer)

        try:
            while batch.slots:
                batch.step(on_token)
                for sol in sols:
                    row = sol.seq.row
                    fresh = row.thinking[sol.seen :]
                    sol.seen = len(row.thinking)
                    ended = [sol.ends.feed(t) for t in fresh]
                    if not (ended and ended[-1]) or row.done or row.phase != "think" or row.queue:
                        continue
                    if len(sol.cuts) >= cfg.max_forks:
                        continue
                    k = len(sol.cuts)
                    sol.cuts.append(len(row.thinking))
                    sol.rollouts.append([])
                    counts["rerun_prefix_tokens"] += cfg.rollouts * (len(prep.ids[sol.qi]) + len(sol.seq.out))
                    for r in range(cfg.rollouts):
                        child = batch.fork(sol.seq)
                        s = seed_of(cfg.seed, chunk[sol.qi].id, sol.sample, k, r)
                        child.gens, child.seeds = {}, {"think": s, "answer": s}
                        rollout_of[child] = (sol, k)
        except BaseException:
            batch.clear()
            raise
        for child, (sol, k) in rollout_of.items():
            sol.rollouts[k].append(answers[child])
        lines = []
        for i, q in enumerate(chunk):
            record = {"question_id": q.id, "question": q.prompt, "gold": q.answer, "kind": q.kind, "solutions": []}
            for sol in (s for s in sols if s.qi == i):
                correct = grade(answers[sol.seq], q.answer, q.kind).correct
                ok = [[grade(a, q.answer, q.kind).correct for a in rs] for rs in sol.rollouts]
                steps, labels = label_solution(tok, sol, correct, ok)
                record["solutions"].append({"sample": sol.sample, "correct": correct, "answer": answers[sol.seq],
                                            "steps": steps, "labels": labels,
                                            "rollouts_correct": [sum(o) for o in ok], "rollouts": cfg.rollouts})
                counts["solutions"] += 1
                counts["correct_solutions"] += int(correct)
                counts["rollouts"] += sum(len(o) for o in ok)
                counts["steps"] += len(steps)
                counts["good"] += labels.count(1)
                counts["bad"] += labels.count(0)
                counts["unlabelled"] += labels.count(None)
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        with open(path, "a", encoding="utf-8") as f:  # one line per question, appended when it is whole
            f.writelines(lines)
            f.flush()
        if progress:
            progress(len(chunk))
    counts["prefill_tokens"] = stats.get("prefill_tokens", 0)
    counts["decoded_row_steps"] = stats.get("decode_row_steps", 0)
    return counts


def read_labels(path: str | Path) -> list[tuple[str, str, list[str], list[int | None]]]:
    """(question id, question, steps, labels) of every labelled solution in a labels file."""
    from ..jsonl import read_jsonl

    out = []
    for _, rec in read_jsonl(path):
        for sol in rec.get("solutions", []):
            if sol["steps"]:
                out.append((rec["question_id"], rec["question"], sol["steps"], sol["labels"]))
    return out


def config_dict(cfg: LabelConfig) -> dict:
    return asdict(cfg)
