"""Model runners: where a batch of rows keeps its KV cache, behind one small interface (slots).

    from s1.runner import make_runner; r = make_runner(model); [s] = r.alloc(1); logits = r.prefill([s], [ids])

The step core (s1.step), the Engine and the `s1 serve` batcher talk to a model only through a
`Runner`: a slot holds one row's cached tokens; `prefill` fills fresh slots with prompts, `decode`
appends one token to each of some live slots, `fork` copies a slot's prefix into another, `free`
gives slots back. Both calls return next-token logits, one row per slot, in the order asked.
`HFRunner` runs any transformers causal LM; `make_runner` picks a faster runner where one exists.
"""

from __future__ import annotations

import inspect
from typing import Protocol, Sequence

import torch


class Runner(Protocol):
    device: torch.device

    def alloc(self, n: int) -> list[int]: ...

    def free(self, slots: Sequence[int]) -> None: ...

    def prefill(self, slots: Sequence[int], prompts: Sequence[Sequence[int]]) -> torch.Tensor: ...

    def decode(self, slots: Sequence[int], tokens: Sequence[int]) -> torch.Tensor: ...

    def fork(self, src: int, dst: int) -> None: ...

    def length(self, slot: int) -> int: ...


def make_runner(model, max_rows_hint: int = 16, max_len_hint: int | None = None,
                compile: bool = False) -> Runner:
    """The runner for `model`: StaticRunner for Llama / Qwen2 / Mistral decoders, else the portable HFRunner."""
    from .static_runner import StaticRunner, unsupported_reason  # noqa: PLC0415 (s1.static_runner imports this module's peers only)

    return HFRunner(model) if unsupported_reason(model) else StaticRunner(model, max_rows_hint, max_len_hint, compile)


class HFRunner:
    """Any transformers causal LM over one `DynamicCache`, rows left-padded to a common width.

    Slot ids are labels; the cache rows are kept in the order of the last decode, so a step that
    decodes the same slots in the same order touches no cache memory beyond appending a column.
    `free` and `fork` are lazy: they only change the slot -> cache row map, and the cache is
    gathered once (dropping finished rows, duplicating forked ones, dropping leading columns that
    became padding for every row) at the next model call that needs another row order.
    """

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device
        # transformers >= 5.24 calls the cache argument `cache` and deprecates `past_key_values`
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._next = 0  # slot ids never used so far start here
        self._free: list[int] = []
        self._reset()

    def _reset(self) -> None:
        self.cache = None
        self.mask = None  # [rows, width] attention mask (0 = left padding or a skipped step)
        self.pos = None  # [rows] position of each row's next token
        self.where: dict[int, int] = {}  # live slot -> cache row

    # -- slots ------------------------------------------------------------------------------
    def alloc(self, n: int) -> list[int]:
        out = [self._free.pop() for _ in range(min(n, len(self._free)))]
        fresh = n - len(out)
        out += range(self._next, self._next + fresh)
        self._next += fresh
        return out

    def free(self, slots: Sequence[int]) -> None:
        for s in slots:
            self.where.pop(s, None)
            self._free.append(s)
        if not self.where:
            self._reset()  # nothing live: let the cache go now

    def fork(self, src: int, dst: int) -> None:
        self.where[dst] = self.where[src]  # the gather at the next call copies the row

    def length(self, slot: int) -> int:
        return int(self.pos[self.where[slot]])

    # -- model calls ------------------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, slots: Sequence[int], prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        from transformers import DynamicCache

        width = max(len(p) for p in prompts)
        ids = torch.zeros((len(prompts), width), dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        # logits_to_keep=1: the prompt's other positions never need the (large) vocabulary projection
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                         **{self._cache_arg: cache})
        self._gather(list(self.where))  # the running rows first, in their order, then the new ones
        self._append(cache, mask, pos[:, -1] + 1)
        n = len(self.where)
        for i, s in enumerate(slots):
            self.where[s] = n + i
        return out.logits[:, -1, :]

    @torch.inference_mode()
    def decode(self, slots: Sequence[int], tokens: Sequence[int]) -> torch.Tensor:
        # live rows not decoded now still get this step's column, masked out (their position unchanged)
        asked = set(slots)
        rest = [s for s in self.where if s not in asked]
        self._gather(list(slots) + rest)
        n, m = len(slots), len(rest)
        inp = torch.tensor(list(tokens) + [0] * m, dtype=torch.long, device=self.device)[:, None]
        step = torch.tensor([1] * n + [0] * m, dtype=self.mask.dtype, device=self.device)[:, None]
        self.mask = torch.cat([self.mask, step], dim=1)
        out = self.model(input_ids=inp, attention_mask=self.mask, position_ids=self.pos[:, None], use_cache=True,
                         **{self._cache_arg: self.cache})
        self.pos = self.pos + step[:, 0]
        return out.logits[:n, -1, :]

    # -- the cache ---------------------------------------------------------------------------
    def _layers(self, cache):
        return [layer for layer in cache.layers if getattr(layer, "keys", None) is not None and layer.keys.numel()]

    def _gather(self, order: list[int]) -> None:
        """Make cache row i hold slot order[i] (rows not in `order` are dropped)."""
        rows = [self.where[s] for s in order]
        if self.cache is None or rows == list(range(self.mask.shape[0])):
            return
        if not rows:
            self._reset()
            return
        k = torch.tensor(rows, device=self.device)
        mask = self.mask[k]
        start = int((mask.sum(0) > 0).int().argmax())  # leading columns that are padding for all
        for layer in self._layers(self.cache):
            layer.keys = layer.keys[k, :, start:]
            layer.values = layer.values[k, :, start:]
        self.mask, self.pos = mask[:, start:], self.pos[k]
        self.where = {s: i for i, s in enumerate(order)}

    def _append(self, cache, mask: torch.Tensor, pos: torch.Tensor) -> None:
        """Add freshly prefilled rows below the running ones, left-padding the narrower side."""
        if self.cache is None:
            self.cache, self.mask, self.pos = cache, mask, pos
            return
        width = max(self.mask.shape[1], mask.shape[1])
        grow, ngrow = width - self.mask.shape[1], width - mask.shape[1]
        pad = torch.nn.functional.pad
        for layer, new in zip(self._layers(self.cache), self._layers(cache), strict=True):
            layer.keys = torch.cat([pad(layer.keys, (0, 0, grow, 0)), pad(new.keys, (0, 0, ngrow, 0))])
            layer.values = torch.cat([pad(layer.values, (0, 0, grow, 0)), pad(new.values, (0, 0, ngrow, 0))])
        self.mask = torch.cat([pad(self.mask, (grow, 0)), pad(mask, (ngrow, 0))])
        self.pos = torch.cat([self.pos, pos])
