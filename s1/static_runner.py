"""A model runner with a preallocated KV cache and a lean forward for Llama-family decoders.

    from s1.static_runner import StaticRunner; r = StaticRunner(model); [s] = r.alloc(1); r.prefill([s], [ids])

It implements the runner interface of `s1.runner` (alloc / free / prefill / decode / fork / length)
for Llama, Qwen2 and Mistral-style models, reading the Hugging Face model's own weights (q/k/v and
gate/up fused into one matrix each). The cache is one tensor per K and V, [layers, rows, kv_heads,
length, head_dim], with a length per row and no padding: a decode step writes one position per row in
place, a finished row's slot is just marked free (its stale positions are never read: attention is
masked by each row's length), and capacity doubles (rows or positions) when a request needs more.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

SUPPORTED = ("llama", "qwen2", "mistral")
_STATIC_ROPE = ("default", "linear", "llama3", "yarn")  # rotary tables that do not depend on the length


def unsupported_reason(model) -> str | None:
    """Why StaticRunner cannot run `model` (None when it can)."""
    cfg = model.config
    kind = getattr(cfg, "model_type", None)
    if kind not in SUPPORTED:
        return f"model type {kind!r} is not one of {', '.join(SUPPORTED)}"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return f"activation {cfg.hidden_act!r} is not silu"
    layer_types = getattr(cfg, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types) or (
            kind == "mistral" and getattr(cfg, "sliding_window", None) is not None):
        return "sliding-window attention"
    rope = getattr(getattr(model.model, "rotary_emb", None), "rope_type", None)
    if rope not in _STATIC_ROPE:
        return f"rope type {rope!r}"
    return None


PACKED_MIN_ROWS = 8  # below this, MKL's matrix-vector products beat oneDNN's prepacked ones here


class _Linear:
    """y = x W^T + b, optionally through oneDNN with the weight prepacked once (packed=True): on
    this CPU (AMD EPYC, MKL sgemm) 2-3x faster from 16 rows up; the sums are grouped differently
    from F.linear, so logits differ from the HF forward by fp32 rounding (~1e-5 relative)."""

    def __init__(self, weights: list, biases: list, packed: bool):
        self.w = torch.cat([w.detach() for w in weights]) if len(weights) > 1 else weights[0].detach()
        self.b = None if biases[0] is None else torch.cat([b.detach() for b in biases])
        self.packed = torch.ops.mkldnn._reorder_linear_weight(self.w, 16) if packed else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if self.packed is None or rows < PACKED_MIN_ROWS:
            return F.linear(x, self.w, self.b)
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, x.shape[-1]), self.packed, self.b, "none", [], "")
        return y.view(*x.shape[:-1], self.w.shape[0])


class _Layer:
    """One decoder layer's weights, fused for the lean forward."""

    def __init__(self, layer, packed: bool):
        att, mlp = layer.self_attn, layer.mlp
        qkv = (att.q_proj, att.k_proj, att.v_proj)
        self.qkv = _Linear([m.weight for m in qkv], [m.bias for m in qkv], packed)
        self.o = _Linear([att.o_proj.weight], [att.o_proj.bias], packed)
        self.gu = _Linear([mlp.gate_proj.weight, mlp.up_proj.weight], [mlp.gate_proj.bias, mlp.up_proj.bias], packed)
        self.down = _Linear([mlp.down_proj.weight], [mlp.down_proj.bias], packed)
        pre, post = layer.input_layernorm, layer.post_attention_layernorm
        self.n1, self.eps1 = pre.weight.detach(), pre.variance_epsilon
        self.n2, self.eps2 = post.weight.detach(), post.variance_epsilon


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    # the same operations, in the same order, as the Hugging Face RMSNorm (fp32 statistics)
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


class StaticRunner:
    """Preallocated-cache runner for a Llama / Qwen2 / Mistral causal LM (see the module docstring)."""

    def __init__(self, model, max_rows_hint: int = 16, max_len_hint: int | None = None, compile: bool = False,
                 packed: bool = True):
        why = unsupported_reason(model)
        if why:
            raise ValueError(f"StaticRunner does not support this model: {why}")
        cfg = model.config
        self.model = model
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.group = self.heads // self.kv_heads
        self.inter = cfg.intermediate_size
        packed = packed and self.device.type == "cpu" and torch.backends.mkldnn.is_available()
        self.layers = [_Layer(layer, packed) for layer in model.model.layers]
        self.embed = model.model.embed_tokens.weight.detach()
        self.norm, self.norm_eps = model.model.norm.weight.detach(), model.model.norm.variance_epsilon
        head = model.get_output_embeddings()
        self.head = _Linear([head.weight], [getattr(head, "bias", None)], packed)
        self.rotary = model.model.rotary_emb
        self.rows, self.max_len = 0, 0
        self.k = self.v = torch.empty(0)
        self.lens: list[int] = []
        self.free_slots: list[int] = []
        self.cos = self.sin = torch.empty(0)
        self.positions = torch.empty(0, dtype=torch.long)
        with torch.inference_mode():  # the cache is only ever written in inference mode
            # the hint bounds the first allocation (a model's whole context window would be a waste
            # of memory for short requests); longer rows double the capacity when they need it
            self._grow(max(1, max_rows_hint), min(max_len_hint or 256, 512))
        self._step = self._decode_step
        if compile:
            self._step = torch.compile(self._decode_step, dynamic=True)

    # -- slots ------------------------------------------------------------------------------------

    @torch.inference_mode()
    def alloc(self, n: int) -> list[int]:
        """n free slot ids, lowest first (live rows stay packed at the front of the cache)."""
        if len(self.free_slots) < n:
            self._grow(max(self.rows * 2, self.rows + n - len(self.free_slots)), self.max_len)
        self.free_slots.sort()
        out, self.free_slots = self.free_slots[:n], self.free_slots[n:]
        for s in out:
            self.lens[s] = 0
        return out

    def free(self, slots: Sequence[int]) -> None:
        for s in slots:
            self.lens[s] = 0
            self.free_slots.append(s)

    def length(self, slot: int) -> int:
        return self.lens[slot]

    @torch.inference_mode()
    def fork(self, src: int, dst: int) -> None:
        """dst becomes a copy of src's cached prefix (one copy of that prefix per layer, nothing else)."""
        n = self.lens[src]
        self.k[:, dst, :, :n] = self.k[:, src, :, :n]
        self.v[:, dst, :, :n] = self.v[:, src, :, :n]
        self.lens[dst] = n

    def _grow(self, rows: int, length: int) -> None:
        """Capacity of at least `rows` slots and `length` positions (each doubled when it must grow)."""
        rows = max(rows, self.rows)
        if length > self.max_len:
            length = max(length, 2 * self.max_len)
        else:
            length = self.max_len
        if rows == self.rows and length == self.max_len:
            return
        shape = (len(self.layers), rows, self.kv_heads, length, self.head_dim)
        k = torch.zeros(shape, dtype=self.dtype, device=self.device)
        v = torch.zeros(shape, dtype=self.dtype, device=self.device)
        if self.rows:
            k[:, : self.rows, :, : self.max_len] = self.k
            v[:, : self.rows, :, : self.max_len] = self.v
        self.k, self.v = k, v
        self.free_slots += list(range(self.rows, rows))
        self.lens += [0] * (rows - self.rows)
        if length > self.max_len:  # rotary tables from the model's own rotary module (its scaling included)
            self.positions = torch.arange(length, device=self.device)
            with torch.no_grad():
                cos, sin = self.rotary(self.embed[:1][None], self.positions[None])
            half = self.head_dim // 2
            self.cos = cos[0].to(self.dtype)
            # rotate_half(x) * sin == x with its halves swapped * (sin with the first half negated)
            self.sin = torch.cat([-sin[0, :, :half], sin[0, :, half:]], -1).to(self.dtype)
        self.rows, self.max_len = rows, length

    # -- forward ----------------------------------------------------------------------------------

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x [..., heads, head_dim]; cos/sin broadcast over the heads."""
        half = self.head_dim // 2
        swapped = torch.cat([x[..., half:], x[..., :half]], -1)
        return x * cos + swapped * sin

    def _mlp(self, x: torch.Tensor, w: _Layer) -> torch.Tensor:
        gu = w.gu(_rms(x, w.n2, w.eps2))
        return x + w.down(F.silu(gu[..., : self.inter]) * gu[..., self.inter :])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(_rms(x, self.norm, self.norm_eps))

    @torch.inference_mode()
    def prefill(self, slots: Sequence[int], prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Append each prompt to its slot (right-padded into one batch); last-position logits [n, vocab]."""
        n = len(slots)
        sizes = [len(p) for p in prompts]
        if min(sizes) == 0:
            raise ValueError("prefill needs at least one token per row")
        starts = [self.lens[s] for s in slots]
        width = max(sizes)
        self._grow(self.rows, max(a + b for a, b in zip(starts, sizes)))
        ids = torch.zeros((n, width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, : sizes[i]] = torch.as_tensor(list(p), dtype=torch.long)
        ids = ids.to(self.device)
        start_t = torch.tensor(starts, device=self.device)
        pos = start_t[:, None] + self.positions[:width]  # [n, width]
        pos = pos.clamp(max=self.max_len - 1)  # padding columns past the capacity
        cos, sin = self.cos[pos][:, :, None], self.sin[pos][:, :, None]  # [n, width, 1, d]
        slot_t = torch.tensor(list(slots), device=self.device)
        fresh = not any(starts)
        keys = max(a + b for a, b in zip(starts, sizes)) if not fresh else width
        # query t of row i sees keys j <= start_i + t (its own prompt and what the slot already held)
        mask = (self.positions[:keys][None, None, :] <= pos[:, :, None])[:, None]  # [n, 1, width, keys]
        x = self.embed[ids]
        h_q, h_kv, d = self.heads, self.kv_heads, self.head_dim
        for li, w in enumerate(self.layers):
            qkv = w.qkv(_rms(x, w.n1, w.eps1)).view(n, width, h_q + 2 * h_kv, d)
            qk = self._rope(qkv[:, :, : h_q + h_kv], cos, sin)
            q = qk[:, :, :h_q].transpose(1, 2)
            k = qk[:, :, h_q:].transpose(1, 2)
            v = qkv[:, :, h_q + h_kv :].transpose(1, 2)
            if fresh:
                self.k[li, slot_t, :, :width] = k
                self.v[li, slot_t, :, :width] = v
                kk, vv = k, v
            else:
                for i, s in enumerate(slots):
                    self.k[li, s, :, starts[i] : starts[i] + sizes[i]] = k[i, :, : sizes[i]]
                    self.v[li, s, :, starts[i] : starts[i] + sizes[i]] = v[i, :, : sizes[i]]
                kk, vv = self.k[li, slot_t, :, :keys], self.v[li, slot_t, :, :keys]
            o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, enable_gqa=self.group > 1)
            x = x + w.o(o.transpose(1, 2).reshape(n, width, h_q * d))
            x = self._mlp(x, w)
        last = x[torch.arange(n, device=self.device), torch.tensor(sizes, device=self.device) - 1]
        for i, s in enumerate(slots):
            self.lens[s] = starts[i] + sizes[i]
        return self._logits(last)

    @torch.inference_mode()
    def decode(self, slots: Sequence[int], tokens: Sequence[int]) -> torch.Tensor:
        """Append tokens[i] to slot slots[i]; next-token logits [n, vocab] in the order given."""
        slots = list(slots)
        lo, hi = min(slots), max(slots) + 1
        pos = [self.lens[s] for s in slots]
        need = max(pos) + 1
        if need > self.max_len:
            self._grow(self.rows, need)
        dev = self.device
        slot_t = torch.tensor(slots, device=dev)
        pos_t = torch.tensor(pos, device=dev)
        tok_t = torch.tensor(list(tokens), device=dev)
        # attention runs on the slot range [lo, hi) as a view of the cache (no copy); a slot in the
        # range that is not decoded now gets a zero query and sees one key, and its output is dropped
        packed = slots == list(range(lo, hi))
        visible = pos_t + 1
        if not packed:
            visible = torch.ones(hi - lo, dtype=torch.long, device=dev).index_copy_(0, slot_t - lo, visible)
        mask = (self.positions[:need][None] < visible[:, None])[:, None, None]  # [rows, 1, 1, need]
        logits = self._step(tok_t, slot_t, pos_t, mask, lo, hi, need, packed)
        for s in slots:
            self.lens[s] += 1
        return logits

    def _decode_step(self, tok_t, slot_t, pos_t, mask, lo: int, hi: int, need: int, packed: bool):
        n, m = tok_t.shape[0], hi - lo
        h_q, h_kv, d = self.heads, self.kv_heads, self.head_dim
        cos, sin = self.cos[pos_t][:, None], self.sin[pos_t][:, None]  # [n, 1, d]
        x = self.embed[tok_t]
        rel = slot_t - lo
        for li, w in enumerate(self.layers):
            qkv = w.qkv(_rms(x, w.n1, w.eps1)).view(n, h_q + 2 * h_kv, d)
            qk = self._rope(qkv[:, : h_q + h_kv], cos, sin)
            kc, vc = self.k[li], self.v[li]
            kc[slot_t, :, pos_t] = qk[:, h_q:]
            vc[slot_t, :, pos_t] = qkv[:, h_q + h_kv :]
            # GQA without repeating K/V: each KV head's query group is a short "sequence" of queries
            q = qk[:, :h_q]
            if not packed:
                q = q.new_zeros(m, h_q, d).index_copy_(0, rel, q)
            o = F.scaled_dot_product_attention(q.reshape(m, h_kv, self.group, d), kc[lo:hi, :, :need],
                                               vc[lo:hi, :, :need], attn_mask=mask)
            o = o.reshape(m, h_q * d)
            if not packed:
                o = o[rel]
            x = x + w.o(o)
            x = self._mlp(x, w)
        return self._logits(x)
