"""s1: simple test-time scaling. Budget-forced generation, evaluation, curation, training, serving.

    import s1
    [r] = s1.generate(["How many r in raspberry?"], max_thinking_tokens=64)
    print(r.thinking_tokens, r.answer)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .budget import BudgetConfig, BudgetError, RowBudget
from .templates import TEMPLATES, ThinkingTemplate, get_template

if TYPE_CHECKING:
    from .engine import Engine
    from .generation import Backend, GenerationError, GenerationResult, SamplingConfig

__version__ = "0.1.0"

_LAZY = {"Engine": "engine", "Backend": "generation", "GenerationError": "generation",
         "GenerationResult": "generation", "SamplingConfig": "generation"}


def __getattr__(name: str):
    # the engine pulls in torch (~2 s): only code that generates pays for it, not `s1 curate`, `s1 report` ...
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 's1' has no attribute {name!r}")


def load(model: str | None = None, template: str | ThinkingTemplate | None = "auto", dtype: str | None = None,
         device: str | None = None, think_start: str | None = None, think_end: str | None = None) -> Engine:
    """An Engine for a model spec (None: the embedded SmolLM2-135M-Instruct); loaded once per process."""
    from .backends.build import load_engine

    return load_engine(model, template, dtype, device, think_start, think_end)


def generate(
    prompts: str | list[str],
    model: str | Backend | None = None,
    *,
    max_thinking_tokens: int | None = None,
    min_thinking_tokens: int = 0,
    num_ignore: int = 0,
    extend: str | list[str] = "Wait",
    answer_prefix: str | None = "Final Answer:",
    max_answer_tokens: int = 512,
    on_turn_end: str = "answer",
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    answer_temperature: float | None = None,
    answer_top_p: float | None = None,
    answer_seed: int | None = None,
    batch_size: int = 16,
    template: str | ThinkingTemplate | None = "auto",
    system: str | None = None,
    dtype: str | None = None,
    progress=None,
) -> list[GenerationResult]:
    """Budget-forced generation. Returns one GenerationResult per prompt (a list even for one)."""
    from .generation import Backend, SamplingConfig

    backend = model if isinstance(model, Backend) else load(model, template, dtype)
    budget = BudgetConfig(max_thinking_tokens, min_thinking_tokens, num_ignore,
                          (extend,) if isinstance(extend, str) else tuple(extend), answer_prefix,
                          max_answer_tokens, on_turn_end=on_turn_end)
    think = SamplingConfig(temperature, top_p, 0, seed)
    ans = think.for_answer(answer_temperature, answer_top_p, answer_seed)
    items = [prompts] if isinstance(prompts, str) else list(prompts)
    return backend.generate(items, budget, think, ans, batch_size=batch_size, system=system, progress=progress)


__all__ = ["Backend", "BudgetConfig", "BudgetError", "Engine", "GenerationError", "GenerationResult", "RowBudget",
           "SamplingConfig", "TEMPLATES", "ThinkingTemplate", "generate", "get_template", "load"]
