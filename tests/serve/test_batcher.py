"""The `s1 serve` continuous batcher (s1/serve/batcher.py): parts, free slots, cancellation, and the
engine's own tokens for requests arriving at different times."""

from __future__ import annotations

import asyncio
import threading
import time

from helpers import ScriptedModel, smol_tokenizer

from s1 import TEMPLATES, BudgetConfig, Engine, RowBudget, SamplingConfig
from s1.serve import LocalService
from s1.serve.batcher import Batcher

PROMPTS = ["How many r in raspberry?", "What is 2+2?", "Name a colour and say why.", "Count to three.",
           "Is 91 prime?", "Say hello."]
A, B, C = 253, 278, 265  # " a", " b", " c" in the SmolLM2 tokenizer
GREEDY = SamplingConfig()


class Sink:
    """Collects (token, part) of one request; `done` is set by the final call."""

    def __init__(self):
        self.parts, self.end, self.done = [], None, threading.Event()

    def __call__(self, tok, part):
        if tok is None:
            self.end = part
            self.done.set()
        else:
            self.parts.append((tok, part))


def wait(cond, what, timeout=30.0):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def scripted_engine(script):
    tok = smol_tokenizer()
    return Engine(ScriptedModel(script, len(tok)), tok, TEMPLATES["s1"], 4096)


def ids_of(engine, q):
    return engine.tokenizer.encode(engine.render(q), add_special_tokens=False)


def test_parts_are_the_rows_own_and_the_end_of_turn_is_not_sent():
    engine = scripted_engine(lambda s: A if s[-1] != A else 2)  # " a", then the end of turn (2)
    budget = BudgetConfig(max_thinking_tokens=3, max_answer_tokens=8)
    plan = engine.template.plan(engine.tokenizer, budget)
    batcher = Batcher(engine, max_batch=2)
    sink = Sink()
    try:
        h = batcher.submit(ids_of(engine, "q"), RowBudget(plan), GREEDY, GREEDY, 0, sink)
        assert sink.done.wait(30) and sink.end == "done"
    finally:
        batcher.close()
    # thinking " a", an end of turn that ends the thinking (the delimiter is forced), the answer
    # " a" and the closing end of turn (not sent); each token sent with the part the row gave it
    row = h.row
    delim = [(t, "delim") for t in row.delim]
    assert sink.parts[0] == (A, "think") and (A, "answer") in sink.parts and delim
    assert [t for t, _ in sink.parts] == h.out[:-1] and h.out[-1] == 2
    assert [t for t, p in sink.parts if p == "think"] == row.thinking
    assert [t for t, p in sink.parts if p == "answer"] == row.answer
    assert [t for t, p in sink.parts if p == "delim"] == row.delim


def test_new_requests_take_free_slots_and_a_cancelled_row_frees_its_own():
    """Two rows that never stop fill max_batch=2; a third waits. Cancelling one frees its slot,
    the waiting request takes that very slot, and only its own prompt is prefilled."""
    engine = scripted_engine(lambda s: B if s[-1] == A else A)
    calls = []
    engine.model.register_forward_pre_hook(lambda m, a, kw: calls.append(tuple(kw["input_ids"].shape)),
                                           with_kwargs=True)
    # no limit and a model that never stops: these rows run until they are cancelled
    long = RowBudget(engine.template.plan(engine.tokenizer, BudgetConfig()))
    batcher = Batcher(engine, max_batch=2)
    sinks = [Sink() for _ in range(3)]
    try:
        h0 = batcher.submit(ids_of(engine, "first"), long, GREEDY, GREEDY, 0, sinks[0])
        h1 = batcher.submit(ids_of(engine, "second question"), RowBudget(long.plan), GREEDY, GREEDY, 0, sinks[1])
        wait(lambda: len(sinks[0].parts) > 5 and len(sinks[1].parts) > 5, "two running rows")
        h2 = batcher.submit(ids_of(engine, "third, a longer question"), RowBudget(long.plan), GREEDY, GREEDY, 0,
                            sinks[2])
        time.sleep(0.05)
        assert not sinks[2].parts and batcher.load == 1  # the batch is full: it waits
        h0.cancel()
        wait(lambda: len(sinks[2].parts) > 3, "the waiting request to run")
        assert h2.seq.slot == h0.seq.slot  # the freed slot, reused
        n = len(ids_of(engine, "third, a longer question"))
        assert (1, n) in calls  # its prompt alone was prefilled
        assert not any(shape[0] > 2 for shape in calls)  # never more than max_batch rows in a call
        assert batcher.stats["cancelled"] == 1 and batcher.stats["joined_running"] >= 1
        before = len(sinks[1].parts)
        wait(lambda: len(sinks[1].parts) > before + 3, "the other row to go on")
        assert [t for t, _ in sinks[1].parts[:6]] == [A, B, A, B, A, B]
    finally:
        h1.cancel(), h2.cancel()
        batcher.close()
    assert sinks[0].end is None  # a cancelled request gets no further calls


def test_batcher_equals_engine_for_requests_arriving_at_different_times(tiny_engine):
    """Rows that join a running batch (into free slots) write exactly what the engine writes."""
    budgets = [BudgetConfig(max_thinking_tokens=20, max_answer_tokens=8),
               BudgetConfig(min_thinking_tokens=12, max_thinking_tokens=30, max_answer_tokens=8),
               BudgetConfig(num_ignore=2, max_thinking_tokens=40, max_answer_tokens=6)]
    want = {(i, j): r.completion_ids for j, b in enumerate(budgets)
            for i, r in enumerate(tiny_engine.generate(PROMPTS, b, GREEDY))}
    service = LocalService(tiny_engine, max_batch=4)
    got = {}

    async def one(i, j, delay):
        await asyncio.sleep(delay)
        ids = ids_of(tiny_engine, PROMPTS[i])
        plan = tiny_engine.template.plan(tiny_engine.tokenizer, budgets[j])
        toks = []
        await service.run(ids, RowBudget(plan, room=256 - len(ids)), GREEDY, GREEDY, 0,
                          lambda t, part: toks.append(t))
        got[(i, j)] = toks

    async def main():
        await asyncio.gather(*[one(i, j, 0.02 * (i + 3 * j)) for j in range(3) for i in range(len(PROMPTS))])

    asyncio.run(main())
    service.batcher.close()
    eot = tiny_engine.template.eot_ids(tiny_engine.tokenizer)
    for key, ids in want.items():
        assert got[key] == [t for t in ids if t not in eot], key  # the closing end of turn is not streamed
    st = service.batcher.stats
    assert st["joined_running"] > 0 and st["max_rows"] == 4 and st["admitted"] == 18
