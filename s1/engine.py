"""The in-process backend: budget-forced generation for a transformers causal LM, batch by batch.

    from s1 import generate; generate("How many r in raspberry?", max_thinking_tokens=64)

Forcing never re-runs the prompt: a forced token (the extension "Wait", the end delimiter, the
answer prefix) is simply the next input of that row instead of a sampled one (s1.step). Rows are
forced independently, and a finished row gives its KV-cache slot back at once (s1.runner).
"""

from __future__ import annotations

from . import early_exit
from .generation import Backend, GenerationResult, Prepared, SamplingConfig  # noqa: F401 (re-exported)
from .runner import make_runner
from .step import Batch, Seq
from .templates import ThinkingTemplate


class Engine(Backend):
    """In-process budget-forced generation for a transformers causal LM (the `transformers` backend)."""

    name = "transformers"
    in_process = True

    def __init__(self, model, tokenizer, template: ThinkingTemplate, context_length: int | None = None,
                 runner=None):
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.context_length = context_length or getattr(model.config, "max_position_embeddings", None)
        self._runner = runner

    @property
    def runner(self):
        """The model runner (default: `make_runner`'s choice, made at first use); its slots are all
        free between calls."""
        if self._runner is None:
            self._runner = make_runner(self.model, max_len_hint=self.context_length)
        return self._runner

    def _run(self, prep: Prepared, batch_size: int, progress, share: bool, stats: dict | None
             ) -> list[list[GenerationResult]]:
        """share=True runs the largest budget once per prompt and lets the others ride along: each
        other budget's row is a fork of the lead row made before the first step, so it shares the
        lead's slot (and costs nothing) up to the first token where it differs, then goes on in a
        copy of the lead's cache. Every row draws with its own generator, seeded like a separate run,
        so the results are those of separate runs at the cost of the longest run plus the tails.
        """
        budgets, ids = prep.budgets, prep.ids
        if share:  # the largest budget leads: its run contains every smaller one up to their cut points
            lead = max(range(len(budgets)), key=lambda j: (
                float("inf") if budgets[j].max_thinking_tokens is None else budgets[j].max_thinking_tokens,
                budgets[j].num_ignore, budgets[j].min_thinking_tokens, budgets[j].max_answer_tokens))
            groups = [[lead] + [j for j in range(len(budgets)) if j != lead]]
        else:
            groups = [[j] for j in range(len(budgets))]
        sampling = {"think": prep.thinking, "answer": prep.answer}
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a batch
        results: list[list[GenerationResult | None]] = [[None] * len(budgets) for _ in ids]
        where: dict[Seq, tuple[int, int]] = {}

        def on_token(seq: Seq, _tok: int, _part: str) -> None:
            if seq.row.done:
                i, j = where.pop(seq)
                results[i][j] = self.result(prep.prompts[i], len(ids[i]), seq.row, seq.out)
                if progress:
                    progress(1)

        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for group in groups:
                batch = Batch(self.runner, stats)
                seeds = [{ph: prep.phase_seed(i, cfg) for ph, cfg in sampling.items()} for i in chunk]
                leads = [Seq(prep.row(i, group[0], self.context_length), sampling, s) for i, s in zip(chunk, seeds)]
                batch.add([ids[i] for i in chunk], leads)
                where.update((seq, (i, group[0])) for i, seq in zip(chunk, leads))
                for j in group[1:]:
                    for i, seq in zip(chunk, leads):
                        where[batch.fork(seq, prep.row(i, j, self.context_length))] = (i, j)
                try:
                    if any(b.early_exit is not None for b in budgets):
                        early_exit.run(batch, on_token)  # probes trial answers on forked rows
                    else:
                        batch.run(on_token)
                except BaseException:
                    batch.clear()
                    raise
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._runner = None
