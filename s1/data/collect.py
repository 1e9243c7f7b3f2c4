"""Stage 1 of `s1 curate`: gather questions from local files and Hub datasets into one row file.

    collect([Source("numina", "AI-MO/NuminaMath-CoT", {"question": "problem"}, limit=1000)], "pool.jsonl")

Each source is streamed (a Hub dataset through datasets' streaming mode, never downloaded whole),
its columns renamed by the source's mapping, normalized to the row schema and tagged with the source's
name in `source_type`. Rows without a question are skipped and counted per source.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import CurateError
from .rowfiles import FORMATS, RowWriter, iter_rows, write_rows
from .schema import normalize_row


@dataclass
class Source:
    name: str  # goes to every row's source_type, e.g. "numina"
    spec: str  # a local .jsonl/.json/.parquet file or a Hub dataset id ("owner/name")
    mapping: dict[str, str] | None = None  # schema column -> source column, e.g. {"question": "problem"}
    split: str = "train"
    limit: int | None = None  # at most this many rows (after skipping rows without a question)
    config: str | None = None  # the Hub dataset's configuration (subset), if it has several
    cot_type: str = "math"  # for rows that carry none
    revision: str | None = None  # a Hub revision (commit, tag or branch) to pin the data to
    extra: dict = field(default_factory=dict)  # extra load_dataset keyword arguments

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise CurateError(f"a source needs a name, got {self.name!r}")
        if not self.spec:
            raise CurateError(f"source {self.name}: needs a file or a Hub dataset id")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise CurateError(f"source {self.name}: limit must be a positive integer, got {self.limit!r}")
        for k, v in (self.mapping or {}).items():
            if not isinstance(k, str) or not isinstance(v, str) or not v:
                raise CurateError(f"source {self.name}: mapping must be column: column, got {k!r}: {v!r}")

    def is_local(self) -> bool:
        p = Path(self.spec)
        return p.suffix.lower() in FORMATS or p.exists()


def _hub_rows(src: Source) -> Iterator[dict]:
    """Stream a Hub dataset split (no full download)."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise CurateError("reading Hub datasets needs the `datasets` package") from None
    try:
        ds = datasets.load_dataset(src.spec, src.config, split=src.split, streaming=True, revision=src.revision,
                                   **src.extra)
        yield from ds
    except CurateError:
        raise
    except Exception as e:  # the hub raises many types: offline, gated, missing, bad split
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CurateError(f"source {src.name}: cannot read Hub dataset {src.spec!r} "
                          f"(split {src.split!r}): {first}") from None


def source_rows(src: Source, stats: dict | None = None, on_error: str = "raise") -> Iterator[dict]:
    """The normalized rows of one source; counts into `stats` (rows, skipped_no_question, bad_rows)."""
    stats = stats if stats is not None else {}
    stats.setdefault("rows", 0)
    stats.setdefault("skipped_no_question", 0)
    stats.setdefault("bad_rows", 0)
    errors: list[str] = []
    if src.is_local():
        if not Path(src.spec).is_file():
            raise CurateError(f"source {src.name}: no such file {src.spec}")
        raw_rows: Iterator[dict] = iter_rows(src.spec, on_error=on_error, errors=errors, normalize=False)
    else:
        raw_rows = _hub_rows(src)
    mapping = dict(src.mapping or {})
    checked = False
    for raw in raw_rows:
        stats["bad_rows"] = len(errors)
        if src.limit is not None and stats["rows"] >= src.limit:
            break
        raw = dict(raw)
        if mapping:
            if not checked:  # a wrong mapping is a typo: say so once, with the columns there are
                missing = [c for c in mapping.values() if c not in raw]
                if missing:
                    raise CurateError(f"source {src.name}: column(s) {', '.join(missing)} not found; "
                                      f"columns are {', '.join(map(str, raw))}")
                checked = True
            renamed = {target: raw.get(col) for target, col in mapping.items()}
            used = set(mapping.values())
            raw = {**{k: v for k, v in raw.items() if k not in used}, **renamed}
        question = raw.get("question")
        if question is None or not str(question).strip():
            stats["skipped_no_question"] += 1
            continue
        original = raw.get("source_type")
        source_id = raw.pop("id", None)  # our id is the question's hash; the dataset's own id goes to metadata
        raw.setdefault("cot_type", src.cot_type)
        if not raw.get("cot_type"):
            raw["cot_type"] = src.cot_type
        row = normalize_row(raw, source_type=src.name)
        if original and original != src.name:  # keep where the published row said it came from
            row["metadata"].setdefault("original_source_type", original)
        if source_id is not None and source_id != row["id"]:
            row["metadata"].setdefault("source_id", source_id)
        stats["rows"] += 1
        yield row
    stats["bad_rows"] = len(errors)


def collect(sources: list[Source], out: str | Path, on_error: str = "raise") -> dict:
    """Stream every source into `out` (.jsonl or .parquet, written atomically); returns the counts.

    Stats: {"rows": total, "sources": {name: {"spec", "rows", "skipped_no_question", "bad_rows"}}}.
    on_error="skip" skips (and counts) unreadable lines of local files instead of stopping.
    """
    if not sources:
        raise CurateError("collect needs at least one source")
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CurateError(f"source names must be unique; repeated: {', '.join(dupes)}")
    per: dict[str, dict] = {s.name: {"spec": s.spec} for s in sources}
    with RowWriter(out) as w:
        w.write_all(itertools.chain.from_iterable(source_rows(s, per[s.name], on_error) for s in sources))
    return {"stage": "collect", "out": str(out), "rows": sum(p["rows"] for p in per.values()), "sources": per}


def sources_from_specs(specs: list[str], maps: list[str], out: str | Path, limit: int | None = None) -> list[Source]:
    """Sources from `s1 curate collect` flags: specs 'NAME=FILE_OR_HUB_ID' (a bare path is named by its stem;
    'NAME=builtin' writes the built-in pool next to `out` first, 'NAME=rg:<dataset>[:knobs]' reasoning-gym
    questions) and maps 'NAME:COLUMN=SOURCECOLUMN'."""
    mappings: dict[str, dict] = {}
    for m in maps:
        name, _, rest = m.partition(":")
        key, sep, col = rest.partition("=")
        if not sep or not name or not key or not col:
            raise CurateError(f"--map {m!r}: expected NAME:COLUMN=SOURCECOLUMN")
        mappings.setdefault(name, {})[key] = col
    sources = []
    for s in specs:
        name, sep, spec = s.partition("=")
        if not sep:
            name, spec = Path(s).stem, s
        if spec == "builtin":
            from .pool import builtin_pool

            spec = str(Path(out).with_name(f".{name}-builtin.jsonl"))
            write_rows(spec, builtin_pool())
        elif spec.startswith("rg:"):  # NAME=rg:<dataset>[:n=..,seed=..,key=value]: reasoning-gym questions
            from .rg_source import rg_rows

            rows = rg_rows([spec[3:]])
            spec = str(Path(out).with_name(f".{name}-rg.jsonl"))
            write_rows(spec, rows)
        sources.append(Source(name, spec, mappings.get(name), limit=limit))
    unknown = set(mappings) - {s.name for s in sources}
    if unknown:
        raise CurateError(f"--map for unknown source(s): {', '.join(sorted(unknown))}")
    return sources


__all__ = ["Source", "collect", "source_rows", "sources_from_specs"]
