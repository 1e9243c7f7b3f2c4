"""reasoning-gym's datasets as a question source for `s1 curate`: rows with the question, its answer and its verifier.

    rows = rg_rows(["basic_arithmetic", "chain_sum:min_terms=3,n=20"], n=50, seed=0)   # pip install 's1[rg]'

In a curate config:  sources: [{name: rg, rg: {datasets: [basic_arithmetic, gcd], n: 50, seed: 0}}]
A dataset is `name[:key=value,...]` with the keys of the `rg:` task (s1.tasks.rg): the dataset's own
settings, and n / seed to override the source's. Each row's `solution` is the dataset's answer (None where
a dataset has no single answer, e.g. rush_hour) and `metadata["rg"]` its verifier ({dataset, config, entry}),
so featurize grades a solver's answer with the dataset's own score_answer instead of comparing strings.
reasoning-gym writes no reasoning traces: use an engine or openai teacher for these rows.
"""

from __future__ import annotations

from . import CurateError
from .schema import as_dict


def parse_specs(datasets, n: int, seed: int) -> list[tuple[str, int, int, dict]]:
    """(dataset, n, seed, settings) for each 'name[:key=value,...]'; CurateError names a bad one."""
    from ..tasks import TaskError
    from ..tasks.rg import check_dataset, parse, settings

    if not datasets or not isinstance(datasets, (list, tuple)):
        raise CurateError("an rg source needs datasets: a list of reasoning-gym dataset names")
    out = []
    for spec in datasets:
        try:
            dataset, pairs = parse(f"rg:{spec}")
            check_dataset(dataset)
            out.append((dataset, *settings(dataset, {"n": str(n), "seed": str(seed), **pairs})))
        except TaskError as e:
            raise CurateError(str(e)) from None
    return out


def rg_rows(datasets, n: int = 100, seed: int = 0) -> list[dict]:
    """`n` rows from each dataset at `seed` (item i of a dataset is its item i at that seed), in the order given."""
    from ..tasks import TaskError
    from ..tasks.rg import entries

    rows = []
    for dataset, count, at, config in parse_specs(datasets, n, seed):
        try:
            drawn = entries(dataset, config, count, at)
        except TaskError as e:
            raise CurateError(str(e)) from None
        for i, (entry, verifier) in enumerate(drawn):
            answer = None if entry["answer"] is None else str(entry["answer"])
            rows.append({"question": entry["question"], "solution": answer, "cot_type": "math",
                         "source_type": f"rg/{dataset}",
                         "metadata": {"generator": f"rg/{dataset}", "index": i, "answer": answer, "rg": verifier}})
    return rows


def rg_verifier(row: dict) -> dict | None:
    """The reasoning-gym verifier a row carries (metadata["rg"]), or None: grade it against its solution."""
    v = as_dict(row.get("metadata")).get("rg")
    return v if isinstance(v, dict) and "dataset" in v and "entry" in v else None


__all__ = ["parse_specs", "rg_rows", "rg_verifier"]
