"""The one token step shared by every in-process loop: choose, force, fork and drop rows of a batch.

    from s1.step import Batch, Seq; b = Batch(runner); b.add([ids], [Seq(row, sampling, seeds)]); b.run()

A `Seq` is one row being written: its budget state machine (`RowBudget`, or anything with the
same members), sampling settings and seeds per phase, and the tokens it appended. Each step,
`choose` draws every row's token from its logits (one batched argmax for the greedy rows, a
seeded generator per row otherwise), `feed` gives the draw to the row's state machine, which
returns the token actually appended (the draw, or a forced one) and says which part it belongs
to (think / delim / answer). `Batch` runs rows over a `Runner` (s1.runner): rows whose tokens
so far are identical share one slot of the KV cache; the step they first append different tokens
the others fork the slot (`Runner.fork`), so a forked row pays only for where it differs.
Finished rows give their slot back at once. The Engine, `s1 serve`'s batcher and tree search
drive a Batch; the vLLM processor, where vLLM owns the loop, uses `choose` and `feed`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch

from .generation import SamplingConfig


class Row(Protocol):
    """What the step needs of a row's state machine (RowBudget, serve's PlainRow)."""

    done: bool
    last_part: str | None  # think | delim | answer: where the token `advance` returned went

    def wants_sample(self) -> bool: ...

    @property
    def sampling_phase(self) -> str: ...

    def advance(self, sampled: int | None) -> int: ...


def sample_token(logits: torch.Tensor, cfg: SamplingConfig, gen: torch.Generator | None) -> int:
    """One token from a 1-D logits row: greedy, or temperature / top-k / top-p sampling."""
    if cfg.temperature == 0:
        return int(logits.argmax())
    logits = logits.float() / cfg.temperature
    if cfg.top_k:
        kth = torch.topk(logits, min(cfg.top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, -1)
    if cfg.top_p < 1:
        sp, si = probs.sort(descending=True)
        keep = sp.cumsum(-1) - sp < cfg.top_p  # smallest set whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


def row_generator(cfg: SamplingConfig, seed: int, device) -> torch.Generator | None:
    """A row's generator for one phase: seeded, or fresh entropy when no seed was configured;
    None for greedy settings (nothing to draw)."""
    if cfg.temperature == 0:
        return None
    g = torch.Generator(device=device)
    if cfg.seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


@dataclass(eq=False)
class Seq:
    """One row being written. `seeds[phase]` seeds its generator for that phase, made on the device
    of the phase's first sampled draw (so the same row draws the same tokens on any device)."""

    row: Row
    sampling: dict[str, SamplingConfig]  # "think" / "answer" -> settings
    seeds: dict[str, int]
    gens: dict[str, torch.Generator | None] = field(default_factory=dict)
    out: list[int] = field(default_factory=list)  # every token appended, forced ones included
    slot: int | None = None
    # per appended token, when the Batch records log-probs: (the token's log-prob, the top-k log-probs)
    logprobs: list[tuple[float, list[float]]] = field(default_factory=list)

    def wants(self) -> SamplingConfig | None:
        """The settings of this step's draw, or None when the next token is forced (or the row is done).
        A row with `round_sampling` (RowBudget) may change them per round of thinking."""
        if not self.row.wants_sample():
            return None
        cfg = self.sampling[self.row.sampling_phase]
        adjust = getattr(self.row, "round_sampling", None)
        return cfg if adjust is None else adjust(cfg)

    def generator(self, device) -> torch.Generator | None:
        ph = self.row.sampling_phase
        if self.gens.get(ph) is None:  # also a phase that starts greedy and samples in a later round
            self.gens[ph] = row_generator(self.wants() or self.sampling[ph], self.seeds[ph], device)
        return self.gens[ph]


def choose(seqs: Sequence[Seq], logits: torch.Tensor, rows: Sequence[int] | None = None) -> list[int | None]:
    """Each row's draw from `logits[rows[i]]` (default: row i), None where its token is forced."""
    rows = list(range(len(seqs))) if rows is None else list(rows)
    cfgs = [s.wants() for s in seqs]
    best = _argmax(cfgs, logits, rows)
    return [_draw(s, c, logits, r, best) for s, r, c in zip(seqs, rows, cfgs)]


def _argmax(cfgs: list[SamplingConfig | None], logits: torch.Tensor, rows: list[int]) -> dict[int, int]:
    # one argmax for all greedy rows: the common case costs no Python per row
    greedy = sorted({r for r, c in zip(rows, cfgs) if c is not None and c.temperature == 0})
    return dict(zip(greedy, logits[greedy].argmax(-1).tolist())) if greedy else {}


def _draw(seq: Seq, cfg: SamplingConfig | None, logits: torch.Tensor, r: int, best: dict[int, int],
          memo: dict | None = None) -> int | None:
    """One row's draw. `memo` (per slot) lets rows on one slot whose generators are in the same state
    draw once: the same logits, settings and state give the same token and the same state after, so
    the copy is exact; it saves a top-p sort of the vocabulary per row that rides along."""
    if cfg is None:
        return None
    bias = getattr(seq.row, "logit_bias", None)
    bias = bias() if bias is not None else None
    if bias:  # e.g. a frequency penalty on the extension words: this row's own copy of its logits
        row = logits[r].clone()
        row[list(bias)] += torch.tensor(list(bias.values()), dtype=row.dtype, device=row.device)
        return int(row.argmax()) if cfg.temperature == 0 else sample_token(row, cfg, seq.generator(logits.device))
    if cfg.temperature == 0:
        return best[r]
    gen = seq.generator(logits.device)
    if memo is None or gen is None:
        return sample_token(logits[r], cfg, gen)
    key = (cfg, bytes(gen.get_state().numpy()))
    if key in memo:
        tok, state = memo[key]
        gen.set_state(state)
        return tok
    tok = sample_token(logits[r], cfg, gen)
    memo[key] = (tok, gen.get_state())
    return tok


def feed(seq: Seq, draw: int | None) -> tuple[int, str]:
    """Advance the row with its draw: (the token it appends, its part: think / delim / answer)."""
    tok = seq.row.advance(draw)
    seq.out.append(tok)
    return tok, seq.row.last_part


def _clone(g: torch.Generator | None) -> torch.Generator | None:
    if g is None:
        return None
    c = torch.Generator(device=g.device)
    c.set_state(g.get_state())
    return c


class Batch:
    """Rows decoding together over a runner, one token per row per `step`.

    `on_token(seq, token, part)`, if given, hears every appended token, in row order.
    `stats` (a dict) counts prefill_tokens, forward_steps and decode_row_steps (slots decoded).
    `top_logprobs` k > 0: every appended token also records, in `seq.logprobs`, its log-prob and the
    k largest log-probs of the model's distribution at that position (raw logits, before sampling
    settings). A paused row (`pause`) sits steps out, keeping its slot and next-token logits, until
    `resume`: a tree search stops rows at step boundaries this way.
    """

    def __init__(self, runner, stats: dict | None = None, top_logprobs: int = 0):
        self.runner = runner
        self.stats = stats if stats is not None else {}
        self.top_logprobs = top_logprobs
        self.paused: set[Seq] = set()
        self.slots: dict[int, list[Seq]] = {}  # slot -> its rows (identical so far); the first one's token feeds it
        self.logits: torch.Tensor | None = None  # next-token logits of the live slots
        self.at: dict[int, int] = {}  # slot -> its row in self.logits

    def __len__(self) -> int:
        return sum(len(v) for v in self.slots.values())

    def pause(self, seq: Seq) -> None:
        """Hold a row from the next step on (the token it appended last is still run this step)."""
        if seq.slot in self.slots and seq in self.slots[seq.slot]:
            self.paused.add(seq)

    def resume(self, seq: Seq) -> None:
        self.paused.discard(seq)

    @property
    def running(self) -> int:
        """Rows that the next step advances (not paused)."""
        return len(self) - len(self.paused)

    @property
    def seqs(self) -> list[Seq]:
        return [s for group in self.slots.values() for s in group]

    def add(self, prompts: Sequence[Sequence[int]], seqs: Sequence[Seq]) -> None:
        """Start rows: each gets a fresh slot, and only these prompts are run (prefilled)."""
        if not seqs:
            return
        slots = self.runner.alloc(len(seqs))
        logits = self.runner.prefill(slots, prompts)
        self._count("prefill_tokens", sum(len(p) for p in prompts))
        base = 0 if self.logits is None else self.logits.shape[0]
        self.logits = logits if self.logits is None else torch.cat([self.logits, logits])
        for i, (slot, seq) in enumerate(zip(slots, seqs)):
            seq.slot = slot
            self.slots[slot] = [seq]
            self.at[slot] = base + i

    def fork(self, seq: Seq, row: Row | None = None) -> Seq:
        """A new row continuing `seq`: same tokens so far, a copy of its state machine (or `row`,
        which must be in the state `seq.out` leads to) and of its generators' states. It shares
        `seq`'s slot until the first step where they append different tokens."""
        if row is None:
            plan = getattr(seq.row, "plan", None)
            row = copy.deepcopy(seq.row, {id(plan): plan})  # the plan is shared, read-only
        child = Seq(row, seq.sampling, dict(seq.seeds), {ph: _clone(g) for ph, g in seq.gens.items()},
                    list(seq.out), seq.slot, list(seq.logprobs))
        self.slots[seq.slot].append(child)
        return child

    def drop(self, seq: Seq) -> None:
        """Remove a row (finished or cancelled); its slot is freed when no other row uses it."""
        self.paused.discard(seq)
        group = self.slots.get(seq.slot)
        if group is None or seq not in group:
            return
        group.remove(seq)
        if not group:
            del self.slots[seq.slot]
            self.runner.free([seq.slot])

    def clear(self) -> None:
        """Drop every row and free their slots (after a failure: the runner stays usable)."""
        self.runner.free(list(self.slots))
        self.slots, self.logits, self.at = {}, None, {}
        self.paused = set()

    def step(self, on_token: Callable[[Seq, int, str], None] | None = None,
             on_error: Callable[[Seq, Exception], None] | None = None) -> None:
        """One token for every row: choose, feed, split slots whose rows now differ, free finished
        slots, then one model call for all remaining slots. With `on_error`, a row whose own draw
        or state machine fails is reported there and dropped, and the others go on; without, it raises.
        Paused rows sit the step out; a slot whose rows are all paused keeps its logits undecoded."""
        held = self.paused
        seqs = [s for s in self.seqs if s not in held] if held else self.seqs
        cfgs = [s.wants() for s in seqs]
        best = _argmax(cfgs, self.logits, [self.at[s.slot] for s in seqs])
        lp = self._logprobs() if self.top_logprobs else None
        done: list[Seq] = []
        fed: set[int] = set()  # slots whose rows took a token this step (they are decoded)
        it = iter(cfgs)
        for slot, group in list(self.slots.items()):
            by_token: dict[int, list[Seq]] = {}
            memo = {} if len(group) > 1 else None
            stay = [s for s in group if s in held] if held else []
            for seq in list(group):
                if stay and seq in held:
                    continue
                try:
                    tok, part = feed(seq, _draw(seq, next(it), self.logits, self.at[slot], best, memo))
                except Exception as e:
                    if on_error is None:
                        raise
                    on_error(seq, e)
                    done.append(seq)
                    continue
                if lp is not None:
                    seq.logprobs.append((float(lp[0][self.at[slot], tok]), lp[1][self.at[slot]]))
                if on_token is not None:
                    on_token(seq, tok, part)
                if seq.row.done:
                    done.append(seq)
                else:
                    by_token.setdefault(tok, []).append(seq)
            if not stay:
                fed.add(slot)
            if len(by_token) < (1 if stay else 2):
                continue
            # rows that differ from the first go on in a copy (all of them, when paused rows keep the slot)
            for rest in list(by_token.values())[0 if stay else 1:]:
                [new] = self.runner.alloc(1)
                self.runner.fork(slot, new)
                for seq in rest:
                    group.remove(seq)
                    seq.slot = new
                self.slots[new] = rest
                fed.add(new)
        for seq in done:
            self.drop(seq)
        if not self.slots:
            self.logits, self.at = None, {}
            return
        if held and any(s not in fed for s in self.slots):
            self._decode_some(fed)
            return
        slots = list(self.slots)
        self.logits = self.runner.decode(slots, [group[0].out[-1] for group in self.slots.values()])
        self.at = {s: i for i, s in enumerate(slots)}
        self._count("forward_steps", 1)
        self._count("decode_row_steps", len(slots))

    def _decode_some(self, fed: set[int]) -> None:
        """Decode the slots that took a token; the others (all rows paused) keep their logits."""
        run = [s for s in self.slots if s in fed]
        keep = [s for s in self.slots if s not in fed]
        old = self.logits[[self.at[s] for s in keep]]
        if run:
            new = self.runner.decode(run, [self.slots[s][0].out[-1] for s in run])
            self._count("forward_steps", 1)
            self._count("decode_row_steps", len(run))
            self.logits = torch.cat([new, old])
        else:
            self.logits = old
        self.at = {s: i for i, s in enumerate(run + keep)}

    def _logprobs(self) -> tuple[torch.Tensor, list[list[float]]]:
        """Log-probs of the live slots' next tokens and each slot's top-k of them (k = top_logprobs)."""
        lp = torch.log_softmax(self.logits.float(), -1)
        top = lp.topk(min(self.top_logprobs, lp.shape[-1]), -1).values
        return lp, top.tolist()

    def run(self, on_token: Callable[[Seq, int, str], None] | None = None) -> None:
        """Step until every row is finished (or paused)."""
        while self.slots and self.running:
            self.step(on_token)

    def _count(self, key: str, n: int) -> None:
        self.stats[key] = self.stats.get(key, 0) + n
