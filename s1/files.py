"""Writing files so that a crash never leaves half of one: write next to the target, then rename.

    from s1.files import write_text_atomic; write_text_atomic(path, text)

Every state and result file a stage rewrites goes through here (append-only logs such as eval's
samples.jsonl instead cut a torn last line when they are read back). `output_problem` checks an
output path before the work that fills it starts.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic on one file system: readers see the old file or the new one
    finally:
        tmp.unlink(missing_ok=True)


def output_problem(path: str | Path) -> str | None:
    """Why `path` cannot be written as a new file (one line), or None if it can. Checked before a
    long run starts, so that its results are not lost at the end."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder"
    parent = path.parent
    if not parent.exists():
        return f"{parent}: no such folder"
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent}: not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path}: not writable"
    return None
