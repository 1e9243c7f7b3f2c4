"""lm-evaluation-harness with budget forcing, without a fork: the `s1` model for lm-eval.

    python -m s1.lm_eval --model s1 --model_args max_thinking=512 --tasks gsm8k --log_samples --output_path out
    s1 lm-eval ...                                   # the same

lm-eval only knows the models registered in its own package, so the entry above imports this package
(which registers `s1`) and then runs lm-eval's own command line with the arguments unchanged. From
Python: `import s1.lm_eval` and then `lm_eval.simple_evaluate(model="s1", model_args={...}, ...)`.
Needs the extra: pip install 's1[lm-eval]'. The model itself: s1.lm_eval.model.
"""

from __future__ import annotations

try:
    import lm_eval  # noqa: F401
except ImportError as e:  # pragma: no cover - the extra is part of `make install`
    raise ImportError("s1.lm_eval needs lm-evaluation-harness: pip install 's1[lm-eval]'") from e

from .model import S1LM, ModelArgs, S1LMError, register

register()

__all__ = ["S1LM", "ModelArgs", "S1LMError", "register"]
