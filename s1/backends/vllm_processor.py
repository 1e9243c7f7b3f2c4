"""Budget forcing inside vLLM as one batch-level logits processor (vLLM V1's `LogitsProcessor`).

    vllm serve MODEL --logits-processors s1.backends.vllm_processor:BudgetProcessor   (or s1.vllm_plugin:...)
    LLM(model, logits_processors=[BudgetProcessor])                                    (the vllm backend)

A request opts in with budget settings in `SamplingParams.extra_args` (`vllm_xargs` of the OpenAI
API: min_thinking_tokens, max_thinking_tokens, num_ignore, extend, answer_prefix, template,
on_turn_end; the vllm backend sends a complete spec under "s1"). Requests without them are not touched.
Each such request gets a `RowBudget` (s1.budget), advanced on integers: the token vLLM appended for
the row at the last step. vLLM samples with the request's own settings (temperature, top_k, top_p, seed).

Per step (`apply`): a fixed number of tensor operations over the rows that need them, one small
device->host copy (the stop decisions), Python work of O(1) per row:
  * a row whose next token is forced (extension, delimiter, answer prefix, step marker, or the
    end of turn after an answer limit): every other logit is set to -inf;
  * a row sampling its thinking: p_s = the probability of each stop token s under the row's own
    sampling distribution (the logits divided by its temperature, vLLM's own top-k / top-p mask,
    softmax; for a greedy row p_s = 1 for the argmax, 0 otherwise). With a uniform u drawn from
    the row's seeded stream for this output position, the model "tries to stop with s" when u falls
    in s's slice of [0, sum_s p_s). If it does, the RowBudget gets s (and replaces it: "Wait", the
    delimiter...) and that token is forced; if not, the stop tokens are masked and vLLM samples from
    the rest;
  * a row writing its answer: vLLM samples freely (its end of turn ends the request).

Why sampled runs keep the reference distribution. The reference algorithm draws the next token x
from the row's distribution p and, when x is a stop token, hands it to the budget (which keeps it
or replaces it). Here: P(stop s is handed to the budget) = P(u in slice_s) = p_s; for a non-stop x,
P(x) = P(no stop) * p_x / (1 - sum_s p_s) = p_x, because vLLM samples with the same temperature from
the logits with every token outside the row's top-k / top-p set K and the stop tokens at -inf, i.e.
from p conditioned on "not a stop". K is computed here, on the unmasked logits, by vLLM's own
top-k / top-p function, and vLLM gets top_k = 0 / top_p = 1 for budget requests (moved into the
spec at admission): applied again after the stop mask, top-p would re-cut the renormalised rest and
top-k would let the (k+1)-th token in. So every step draws from
exactly p, and what follows a refused stop is the continuation of the model's own attempt to stop.
u is independent of vLLM's sampling noise (a separate stream), so the two draws compose as above.
Greedy rows: the argmax is a stop iff the reference's greedy draw is; masking stops changes nothing
otherwise. Hence greedy runs are token-identical to the in-process engine (same RowBudget).

Sampling settings vLLM would apply *after* logits processors and that change p (repetition /
presence / frequency penalties, min_p) are refused for budget requests (validate_params: HTTP 400):
p_stop would not be the stop mass of the distribution vLLM samples from.

Per-phase settings (s1's --answer-temperature ...): the request carries the thinking phase's
settings; rows in their answer phase get `extra_args["s1"]["answer"]`: a greedy answer forces the
argmax, another temperature rescales the logits by T_request / T_answer (so vLLM's division by
T_request leaves T_answer); a thinking phase that is greedy under sampled answer settings forces
its argmax. Speculative decoding is not supported (vLLM refuses custom processors with it).

Which runner: this is the V1 model runner's interface. vLLM's Model Runner V2 (GPU builds from 0.3x,
when Triton is present) has another interface; the class fails at start there with one line
saying to set VLLM_USE_V2_MODEL_RUNNER=0.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
import weakref
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch

from ..budget import THINK, BudgetConfig, RowBudget
from ..templates import ThinkingTemplate, get_template
from .xargs import XARGS, check_params, parse_xargs

try:
    from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality
    from vllm.v1.sample.ops.topk_topp_sampler import apply_top_k_top_p
except ImportError:  # no vLLM (or one without V1 batch processors): the backend says what to install
    LogitsProcessor = None
try:  # Model Runner V2's interface (vLLM >= 0.3x): accepted as a base so that V2 calls our __init__
    from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsProcessor as _V2Base
except ImportError:
    _V2Base = None

log = logging.getLogger("s1.vllm")

V2_MESSAGE = ("s1 budget processor: this vLLM runs Model Runner V2, whose logits-processor interface "
              "s1 does not support; start vLLM with VLLM_USE_V2_MODEL_RUNNER=0")
PARKED = 4096  # rows out of the batch (preempted, or finished unseen) kept for a possible return
_INSTANCES: "weakref.WeakSet" = weakref.WeakSet()


def processor_stats() -> dict:
    """Steps applied, rows seen and seconds spent by the processors of this process (vLLM runs them
    here with VLLM_ENABLE_V1_MULTIPROCESSING=0; the benchmark reads them)."""
    total = {"steps": 0, "rows": 0, "seconds": 0.0}
    for p in list(_INSTANCES):
        for k in total:
            total[k] += p.stats[k]
    return total


# -----------------------------------------------------------------------------------------------
# One row: its RowBudget and what it did at the last step
# -----------------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


@lru_cache(maxsize=256)
def _plan(path: str, template: str, budget: str):
    tok = _tokenizer(path)
    spec = json.loads(template)
    if isinstance(spec, dict):
        tpl = ThinkingTemplate(**spec)
    else:
        tpl = get_template(spec, tok, path if Path(path).is_dir() else None)
    b = json.loads(budget)
    return tpl, tpl.plan(tok, BudgetConfig(**b))


def _mix(x: int) -> int:
    """splitmix64: a well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _contains(seq: list[int], part: list[int]) -> bool:
    n = len(part)
    return any(seq[i:i + n] == part for i in range(len(seq) - n, -1, -1))


FREE = -1  # the row's token at the last step was vLLM's own draw


class _Row:
    """A request's budget state in the sampling process."""

    def __init__(self, spec: dict, tokenizer_path: str, prompt: list[int] | None, out: list[int], params):
        tpl_spec = spec["template"]
        tpl, plan = _plan(tokenizer_path, json.dumps(tpl_spec, sort_keys=True), json.dumps(spec["budget"], sort_keys=True))
        self.row = RowBudget(plan, room=spec.get("room"))
        self.stops = sorted(plan.stop_ids)
        self.eot = min(plan.eot_ids)
        self.out = out  # vLLM's live list of this request's output ids
        self.n = 0  # output ids accounted for (a request re-admitted with output replays it)
        # a chat prompt that does not open the thinking (no think_start in it): force think_start first
        start = list(tpl.ids(_tokenizer(tokenizer_path), tpl.think_start))
        self.pre = [] if (prompt is None or not start or _contains(prompt, start)) else start
        self.key, self.folder = spec.get("key"), spec.get("out")
        seed = spec.get("seed", params.seed)
        self.seed = seed if seed is not None else random.SystemRandom().getrandbits(63)
        self.think_greedy = bool(spec.get("think_greedy")) or params.temperature < 1e-5
        self.request_temperature = params.temperature
        # the row's top-k / top-p, applied by this processor (vLLM gets neutral ones: see check_params)
        self.top_k = int(spec.get("top_k", params.top_k) or 0)
        self.top_p = float(spec.get("top_p", params.top_p) or 1.0)
        self.answer = spec.get("answer")  # None: the request's own settings; else {"temperature": T}
        self.expect: int | None = None  # what the last planned step appends: FREE or a forced token
        self.stop_at: int | None = None  # the stop drawn at the last planned step
        self.planned_at = -1
        self.fresh = True  # in the batch since its last (re)admission without a confirmed token
        self.snap = None

    def uniform(self) -> float:
        return (_mix(self.seed * 0x100000001B3 + self.n) >> 11) / float(1 << 53)

    def sync(self) -> None:
        """Account for what vLLM appended since the last planned step."""
        k = len(self.out)
        if self.planned_at >= 0 and k == self.planned_at and self.snap is not None:
            row, pre = self.snap  # vLLM dropped that sample (a partial prefill): back to before it
            self.row, self.pre = copy.deepcopy(row, {id(row.plan): row.plan}), list(pre)
        elif self.planned_at >= 0 and k == self.planned_at + 1:
            tok = self.out[k - 1]
            if self.pre:
                self.pre.pop(0)
            elif self.expect == FREE and not self.row.done:
                self.row.advance(tok)
            elif self.expect != tok and tok != -1:
                log.error("s1 budget: request appended %s where the budget forced %s", tok, self.expect)
            if self.stop_at is not None and self.folder:
                with open(Path(self.folder, f"{self.key}.stops"), "a") as f:
                    f.write(f"{self.n} {self.stop_at}\n")
            self.n, self.fresh, self.snap = k, False, None
        self.planned_at, self.expect, self.stop_at = -1, None, None
        if k != self.n:  # tokens we never planned (a state rebuilt after eviction): take them as drawn
            for tok in self.out[self.n:]:
                if self.pre and tok == self.pre[0]:
                    self.pre.pop(0)
                elif not self.row.done:
                    self.row.advance(None if not self.row.wants_sample() else tok)
            self.n = k

    def plan(self) -> int | str:
        """This step: a token to force, or 'think' / 'answer' (a draw)."""
        self.planned_at = self.n
        if self.fresh:
            self.snap = (copy.deepcopy(self.row, {id(self.row.plan): self.row.plan}), list(self.pre))
        if self.pre:
            self.expect = self.pre[0]
        elif self.row.done:  # ended by its answer limit: an end of turn makes vLLM stop
            self.expect = self.eot
        elif not self.row.wants_sample():
            self.expect = self.row.advance(None)
        else:
            self.expect = FREE
            return THINK if self.row.phase == THINK else "answer"
        return self.expect

    def stopped(self, s: int) -> int:
        """The model tried to stop with s at this step: the token the budget appends instead."""
        self.stop_at = s
        self.expect = self.row.advance(s)
        return self.expect


# -----------------------------------------------------------------------------------------------
# The processor
# -----------------------------------------------------------------------------------------------

AVAILABLE = LogitsProcessor is not None
_Bases = tuple(b for b in (LogitsProcessor, _V2Base) if b is not None) or (object,)


class BudgetProcessor(*_Bases):
    """vLLM V1 batch logits processor: thinking budgets (min / max / num_ignore) per request."""

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        check_params(sampling_params)

    def __init__(self, vllm_config, device=None, is_pin_memory: bool = False, *rest):
        if not isinstance(device, torch.device) and not isinstance(device, str):
            raise RuntimeError(V2_MESSAGE)  # Model Runner V2 passes (config, request state)
        self.device = torch.device(device)
        mc = vllm_config.model_config
        self.tokenizer_path = mc.tokenizer or mc.model
        self.rows: dict[int, _Row] = {}
        self.parked: OrderedDict[int, _Row] = OrderedDict()  # id(output list) -> row out of the batch
        self.stats = {"steps": 0, "rows": 0, "seconds": 0.0}
        _INSTANCES.add(self)

    def is_argmax_invariant(self) -> bool:
        return False  # it forces tokens: vLLM must apply it to greedy requests too

    # -- batch membership --------------------------------------------------------------------------
    def update_state(self, batch_update: "BatchUpdate | None") -> None:
        if not batch_update:
            return
        for i in batch_update.removed:
            self._park(self.rows.pop(i, None))
        for i, params, prompt, out in batch_update.added:
            self._park(self.rows.pop(i, None))
            spec = parse_xargs(params.extra_args) if params is not None else None
            if spec is None:
                continue
            row = self.parked.pop(id(out), None)
            if row is None or row.out is not out:
                row = _Row(spec, self.tokenizer_path, prompt, out, params)
            row.fresh, row.planned_at = True, -1
            self.rows[i] = row
        for a, b, how in batch_update.moved:
            ra, rb = self.rows.pop(a, None), self.rows.pop(b, None)
            if ra is not None:
                self.rows[b] = ra
            if how == MoveDirectionality.SWAP and rb is not None:
                self.rows[a] = rb

    def _park(self, row: _Row | None) -> None:
        if row is None:
            return
        self.parked[id(row.out)] = row
        while len(self.parked) > PARKED:
            self.parked.popitem(last=False)

    # -- one step ------------------------------------------------------------------------------------
    def apply(self, logits: torch.Tensor, *ctx) -> torch.Tensor:
        if not self.rows:
            return logits
        t0 = time.perf_counter()
        forced_i, forced_t = [], []
        think_g, think_s, ans_g, ans_t = [], [], [], []
        for i, row in self.rows.items():
            row.sync()
            what = row.plan()
            if isinstance(what, int):
                forced_i.append(i)
                forced_t.append(what)
            elif what == THINK:
                (think_g if row.think_greedy else think_s).append(i)
            elif row.answer is not None and row.answer["temperature"] < 1e-5:
                ans_g.append(i)
            elif row.answer is not None or (row.request_temperature >= 1e-5 and (row.top_k or row.top_p < 1)):
                ans_t.append(i)
        dev = logits.device
        rows = think_g + think_s
        if rows:
            dec, kept = self._decide(logits, think_g, think_s)
            dec = dec.tolist()  # the step's one device->host copy
            free_s = []
            for i, d in zip(rows, dec):
                row = self.rows[i]
                if d >= 0:
                    forced_i.append(i)
                    forced_t.append(row.stopped(row.stops[d]))
                elif not row.think_greedy:
                    free_s.append(i)  # (a greedy row's argmax is no stop: nothing to mask)
            if kept is not None:  # the rows' own top-k / top-p (vLLM applies none to them)
                idx = torch.tensor(think_s, device=dev)
                logits[idx] = logits[idx].masked_fill(~kept, float("-inf"))
            if free_s:  # no stop this step: vLLM samples from the rest
                idx = torch.tensor(free_s, device=dev)
                logits[idx[:, None], self._stop_matrix(free_s, dev)] = float("-inf")
        if ans_t:
            idx = torch.tensor(ans_t, device=dev)
            rs = [self.rows[i] for i in ans_t]
            ratio = torch.tensor([r.request_temperature / (r.answer or {}).get("temperature", r.request_temperature)
                                  for r in rs], device=dev, dtype=logits.dtype)
            z = logits[idx] * ratio[:, None]
            kept = self._kept(z / torch.tensor([r.request_temperature for r in rs], device=dev)[:, None], rs)
            logits[idx] = z if kept is None else z.masked_fill(~kept, float("-inf"))
        if ans_g:
            self._force_argmax(logits, ans_g)
        if forced_i:
            idx = torch.tensor(forced_i, device=dev)
            logits[idx] = float("-inf")
            logits[idx, torch.tensor(forced_t, device=dev)] = 0.0
        self.stats["steps"] += 1
        self.stats["rows"] += len(self.rows)
        self.stats["seconds"] += time.perf_counter() - t0
        return logits

    def _stop_matrix(self, rows: list[int], dev) -> torch.Tensor:
        """[len(rows), S] stop ids per row (padded by repeating a row's first stop)."""
        width = max(len(self.rows[i].stops) for i in rows)
        return torch.tensor([(self.rows[i].stops * width)[:width] for i in rows], device=dev)

    def _force_argmax(self, logits: torch.Tensor, rows: list[int]) -> torch.Tensor:
        idx = torch.tensor(rows, device=logits.device)
        best = logits.argmax(-1)[idx]  # (no copy of the rows' logits)
        logits[idx] = float("-inf")
        logits[idx, best] = 0.0
        return best

    def _decide(self, logits: torch.Tensor, greedy: list[int], sampled: list[int]) -> torch.Tensor:
        """Per row (greedy rows, then sampled ones): the index of the stop the model tries to end its
        thinking with at this step, or -1. Greedy rows under sampled request settings are forced to
        their argmax here (when it is no stop)."""
        dev = logits.device
        out = []
        if greedy:
            idx = torch.tensor(greedy, device=dev)
            stops = self._stop_matrix(greedy, dev)
            best = logits.argmax(-1)[idx]
            hit = best[:, None] == stops
            out.append(torch.where(hit.any(-1), hit.int().argmax(-1), -1))
            # rows whose request samples: the greedy thinking takes the argmax itself
            native = [self.rows[i].request_temperature < 1e-5 for i in greedy]
            if not all(native):
                self._force_argmax(logits, [i for i, nat in zip(greedy, native) if not nat])  # a stop argmax is overwritten by the budget's token
        if sampled:
            idx = torch.tensor(sampled, device=dev)
            rows = [self.rows[i] for i in sampled]
            z = logits[idx].float()
            temp = torch.tensor([r.request_temperature for r in rows], device=dev)
            z = z / temp[:, None]
            kept = self._kept(z, rows)
            if kept is not None:
                z = z.masked_fill(~kept, float("-inf"))
            probs = torch.softmax(z, -1)
            ps_stop = probs.gather(1, self._stop_matrix(sampled, dev))
            # a padded (repeated) stop must not count twice
            width = ps_stop.shape[1]
            real = torch.tensor([[j < len(r.stops) for j in range(width)] for r in rows], device=dev)
            cum = torch.cumsum(ps_stop * real, -1)
            u = torch.tensor([r.uniform() for r in rows], device=dev, dtype=cum.dtype)
            below = u[:, None] < cum
            out.append(torch.where(below.any(-1), below.int().argmax(-1), -1))
        return torch.cat(out).cpu(), (kept if sampled else None)

    @staticmethod
    def _kept(z: torch.Tensor, rows: list[_Row]) -> torch.Tensor | None:
        """The tokens the rows' own top-k / top-p keep ([rows, vocab] bool; None: all), computed by
        vLLM's own function on logits already divided by the temperature, as vLLM's sampler does."""
        vocab = z.shape[1]  # vLLM's "no top-k" is k = the row's width
        ks = [r.top_k or vocab for r in rows]
        ps = [r.top_p for r in rows]
        if all(v >= vocab for v in ks) and all(v >= 1 for v in ps):
            return None
        k = torch.tensor(ks, device=z.device, dtype=torch.int32) if any(v < vocab for v in ks) else None
        p = torch.tensor(ps, device=z.device, dtype=torch.float32) if any(v < 1 for v in ps) else None
        return ~torch.isneginf(apply_top_k_top_p(z.clone(), k, p))


__all__ = ["AVAILABLE", "BudgetProcessor", "V2_MESSAGE", "XARGS", "check_params", "parse_xargs", "processor_stats"]
