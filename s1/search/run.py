"""Running a search method over a batch of prompts on the in-process engine (see s1.search.search).

    from s1.search.run import run_grid  # used by s1.search.search and s1 eval
"""

from __future__ import annotations

from ..budget import BudgetConfig
from ..generation import GenerationResult, SamplingConfig
from . import SearchError, SearchResult, check_delimiter, check_widths, options
from .methods import CLASSES, NEEDS_REWARD, SHARED, run_searches
from .tree import Expander

LOGPROBS = 20  # top-k log-probs recorded for DeepConf's token confidence


def run_grid(engine, prompts, method, width, reward, budget, thinking, kind, seeds, system, delimiter,
             widths, stats, opts) -> list[list[SearchResult]]:
    from ..grading.extraction import extract_answer

    if not hasattr(engine, "runner"):
        raise SearchError(f"{method} needs the in-process engine (--backend transformers); "
                          f"the {getattr(engine, 'name', 'given')} backend cannot fork rows")
    o = options(method, opts)
    widths = list(widths or [width])
    check_widths([width, *widths])
    if max(widths) > width:
        raise SearchError(f"a width of {max(widths)} is more than the run's {width} trajectories")
    if len(set(widths)) > 1 and method not in SHARED:
        raise SearchError(f"{method} runs each width separately (only {', '.join(SHARED)} share trajectories)")
    check_delimiter(delimiter, engine)
    if method in NEEDS_REWARD and reward is None:
        raise SearchError(f"{method} needs a reward model (--reward, e.g. confidence)")
    thinking = thinking or SamplingConfig(1.0, seed=0)
    prep = engine.prepare(prompts, [budget or BudgetConfig()], thinking, system=system, seeds=seeds)
    sampling = {"think": prep.thinking, "answer": prep.answer}
    ex = Expander(engine, reward, delimiter, LOGPROBS if method.startswith("deepconf") else 0, stats)
    searches = []
    for i, prompt in enumerate(prep.prompts):
        searches.append(CLASSES[method](
            o, width, prompt, prep.ids[i], (lambda i=i: prep.row(i, 0, engine.context_length)), sampling,
            prep.seeds[i], lambda text: extract_answer(text, kind)))
    run_searches(ex, searches)
    out = []
    for s, ids in zip(searches, prep.ids):
        row = []
        for n in widths:
            oc = s.outcome(n if method in SHARED else None)
            if oc.node is not None:
                res = engine.result(s.prompt, len(ids), oc.node.seq.row, oc.node.seq.out)
            else:
                res = GenerationResult(s.prompt, "", "", 0, 0, len(ids), 0, False, "", "")
            row.append(SearchResult(res, oc.answer, oc.votes, oc.total_tokens, oc.reward_tokens, oc.trajectories,
                                    oc.finished))
        out.append(row)
    return out
