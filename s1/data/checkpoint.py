"""Resumable stages of `s1 curate`: an append-only work file of finished rows next to the stage's output.

    ck = Checkpoint("traced.jsonl", meta={"teacher": t}); done = ck.done_ids()   # then add(), finish()

A stage whose rows cost money or time (traces, featurize) records each finished row here, so a killed
run continues where it stopped and a re-run with other settings is refused instead of mixing rows.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..jsonl import dumps_line
from . import CurateError
from .rowfiles import write_rows

log = logging.getLogger(__name__)


def work_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


class Checkpoint:
    """An append-only work file `<out>.partial.jsonl` of finished rows, so a killed stage resumes.

        ck = Checkpoint(out, meta={"teacher": teacher})
        done = ck.done_ids()
        with ck:
            for row in iter_rows(inp):
                if row["id"] not in done: ck.add(work(row))
        ck.finish(out, order=(r["id"] for r in iter_rows(inp)))

    Rows are flushed and fsynced every `every` rows (and on close), so a kill loses at most that many.
    A torn last line (killed mid-write) is dropped and cut off before appending. `meta` is stored in the
    first line: a re-run with different settings is refused instead of mixing rows of both. `finish`
    writes the output in the given id order (default: the order rows finished) by seeking to each row,
    so the rows are never all in memory, then removes the work file.
    """

    def __init__(self, out: str | Path, every: int = 16, meta: dict | None = None):
        self.out = Path(out)
        self.path = work_path(out)
        self.every = max(1, every)
        self.meta = meta
        self._offsets: dict[str, int] | None = None
        self._f = None
        self._pending = 0

    def _scan(self) -> dict[str, int]:
        """id -> byte offset of its line; cuts a torn tail; checks the header's meta."""
        offsets: dict[str, int] = {}
        if not self.path.exists():
            self._offsets = offsets
            return offsets
        good_end = 0
        with open(self.path, "rb") as f:
            pos = 0
            for lineno, line in enumerate(f, 1):
                start, pos = pos, pos + len(line)
                if not line.endswith(b"\n"):
                    break  # torn: killed mid-write
                try:
                    obj = json.loads(line)
                except ValueError:
                    break
                good_end = pos
                if lineno == 1 and isinstance(obj, dict) and "_checkpoint" in obj:
                    if self.meta is not None and obj["_checkpoint"] != json.loads(json.dumps(self.meta, default=str)):
                        raise CurateError(f"{self.path} was written with other settings ({obj['_checkpoint']}); "
                                          f"re-run with those or delete the file to start over")
                    continue
                if isinstance(obj, dict) and obj.get("id"):
                    offsets.setdefault(obj["id"], start)
        if good_end < self.path.stat().st_size:
            log.warning("%s: dropping a torn last line (the previous run was killed mid-write)", self.path)
            with open(self.path, "rb+") as f:
                f.truncate(good_end)
        self._offsets = offsets
        return offsets

    def done_ids(self) -> set[str]:
        """Ids of the rows finished by earlier runs (and this one)."""
        return set(self._scan() if self._offsets is None else self._offsets)

    def __len__(self) -> int:
        return len(self._scan() if self._offsets is None else self._offsets)

    def open(self) -> Checkpoint:
        if self._f is None:
            if self._offsets is None:
                self._scan()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._f = open(self.path, "ab")
            if new and self.meta is not None:
                self._f.write((json.dumps({"_checkpoint": self.meta}, default=str) + "\n").encode("utf-8"))
        return self

    def add(self, row: dict) -> None:
        """Record one finished row (it must have an id)."""
        if not row.get("id"):
            raise ValueError("checkpoint rows need an id")
        self.open()
        if row["id"] in self._offsets:
            return  # finished earlier: never twice
        line = dumps_line(row).encode("utf-8")
        self._offsets[row["id"]] = self._f.tell()
        self._f.write(line)
        self._pending += 1
        if self._pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self._f is not None and self._pending:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._pending = 0

    def close(self) -> None:
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None

    def __enter__(self) -> Checkpoint:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()  # on an exception too: what finished stays finished

    def rows(self, order: Iterable[str] | None = None) -> Iterator[dict]:
        """Finished rows in `order` (ids not finished are skipped), or in the order they finished."""
        self.close()
        offsets = self._scan()
        if not offsets:
            return
        with open(self.path, "rb") as f:
            if order is None:
                ids: Iterable[str] = sorted(offsets, key=offsets.__getitem__)
            else:
                ids = order
            seen: set[str] = set()
            for i in ids:
                if i in seen or i not in offsets:
                    continue
                seen.add(i)
                f.seek(offsets[i])
                yield json.loads(f.readline())

    def finish(self, out: str | Path | None = None, order: Iterable[str] | None = None) -> int:
        """Write the finished rows to `out` (default: the checkpoint's out) atomically; remove the work file."""
        out = Path(out) if out is not None else self.out
        n = write_rows(out, self.rows(order))
        self.path.unlink(missing_ok=True)
        self._offsets = None
        return n

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
        self._offsets = None


__all__ = ["Checkpoint", "work_path"]
