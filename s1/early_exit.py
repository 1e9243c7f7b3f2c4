"""Early exit: end the thinking when a trial answer, probed on a forked row, is confident.

    from s1.early_exit import run; run(batch, on_token)   # instead of batch.run(on_token)

A row whose budget sets `early_exit` (a threshold in (0, 1]) asks for a probe (`RowBudget.probe_wanted`)
at a step boundary or when it writes an extension word ("Wait"), at least `probe_gap` thinking tokens
after its last one. The driver then forks the row (`Batch.fork`: the fork shares the row's KV-cache slot,
so the prefix is never run again) into a `Probe`: the end-of-thinking delimiter and the answer prefix,
forced, then up to `probe_tokens` greedy answer tokens. The row itself is paused meanwhile, so its
thinking stands still where the probe looks at it. The confidence is the mean probability of the trial
answer's tokens (mode 'agree' also wants the same trial answer as the previous probe). When it reaches
the threshold, the row ends its thinking right there (its next draw becomes the delimiter, thinking_end
'early_exit') and writes its answer; otherwise it thinks on. Every token a probe decodes is discarded and
counted in the row's `probe_tokens`, apart from its thinking tokens.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import torch

from .generation import SamplingConfig
from .step import Batch, Seq

GREEDY = SamplingConfig()


class Probe:
    """A trial answer's state machine: forced end-of-thinking tokens, then up to `k` sampled (greedy)
    answer tokens; stops early at an end of turn."""

    sampling_phase = "answer"

    def __init__(self, forced: tuple[int, ...], k: int, eot_ids: frozenset[int]):
        self.queue = deque(forced)
        self.k, self.eot_ids = k, eot_ids
        self.answer: list[int] = []
        self.probs: list[float] = []  # probability of each sampled token
        self.decoded = 0  # tokens appended (forced and sampled): the probe's cost
        self.done = False
        self.last_part: str | None = None

    def wants_sample(self) -> bool:
        return not self.done and not self.queue

    def advance(self, sampled: int | None) -> int:
        self.decoded += 1
        if self.queue:
            self.last_part = "delim"
            return self.queue.popleft()
        self.last_part = "answer"
        if sampled in self.eot_ids:
            self.done = True
            return sampled
        self.answer.append(sampled)
        self.done = len(self.answer) >= self.k
        return sampled

    def confidence(self) -> float:
        return sum(self.probs) / len(self.probs) if self.probs else 0.0


def run(batch: Batch, on_token: Callable[[Seq, int, str], None] | None = None) -> dict[str, int]:
    """Step `batch` until its rows are finished, probing the rows that ask for it. `on_token` hears the
    rows' tokens (never a probe's). Returns counts: probes run, exits taken, probe tokens decoded."""
    probes: dict[Seq, tuple[Seq, Probe]] = {}  # probe row -> (the row it probes, its state)
    counts = {"probes": 0, "exits": 0, "probe_tokens": 0}
    finished: list[Seq] = []  # rows whose probe ended this step: resumed after it (never mid-step)

    def hook(seq: Seq, tok: int, part: str) -> None:
        if seq not in probes:
            if on_token is not None:
                on_token(seq, tok, part)
            return
        if seq.row.done:
            main, probe = probes.pop(seq)
            counts["probe_tokens"] += probe.decoded
            if main.row.probe_result(probe.confidence(), tuple(probe.answer), probe.decoded):
                counts["exits"] += 1
            finished.append(main)

    while batch.slots and batch.running:
        batch.step(hook)
        for main in finished:
            batch.resume(main)
        finished.clear()
        for pseq, (_, probe) in probes.items():
            if probe.wants_sample():  # this step's logits give the greedy draw of the next step
                logits = batch.logits[batch.at[pseq.slot]].float()
                probe.probs.append(float(torch.softmax(logits, -1).max()))
        for seq in batch.seqs:
            row = seq.row
            if getattr(row, "probe_wanted", False) and not row.done and seq not in batch.paused:
                b = row.plan.budget  # the trial fits where the row's own answer would (the context is reserved)
                k = max(1, min(b.probe_tokens, b.max_answer_tokens - len(row.plan.answer_prefix_ids)))
                probe = Probe(row.start_probe(), k, row.plan.eot_ids)
                child = batch.fork(seq, probe)
                child.sampling, child.gens = {"think": GREEDY, "answer": GREEDY}, {}
                probes[child] = (seq, probe)
                counts["probes"] += 1
                batch.pause(seq)
    return counts
