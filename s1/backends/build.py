"""Building a backend: from a kind and options, or from one spec string; every failure is a BackendError.

    from s1.backends.build import load_backend, load_spec
    b = load_backend("openai", "smollm2-135m", base_url="http://localhost:8000/v1"); b = load_spec("vllm:M")

The one place that turns (kind, model, options) into a backend: `s1 generate`, `s1 eval`, `s1 serve`,
the curate teachers and solvers and library users all come through here.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..generation import Backend, BackendError

BACKENDS = ("transformers", "vllm", "openai")
_ENGINES: dict[tuple, Backend] = {}  # in-process engines by their settings: the weights are read once per process


def check_template_spec(spec) -> None:
    """Fail before a model loads on a template name that no model could have."""
    from ..templates import TEMPLATES, TemplateError

    if not isinstance(spec, str) or spec in ("auto", "custom", *TEMPLATES):
        return
    if not (spec.endswith(".json") and Path(spec).is_file()):
        raise TemplateError(f"unknown template {spec!r} (choose auto, s1, r1, custom or a .json file)")


def load_backend(backend: str = "transformers", model: str | None = None, *, template="auto",
                 dtype: str | None = None, device: str | None = None, think_start: str | None = None,
                 think_end: str | None = None, **options) -> Backend:
    """Build a backend by kind. `model` is a model spec (embedded default, folder or Hub id); for
    `openai` it names the tokenizer and, by default, the served model (see OpenAIBackend's options).
    dtype and device "auto" mean None (the backend's choice); a device is for the in-process engine only,
    and an openai server keeps its own dtype."""
    check_template_spec(template)
    dtype = None if dtype == "auto" else dtype
    device = None if device == "auto" else device
    if backend in ("transformers", "engine", "hf"):
        if options:
            raise BackendError(f"options {sorted(options)} do not apply to the transformers backend")
        return load_engine(model, template, dtype, device, think_start, think_end)
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose {', '.join(BACKENDS)})")
    if device is not None:
        raise BackendError(f"a device ({device}) does not apply to the {backend} backend (it places the model itself)")
    if backend == "vllm":
        from .vllm import VLLMBackend

        return VLLMBackend(model, template=template, dtype=dtype, think_start=think_start, think_end=think_end,
                           **options)
    from .openai import OpenAIBackend

    return OpenAIBackend(model, template=template, think_start=think_start, think_end=think_end, **options)


def load_engine(model: str | None = None, template="auto", dtype: str | None = None, device: str | None = None,
                think_start: str | None = None, think_end: str | None = None) -> Backend:
    """The in-process engine for a model spec (None: the embedded default), built once per process and setting."""
    from ..engine import Engine
    from ..models import load_model
    from ..templates import get_template

    key = (model, template if isinstance(template, str) or template is None else repr(template),
           dtype, device, think_start, think_end)
    if key not in _ENGINES:
        lm = load_model(model, dtype=dtype, device=device)
        tpl = get_template(template, lm.tokenizer, lm.path, think_start, think_end)
        _ENGINES[key] = Engine(lm.model, lm.tokenizer, tpl, lm.context_length)
    return _ENGINES[key]


def load_spec(spec: str | None, **options) -> Backend:
    """A backend from one string, as `s1 curate` takes solvers and teachers:
    'MODEL' (in-process transformers) | 'vllm:MODEL' | 'openai:BASE_URL:MODEL' (budget forcing in rounds
    against that server; MODEL names the served model and its tokenizer). `options` go to load_backend."""
    spec = (spec or "").strip()
    kind, _, rest = spec.partition(":")
    if kind == "vllm":
        return load_backend("vllm", rest.strip() or None, **options)
    if kind == "openai":
        endpoint = parse_endpoint(rest)
        if endpoint is None:
            raise BackendError(f"{spec!r}: expected openai:BASE_URL:MODEL, e.g. openai:http://127.0.0.1:8000/v1:M")
        return load_backend("openai", endpoint[1], base_url=endpoint[0], served_model=endpoint[1], **options)
    return load_backend("transformers", spec or None, **options)


_ENDPOINT = re.compile(
    # scheme://[user@]host[:port][/path]:MODEL; the model is everything after the next colon (it may hold colons)
    r"^(?P<url>https?://(?:[^/@\s]*@)?(?:\[[^\]\s]*\]|[^/:\[\s]+)(?::\d+)?(?:/[^:\s]*)?):(?P<model>\S.*)$"
)


def parse_endpoint(rest: str) -> tuple[str, str] | None:
    """(base URL, model) of the 'BASE_URL:MODEL' part of an 'openai:BASE_URL:MODEL' spec, else None.
    "http://host:8000/v1" alone would read as model "8000/v1" of http://host: that is a missing model.
    A full .../chat/completions URL is cut back to its base."""
    m = _ENDPOINT.match(rest.strip())
    if not m or re.fullmatch(r"\d+(/.*)?", m["model"]):
        return None
    url = m["url"].rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    return url, m["model"].strip()
