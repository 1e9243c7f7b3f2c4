"""The tree expander: trajectories as rows of one in-process `Batch`, stopped at step boundaries,
branched by forking, pruned by dropping, their new steps scored in batches.

    from s1.search.tree import Expander; ex = Expander(engine, reward); nodes = ex.start(...); ex.run_round()

Every trajectory is a `RowBudget` row (s1.budget), so max / min thinking, num_ignore and "Wait" hold
per trajectory. A step ends where the thinking text contains the step delimiter (a blank line by
default); the row is then paused (`Batch.pause`) with its KV-cache slot and next-token logits kept.
A row whose thinking ends (stop, cut, end of turn) runs through its answer: that last step holds
the rest of the thinking and the answer. `branch` forks a paused row into children (they share the
parent's slot until they first draw different tokens: no prompt or prefix is ever run again), each
child with its own seed; `prune` drops a row and frees its slot at once. Several searches (one per
question) share one Expander, so one model call advances all of them and one reward call scores
the new steps of all of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from ..rewards.confidence import GroupWindow, token_confidence
from ..step import Batch, Seq


def child_seed(seed: int, path: str) -> int:
    """The seed of the trajectory at `path` in a tree (e.g. "3.0.2"): fixed by the search's seed and
    the path alone, not by batching or by what other searches run alongside."""
    h = hashlib.sha256(f"{seed}/{path}".encode()).digest()
    return int.from_bytes(h[:4], "little")


@dataclass(eq=False)
class Node:
    """One trajectory: a row of the batch and the steps it has written."""

    seq: Seq
    owner: object  # the search it belongs to
    path: str
    prompt: str
    n_prompt: int
    steps: list[str] = field(default_factory=list)  # finished steps' text, without the delimiter
    step_conf: list[list[float]] = field(default_factory=list)  # token confidences per step (if recorded)
    scores: list[float] = field(default_factory=list)  # the reward model's scores of its steps
    text: str = ""  # the step being written
    conf: list[float] = field(default_factory=list)  # its token confidences
    answer_text: str = ""
    finished: bool = False  # has an answer (or hit its token limit)
    stopped: bool = False  # cut off by the search (pruned, low confidence): no answer
    tokens: int = 0  # tokens this trajectory appended itself (after it branched off its parent)
    pause: bool = True  # stop at step boundaries
    scored: int = 0  # steps scored so far
    window: GroupWindow | None = None  # running group confidence (DeepConf online)
    all_conf: list[float] = field(default_factory=list)  # every token confidence of the whole trace
    reward_tokens: float = 0.0  # its share of the reward model's work

    @property
    def depth(self) -> int:
        return len(self.steps)


class Expander:
    """Runs many trajectories (of one or several searches) in one batch over the engine's runner."""

    def __init__(self, engine, reward=None, delimiter: str = "\n\n", logprobs: int = 0,
                 stats: dict | None = None):
        self.engine, self.reward, self.delimiter = engine, reward, delimiter
        need = bool(getattr(reward, "needs_logprobs", False))
        self.top_k = max(logprobs, getattr(reward, "top_k", 20) if need else 0)
        self.stats = stats if stats is not None else {}
        self.batch = Batch(engine.runner, self.stats, self.top_k)
        self.nodes: dict[Seq, Node] = {}
        self.ended: list[Node] = []  # nodes that ended a step (or finished) this round
        self.to_drop: list[Node] = []
        self.on_token: Callable[[Node], None] | None = None  # per appended token (DeepConf online)
        self.on_finish: Callable[[Node], None] | None = None
        self.roots: dict[int, Seq] = {}  # owner id -> its prompt's row, kept paused (start(keep_root=True))

    # -- the tree ---------------------------------------------------------------------------
    def start(self, owner, prompt: str, ids: list[int], rows: list, sampling: dict, seed: int, first: int = 0,
              keep_root: bool = False) -> list[Node]:
        """len(rows) trajectories from one prompt (paths first, first + 1, ...): the prompt is run once
        and the others fork off the first. keep_root: a paused row keeps the prompt's cache for later
        calls of the same owner, which fork off it (the prompt is never run again)."""
        root = self.roots.get(id(owner))
        k0 = 0
        if root is None:
            lead = Seq(rows[0], sampling, self._seeds(seed, str(first)))
            self.batch.add([ids], [lead])
            if keep_root:
                root = self.batch.fork(lead)  # a copy of the fresh row: the prompt's state
                self.batch.pause(root)
                self.roots[id(owner)] = root
            nodes, k0 = [self._node(lead, owner, str(first), prompt, len(ids))], 1
        else:
            nodes = []
        for k, row in enumerate(rows[k0:], k0):
            child = self.batch.fork(root if root is not None else nodes[0].seq, row)
            child.seeds, child.gens = self._seeds(seed, str(first + k)), {}
            nodes.append(self._node(child, owner, str(first + k), prompt, len(ids)))
        return nodes

    def branch(self, node: Node, n: int, seed: int) -> list[Node]:
        """`node` goes on as the first of n children; n - 1 forks join it, each with its own seed."""
        kids = [node]
        for k in range(1, n):
            seq = self.batch.fork(node.seq)
            seq.seeds, seq.gens = self._seeds(seed, f"{node.path}.{k}"), {}
            kid = Node(seq, node.owner, f"{node.path}.{k}", node.prompt, node.n_prompt, list(node.steps),
                       [list(c) for c in node.step_conf], list(node.scores), node.text, list(node.conf),
                       pause=node.pause, scored=node.scored, all_conf=list(node.all_conf))
            self.nodes[seq] = kid
            kids.append(kid)
        for k in kids:
            k.path = k.path if k is not node else f"{node.path}.0"
            self.batch.resume(k.seq)
        return kids

    def resume(self, node: Node, pause: bool = True) -> None:
        node.pause = pause
        self.batch.resume(node.seq)

    def prune(self, node: Node) -> None:
        """Stop a trajectory now and free its slot (when no other row shares it)."""
        if not node.finished:
            node.stopped = True
        self.batch.drop(node.seq)
        self.nodes.pop(node.seq, None)

    # -- decoding ---------------------------------------------------------------------------
    def run_round(self) -> list[Node]:
        """Step every running row until it pauses at a step boundary or finishes; the nodes that did."""
        self.ended = []
        try:
            while self.batch.running:
                self.batch.step(self._token)
                for node in self.to_drop:
                    self.prune(node)
                self.to_drop = []
        except BaseException:
            self.close()
            raise
        return self.ended

    def close(self) -> None:
        self.batch.clear()
        self.nodes = {}

    def _seeds(self, seed: int, path: str) -> dict[str, int]:
        s = child_seed(seed, path)
        return {"think": s, "answer": s}

    def _node(self, seq: Seq, owner, path: str, prompt: str, n_prompt: int) -> Node:
        node = Node(seq, owner, path, prompt, n_prompt)
        self.nodes[seq] = node
        return node

    def _token(self, seq: Seq, tok: int, part: str) -> None:
        node = self.nodes.get(seq)
        if node is None or node.stopped:
            return
        node.tokens += 1
        if self.top_k and seq.logprobs:
            c = token_confidence(seq.logprobs[-1][1])
            node.all_conf.append(c)
            if part == "think":
                node.conf.append(c)
            if node.window is not None:
                node.window.add(c)
        if part == "think":
            node.text += seq.row.plan.token_text(tok)
            cut = node.text.find(self.delimiter)
            if cut >= 0 and node.text[:cut].strip():
                self._end_step(node, node.text[:cut])
                node.text = node.text[cut + len(self.delimiter):]
                if node.pause and not seq.row.done:
                    self.batch.pause(seq)
                    self.ended.append(node)
            elif cut >= 0:
                node.text = node.text[cut + len(self.delimiter):]  # a blank line with nothing before it
        if self.on_token is not None:
            self.on_token(node)
        if seq.row.done:
            node.finished = True
            node.answer_text = self.engine.tokenizer.decode(seq.row.answer)
            last = node.text.strip()
            ans = node.answer_text.strip()
            self._end_step(node, f"{last}\n\n{ans}" if last and ans else last or ans)
            self.ended.append(node)
            if self.on_finish is not None:
                self.on_finish(node)

    def _end_step(self, node: Node, text: str) -> None:
        node.steps.append(text.strip())
        node.step_conf.append(node.conf)
        node.conf = []

    # -- scoring ----------------------------------------------------------------------------
    def score(self, nodes: list[Node]) -> int:
        """Score every step of `nodes` not scored yet, in one reward call; returns the reward tokens
        it cost, shared out over the nodes (`node.reward_tokens`) by text length."""
        todo = [n for n in nodes if n.scored < len(n.steps)]
        if not todo or self.reward is None:
            return 0
        before = self.reward.tokens_scored
        if getattr(self.reward, "needs_logprobs", False):
            out = self.reward.score_confidences([n.step_conf for n in todo])
        else:
            out = self.reward.score([(n.prompt, n.steps) for n in todo])
        for n, s in zip(todo, out):
            n.scores, n.scored = list(s), len(n.steps)
        spent = self.reward.tokens_scored - before
        if spent:
            size = [sum(map(len, n.steps)) + len(n.prompt) for n in todo]
            total = sum(size) or 1
            for n, k in zip(todo, size):
                n.reward_tokens += spent * k / total
        return spent
