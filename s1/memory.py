"""Memory arithmetic for a training run: a rough peak estimate and what the device has free.

    from s1.memory import memory_estimate; memory_estimate(n_params, trainable, 4, max_tokens, hidden, layers, False)
"""

from __future__ import annotations

from pathlib import Path


def memory_estimate(n_params: int, trainable: int, bytes_per_param: int, max_tokens: int, hidden: int,
                    layers: int, checkpointing: bool) -> float:
    """Rough peak bytes of one training process: weights, gradients and AdamW state of the trainable
    parameters (fp32), and activations of the longest micro-batch (~34 values per token, hidden unit
    and layer without checkpointing, ~2 with it)."""
    weights = n_params * bytes_per_param
    grads_opt = trainable * (4 + 8 + (4 if bytes_per_param < 4 else 0))  # grads, Adam moments, fp32 master
    act = max_tokens * hidden * layers * (2 if checkpointing else 34) * bytes_per_param
    return float(weights + grads_opt + act)


def available_memory(device: str) -> float | None:
    try:
        if device.startswith("cuda"):
            import torch

            return float(torch.cuda.mem_get_info()[0])
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except Exception:
        return None
    return None


__all__ = ["available_memory", "memory_estimate"]
