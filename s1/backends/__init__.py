"""Backends: the same budget-forced generation on the in-process engine, vLLM or any OpenAI-compatible server.

    from s1.backends import load_backend
    b = load_backend("vllm", "Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2)
    b = load_backend("openai", "smollm2-135m", base_url="http://localhost:8000/v1")
    results = b.generate(["How many r in raspberry?"], BudgetConfig(max_thinking_tokens=256))

Every backend is an `s1.generation.Backend`: `generate`, `generate_grid`, `render`, `close`, and the
same `GenerationResult` records.
"""

from __future__ import annotations

from ..generation import Backend

BACKENDS = ("transformers", "vllm", "openai")


class BackendError(RuntimeError):
    """A backend cannot be built or reached (missing package, unreachable server, bad option)."""


def load_backend(backend: str = "transformers", model: str | None = None, *, template="auto",
                 dtype: str | None = None, device: str | None = None, think_start: str | None = None,
                 think_end: str | None = None, **options) -> Backend:
    """Build a backend by name. `model` is a model spec (embedded default, folder or Hub id); for
    `openai` it is also the model name sent to the server (see OpenAIBackend for its options)."""
    if backend in ("transformers", "engine", "hf"):
        if options:
            raise BackendError(f"options {sorted(options)} do not apply to the transformers backend")
        from .. import load

        return load(model, template, dtype, device, think_start, think_end)
    if backend == "vllm":
        from .vllm import VLLMBackend

        return VLLMBackend(model, template=template, dtype=dtype, think_start=think_start, think_end=think_end,
                           **options)
    if backend == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(model, template=template, think_start=think_start, think_end=think_end, **options)
    raise BackendError(f"unknown backend {backend!r} (choose {', '.join(BACKENDS)})")


def load_spec(spec: str | None) -> Backend:
    """A backend from one string, as `s1 curate` takes solvers and teachers:
    'MODEL' (in-process transformers) | 'vllm:MODEL' | 'openai:BASE_URL:MODEL' (budget forcing in rounds
    against that server; MODEL names the served model and its tokenizer)."""
    spec = (spec or "").strip()
    kind, _, rest = spec.partition(":")
    if kind == "vllm":
        return load_backend("vllm", rest.strip() or None)
    if kind == "openai":
        from ..data.io import parse_endpoint

        endpoint = parse_endpoint(rest)
        if endpoint is None:
            raise BackendError(f"{spec!r}: expected openai:BASE_URL:MODEL, e.g. openai:http://127.0.0.1:8000/v1:M")
        return load_backend("openai", endpoint[1], base_url=endpoint[0], served_model=endpoint[1])
    return load_backend("transformers", spec or None)


__all__ = ["BACKENDS", "Backend", "BackendError", "load_backend", "load_spec"]
