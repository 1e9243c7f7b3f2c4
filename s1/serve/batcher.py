"""Continuous batching over the in-process engine: requests join the running batch as they arrive.

One background thread owns the model. Each loop it drops rows that finished or whose client went
away, prefills newly arrived prompts as a small batch of their own and splices their KV cache into
the running one (left-padded to a common length), then decodes one token for every row. Budget
forcing is the same `RowBudget` state machine as everywhere else: a forced token is simply the
row's next input. Each token reaches its request through a `sink(token, part)` callback, called
from the batcher thread; `part` is "think", "answer" or "delim" (delimiter tokens the client does
not see), and `sink(None, "done")` / `sink(None, "error")` end the request.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..budget import RowBudget
from ..engine import _generator, _select, prefill, sample_token
from ..generation import SamplingConfig

Sink = Callable[[int | None, str], None]


@dataclass
class Handle:
    """A submitted request. `cancel()` frees its row at the next step."""

    ids: list[int]
    row: RowBudget
    sampling: dict[str, SamplingConfig]
    gens: dict[str, torch.Generator | None]
    sink: Sink
    cancelled: bool = False
    error: BaseException | None = None
    out: list[int] = field(default_factory=list)

    def cancel(self) -> None:
        self.cancelled = True


class Batcher:
    """Decode rows of many requests together; `submit` from any thread, results through sinks."""

    def __init__(self, engine, max_batch: int = 16):
        if max_batch < 1:
            raise ValueError(f"max batch must be >= 1, got {max_batch}")
        self.engine, self.model, self.max_batch = engine, engine.model, max_batch
        self.device = next(self.model.parameters()).device
        tok = engine.tokenizer
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        self._pending: deque[Handle] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.stats = {"steps": 0, "row_steps": 0, "admitted": 0, "joined_running": 0, "cancelled": 0,
                      "max_rows": 0}
        self._thread = threading.Thread(target=self._loop, name="s1-batcher", daemon=True)
        self._thread.start()

    # -- API ---------------------------------------------------------------------------------
    def submit(self, ids: list[int], row: RowBudget, thinking: SamplingConfig, answer: SamplingConfig,
               seed: int, sink: Sink) -> Handle:
        gens = {ph: _generator(cfg, seed - (thinking.seed or 0) + (cfg.seed or 0), self.device)
                for ph, cfg in (("think", thinking), ("answer", answer))}
        h = Handle(list(ids), row, {"think": thinking, "answer": answer}, gens, sink)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._pending.append(h)
            self._cond.notify()
        return h

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)

    @property
    def load(self) -> int:
        """Requests waiting to join the batch."""
        return len(self._pending)

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        slots: list[Handle] = []
        state = None  # (cache, mask, next_pos, logits) of the running batch
        while True:
            with self._cond:
                while not self._closed and not slots and not self._pending:
                    self._cond.wait()
                if self._closed:
                    for h in [*slots, *self._pending]:
                        self._end(h, "error", RuntimeError("the server is shutting down"))
                    return
                new = []
                while self._pending and len(slots) + len(new) < self.max_batch:
                    h = self._pending.popleft()
                    if h.cancelled:
                        self.stats["cancelled"] += 1
                    else:
                        new.append(h)
            try:
                with torch.inference_mode():
                    slots, state = self._step(slots, state, new)
            except Exception as e:  # the model failed (out of memory...): fail these requests, keep serving
                for h in [*slots, *new]:
                    self._end(h, "error", e)
                slots, state = [], None

    def _step(self, slots: list[Handle], state, new: list[Handle]):
        keep = [i for i, h in enumerate(slots) if not h.cancelled]
        self.stats["cancelled"] += len(slots) - len(keep)
        if len(keep) != len(slots):
            slots = [slots[i] for i in keep]
            state = _take(state, keep) if slots else None
        if new:
            if slots:
                self.stats["joined_running"] += len(new)
            self.stats["admitted"] += len(new)
            state = _merge(state, prefill(self.model, [h.ids for h in new], self.pad))
            slots = slots + new
        if not slots:
            return [], None
        cache, mask, next_pos, logits = state
        self.stats["max_rows"] = max(self.stats["max_rows"], len(slots))
        greedy_rows = [s for s, h in enumerate(slots)
                       if h.row.wants_sample() and h.sampling[h.row.sampling_phase].temperature == 0]
        greedy = dict(zip(greedy_rows, logits[greedy_rows].argmax(-1).tolist())) if greedy_rows else {}
        inputs, alive = [], []
        for s, h in enumerate(slots):
            row = h.row
            sampled = None
            n_think, n_answer = len(row.thinking), len(row.answer)
            try:
                if row.wants_sample():
                    ph = row.sampling_phase
                    sampled = greedy[s] if s in greedy else sample_token(logits[s], h.sampling[ph], h.gens[ph])
                t = row.advance(sampled)
            except Exception as e:  # this row's own settings failed it (e.g. its sampling): it ends alone
                self._end(h, "error", e)
                continue
            h.out.append(t)
            part = "think" if len(row.thinking) > n_think else "answer" if len(row.answer) > n_answer else "delim"
            if part != "delim" or not row.done:
                h.sink(t, part)
            if row.done:
                self._end(h, "done")
            else:
                inputs.append(t), alive.append(s)
        if not alive:
            return [], None
        if len(alive) != len(slots):
            slots = [slots[s] for s in alive]
            cache, mask, next_pos, logits = _take((cache, mask, next_pos, logits), alive)
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
        out = self.model(input_ids=torch.tensor(inputs, device=self.device)[:, None], attention_mask=mask,
                         position_ids=next_pos[:, None], past_key_values=cache, use_cache=True)
        self.stats["steps"] += 1
        self.stats["row_steps"] += len(alive)
        return slots, (cache, mask, next_pos + 1, out.logits[:, -1, :])

    @staticmethod
    def _end(h: Handle, how: str, error: BaseException | None = None) -> None:
        h.error = error
        try:
            h.sink(None, how)
        except Exception:  # a sink that fails must not stop the loop
            pass


def _layers(cache):
    return [layer for layer in cache.layers if getattr(layer, "keys", None) is not None and layer.keys.numel()]


def _take(state, rows: list[int]):
    """Keep `rows` of a batch state, dropping leading columns that are padding for all of them."""
    cache, mask, next_pos, logits = state
    idx = torch.tensor(rows, device=mask.device)
    mask = mask[idx]
    start = int((mask.sum(0) > 0).int().argmax())
    _select(cache, idx, start)
    return cache, mask[:, start:], next_pos[idx], logits[idx]


def _merge(running, new):
    """Splice a freshly prefilled batch into the running one (both left-padded to one length)."""
    if running is None:
        return new
    cache, mask, next_pos, logits = running
    ncache, nmask, npos, nlogits = new
    width = max(mask.shape[1], nmask.shape[1])
    grow, ngrow = width - mask.shape[1], width - nmask.shape[1]
    for layer, nlayer in zip(_layers(cache), _layers(ncache), strict=True):
        layer.keys = torch.cat([F.pad(layer.keys, (0, 0, grow, 0)), F.pad(nlayer.keys, (0, 0, ngrow, 0))])
        layer.values = torch.cat([F.pad(layer.values, (0, 0, grow, 0)), F.pad(nlayer.values, (0, 0, ngrow, 0))])
    mask = torch.cat([F.pad(mask, (grow, 0)), F.pad(nmask, (ngrow, 0))])
    return cache, mask, torch.cat([next_pos, npos]), torch.cat([logits, nlogits])
