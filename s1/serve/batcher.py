"""Continuous batching over the in-process engine: requests join the running batch as they arrive.

    from s1.serve.batcher import Batcher; b = Batcher(engine); h = b.submit(ids, row, cfg, cfg, 0, sink)

One background thread owns the model and one step-core `Batch` (s1.step) over a runner (s1.runner).
Each turn of its loop it drops rows whose client went away (their slot is freed), gives newly
arrived prompts free slots (only the new prompts are prefilled; running rows are not touched),
then runs one step for every row. Budget forcing is the same `RowBudget` state machine as
everywhere else. Each token reaches its request through a `sink(token, part)` callback, called
from the batcher thread; `part` is "think", "answer" or "delim" (delimiter tokens the client does
not see; the closing end of turn is not sent), and `sink(None, "done")` / `sink(None, "error")`
end the request.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

import torch

from ..budget import DELIM, RowBudget
from ..generation import SamplingConfig
from ..runner import make_runner
from ..step import Batch, Seq

Sink = Callable[[int | None, str], None]


@dataclass(eq=False)
class Handle:
    """A submitted request. `cancel()` frees its row at the next step."""

    ids: list[int]
    seq: Seq
    sink: Sink
    cancelled: bool = False
    error: BaseException | None = None

    @property
    def row(self) -> RowBudget:
        return self.seq.row

    @property
    def out(self) -> list[int]:
        return self.seq.out

    def cancel(self) -> None:
        self.cancelled = True


class Batcher:
    """Decode rows of many requests together; `submit` from any thread, results through sinks."""

    def __init__(self, engine, max_batch: int = 16):
        if max_batch < 1:
            raise ValueError(f"max batch must be >= 1, got {max_batch}")
        self.engine, self.max_batch = engine, max_batch
        self._pending: deque[Handle] = deque()
        self._live: dict[Seq, Handle] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.stats = {"admitted": 0, "joined_running": 0, "cancelled": 0, "max_rows": 0,
                      "forward_steps": 0, "decode_row_steps": 0, "prefill_tokens": 0}
        self._batch = self._new_batch()
        self._thread = threading.Thread(target=self._loop, name="s1-batcher", daemon=True)
        self._thread.start()

    def _new_batch(self) -> Batch:
        runner = make_runner(self.engine.model, self.max_batch, self.engine.context_length)
        return Batch(runner, self.stats)

    # -- API ---------------------------------------------------------------------------------
    def submit(self, ids: list[int], row: RowBudget, thinking: SamplingConfig, answer: SamplingConfig,
               seed: int, sink: Sink) -> Handle:
        sampling = {"think": thinking, "answer": answer}
        # the answer seed keeps its offset from the thinking seed, as in Prepared.phase_seed
        seeds = {ph: seed - (thinking.seed or 0) + (cfg.seed or 0) for ph, cfg in sampling.items()}
        h = Handle(list(ids), Seq(row, sampling, seeds), sink)
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
        while True:
            with self._cond:
                while not self._closed and not self._live and not self._pending:
                    self._cond.wait()
                if self._closed:
                    for h in [*self._live.values(), *self._pending]:
                        self._end(h, "error", RuntimeError("the server is shutting down"))
                    return
                new = []
                while self._pending and len(self._live) + len(new) < self.max_batch:
                    h = self._pending.popleft()
                    if h.cancelled:
                        self.stats["cancelled"] += 1
                    else:
                        new.append(h)
            try:
                with torch.inference_mode():
                    self._turn(new)
            except Exception as e:  # the model failed (out of memory...): fail these requests, keep serving
                for h in {id(h): h for h in [*self._live.values(), *new]}.values():
                    self._end(h, "error", e)
                self._live.clear()
                self._batch = self._new_batch()  # a fresh runner: the failed call may have left it half-done

    def _turn(self, new: list[Handle]) -> None:
        for seq, h in list(self._live.items()):
            if h.cancelled:
                self.stats["cancelled"] += 1
                self._batch.drop(seq)
                del self._live[seq]
        if new:
            if self._live:
                self.stats["joined_running"] += len(new)
            self.stats["admitted"] += len(new)
            self._batch.add([h.ids for h in new], [h.seq for h in new])
            self._live.update((h.seq, h) for h in new)
        if not self._live:
            return
        self.stats["max_rows"] = max(self.stats["max_rows"], len(self._live))
        self._batch.step(self._token, self._failed)

    def _token(self, seq: Seq, tok: int, part: str) -> None:
        h = self._live[seq]
        done = seq.row.done
        if part != DELIM or not done:  # the closing end of turn is not part of the reply
            h.sink(tok, part)
        if done:
            del self._live[seq]
            self._end(h, "done")

    def _failed(self, seq: Seq, error: Exception) -> None:
        """This row's own settings failed it (e.g. its sampling): it ends alone."""
        self._end(self._live.pop(seq), "error", error)

    @staticmethod
    def _end(h: Handle, how: str, error: BaseException | None = None) -> None:
        h.error = error
        try:
            h.sink(None, how)
        except Exception:  # a sink that fails must not stop the loop
            pass
