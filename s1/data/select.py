"""Stage 5 of `s1 curate`: quality filters, the difficulty filter and the s1 selection of N questions.

    select("featurized.parquet", "s1k.parquet", n=1000, seed=0)   # method="random"|"diverse"|"longest": ablations

Quality filters run in order, each named and counted: missing_fields, trace_error, feature_error,
image_reference, asymptote, broken_numbering (then duplicate ids, normally 0). Difficulty drops a
question that any solver answered correctly. The s1 algorithm (paper, Algorithm 1) then takes the seed
set and repeats until N: pick a domain uniformly among domains with questions left; within it rank the
questions by trace length, longest first, and take rank r with probability proportional to 2^-r. The
input streams twice: once keeping only (id, domain, length) per candidate, once writing the chosen rows
(in input order, s1K-1.1 layout).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..files import write_text_atomic
from . import CurateError
from .rowfiles import FORMATS, RowWriter, iter_rows
from .schema import to_s1k11

METHODS = ("s1", "random", "diverse", "longest")
UNKNOWN_DOMAIN = "unknown"
CHARS_PER_TOKEN = 4  # length estimate for rows that featurize did not count

IMAGE_MARKERS = ("![", ".png", ".jpg", ".jpeg", ".gif", ".svg", "<img", "\\includegraphics", "[img]")
# A list item at the start of a line: "3." / "3)" / "(3)" followed by whitespace ("3.5" is a number, not an item).
_ITEM = re.compile(r"^[ \t]*(?:\((\d{1,3})\)|(\d{1,3})([.)]))(?=\s)", re.MULTILINE)


def _blank(x: object) -> bool:
    return x is None or (isinstance(x, str) and not x.strip())


def missing_fields(row: dict) -> bool:
    return _blank(row.get("question")) or _blank(row.get("thinking")) or _blank(row.get("attempt"))


def has_trace_error(row: dict) -> bool:
    return not _blank(row.get("trace_error"))


def has_feature_error(row: dict) -> bool:
    return not _blank(row.get("feature_error"))


def image_reference(row: dict) -> bool:
    """The question or solution points at a picture the model will never see."""
    text = f"{row.get('question') or ''}\n{row.get('solution') or ''}".lower()
    return any(m.lower() in text for m in IMAGE_MARKERS)


def asymptote(row: dict) -> bool:
    """An [asy] drawing: Asymptote source, unreadable as a figure in text."""
    text = f"{row.get('question') or ''}\n{row.get('solution') or ''}".lower()
    return "[asy]" in text


def numbering_broken(text: str) -> bool:
    """True when the question's numbered items skip or repeat a number.

    Items are lines starting with "k." , "k)" or "(k)" (k up to 3 digits, then whitespace); each of those
    three styles is its own list, so "1." items may hold "(1)" sub-items. Within a style every item must
    be the previous number + 1, or 1 (a new list starts). A single item is never broken.
    """
    last: dict[str, int] = {}
    for m in _ITEM.finditer(text or ""):
        if m.group(1) is not None:
            style, k = "()", int(m.group(1))
        else:
            style, k = m.group(3), int(m.group(2))
        prev = last.get(style)
        if prev is not None and k != prev + 1 and k != 1:
            return True
        last[style] = k
    return False


def broken_numbering(row: dict) -> bool:
    return numbering_broken(row.get("question") or "")


# (name, drop?) in the order they run; each row is counted by the first filter that drops it.
QUALITY_FILTERS: list[tuple[str, Callable[[dict], bool]]] = [
    ("missing_fields", missing_fields),
    ("trace_error", has_trace_error),
    ("feature_error", has_feature_error),
    ("image_reference", image_reference),
    ("asymptote", asymptote),
    ("broken_numbering", broken_numbering),
]


def quality_verdict(row: dict) -> str | None:
    """The name of the first quality filter that drops `row`, or None when it passes all."""
    for name, drop in QUALITY_FILTERS:
        if drop(row):
            return name
    return None


def difficulty(row: dict) -> str:
    """"solved" (some solver got it right), "unsolved" (all solvers known and wrong) or "unknown"."""
    verdicts = row.get("solver_correct")
    if not isinstance(verdicts, dict) or not verdicts:
        return "unknown"
    values = list(verdicts.values())
    if any(v is True for v in values):
        return "solved"
    if all(v is False for v in values):
        return "unsolved"
    return "unknown"


@dataclass(frozen=True)
class Candidate:
    id: str
    domain: str
    length: int  # trace tokens (or chars / 4 where unknown)


# -- the selection algorithms (pure: candidates + rng -> chosen ids in pick order) ---------------

def _by_domain(cands: list[Candidate]) -> dict[str, list[Candidate]]:
    """domain -> its candidates with the longest LAST (rank r sits at index -1-r), so picks pop near the end."""
    groups: dict[str, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(c.domain, []).append(c)
    # rank order: longest first, ties by id (deterministic whatever the input order); then reversed
    return {d: sorted(g, key=lambda c: (-c.length, c.id))[::-1] for d, g in sorted(groups.items())}


def _rank(rng: random.Random, m: int) -> int:
    """Rank r in [0, m) with P(r) proportional to 2^-r."""
    u = rng.random() * (2.0 - 2.0 ** (1 - m))  # the weights' sum
    r, w = 0, 1.0
    while r < m - 1 and u >= w:
        u -= w
        w *= 0.5
        r += 1
    return r


def _pick_by_domain(cands: list[Candidate], k: int, rng: random.Random,
                    take: Callable[[random.Random, list[Candidate]], Candidate]) -> list[str]:
    """Repeat k times: a domain uniformly at random among those with rows left, then `take` one of its rows."""
    groups = _by_domain(cands)
    names = list(groups)
    chosen = []
    while len(chosen) < k and names:
        d = names[rng.randrange(len(names))]
        g = groups[d]
        chosen.append(take(rng, g).id)
        if not g:
            names.remove(d)
    return chosen


def _take_by_rank(rng: random.Random, g: list[Candidate]) -> Candidate:
    return g.pop(len(g) - 1 - _rank(rng, len(g)))  # popping near the end: O(r), and r is small


def _take_uniform(rng: random.Random, g: list[Candidate]) -> Candidate:
    i = rng.randrange(len(g))
    g[i], g[-1] = g[-1], g[i]
    return g.pop()


def pick_s1(cands: list[Candidate], k: int, rng: random.Random) -> list[str]:
    """Uniform domain, then 2^-rank by trace length (longest = rank 0) within it; k picks without replacement."""
    return _pick_by_domain(cands, k, rng, _take_by_rank)


def pick_diverse(cands: list[Candidate], k: int, rng: random.Random) -> list[str]:
    """Uniform domain, then a uniform question within it."""
    return _pick_by_domain(cands, k, rng, _take_uniform)


def pick_random(cands: list[Candidate], k: int, rng: random.Random) -> list[str]:
    return [c.id for c in rng.sample(cands, min(k, len(cands)))]


def pick_longest(cands: list[Candidate], k: int, rng: random.Random) -> list[str]:
    return [c.id for c in sorted(cands, key=lambda c: (-c.length, c.id))[:k]]


PICKERS = {"s1": pick_s1, "random": pick_random, "diverse": pick_diverse, "longest": pick_longest}


def choose(cands: list[Candidate], n: int, seed: int = 0, method: str = "s1",
           seed_ids: Iterable[str] = ()) -> list[str]:
    """The chosen ids in pick order: the seed set first (in its order), then `method` up to n."""
    if method not in PICKERS:
        raise CurateError(f"select: method must be one of {', '.join(METHODS)}, got {method!r}")
    have = {c.id for c in cands}
    first = [i for i in dict.fromkeys(seed_ids) if i in have][:n]
    taken = set(first)
    rest = [c for c in cands if c.id not in taken]
    return first + PICKERS[method](rest, n - len(first), random.Random(seed))


# -- the stage -------------------------------------------------------------------------------------

def _read_ids(seed_ids: Iterable[str] | str | Path | None) -> list[str]:
    if seed_ids is None:
        return []
    if isinstance(seed_ids, (str, Path)):
        p = Path(seed_ids)
        if not p.is_file():
            raise CurateError(f"select: seed id file {p} not found")
        if p.suffix.lower() in FORMATS:
            return [r["id"] for r in iter_rows(p)]
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(i) for i in seed_ids]


def select(inp: str | Path, out: str | Path, n: int = 1000, seed: int = 0, method: str = "s1",
           solvers_must_fail: bool = True, seed_ids: Iterable[str] | str | Path | None = None,
           report_dir: str | Path | None = None) -> dict:
    """Filter and select n rows of `inp` into `out` (s1K-1.1 layout, input order); returns stats with the funnel.

    Stats: {"funnel": [[step, rows remaining], ...] from "input" through every filter to "selected",
    "dropped": {filter: count}, "difficulty": {"solved", "unsolved", "unknown"}, "selected", "seed_selected",
    "domains": {domain: {"pool", "selected"}}, "length": {"pool_mean", "selected_mean"}, "notes": [...]}.
    report_dir (optional) gets select.json (these stats) and candidates.jsonl (id, source_type, domain,
    length, dropped_by, pick) for every input row, for plots.
    """
    if method not in METHODS:
        raise CurateError(f"select: method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CurateError(f"select: n must be a positive integer, got {n!r}")
    seeds = _read_ids(seed_ids)
    notes: list[str] = []
    names = [name for name, _ in QUALITY_FILTERS] + ["duplicate", "difficulty"]
    dropped: Counter[str] = Counter({name: 0 for name in names})
    diff: Counter[str] = Counter({"solved": 0, "unsolved": 0, "unknown": 0})
    cands: list[Candidate] = []
    light: list[tuple] = []  # per input row, for the report: (id, source_type, domain, length, dropped_by)
    seen: set[str] = set()
    total = estimated = no_domain = 0

    # pass 1: verdicts and the light columns
    for row in iter_rows(inp):
        total += 1
        domain = row.get("domain") or UNKNOWN_DOMAIN
        tokens = row.get("trace_tokens")
        if isinstance(tokens, (int, float)) and not isinstance(tokens, bool):
            length = int(tokens)
        else:
            length = len(row.get("thinking") or "") // CHARS_PER_TOKEN
            estimated += 1
        why = quality_verdict(row)
        if why is None and row["id"] in seen:
            why = "duplicate"
        if why is None:
            seen.add(row["id"])
            verdict = difficulty(row)
            diff[verdict] += 1
            if verdict == "solved" or (verdict == "unknown" and solvers_must_fail):
                why = "difficulty"
        if why is None:
            cands.append(Candidate(row["id"], domain, length))
            no_domain += domain == UNKNOWN_DOMAIN
        else:
            dropped[why] += 1
        if report_dir is not None:
            light.append((row["id"], row.get("source_type") or "", domain, length, why))

    if total == 0:  # an empty selection from an empty file is a mistake upstream, not a result
        raise CurateError(f"{inp}: no rows")
    funnel: list[list] = [["input", total]]
    left = total
    for name in names:
        left -= dropped[name]
        funnel.append([name, left])
    if estimated:
        notes.append(f"{estimated} rows had no trace_tokens; their length was estimated as characters/"
                     f"{CHARS_PER_TOKEN} (run featurize to count tokens)")
    if no_domain:
        notes.append(f"{no_domain} candidates had no domain and share the domain {UNKNOWN_DOMAIN!r} "
                     f"(run featurize to classify them)")
    if diff["unknown"] and solvers_must_fail:
        notes.append(f"{diff['unknown']} rows without a verdict from every solver were dropped "
                     f"(solvers_must_fail=True; run featurize with solvers, or pass solvers_must_fail=False)")
    missing_seeds = [i for i in dict.fromkeys(seeds) if i not in {c.id for c in cands}] if seeds else []
    if missing_seeds:
        notes.append(f"{len(missing_seeds)} of {len(set(seeds))} seed ids are not among the filtered rows "
                     f"(absent from the input or dropped by a filter)")

    if n > len(cands):
        notes.append(f"asked for n={n} but only {len(cands)} rows passed the filters: all {len(cands)} are selected")
    chosen = choose(cands, n, seed=seed, method=method, seed_ids=seeds)
    pick = {cid: i for i, cid in enumerate(chosen)}
    funnel.append(["selected", len(chosen)])

    # pass 2: write the chosen rows
    written: set[str] = set()
    with RowWriter(out) as w:
        if chosen:
            for row in iter_rows(inp):
                if row["id"] in pick and row["id"] not in written:  # a repeated id: its first row, as in pass 1
                    w.write(to_s1k11(row))
                    written.add(row["id"])
                    if len(written) == len(pick):
                        break  # the rest of the file holds nothing chosen
    if len(written) != len(chosen):  # the input changed between the passes
        raise CurateError(f"select: {inp} changed while it was read "
                          f"({len(written)} of {len(chosen)} chosen rows found)")

    by_id = {c.id: c for c in cands}
    domains: dict[str, dict[str, int]] = {}
    for c in cands:
        domains.setdefault(c.domain, {"pool": 0, "selected": 0})["pool"] += 1
    for cid in chosen:
        domains[by_id[cid].domain]["selected"] += 1
    sel_len = [by_id[c].length for c in chosen]
    stats = {
        "stage": "select", "out": str(out), "method": method, "n": n, "seed": seed,
        "solvers_must_fail": solvers_must_fail, "rows": total, "funnel": funnel, "dropped": dict(dropped),
        "difficulty": dict(diff), "candidates": len(cands), "selected": len(chosen),
        "seed_selected": len([i for i in chosen if i in set(seeds)]) if seeds else 0,
        "domains": dict(sorted(domains.items())),
        "length": {"pool_mean": round(sum(c.length for c in cands) / len(cands), 1) if cands else None,
                   "selected_mean": round(sum(sel_len) / len(sel_len), 1) if sel_len else None},
        "notes": notes,
    }
    if report_dir is not None:
        rd = Path(report_dir)
        rd.mkdir(parents=True, exist_ok=True)
        write_text_atomic(rd / "select.json", json.dumps(stats, indent=2) + "\n")
        with RowWriter(rd / "candidates.jsonl") as w:
            for rid, src, dom, length, why in light:
                w.write({"id": rid, "source_type": src, "domain": dom, "length": length, "dropped_by": why,
                         "pick": pick.get(rid) if why is None else None})
    return stats


def read_candidates(report_dir: str | Path) -> list[dict]:
    """The rows that passed every filter (what the selection drew from) as {domain, trace_tokens}, from the
    candidates.jsonl that `select(..., report_dir=...)` wrote; [] when there is none."""
    path = Path(report_dir) / "candidates.jsonl"
    if not path.exists():
        return []
    return [{"domain": c.get("domain"), "trace_tokens": c.get("length")}
            for c in iter_rows(path, normalize=False) if not c.get("dropped_by")]


def push_to_hub(path: str | Path, repo: str) -> None:
    """Upload a selection file as a Hub dataset (needs a login); the file on disk stays as written."""
    import datasets

    path = str(path)
    kind = "parquet" if path.endswith(".parquet") else "json"
    try:
        datasets.load_dataset(kind, data_files=path, split="train").push_to_hub(repo)
    except Exception as e:  # auth, network, repo errors: one line, the file stays
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CurateError(f"push to {repo} failed ({first}); {path} is written") from None


__all__ = ["Candidate", "IMAGE_MARKERS", "METHODS", "QUALITY_FILTERS", "choose", "difficulty", "numbering_broken",
           "pick_diverse", "pick_longest", "pick_random", "pick_s1", "push_to_hub", "quality_verdict",
           "read_candidates", "select"]
