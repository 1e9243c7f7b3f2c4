"""Summaries of an eval run: per grid point and per method, with Control / Scaling / Performance.

    from s1.eval_summary import write_summary; write_summary(out, cfg, questions, records, complete=True)

Pure over the records (`summarize`) plus the atomic writes of summary.json and points/*.json, which
s1/evaluate.py rewrites after every batch.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from . import baselines
from .baselines import Point, majority_ks
from .files import write_text_atomic
from .metrics import RunPoint, majority_vote, pass_at_k, scaling_metrics

SUMMARY_FILE = "summary.json"


def summarize(cfg, questions, records: list[dict]) -> dict:
    """Per grid point and per method: accuracy, thinking tokens, Control / Scaling / Performance."""
    by_point: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        by_point[(r["method"], r["point"])].append(r)
    methods = {}
    for method in cfg.methods:
        pts_out, run_points, control_points = [], [], []
        groups = baselines.expand(method, cfg)
        # a method whose groups are sweeps of their own (class-conditional+forcing: short, long) plots a line each
        series = {p.id: g.id for g in groups for p in g.points if len(groups) > 1 and len(g.points) > 1}
        points = [p for g in groups for p in g.points]
        for p in points:
            recs = by_point.get((method, p.id), [])
            if method == "majority":
                rows = _majority_points(recs, cfg.samples)
                pts_out.extend(rows)
                run_points.extend(RunPoint(r["thinking_tokens"], r["accuracy"], label=r["point"]) for r in rows
                                  if r["n_questions"])
                continue
            row = _point_summary(method, p, recs, cfg.samples)
            if p.id in series:
                row["series"] = series[p.id]
            pts_out.append(row)
            if row["n_questions"]:
                # parallel methods scale by their compute: the tokens of all trajectories
                x = row["total_tokens"] if method in baselines.SEARCH_METHODS else row["thinking_tokens"]
                run_points.append(RunPoint(x, row["accuracy"], p.lo, p.hi, p.id))
                measured = row["thinking_steps"] if p.measure == "steps" else row["thinking_tokens"]
                control_points.append(RunPoint(measured or 0.0, row["accuracy"], p.lo, p.hi, p.id))
        m = scaling_metrics(run_points)
        if method != "majority":
            m["control"] = scaling_metrics(control_points)["control"]
        methods[method] = {**m, "points": pts_out}
    return {"n_questions": len(questions), "samples": cfg.samples, "records": len(records), "methods": methods}


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _point_summary(method: str, p: Point, recs: list[dict], samples: int) -> dict:
    per_q: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        per_q[r["question_id"]].append(r)
    accs = [sum(r["correct"] for r in rs) / len(rs) for rs in per_q.values()]
    row = {
        "method": method, "point": p.id, "n_questions": len(per_q), "n_samples": len(recs),
        "accuracy": 100 * _mean(accs) if accs else None,
        "thinking_tokens": _mean([r["thinking_tokens"] for r in recs]),
        "answer_tokens": _mean([r["answer_tokens"] for r in recs]),
        "probe_tokens": _mean([r.get("probe_tokens", 0) for r in recs]),  # early exit's discarded trials
        # every token generated for the question: all trajectories of a search, thinking and answer
        "total_tokens": _mean([r.get("total_tokens", r["thinking_tokens"] + r["answer_tokens"]) for r in recs]),
        "thinking_steps": _mean([r.get("thinking_steps") for r in recs]),
        "min_requested": p.lo, "max_requested": p.hi, "measure": p.measure,
        "thinking_end": dict(Counter(r["thinking_end"] for r in recs)),
        "extracted": 100 * _mean([r["extracted"] is not None for r in recs]) if recs else None,
    }
    if p.hi is not None or p.lo is not None:  # share of single samples within the requested limits
        key = "thinking_steps" if p.measure == "steps" else "thinking_tokens"
        inside = [(p.lo is None or (r[key] or 0) >= p.lo) and (p.hi is None or (r[key] or 0) <= p.hi) for r in recs]
        row["within_limit"] = 100 * _mean(inside) if inside else None
    if method in baselines.SEARCH_METHODS and recs:
        row["reward_tokens"] = _mean([r.get("reward_tokens", 0) for r in recs])
        row["finished"] = _mean([r.get("finished", 0) for r in recs])
    if method == "rejection" and recs:
        row["tries"] = _mean([r["tries"] for r in recs])
        row["fit"] = 100 * _mean([r["fit"] for r in recs])
    if samples > 1 and per_q:
        for k in majority_ks(samples):
            row[f"pass@{k}"] = 100 * _mean([pass_at_k(len(rs), sum(r["correct"] for r in rs), k)
                                            for rs in per_q.values() if len(rs) >= k])
        row[f"maj@{samples}"] = 100 * _mean([_vote_correct(rs) for rs in per_q.values()])
    return row


def _vote_correct(rs: list[dict]) -> bool:
    rs = sorted(rs, key=lambda r: r["sample"])
    winner = majority_vote([r["extracted"] for r in rs])
    # every sample with the winning answer string got the same verdict: use the first
    return any(r["correct"] for r in rs if winner is not None and r["extracted"] == winner)


def _majority_points(recs: list[dict], samples: int) -> list[dict]:
    per_q: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        per_q[r["question_id"]].append(r)
    rows = []
    for k in majority_ks(samples):
        full = [sorted(rs, key=lambda r: r["sample"])[:k] for rs in per_q.values() if len(rs) >= samples]
        acc = _mean([_vote_correct(rs) for rs in full])
        rows.append({
            "method": "majority", "point": f"k={k}", "n_questions": len(full), "n_samples": sum(map(len, full)),
            "accuracy": 100 * acc if acc is not None else None,
            # parallel scaling: the compute of a vote is the thinking of all k samples
            "thinking_tokens": _mean([sum(r["thinking_tokens"] for r in rs) for rs in full]),
            "answer_tokens": _mean([r["answer_tokens"] for rs in full for r in rs]),
            "total_tokens": _mean([sum(r["thinking_tokens"] + r["answer_tokens"] for r in rs) for rs in full]),
            "min_requested": None, "max_requested": None, "measure": "tokens",
        })
    return rows


def write_summary(out: Path, cfg, questions, records: list[dict], complete: bool) -> dict:
    s = summarize(cfg, questions, records)
    s["complete"] = complete
    s["task"] = cfg.task
    s["model"] = cfg.model or "smollm2-135m"
    write_text_atomic(out / SUMMARY_FILE, json.dumps(s, indent=2) + "\n")
    pdir = out / "points"
    pdir.mkdir(exist_ok=True)
    for method, m in s["methods"].items():
        for p in m["points"]:
            name = f"{method}__{p['point']}".replace("/", "_").replace("=", "-").replace(",", "_")
            write_text_atomic(pdir / f"{name}.json", json.dumps(p, indent=2) + "\n")
    return s


__all__ = ["summarize", "write_summary"]
