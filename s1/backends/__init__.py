"""Backends: the same budget-forced generation on the in-process engine, vLLM or any OpenAI-compatible server.

    from s1.backends import load_backend
    b = load_backend("vllm", "Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2)
    b = load_backend("openai", "smollm2-135m", base_url="http://localhost:8000/v1")
    results = b.generate(["How many r in raspberry?"], BudgetConfig(max_thinking_tokens=256))

Every backend is an `s1.generation.Backend`: `generate`, `generate_grid`, `render`, `close`, and the
same `GenerationResult` records. They are built in one place, `build.py`.
"""

from __future__ import annotations

from ..generation import Backend
from .build import BACKENDS, BackendError, load_backend, load_spec, parse_endpoint

__all__ = ["BACKENDS", "Backend", "BackendError", "load_backend", "load_spec", "parse_endpoint"]
