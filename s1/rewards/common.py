"""What the transformers reward models share: checkpoint checks, loading, device, batching, input text.

    from s1.rewards.common import checkpoint_dir; checkpoint_dir("shepherd", "runs/prm")

Every failure a user can cause (missing folder, no safetensors, a tokenizer without the step token)
becomes a RewardError with one line; weights are read from safetensors only, never with remote code.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import RewardError

# The Qwen2.5-Math-PRM input puts this system line first (the published model was trained with it).
PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
BATCH_TOKENS = 16384  # tokens per forward pass (padded); a batch never holds more than this


def checkpoint_dir(kind: str, path: str) -> Path:
    """The folder of a reward checkpoint; RewardError when it is missing or holds no safetensors."""
    if not path:
        raise RewardError(f"reward {kind}: no path given (expected {kind}:PATH)")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise RewardError(f"reward {kind}: checkpoint folder {path!r} does not exist")
    if not (p / "config.json").is_file():
        raise RewardError(f"reward {kind}: {path} has no config.json (not a Hugging Face model folder)")
    if not any(p.glob("*.safetensors")):
        raise RewardError(f"reward {kind}: {path} holds no .safetensors weights (pickled weights are never loaded)")
    return p


def read_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RewardError(f"{path / 'config.json'}: unreadable ({' '.join(str(e).split())})") from None


def safetensor_keys(path: Path) -> dict[str, tuple[Path, list[int]]]:
    """Every tensor name of the checkpoint -> (its file, its shape), read from the headers only."""
    from safetensors import safe_open

    out = {}
    for f in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                for k in st.keys():
                    out[k] = (f, list(st.get_slice(k).get_shape()))
        except Exception as e:  # a torn or foreign file: safetensors raises several types
            raise RewardError(f"{f}: not a readable safetensors file ({' '.join(str(e).split())[:120]})") from None
    return out


def read_tensors(path: Path, names: list[str]) -> dict:
    from safetensors import safe_open

    where = safetensor_keys(path)
    out = {}
    for name in names:
        with safe_open(str(where[name][0]), framework="pt") as st:
            out[name] = st.get_tensor(name)
    return out


def device_and_dtype(device: str | None, dtype: str | None):
    """(device string, torch dtype): the models' rules (auto: CUDA when present; bf16 where supported)."""
    from ..models import ModelError, resolve_device, resolve_dtype

    try:
        dev = resolve_device(device)
        return dev, resolve_dtype(dtype, dev)
    except ModelError as e:
        raise RewardError(str(e)) from None


def load_tokenizer(kind: str, path: Path):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except (OSError, ValueError, TypeError) as e:
        raise RewardError(f"reward {kind}: cannot load the tokenizer of {path}: {first_line(e)}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token or tok.convert_ids_to_tokens(0)
    return tok


def load_weights(kind: str, auto_cls, path: Path, torch_dtype, device: str, **kw):
    """A transformers model from safetensors, never remote code, in eval mode on `device`."""
    try:
        model = auto_cls.from_pretrained(str(path), dtype=torch_dtype, use_safetensors=True,
                                         trust_remote_code=False, **kw)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise RewardError(f"reward {kind}: cannot load {path}: {first_line(e)}") from None
    return model.to(device).eval()


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def single_token(kind: str, tok, text: str, what: str, option: str) -> int:
    """The id of `text` as exactly one token of `tok` (as the published PRMs read it); RewardError if none."""
    ids = tok.encode(text, add_special_tokens=False)
    if len(ids) == 1:
        return ids[0]
    tid = tok.convert_tokens_to_ids(text)
    if isinstance(tid, int) and tid != tok.unk_token_id and tid >= 0:
        return tid
    raise RewardError(f"reward {kind}: the tokenizer has no single token for the {what} {text!r} (it splits "
                      f"into {len(ids)}): wrong checkpoint layout, or give {option}=... in the spec")


def chat_text(tok, question: str, answer: str, system: str | None = None) -> str:
    """question + solution rendered by the tokenizer's chat template (no generation prompt), or as plain
    text when it has none."""
    if getattr(tok, "chat_template", None):
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        try:
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
        except Exception:  # a template that rejects the system role (or any other quirk): plain text
            pass
    return f"{question}\n\n{answer}"


def context_of(model) -> int | None:
    cfg = model.config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        if getattr(cfg, key, None):
            return int(getattr(cfg, key))
    return None


def batches(lengths: list[int], max_rows: int = 16):
    """Indices grouped into forward passes: similar lengths together, at most BATCH_TOKENS padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    group: list[int] = []
    for i in order:
        width = lengths[group[0]] if group else lengths[i]
        if group and (len(group) >= max_rows or width * (len(group) + 1) > BATCH_TOKENS):
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def padded(seqs: list[list[int]], pad_id: int, device):
    """Right-padded ids and attention mask tensors."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)


def check_length(kind: str, n: int, context: int | None) -> None:
    if context and n > context:
        raise RewardError(f"reward {kind}: an input of {n} tokens is longer than the model's context of {context}")
