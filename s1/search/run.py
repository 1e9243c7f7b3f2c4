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


# -- s1 eval ----------------------------------------------------------------------------------

def check_config(cfg) -> None:
    """The search settings of an EvalConfig, checked before anything is loaded (SearchError)."""
    from ..rewards import KINDS
    from . import METHODS

    methods = [m for m in cfg.methods if m in METHODS]
    if not methods:
        return
    if cfg.backend != "transformers":
        raise SearchError(f"{methods[0]} needs the in-process engine (--backend transformers): "
                          "tree search forks rows of its KV cache")
    if cfg.temperature <= 0:
        raise SearchError(f"{methods[0]} needs --temperature > 0 (greedy trajectories are identical)")
    check_widths(cfg.trajectories)
    check_delimiter(cfg.step_delimiter)
    for m in methods:
        options(m, cfg.search)
    spec = (cfg.reward or "").strip()
    if spec and spec != "confidence" and spec.partition(":")[0] not in KINDS:
        raise SearchError(f"unknown reward {cfg.reward!r} (choose shepherd:PATH, qwen-prm:PATH, orm:PATH, "
                          "judge:URL:MODEL or confidence)")
    need = [m for m in methods if m in NEEDS_REWARD]
    if need and not spec:
        raise SearchError(f"{need[0]} needs a reward model: --reward SPEC (e.g. confidence, shepherd:PATH)")


def setup(cfg, engine, device: str | None):
    """The run's reward model (None without search methods or a --reward), after checking that the
    step delimiter can occur in the engine's thinking. Raises SearchError / RewardError."""
    from ..rewards import load_reward
    from . import METHODS

    if not any(m in METHODS for m in cfg.methods):
        return None
    check_delimiter(cfg.step_delimiter, engine)
    return load_reward(cfg.reward, device=device, dtype=cfg.dtype) if cfg.reward else None


def eval_units(engine, reward, cfg, method, questions, prompts, group, thinking, seeds) -> tuple[list, list]:
    """Results and extra record fields of one batch of eval units (a question and sample each) for a
    group of points "n=N[,...]": per unit, one chosen GenerationResult per point."""
    widths = [int(p.id.split(",")[0][2:]) for p in group.points]
    out: list = [None] * len(prompts)
    for kind in dict.fromkeys(q.kind for q in questions):  # answers are extracted per task kind
        idx = [i for i, q in enumerate(questions) if q.kind == kind]
        res = run_grid(engine, [prompts[i] for i in idx], method, max(widths), reward,
                       group.points[0].budget, thinking, kind, [seeds[i] for i in idx], cfg.system,
                       cfg.step_delimiter, widths, None, cfg.search or {})
        for i, r in zip(idx, res):
            out[i] = r
    results = [[r.result for r in row] for row in out]
    extra = [[{"total_tokens": r.total_tokens, "reward_tokens": round(r.reward_tokens), "trajectories": r.trajectories,
               "finished": r.finished, "votes": dict(sorted(r.votes.items(), key=lambda kv: -kv[1])[:8])}
              for r in row] for row in out]
    return results, extra
