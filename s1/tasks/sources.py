"""Where rows come from: a local .jsonl/.json/.parquet/.csv file or a Hugging Face Hub dataset.

    get_task("math500", data="math500.jsonl", fields={"prompt": "question"}).load()
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..jsonl import JSONLError, json_type, parse_jsonl
from .base import BOXED, BaseTask, Question, TaskError

SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


@dataclass
class Rows:
    label: str  # the file as the user named it, or "dataset [split]"
    rows: list[dict]
    lines: list[int] | None = None  # line of each row, for line-based formats

    def where(self, i: int) -> str:
        return f"{self.label}:{self.lines[i]}" if self.lines is not None else f"{self.label}: row {i + 1}"


# -- local files ---------------------------------------------------------------------------------


class LocalFile:
    """A data file named by the user: hashed and parsed from the same bytes."""

    def __init__(self, data: str):
        self.label = data
        p = Path(data).expanduser()
        if not p.exists():
            raise TaskError(f"data file not found: {data}")
        if not p.is_file():
            raise TaskError(f"data path is not a file: {data}")
        self.path = p.resolve()
        self.suffix = next((s for s in SUFFIXES if p.name.lower().endswith(s)), None)
        if self.suffix is None:
            raise TaskError(f"unsupported data file {data}: use .jsonl, .json, .parquet or .csv")
        self._sha256: str | None = None

    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return self._sha256

    def read(self) -> Rows:
        raw = self.path.read_bytes()
        # config() then names exactly the bytes the questions came from
        self._sha256 = hashlib.sha256(raw).hexdigest()
        if self.suffix == ".parquet":
            rows = self._parquet(raw)
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise TaskError(f"{self.label}: not UTF-8 text (byte {e.start})") from None
            rows = {".jsonl": self._jsonl, ".json": self._json, ".csv": self._csv}[self.suffix](text)
        if not rows.rows:
            raise TaskError(f"{self.label}: no rows (the file is empty)")
        return rows

    def _jsonl(self, text: str) -> Rows:
        try:
            numbered = list(parse_jsonl(text, self.label))
        except JSONLError as e:
            raise TaskError(str(e)) from None
        return Rows(self.label, [obj for _, obj in numbered], [n for n, _ in numbered])

    def _json(self, text: str) -> Rows:
        if not text.strip():
            return Rows(self.label, [])
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            if e.msg == "Extra data":  # one object per line under a .json name: read it as JSON lines
                return self._jsonl(text)
            raise TaskError(f"{self.label}:{e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
        if isinstance(obj, dict):
            # a wrapper such as {"questions": [...]}: accept it when exactly one value is a list
            lists = [v for v in obj.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise TaskError(f"{self.label}: expected a list of JSON objects (or an object holding one such list)")
            obj = lists[0]
        if not isinstance(obj, list):
            raise TaskError(f"{self.label}: expected a list of JSON objects, got {json_type(obj)}")
        for i, row in enumerate(obj):
            if not isinstance(row, dict):
                raise TaskError(f"{self.label}: row {i + 1}: expected a JSON object, got {json_type(row)}")
        return Rows(self.label, obj)

    def _csv(self, text: str) -> Rows:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows, lines = [], []
        try:
            for row in reader:
                row.pop(None, None)  # cells beyond the header
                rows.append(row)
                lines.append(reader.line_num)
        except csv.Error as e:
            raise TaskError(f"{self.label}:{reader.line_num}: not valid CSV ({e})") from None
        return Rows(self.label, rows, lines)

    def _parquet(self, raw: bytes) -> Rows:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise TaskError(f"{self.label}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        try:
            table = pq.read_table(pa.BufferReader(raw))
        except (pa.ArrowException, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TaskError(f"{self.label}: not a readable Parquet file ({first})") from None
        return Rows(self.label, table.to_pylist())


# -- the Hugging Face Hub ------------------------------------------------------------------------

LOGIN = "run `hf auth login` (older huggingface_hub: `huggingface-cli login`) or set HF_TOKEN"


def hub_rows(dataset: str, subset: str | None, split: str, revision: str | None) -> Rows:
    try:
        import datasets  # imported here: generated and file tasks never pay for it
    except ImportError:
        raise TaskError(f"loading {dataset} needs the 'datasets' package (pip install datasets); "
                        f"or pass a local copy with --data FILE") from None
    try:
        ds = datasets.load_dataset(dataset, subset, split=split, revision=revision)
    except Exception as e:
        err = hub_error(e, dataset, subset, split, revision)
        if err is None:
            raise
        raise err from e
    label = f"{dataset}{'/' + subset if subset else ''} [{split}]"
    return Rows(label, [dict(r) for r in ds])


def _offline_mode() -> bool:
    try:
        from datasets import config
        return bool(config.HF_HUB_OFFLINE)
    except Exception:
        return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _chain(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is not None and not any(x is y for y in out):
            out.append(x)
            todo += [x.__cause__, x.__context__]
    return out


def _is_network(x: BaseException) -> bool:
    if isinstance(x, (ConnectionError, TimeoutError)):  # OfflineModeIsEnabled is a ConnectionError
        return True
    root, name = type(x).__module__.split(".")[0], type(x).__name__
    return root in ("httpx", "httpx2", "requests", "urllib3", "aiohttp") and any(
        w in name for w in ("Connect", "Timeout", "Network", "Transport"))


def hub_error(e: BaseException, dataset: str, subset: str | None, split: str,
              revision: str | None) -> TaskError | None:
    """The one-line TaskError for a failed `datasets.load_dataset`, or None for an unexpected error.

    What datasets 5.x / huggingface_hub raise (read from their source):
    - gated, not logged in or not accepted: DatasetNotFoundError "... is a gated dataset on the Hub.
      ..." (the GatedRepoError cause is dropped by `raise ... from None`); GatedRepoError itself
      when a later download is refused;
    - offline (HF_HUB_OFFLINE=1) or no network, not cached: ConnectionError "Couldn't reach '...' on
      the Hub (OfflineModeIsEnabled | LocalEntryNotFoundError)";
    - unknown or private dataset: DatasetNotFoundError "... doesn't exist on the Hub or cannot be
      accessed."; unknown revision: DatasetNotFoundError "Revision '...' doesn't exist ...";
    - unknown split or config: ValueError "Unknown split ..." / "Bad split ..." / "BuilderConfig ...".
    """
    from datasets.exceptions import DatasetNotFoundError
    try:
        from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, RepositoryNotFoundError,
                                            RevisionNotFoundError)
    except ImportError:  # huggingface_hub < 0.23 kept them in utils
        from huggingface_hub.utils import (GatedRepoError, HfHubHTTPError, RepositoryNotFoundError,
                                           RevisionNotFoundError)

    chain = _chain(e)
    page = f"https://huggingface.co/datasets/{dataset}"

    def status(x: BaseException) -> int | None:
        return getattr(getattr(x, "response", None), "status_code", None)

    if any(isinstance(x, GatedRepoError) or (isinstance(x, DatasetNotFoundError) and "gated" in str(x))
           for x in chain):
        return TaskError(f"{dataset} is a gated dataset: accept its terms at {page} while logged in, then {LOGIN}")
    if any(isinstance(x, HfHubHTTPError) and status(x) in (401, 403) for x in chain):
        return TaskError(f"no access to {dataset} on the Hugging Face Hub: request it at {page}, then {LOGIN}")
    if any(_is_network(x) for x in chain):
        if _offline_mode():
            return TaskError(f"cannot load {dataset}: offline mode is on (HF_HUB_OFFLINE is set) and it is not "
                             f"in the local cache; unset HF_HUB_OFFLINE to download it, or pass a local copy "
                             f"with --data FILE")
        return TaskError(f"cannot reach the Hugging Face Hub to download {dataset} (no network?); "
                         f"pass a local copy with --data FILE")
    if any(isinstance(x, RevisionNotFoundError) or (isinstance(x, DatasetNotFoundError) and "Revision" in str(x))
           for x in chain):
        return TaskError(f"revision {revision!r} not found for dataset {dataset} on the Hugging Face Hub")
    if any(isinstance(x, (DatasetNotFoundError, RepositoryNotFoundError)) for x in chain):
        return TaskError(f"dataset {dataset} not found on the Hugging Face Hub "
                         f"(if it is private, {LOGIN}); or pass a local copy with --data FILE")
    if isinstance(e, ValueError):
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if "split" in msg.lower():
            return TaskError(f"{dataset}: split {split!r} not found ({msg})")
        if "BuilderConfig" in msg or "Config name" in msg:
            return TaskError(f"{dataset}: config {subset!r} not found ({msg})")
    return None


# -- tasks whose questions are rows --------------------------------------------------------------


def text_of(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # Parquet/pandas round trips turn integer answers into 12.0
    return str(v).strip()


def text_field(value: Any, where: str, what: str) -> str:
    """A cell that must hold text (numbers are accepted and written out)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TaskError(f"{where}: the {what} is not text (got {json_type(value)})")
    s = text_of(value)
    if not s:
        raise TaskError(f"{where}: empty {what}")
    return s


def normalize_answer(kind: str, value: Any, where: str) -> str:
    s = text_field(value, where, "answer")
    if kind == "integer":
        t = s.replace(",", "")
        if not re.fullmatch(r"[+-]?\d+", t):
            raise TaskError(f"{where}: answer {s!r} is not an integer (this task grades integers)")
        return str(int(t))  # AIME answers such as "033" grade as 33
    if kind == "choice":
        t = s.strip("()[]. ").upper()
        if len(t) != 1 or not t.isalpha():
            raise TaskError(f"{where}: answer {s!r} is not an option letter (A, B, C, ...)")
        return t
    return s


def question_id(task: str, i: int, own: Any) -> str:
    """The dataset's own id; numeric ids (AIME's 60..89) become 'aime24-0060'; none: 'task-0007'."""
    s = "" if own is None else text_of(own)
    if not s:
        return f"{task}-{i:04d}"
    return f"{task}-{int(s):04d}" if s.isdigit() else s


@dataclass
class RowTask(BaseTask):
    """A task whose questions are rows of a table: from a local file (data=) or, below, the hub."""

    kind: ClassVar[str] = "math"
    optional: ClassVar[tuple[str, ...]] = ("id",)  # roles that may be absent from the data
    keep: ClassVar[tuple[str, ...]] = ()  # columns copied into metadata when present
    suffix: ClassVar[str] = "\n\n" + BOXED  # appended to the prompt ("" keeps it verbatim)

    _file: LocalFile | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.data is not None:
            self._file = LocalFile(self.data)

    def rows(self) -> Rows:
        if self._file is None:
            raise TaskError(f"task {self.name!r} needs a data file: pass --data FILE (.jsonl, .json, .parquet, .csv)")
        return self._file.read()

    def pick(self, rows: Rows) -> dict[str, str | None]:
        """role -> column, checking every row has them: the first row lacking one is named."""
        first = rows.rows[0]
        cols: dict[str, str | None] = {}
        for role, candidates in self.columns.items():
            if role in self.fields:
                cols[role] = self.fields[role]
            else:
                present = [c for c in candidates if c in first]
                cols[role] = present[0] if present else (None if role in self.optional else candidates[0])
        for i, row in enumerate(rows.rows):
            for role, col in cols.items():
                if col is not None and row.get(col) is None:
                    have = ", ".join(row) or "(none)"
                    raise TaskError(f"{rows.where(i)}: missing field {col!r} (the {role}); columns there: {have}")
        return cols

    def questions(self) -> list[Question]:
        rows = self.rows()
        cols = self.pick(rows)
        return [self.make(i, rows.where(i), {r: (row[c] if c else None) for r, c in cols.items()}, row)
                for i, row in enumerate(rows.rows)]

    def make(self, i: int, where: str, v: dict[str, Any], row: dict) -> Question:
        prompt = text_field(v["prompt"], where, "prompt")
        return Question(question_id(self.name, i, v.get("id")), prompt + self.suffix,
                        normalize_answer(self.kind, v["answer"], where), self.kind, self.metadata(row))

    def metadata(self, row: dict) -> dict:
        return {k: row[k] for k in self.keep if k in row and is_scalar(row[k])}

    def source(self) -> dict:
        assert self._file is not None
        return {"source": "file", "path": str(self._file.path), "sha256": self._file.sha256()}

    def config(self) -> dict:
        knobs = {k: v for k, v in self.knobs().items() if k not in self.hub_keys}
        return {"name": self.name, "version": self.version, **self.source(), "fields": dict(self.fields),
                **knobs, "limit": self.limit}


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


@dataclass
class HubTask(RowTask):
    """A RowTask whose default source is a Hub dataset; dataset/split/revision are spec keys."""

    subset: ClassVar[str | None] = None  # the dataset's config name, e.g. gpqa_diamond
    hub_keys: ClassVar[tuple[str, ...]] = ("dataset", "split", "revision")

    dataset: str = ""
    split: str = "train"
    revision: str | None = None  # None: the latest commit; pin one for exact reruns

    def rows(self) -> Rows:
        if self._file is not None:
            return self._file.read()
        rows = hub_rows(self.dataset, self.subset, self.split, self.revision)
        if not rows.rows:
            raise TaskError(f"{rows.label}: no rows")
        return rows

    def source(self) -> dict:
        if self._file is not None:
            return super().source()
        return {"source": "hub", "dataset": self.dataset, "subset": self.subset, "split": self.split,
                "revision": self.revision}
