"""The evaluation methods: budget forcing and the paper's baselines, each expanded into grid points.

    from s1.baselines import METHODS, expand; groups = expand("class-conditional+forcing", config)

Every method becomes *groups* of grid points. The points of a group share one prompt and go to the
backend in one `generate_grid` call (the in-process engine runs the largest budget once and forks the
others off it where they differ; other backends run each point). Prompt-based methods (token-, step-
and class-conditional control) append an instruction to the question; a `+forcing` variant also
enforces the requested limit with budget forcing. Rejection sampling resamples until a try fits the
point's budget (`Runner._rejection` in s1/evaluate.py); majority voting is one point sampled
`samples` times, voted on in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from .budget import BudgetConfig

TOKEN_INSTRUCTION = "Think for up to {n} tokens."
LENGTH_INSTRUCTION = "Think for {n} tokens."  # what `s1 train --length-instruction` teaches
STEP_INSTRUCTION = "Think for up to {n} steps."
# our wording of the two classes of class-conditional control
CLASS_INSTRUCTIONS = {
    "short": "Keep your thinking short: answer as soon as you are reasonably confident, "
             "without spending long on checking your work.",
    "long": "Take a long time to think: work through the problem carefully and, before you answer, "
            "check your work again until you are certain the answer is right.",
}


@dataclass(frozen=True)
class Point:
    """One grid point: a budget, the limits it requests (for Control) and how thinking is measured."""

    id: str  # e.g. "max=512,ignore=1" (unique within its method)
    budget: BudgetConfig
    lo: float | None = None  # requested thinking limits, in tokens (or steps when measure == "steps")
    hi: float | None = None
    measure: str = "tokens"


@dataclass(frozen=True)
class Group:
    """Points that share a prompt: the question plus `instruction` (if any)."""

    id: str
    instruction: str | None
    points: tuple[Point, ...]


def _name(m: int | None) -> str:
    return "none" if m is None else str(m)


def point_budget(cfg, **kw) -> BudgetConfig:
    """The run's base budget (extensions, answer prefix, answer length) with the point's limits."""
    base = BudgetConfig(min_thinking_tokens=cfg.min_thinking, extend=tuple(cfg.extend),
                        answer_prefix=cfg.answer_prefix or None, max_answer_tokens=cfg.max_answer_tokens,
                        on_turn_end=cfg.on_turn_end)
    return replace(base, **kw).validate()


def _limits(cfg) -> list[int]:
    caps = [m for m in cfg.max_thinking if m is not None]
    if not caps:
        raise ValueError("this method needs token limits: give --max-thinking with numbers")
    return caps


def budget_forcing(cfg) -> list[Group]:
    lo = cfg.min_thinking or None
    points = tuple(
        Point(f"max={_name(m)},ignore={k}", point_budget(cfg, max_thinking_tokens=m, num_ignore=k), lo, m)
        for m in cfg.max_thinking for k in cfg.num_ignore
    )
    return [Group("all", None, points)]


def token_conditional(cfg, forcing: bool = False, instruction: str = TOKEN_INSTRUCTION) -> list[Group]:
    return [
        Group(f"tokens={m}", instruction.format(n=m),
              (Point(f"tokens={m}", point_budget(cfg, max_thinking_tokens=m if forcing else None,
                                            min_thinking_tokens=0), None, m),))
        for m in _limits(cfg)
    ]


def step_conditional(cfg, forcing: bool = False) -> list[Group]:
    if not cfg.steps:
        raise ValueError("step-conditional control needs --steps (e.g. 4,8,16)")
    return [
        Group(f"steps={n}", STEP_INSTRUCTION.format(n=n),
              (Point(f"steps={n}", point_budget(cfg, max_steps=n, stop_at_zero_steps=forcing, min_thinking_tokens=0),
                     None, n, "steps"),))
        for n in cfg.steps
    ]


def class_conditional(cfg, forcing: bool = False) -> list[Group]:
    groups = []
    for cls, text in CLASS_INSTRUCTIONS.items():
        if forcing:
            points = tuple(Point(f"{cls},max={m}", point_budget(cfg, max_thinking_tokens=m, min_thinking_tokens=0), None, m)
                           for m in _limits(cfg))
        else:
            points = (Point(cls, point_budget(cfg, min_thinking_tokens=0)),)
        groups.append(Group(cls, text, points))
    return groups


def rejection(cfg) -> list[Group]:
    # each point's budget is the forced fallback used when no try fits (see Runner._rejection in s1/evaluate.py)
    points = tuple(Point(f"max={m}", point_budget(cfg, max_thinking_tokens=m, min_thinking_tokens=0), None, m)
                   for m in sorted(_limits(cfg)))
    return [Group("all", None, points)]


def majority(cfg) -> list[Group]:
    if cfg.samples < 2 or cfg.temperature <= 0:
        raise ValueError("majority voting needs --samples >= 2 and --temperature > 0")
    caps = [m for m in cfg.max_thinking if m is not None]
    m = max(caps) if caps and None not in cfg.max_thinking else None
    # one generation point; the vote over the first k samples is computed per k in the summary
    return [Group("all", None, (Point("samples", point_budget(cfg, max_thinking_tokens=m)),))]


def majority_ks(samples: int) -> list[int]:
    """Vote sizes reported for majority voting: powers of two up to the sample count, and the count."""
    ks, k = [], 1
    while k < samples:
        ks.append(k)
        k *= 2
    return ks + [samples]


# parallel and tree search (s1.search): trajectory counts are the grid; each trajectory is a budget-forced row
SEARCH_METHODS = ("best-of-n", "beam", "dvts", "rebase", "deepconf", "deepconf-online")  # = s1.search.METHODS
SHARED_SEARCH = ("best-of-n", "deepconf")  # the run of n trajectories is the first n of the largest run


def search_groups(method: str, cfg) -> list[Group]:
    """One point per trajectory count (x budget when several --max-thinking / --num-ignore values are
    given). Shared-sample methods put every count of one budget in one group (one run of the largest);
    tree searches run each count separately."""
    widths = sorted(set(cfg.trajectories))
    if not widths:
        raise ValueError("this method needs --trajectories (e.g. 1,4,16)")
    lo = cfg.min_thinking or None
    groups = []
    for m in cfg.max_thinking:
        for k in cfg.num_ignore:
            tag = (f",max={_name(m)}" if len(cfg.max_thinking) > 1 else "") + \
                  (f",ignore={k}" if len(cfg.num_ignore) > 1 else "")
            budget = point_budget(cfg, max_thinking_tokens=m, num_ignore=k)
            points = [Point(f"n={n}{tag}", budget, lo, m) for n in widths]
            if method in SHARED_SEARCH:
                groups.append(Group(f"all{tag}", None, tuple(points)))
            else:
                groups += [Group(p.id, None, (p,)) for p in points]
    return groups


# adaptive thinking (s1/policies.py, s1/early_exit.py): budget forcing's grid with one policy on
ADAPTIVE_METHODS = ("early-exit", "wait-schedule", "break-loops", "round-sampling")
FORKING_METHODS = ("early-exit", "round-sampling")  # need the in-process engine (forks, per-row sampling)


def adaptive_settings(method: str, cfg) -> dict:
    """The BudgetConfig fields that turn `method`'s policy on, from the run's settings."""
    if method == "early-exit":
        return dict(early_exit=cfg.early_exit, probe_tokens=cfg.probe_tokens, probe_mode=cfg.probe_mode,
                    probe_gap=cfg.probe_gap)
    if method == "wait-schedule":
        return dict(wait_schedule=cfg.wait_schedule, policy_seed=cfg.seed)
    if method == "break-loops":
        return dict(break_loops=cfg.break_loops, loop_action=cfg.loop_action)
    if not (cfg.round_temperatures or cfg.round_top_p or cfg.extend_penalty):
        raise ValueError("needs --round-temperature, --round-top-p or --extend-penalty")
    return dict(round_temperatures=tuple(cfg.round_temperatures), round_top_p=tuple(cfg.round_top_p),
                extend_penalty=cfg.extend_penalty)


def adaptive(method: str, cfg) -> list[Group]:
    extra = adaptive_settings(method, cfg)
    lo = cfg.min_thinking or None
    points = tuple(
        Point(f"max={_name(m)},ignore={k}", point_budget(cfg, max_thinking_tokens=m, num_ignore=k, **extra), lo, m)
        for m in cfg.max_thinking for k in cfg.num_ignore
    )
    return [Group("all", None, points)]


METHODS: dict[str, Callable] = {
    "budget-forcing": budget_forcing,
    "token-conditional": token_conditional,
    "token-conditional+forcing": lambda cfg: token_conditional(cfg, True),
    "length-conditional": lambda cfg: token_conditional(cfg, False, LENGTH_INSTRUCTION),
    "length-conditional+forcing": lambda cfg: token_conditional(cfg, True, LENGTH_INSTRUCTION),
    **{m: (lambda cfg, m=m: adaptive(m, cfg)) for m in ADAPTIVE_METHODS},
    "step-conditional": step_conditional,
    "step-conditional+forcing": lambda cfg: step_conditional(cfg, True),
    "class-conditional": class_conditional,
    "class-conditional+forcing": lambda cfg: class_conditional(cfg, True),
    "rejection": rejection,
    "majority": majority,
    **{m: (lambda cfg, m=m: search_groups(m, cfg)) for m in SEARCH_METHODS},
}


def expand(method: str, cfg) -> list[Group]:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from: {', '.join(METHODS)}")
    return METHODS[method](cfg)


def with_instruction(prompt: str, instruction: str | None) -> str:
    return prompt if not instruction else f"{prompt}\n\n{instruction}"
