"""JSON Lines, read and written one way everywhere: prompts, task files, curate rows, eval records.

    from s1.jsonl import read_jsonl, dumps_line; [obj for n, obj in read_jsonl("in.jsonl")]

Lines end at "\\n" only. `str.splitlines` would also end a line at U+2028, U+2029, U+0085 and other
separators that `json.dumps(..., ensure_ascii=False)` writes raw inside strings, so a record holding
one could not be read back. Errors name the file and line: `prompts.jsonl:4: not valid JSON (...)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path


class JSONLError(ValueError):
    """A JSON Lines file that cannot be read; the message starts with `file:line:` where there is a line."""


def dumps_line(obj: object) -> str:
    """One record as a line (UTF-8 text, not escaped to ASCII), newline included."""
    return json.dumps(obj, ensure_ascii=False, default=str) + "\n"


def _decode(line: str, where: str, objects: bool) -> object:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise JSONLError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
    if objects and not isinstance(obj, dict):
        raise JSONLError(f"{where}: expected a JSON object, got {json_type(obj)}")
    return obj


def json_type(obj: object) -> str:
    """What a JSON value is, in words, for error messages ("a list", "null" ...)."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(obj), "null" if obj is None else "a number")


def parse_jsonl(text: str, label: str, objects: bool = True,
                on_bad: Callable[[str], None] | None = None) -> Iterator[tuple[int, object]]:
    """(line number, value) of each non-blank line of `text`; `label` names the source in errors.
    A bad line raises JSONLError, or with `on_bad` is passed to it (the message) and skipped."""
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            yield n, _decode(line, f"{label}:{n}", objects)
        except JSONLError as e:
            if on_bad is None:
                raise
            on_bad(str(e))


def read_jsonl(path: str | Path, objects: bool = True,
               on_bad: Callable[[str], None] | None = None) -> Iterator[tuple[int, object]]:
    """Stream (line number, value) of each non-blank line of a file (never the whole file in memory).
    `objects`: every value must be a JSON object. Errors as in parse_jsonl; a missing file or text that
    is not UTF-8 is a JSONLError too."""
    path = Path(path)
    try:
        # newline="\n": only "\n" ends a line (a raw "\r" inside a record is its text, as json.loads allows)
        with open(path, encoding="utf-8", newline="\n") as f:
            n = 0
            for n, line in enumerate(f, 1):  # noqa: B007 - n names the line of a decoding error below
                if not line.strip():
                    continue
                try:
                    yield n, _decode(line, f"{path}:{n}", objects)
                except JSONLError as e:
                    if on_bad is None:
                        raise
                    on_bad(str(e))
    except UnicodeDecodeError:
        raise JSONLError(f"{path}: not UTF-8 text (near line {n + 1})") from None
    except OSError as e:
        raise JSONLError(f"cannot read {path}: {e.strerror or e}") from None
