"""The row schema of `s1 curate`: the columns, the published s1K / s1K-1.1 layouts mapped onto it, row ids.

    from s1.data.schema import normalize_row, to_s1k11; row = normalize_row(published_s1k_row)

A row holds question, solution, cot_type, source_type, metadata (a dict), thinking and attempt (the
trace) and teacher, plus what later stages add (trace_tokens, solver_correct, domain ...). Its `id` is
a hash of the normalized question, so equal questions share it across files and runs.
"""

from __future__ import annotations

import ast
import hashlib
import json

# Columns holding dicts: JSON objects in JSONL, JSON *strings* in Parquet (their keys vary row to row,
# which a Parquet struct cannot hold).
DICT_COLUMNS = ("metadata", "solver_correct")

# Types of the schema's columns in Parquet, so that a column that is all None in the first batch
# (trace_error, mostly) does not freeze as type null and reject the strings of a later batch.
STRING_COLUMNS = ("id", "question", "solution", "cot_type", "source_type", "metadata", "thinking", "attempt",
           "trace_error", "teacher", "solver_correct", "domain", "domain_name", "feature_error",
           "gemini_thinking_trajectory", "gemini_attempt", "deepseek_thinking_trajectory", "deepseek_attempt",
           "gemini_grade", "gemini_grade_reason", "deepseek_grade", "deepseek_grade_reason")
INT_COLUMNS = ("trace_tokens",)

# The published s1K-1.1 layout (simplescaling/s1K-1.1); `to_s1k11` writes these plus id, domain, trace_tokens.
S1K11_COLUMNS = ("solution", "question", "cot_type", "source_type", "metadata", "gemini_thinking_trajectory",
                 "gemini_attempt", "deepseek_thinking_trajectory", "deepseek_attempt", "gemini_grade",
                 "gemini_grade_reason", "deepseek_grade", "deepseek_grade_reason")
# Layout columns that normalize_row folds into thinking/attempt (and then drops).
_LAYOUT = ("cot", "thinking_trajectories", "gemini_thinking_trajectory", "gemini_attempt",
           "deepseek_thinking_trajectory", "deepseek_attempt", "gemini_grade", "gemini_grade_reason",
           "deepseek_grade", "deepseek_grade_reason")
TEACHERS = {"deepseek": "deepseek-r1", "gemini": "gemini-2.0-flash-thinking"}  # who wrote the published traces


def normalize_text(text: str) -> str:
    """The text an id is made of: lowercase, whitespace collapsed, stripped."""
    return " ".join(str(text).lower().split())


def row_id(question: str) -> str:
    """'q-' + 16 hex of sha256 of the normalized question: equal questions (up to case/spaces) share it."""
    return "q-" + hashlib.sha256(normalize_text(question).encode("utf-8")).hexdigest()[:16]


def as_dict(value: object) -> dict:
    """metadata as a dict, whatever it arrived as: dict, JSON string, Python repr (published s1K), None."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            try:  # s1K stores str(dict): single quotes, None, True
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return {"raw": value}
        if parsed is None:
            return {}
        return parsed if isinstance(parsed, dict) else {"raw": parsed}
    return {"raw": value}


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def normalize_row(row: dict, source_type: str | None = None) -> dict:
    """Map a row of the schema, the s1K layout or the s1K-1.1 layout to the schema.

    thinking = `thinking`, else deepseek_thinking_trajectory, else gemini_thinking_trajectory, else the first
    of thinking_trajectories (s1K); attempt likewise. A missing question becomes "" (callers skip and count
    it); unknown columns (stage columns such as trace_tokens) are kept. `id` is computed when absent.
    """
    out = {k: v for k, v in row.items() if k not in _LAYOUT}
    out["question"] = _text(row.get("question")) or ""
    out["solution"] = _text(row.get("solution")) or ""
    out["cot_type"] = _text(row.get("cot_type")) or "math"
    out["source_type"] = source_type or _text(row.get("source_type")) or ""
    out["metadata"] = as_dict(row.get("metadata"))
    if isinstance(out.get("solver_correct"), str):  # Parquet stores it as JSON text; "null" stays unknown
        out["solver_correct"] = as_dict(out["solver_correct"]) or None

    thinking, attempt, teacher = row.get("thinking"), row.get("attempt"), row.get("teacher")
    if not thinking:
        for who in ("deepseek", "gemini"):
            if row.get(f"{who}_thinking_trajectory"):
                thinking = row[f"{who}_thinking_trajectory"]
                attempt = attempt or row.get(f"{who}_attempt")
                teacher = teacher or TEACHERS[who]
                break
        else:
            trajs = row.get("thinking_trajectories")
            if isinstance(trajs, str):  # a JSON list stored as text
                try:
                    trajs = json.loads(trajs)
                except ValueError:
                    trajs = [trajs]
            if trajs is not None and not isinstance(trajs, str) and len(trajs) > 0:
                thinking = trajs[0]
                teacher = teacher or TEACHERS["gemini"]  # s1K's traces are Gemini Flash Thinking's
    if not attempt:
        attempt = row.get("deepseek_attempt") or row.get("gemini_attempt") or attempt
    if thinking is not None or attempt is not None or "thinking" in row:
        out["thinking"], out["attempt"] = _text(thinking), _text(attempt)
    if teacher is not None:
        out["teacher"] = teacher
    if not out.get("id"):
        out["id"] = row_id(out["question"]) if out["question"] else ""
    else:
        out["id"] = str(out["id"])
    return out


def to_s1k11(row: dict) -> dict:
    """A schema row in the s1K-1.1 layout: our trace goes to the deepseek_* columns, gemini_* stay None."""
    return {
        "solution": row.get("solution") or "",
        "question": row["question"],
        "cot_type": row.get("cot_type") or "math",
        "source_type": row.get("source_type") or "",
        "metadata": as_dict(row.get("metadata")),
        "gemini_thinking_trajectory": None,
        "gemini_attempt": None,
        "deepseek_thinking_trajectory": row.get("thinking"),
        "deepseek_attempt": row.get("attempt"),
        "gemini_grade": None,
        "gemini_grade_reason": None,
        "deepseek_grade": None,
        "deepseek_grade_reason": None,
        "id": row.get("id") or row_id(row["question"]),
        "domain": row.get("domain"),
        "trace_tokens": row.get("trace_tokens"),
    }


__all__ = ["DICT_COLUMNS", "INT_COLUMNS", "S1K11_COLUMNS", "STRING_COLUMNS", "TEACHERS", "as_dict", "normalize_row",
           "normalize_text", "row_id", "to_s1k11"]
