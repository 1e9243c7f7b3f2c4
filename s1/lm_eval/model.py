"""The `s1` model of lm-evaluation-harness: lm-eval's generation tasks with budget forcing on our backends.

    python -m s1.lm_eval --model s1 --model_args max_thinking=512,num_ignore=1 --tasks gsm8k

`generate_until` renders each request as a chat turn with thinking opened (the model's thinking
template), runs budget forcing (s1.budget) on the chosen backend, and gives lm-eval the *answer*: the
task's `until` stop strings cut the answer only, never the thinking, and lm-eval's filters and metrics
see that answer. Each request's thinking, token counts and forcing events are added to its generation
arguments under the key "s1" (a list: one record per repeat), which lm-eval writes into its logged
samples (`--log_samples`: samples_*.jsonl, field arguments.gen_args_0.arg_1.s1).

loglikelihood / loglikelihood_rolling (multiple-choice and perplexity tasks) score the text as given,
with no thinking, on the in-process transformers model (backend=transformers); the other backends
only generate and say so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from lm_eval.api.model import LM
from lm_eval.api.registry import model_registry, register_model

from ..budget import TURN_END, BudgetConfig
from ..generation import SamplingConfig

log = logging.getLogger(__name__)

SCORING_TASKS = "multiple_choice, loglikelihood and loglikelihood_rolling (perplexity) tasks"
# lm-eval passes these itself (from --batch_size, --max_batch_size, --device): not model args
LM_EVAL_FLAGS = {"batch_size": "--batch_size", "max_batch_size": "--max_batch_size", "device": "--device"}
GEN_KWARGS = {"until", "max_gen_toks", "do_sample", "temperature", "top_p", "top_k", "thinking"}
THINKING_KEYS = {"min_tokens", "max_tokens", "num_ignore", "extend", "answer_prefix", "on_turn_end"}


class S1LMError(ValueError):
    """A model argument or request the `s1` lm-eval model cannot run (the CLI prints it as one line)."""


@dataclass(frozen=True)
class ModelArgs:
    """The `--model_args` of the `s1` model (key=value pairs or one JSON object)."""

    model: str | None = None  # model spec: embedded default, local folder or Hub id ("pretrained" also works)
    backend: str = "transformers"  # transformers | vllm | openai
    template: str = "auto"
    think_start: str | None = None
    think_end: str | None = None
    system: str | None = None
    prompt: str = "chat"  # chat: the lm-eval context is the user message; raw: the model continues it as is
    min_thinking: int = 0
    max_thinking: int | None = None
    num_ignore: int = 0
    extend: tuple[str, ...] = ("Wait",)  # a list, or one string with | between several
    answer_prefix: str | None = "Final Answer:"
    on_turn_end: str = "answer"
    max_gen_toks: int = 256  # answer tokens when the task does not set max_gen_toks
    dtype: str = "auto"
    seed: int = 0
    base_url: str | None = None  # openai backend
    served_model: str | None = None
    tokenizer: str | None = None
    tensor_parallel_size: int | None = None  # vllm backend
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None

    @classmethod
    def parse(cls, raw: dict) -> "ModelArgs":
        """Checked model args from what lm-eval parsed; every mistake is an S1LMError naming the argument."""
        raw = dict(raw)
        for key, flag in LM_EVAL_FLAGS.items():
            if key in raw:
                raise S1LMError(f"model arg {key!r}: pass it with lm-eval's own flag {flag}")
        if "pretrained" in raw:
            if "model" in raw:
                raise S1LMError("model args 'model' and 'pretrained' name the same thing: give one")
            raw["model"] = raw.pop("pretrained")
        fields = cls.__dataclass_fields__
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise S1LMError(f"unknown model arg {unknown[0]!r} for --model s1 (known: {', '.join(sorted(fields))})")
        vals = {}
        for key, v in raw.items():
            vals[key] = _convert(key, v, fields[key].type)
        if isinstance(vals.get("extend"), str):
            vals["extend"] = tuple(s for s in vals["extend"].split("|"))
        args = cls(**vals)
        if args.backend not in ("transformers", "vllm", "openai"):
            raise S1LMError(f"model arg backend={args.backend!r}: choose transformers, vllm or openai")
        if args.prompt not in ("chat", "raw"):
            raise S1LMError(f"model arg prompt={args.prompt!r}: choose chat or raw")
        if args.on_turn_end not in TURN_END:
            raise S1LMError(f"model arg on_turn_end={args.on_turn_end!r}: choose {' or '.join(TURN_END)}")
        if args.max_gen_toks < 1:
            raise S1LMError(f"model arg max_gen_toks must be >= 1, got {args.max_gen_toks}")
        args.budget(args.max_gen_toks).validate()
        return args

    def budget(self, answer_tokens: int) -> BudgetConfig:
        return BudgetConfig(max_thinking_tokens=self.max_thinking, min_thinking_tokens=self.min_thinking,
                            num_ignore=self.num_ignore, extend=self.extend, answer_prefix=self.answer_prefix or None,
                            max_answer_tokens=answer_tokens, on_turn_end=self.on_turn_end)

    def backend_options(self) -> dict:
        own = {"openai": ("base_url", "served_model", "tokenizer"),
               "vllm": ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len")}.get(self.backend, ())
        keys = ("base_url", "served_model", "tokenizer", "tensor_parallel_size", "gpu_memory_utilization",
                "max_model_len")
        given = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        stray = sorted(set(given) - set(own))
        if stray:
            raise S1LMError(f"model arg {stray[0]!r} does not apply to backend={self.backend}")
        if self.backend == "openai" and not self.base_url:
            raise S1LMError("backend=openai needs base_url=http://HOST:PORT/v1")
        return given


def _convert(key: str, v, kind: str):
    """lm-eval already turned '12' into 12 and 'none' into None; check the type the field wants."""
    if v is None:
        if "None" in kind or key in ("answer_prefix",):
            return None
        raise S1LMError(f"model arg {key!r} cannot be none")
    if kind.startswith("int"):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise S1LMError(f"model arg {key}={v!r}: expected a whole number >= 0")
        return v
    if kind.startswith("float"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise S1LMError(f"model arg {key}={v!r}: expected a number")
        return float(v)
    if kind.startswith("tuple"):
        if isinstance(v, str):
            return v
        if isinstance(v, list) and all(isinstance(s, str) for s in v):
            return tuple(v)
        raise S1LMError(f"model arg {key}={v!r}: expected a string or a list of strings")
    return str(v)


def _sampling(gen: dict, seed: int) -> SamplingConfig:
    temperature = gen.get("temperature")
    if not gen.get("do_sample", temperature not in (None, 0, 0.0)):
        temperature = 0.0
    elif temperature is None:
        temperature = 1.0
    return SamplingConfig(float(temperature), float(gen.get("top_p", 1.0)), int(gen.get("top_k") or 0),
                          seed).validate()


def _with_thinking(budget: BudgetConfig, thinking) -> BudgetConfig:
    """A request's own thinking settings (gen_kwargs {"thinking": {...}}, as `s1 serve` takes them)."""
    if thinking is None:
        return budget
    if not isinstance(thinking, dict) or set(thinking) - THINKING_KEYS:
        raise S1LMError(f"gen_kwargs 'thinking' must be an object with keys {', '.join(sorted(THINKING_KEYS))}")
    for key in ("min_tokens", "max_tokens", "num_ignore"):
        v = thinking.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise S1LMError(f"gen_kwargs thinking.{key} must be a whole number, got {v!r}")
    names = {"min_tokens": "min_thinking_tokens", "max_tokens": "max_thinking_tokens", "num_ignore": "num_ignore",
             "extend": "extend", "answer_prefix": "answer_prefix", "on_turn_end": "on_turn_end"}
    return replace(budget, **{names[k]: v for k, v in thinking.items()}).validate()


def cut_at_stops(text: str, stops) -> str:
    """`text` up to the earliest of the stop strings (lm-eval's `until`)."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return text[: min(hits)] if hits else text


def register() -> None:
    """Make `--model s1` known to lm-eval (importing this module does it; safe to call again)."""
    import lm_eval.models  # noqa: F401  lm-eval's own models are listed first: an empty registry would skip them

    if "s1" not in model_registry:
        register_model("s1")(S1LM)


class S1LM(LM):
    """lm-eval's view of one s1 backend with one budget (see the module docstring)."""

    def __init__(self, batch_size=1, max_batch_size=None, device=None, **model_args):
        super().__init__()
        from ..backends.build import load_backend

        self.args = ModelArgs.parse(model_args)
        self.batch_size = _batch_size(batch_size, max_batch_size)
        opts = self.args.backend_options()
        a = self.args
        self.backend = load_backend(a.backend, a.model, template=a.template, dtype=a.dtype,
                                    device=_device(device) if a.backend == "transformers" else None,
                                    think_start=a.think_start, think_end=a.think_end, **opts)
        self.rendered: set[str] = set()  # prompts apply_chat_template made (thinking already opened)
        self.warned: set[str] = set()

    # -- generation ------------------------------------------------------------------------------
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        from ..progress import progress_bar

        groups: dict[tuple, list[int]] = {}
        plans = []
        for i, req in enumerate(requests):
            ctx, gen = req.args[0], req.args[1]
            gen = {k: v for k, v in (gen or {}).items() if k != "s1"}
            for k in sorted(set(gen) - GEN_KWARGS):
                if k not in self.warned:
                    self.warned.add(k)
                    log.warning("s1: generation argument %r is not used by the s1 model", k)
            until = gen.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            budget = _with_thinking(self.args.budget(int(gen.get("max_gen_toks") or self.args.max_gen_toks)),
                                    gen.get("thinking"))
            sampling = _sampling(gen, self.args.seed)
            raw = self.args.prompt == "raw" or ctx in self.rendered
            plans.append(until)
            groups.setdefault((budget, sampling, raw), []).append(i)
        step = None if disable_tqdm else progress_bar("lm-eval generate_until", "requests", len(requests))
        out: list[str | None] = [None] * len(requests)
        try:
            for (budget, sampling, raw), idx in groups.items():
                results = self.backend.generate([requests[i].args[0] for i in idx], budget, sampling,
                                                batch_size=self.batch_size, system=self.args.system, raw=raw,
                                                progress=step)
                for i, res in zip(idx, results):
                    out[i] = cut_at_stops(res.answer, plans[i])
                    # lm-eval's --use_cache keys on the arguments as they came (before the record is added)
                    self.cache_hook.add_partial("generate_until", requests[i].args, out[i])
                    self._record(requests[i], res, out[i])
        finally:
            if step:
                step(None)
        return out  # type: ignore[return-value]

    @staticmethod
    def _record(req, res, answer: str) -> None:
        """The request's thinking and forcing record, kept where lm-eval's logged samples show it."""
        gen = req.args[1]
        if not isinstance(gen, dict):
            return
        rec = res.to_dict()
        rec.pop("prompt")
        rec["answer_before_stops"], rec["answer"] = rec["answer"], answer
        gen.setdefault("s1", []).append(rec)

    # -- chat templates (--apply_chat_template) ----------------------------------------------
    @property
    def tokenizer_name(self) -> str:
        return f"{self.args.model or 'default'}:{self.backend.template.name}".replace("/", "__")

    def chat_template(self, chat_template=False) -> str:
        return getattr(self.backend.tokenizer, "chat_template", None) or ""

    def apply_chat_template(self, chat_history: list[dict], add_generation_prompt: bool = True) -> str:
        """lm-eval's messages as the model's chat with thinking opened (the prompt then goes in as is)."""
        msgs = list(chat_history)
        if self.args.system and not any(m.get("role") == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": self.args.system})
        text = self.backend.template.render_messages(self.backend.tokenizer, msgs)
        self.rendered.add(text)
        return text

    # -- scoring (no thinking) ------------------------------------------------------------------
    def _scorer(self, kind: str):
        model = getattr(self.backend, "model", None)
        if self.args.backend != "transformers" or model is None:
            raise S1LMError(f"{kind} requests ({SCORING_TASKS}) need backend=transformers; backend="
                            f"{self.args.backend} only generates, so run generation tasks with it, or score "
                            f"with --model local-completions against s1 serve")
        return model

    def _prefix_id(self) -> int:
        tok = self.backend.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        from ..logprobs import score

        model = self._scorer("loglikelihood")
        limit = self.backend.context_length or 2048
        seqs, starts = [], []
        for req in requests:
            ids, start = self._pair(*req.args[:2])
            if len(ids) > limit:  # keep the end: the continuation and as much context as fits
                cut = len(ids) - limit
                ids, start = ids[cut:], max(1, start - cut)
            seqs.append(ids)
            starts.append(start)
        rows = score(model, seqs, starts, batch_size=self.batch_size)
        out = [(sum(t.logprob for t in row), all(t.greedy for t in row)) for row in rows]
        for req, r in zip(requests, out):
            self.cache_hook.add_partial("loglikelihood", req.args, r)
        return out

    def _pair(self, context: str, continuation: str) -> tuple[list[int], int]:
        """Token ids of context + continuation and where the continuation starts. Spaces ending the context
        go with the continuation (how the text would be tokenized as one piece)."""
        tok = self.backend.tokenizer
        n = len(context) - len(context.rstrip(" "))
        if n:
            context, continuation = context[:-n], context[-n:] + continuation
        whole = tok.encode(context + continuation, add_special_tokens=False)
        if not context:  # the first token still needs something to condition on
            return [self._prefix_id()] + whole, 1
        return whole, min(len(tok.encode(context, add_special_tokens=False)), len(whole) - 1)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        from ..logprobs import score

        model = self._scorer("loglikelihood_rolling")
        limit = self.backend.context_length or 2048
        out = []
        for req in requests:
            ids = self.backend.tokenizer.encode(req.args[0], add_special_tokens=False)
            windows = [make_disjoint_window(w) for w in get_rolling_token_windows(ids, self._prefix_id(), limit, 1)]
            rows = score(model, [c + p for c, p in windows], [len(c) for c, _ in windows],
                         batch_size=self.batch_size)
            out.append(sum(t.logprob for row in rows for t in row))
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, out[-1])
        return out

    def get_model_info(self) -> dict:
        """Written into lm-eval's results JSON (config): where the model ran and under which budget."""
        a = self.args
        return {"s1": {"backend": self.backend.name, "template": self.backend.template.name,
                       "budget": {"min_thinking": a.min_thinking, "max_thinking": a.max_thinking,
                                  "num_ignore": a.num_ignore, "extend": list(a.extend),
                                  "answer_prefix": a.answer_prefix, "on_turn_end": a.on_turn_end,
                                  "max_gen_toks": a.max_gen_toks}, "prompt": a.prompt}}


def _batch_size(batch_size, max_batch_size) -> int:
    """lm-eval's --batch_size: a number, or auto / auto:N (then --max_batch_size, else 16)."""
    text = str(batch_size)
    if text.startswith("auto"):
        return int(max_batch_size or 16)
    try:
        n = int(text)
    except ValueError:
        raise S1LMError(f"--batch_size {batch_size!r}: expected a whole number or auto") from None
    if n < 1:
        raise S1LMError(f"--batch_size must be >= 1, got {n}")
    return n


def _device(device: str | None) -> str | None:
    """lm-eval's --device (its default is cuda:0): on a machine without CUDA the model runs on the CPU."""
    if not device or not str(device).startswith("cuda"):
        return device
    import torch

    if torch.cuda.is_available():
        return device
    log.warning("s1: no CUDA device here: the model runs on the CPU (--device %s ignored)", device)
    return None
