"""Stage 2 of `s1 curate`: drop questions that overlap evaluation sets (word 8-grams) and exact duplicates.

    decontaminate("pool.jsonl", "clean.jsonl", against=["aime24", "math500", "gpqa", "my_eval.jsonl"])

Text is normalized for matching as: lowercase, every non-alphanumeric character replaced by a space,
split on whitespace. A question is contaminated when it shares one word n-gram (n=8, as in the s1
paper) with an evaluation prompt, or when its normalized text equals a prompt's (how questions shorter
than n words are compared). N-grams that occur in at least half the prompts of one evaluation set are
that set's template ("Think step by step, then give the final answer inside \\boxed{}.") rather than
content and are left out of the index, else every question written with the same instruction would match.
Exact duplicates (same normalized question, i.e. the same row id) are dropped across and within
sources, keeping the first. The rows stream through; only the index and the seen ids are in memory.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import CurateError
from .rowfiles import FORMATS, RowWriter, iter_rows
from .schema import row_id

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
TEMPLATE_SHARE = 0.5  # an n-gram in >= this share of one eval set's prompts is template text
TEMPLATE_MIN_PROMPTS = 8  # ...judged only for sets this large (in a tiny set every n-gram is "common")
PROMPT_COLUMNS = ("prompt", "question", "problem", "Question", "Problem")


def words(text: str) -> list[str]:
    """lowercase, non-alphanumerics -> space, split."""
    return _NON_ALNUM.sub(" ", str(text).lower()).split()


def ngrams(ws: list[str], n: int) -> set[str]:
    # joined strings hash faster than tuples and cost less memory in the index
    return {" ".join(ws[i:i + n]) for i in range(len(ws) - n + 1)}


@dataclass
class Index:
    """What questions are checked against: n-gram -> eval set it came from, and whole normalized prompts."""

    n: int = 8
    grams: dict[str, str] = field(default_factory=dict)
    exact: dict[str, str] = field(default_factory=dict)
    sets: dict[str, dict] = field(default_factory=dict)  # eval set -> {"prompts", "ngrams", "template_ngrams"}

    def add_set(self, name: str, prompts: list[str]) -> None:
        per_prompt = [words(p) for p in prompts]
        gram_sets = [ngrams(ws, self.n) for ws in per_prompt]
        template: set[str] = set()
        if len(prompts) >= TEMPLATE_MIN_PROMPTS:
            df = Counter(g for gs in gram_sets for g in gs)
            template = {g for g, c in df.items() if c >= TEMPLATE_SHARE * len(prompts)}
        added = 0
        for ws, gs in zip(per_prompt, gram_sets):
            if ws:
                self.exact.setdefault(" ".join(ws), name)
            for g in gs - template:
                if g not in self.grams:
                    self.grams[g] = name
                    added += 1
        self.sets[name] = {"prompts": len(prompts), "ngrams": added, "template_ngrams": len(template)}

    def match(self, question: str) -> tuple[str, str] | None:
        """(eval set, the matching n-gram or whole text) when `question` is contaminated, else None."""
        ws = words(question)
        whole = " ".join(ws)
        if whole in self.exact:
            return self.exact[whole], whole
        grams = self.grams
        # zip of n shifted views yields each window as a tuple: ~20% faster than slicing per position
        for g in map(" ".join, zip(*[ws[k:] for k in range(self.n)])):
            if g in grams:
                return grams[g], g
        return None


def eval_prompts(spec: str) -> tuple[str, list[str]]:
    """(name, prompts) of one evaluation set: a local file (its prompt/question/problem column) or a task spec."""
    p = Path(spec)
    if p.suffix.lower() in FORMATS or p.exists():
        if not p.is_file():
            raise CurateError(f"decontaminate: no such file {spec}")
        prompts = []
        for raw in iter_rows(p, normalize=False):
            col = next((c for c in PROMPT_COLUMNS if raw.get(c)), None)
            if col is None:
                raise CurateError(f"{spec}: a row has none of the columns {', '.join(PROMPT_COLUMNS)}")
            prompts.append(str(raw[col]))
        return str(p), prompts
    from s1.tasks import TaskError, get_task

    try:
        qs = get_task(spec).load()
    except TaskError as e:
        raise CurateError(f"decontaminate: {e}") from None
    except Exception as e:  # the hub (offline, gated) raises many types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CurateError(f"decontaminate: cannot load evaluation task {spec!r}: {first}") from None
    return spec, [q.prompt for q in qs]


def build_index(against: list[str], n: int = 8) -> Index:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CurateError(f"decontaminate: n must be a positive integer, got {n!r}")
    index = Index(n=n)
    for spec in against:
        name, prompts = eval_prompts(spec)
        index.add_set(name, prompts)
    return index


def decontaminate(inp: str | Path, out: str | Path, against: list[str], n: int = 8, examples: int = 20,
                  index: Index | None = None) -> dict:
    """Stream `inp` to `out` without contaminated or duplicate questions; returns the counts.

    `against`: evaluation task specs (resolved with s1.tasks.get_task(spec).load(), their prompts) and/or
    local files. Stats: {"rows", "kept", "dropped_contaminated", "dropped_duplicate", "per_source":
    {source: {"kept", "dropped_contaminated", "dropped_duplicate"}}, "against": {set: {"prompts", "ngrams",
    "template_ngrams", "hits"}}, "examples": [{"id", "source_type", "eval", "match"}, ...]}. A contaminated
    row is counted as contaminated even when it is also a duplicate.
    """
    index = index if index is not None else build_index(list(against), n)
    per: dict[str, dict[str, int]] = {}
    hits: Counter[str] = Counter()
    shown: list[dict] = []
    seen: set[str] = set()
    total = 0
    with RowWriter(out) as w:
        for row in iter_rows(inp):
            total += 1
            src = row.get("source_type") or ""
            c = per.setdefault(src, {"kept": 0, "dropped_contaminated": 0, "dropped_duplicate": 0})
            m = index.match(row["question"])
            if m is not None:
                c["dropped_contaminated"] += 1
                hits[m[0]] += 1
                if len(shown) < examples:
                    shown.append({"id": row["id"], "source_type": src, "eval": m[0], "match": m[1]})
                continue
            rid = row_id(row["question"])  # the normalized text, whatever id an input file carried
            if rid in seen:
                c["dropped_duplicate"] += 1
                continue
            seen.add(rid)
            c["kept"] += 1
            w.write(row)
    sets = {k: {**v, "hits": hits.get(k, 0)} for k, v in index.sets.items()}
    return {"stage": "decontaminate", "out": str(out), "n": index.n, "rows": total,
            "kept": sum(c["kept"] for c in per.values()),
            "dropped_contaminated": sum(c["dropped_contaminated"] for c in per.values()),
            "dropped_duplicate": sum(c["dropped_duplicate"] for c in per.values()),
            "per_source": per, "against": sets, "examples": shown}


__all__ = ["Index", "build_index", "decontaminate", "eval_prompts", "ngrams", "words"]
