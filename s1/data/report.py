"""The curation report: the funnel, the domain histogram and the trace-length distribution, as plots
and a Markdown summary. Used by `s1 curate select --report DIR` and `s1 curate run`.

    from s1.data.report import write_report; write_report("report/", funnel, pool_rows, selected_rows)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from ..files import write_text_atomic


def _light(rows: Iterable[dict]) -> list[tuple[str, int | None]]:
    """(domain, trace tokens) of each row: all the report needs, so big pools stream through."""
    return [(str(r.get("domain") or "?"), r.get("trace_tokens")) for r in rows]


def _figure(width: float = 7.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig, stem: Path) -> list[Path]:
    fig.tight_layout()
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    fig.savefig(paths[0], dpi=130, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None})
    return paths


def plot_funnel(funnel: Sequence[tuple[str, int]], stem: Path) -> list[Path]:
    fig, ax = _figure(7.0, 0.45 * len(funnel) + 1.2)
    names = [n for n, _ in funnel][::-1]
    counts = [c for _, c in funnel][::-1]
    bars = ax.barh(range(len(names)), counts, color="#4C72B0")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("rows")
    ax.set_title("Curation funnel")
    for b, c in zip(bars, counts):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {c:,}", va="center", fontsize=8)
    ax.set_xlim(0, max(max(counts), 1) * 1.18)  # room for the labels
    return _save(fig, stem)


def plot_domains(pool: Counter, selected: Counter, names: dict[str, str], stem: Path) -> list[Path]:
    codes = sorted(set(pool) | set(selected), key=lambda c: -pool.get(c, 0))
    fig, ax = _figure(max(6.0, 0.5 * len(codes) + 2), 4.0)
    tot_p, tot_s = max(sum(pool.values()), 1), max(sum(selected.values()), 1)
    xs = range(len(codes))
    ax.bar([x - 0.2 for x in xs], [100 * pool.get(c, 0) / tot_p for c in codes], 0.4, label="pool (after filters)")
    ax.bar([x + 0.2 for x in xs], [100 * selected.get(c, 0) / tot_s for c in codes], 0.4, label="selected")
    ax.set_xticks(list(xs), [f"{c} {names.get(c, '')[:18]}" for c in codes], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("share of rows (%)")
    ax.set_title("Domains (MSC 2020 top-level classes)")
    ax.legend(frameon=False)
    return _save(fig, stem)


def plot_lengths(pool: list[int], selected: list[int], stem: Path) -> list[Path]:
    import numpy as np

    fig, ax = _figure()
    vals = [v for v in pool + selected if v and v > 0]
    if vals:
        bins = np.logspace(np.log10(min(vals)), np.log10(max(vals) + 1), 30)
        ax.hist([v for v in pool if v and v > 0], bins=bins, alpha=0.6, density=True, label="pool (after filters)")
        ax.hist([v for v in selected if v and v > 0], bins=bins, alpha=0.6, density=True, label="selected")
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 100, not 10^2
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("thinking trace length (tokens)")
    ax.set_ylabel("density")
    ax.set_title("Trace lengths: selection favours long traces")
    ax.legend(frameon=False)
    return _save(fig, stem)


def write_report(folder: str | Path, funnel: Sequence[tuple[str, int]], pool: Iterable[dict],
                 selected: Iterable[dict], stages: dict | None = None, title: str = "s1 curate report") -> list[Path]:
    """Plots (PNG + SVG) and report.md in `folder`. `pool`: the candidate rows after the filters
    (for comparison), `selected`: the chosen rows; both may be generators."""
    from .msc import MSC

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    p, s = _light(pool), _light(selected)
    dom_p, dom_s = Counter(d for d, _ in p), Counter(d for d, _ in s)
    len_p, len_s = [t for _, t in p if t], [t for _, t in s if t]
    files = plot_funnel(funnel, folder / "funnel")
    files += plot_domains(dom_p, dom_s, MSC, folder / "domains")
    files += plot_lengths(len_p, len_s, folder / "lengths")

    def mean(xs):
        return sum(xs) / len(xs) if xs else 0.0

    lines = [f"# {title}", "", "## Funnel", "", "| step | rows |", "| --- | ---: |"]
    lines += [f"| {name} | {count:,} |" for name, count in funnel]
    lines += ["", "![funnel](funnel.png)", "", "## Selected set", "",
              f"- {len(s):,} rows from {len(dom_s)} domains (the filtered pool had {len(p):,} rows in "
              f"{len(dom_p)} domains)",
              f"- mean trace length {mean(len_s):,.0f} tokens selected vs {mean(len_p):,.0f} in the pool "
              f"({mean(len_s) / mean(len_p):.2f}x)" if len_p and len_s else "- no trace lengths",
              "", "| domain | pool | selected |", "| --- | ---: | ---: |"]
    for code in sorted(set(dom_p) | set(dom_s), key=lambda c: -dom_s.get(c, 0)):
        lines.append(f"| {code} {MSC.get(code, '')} | {dom_p.get(code, 0):,} | {dom_s.get(code, 0):,} |")
    lines += ["", "![domains](domains.png)", "", "![trace lengths](lengths.png)", ""]
    if stages:
        lines += ["## Stages", "", "| stage | seconds | details |", "| --- | ---: | --- |"]
        for name, st in stages.items():
            info = st.get("stats", {})
            brief = ", ".join(f"{k}: {v}" for k, v in info.items() if isinstance(v, (int, float, str)))[:200]
            lines.append(f"| {name} | {st.get('seconds', 0):.1f} | {brief} |")
        lines.append("")
    write_text_atomic(folder / "report.md", "\n".join(lines))
    return [folder / "report.md", *files]
