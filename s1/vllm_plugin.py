"""`vllm serve` with thinking budgets: the s1 logits processor and a reasoning parser, as vLLM plugins.

    vllm serve MODEL --logits-processors s1.vllm_plugin:BudgetProcessor \\
        --reasoning-parser-plugin s1.vllm_plugin --reasoning-parser s1

Then any OpenAI client asks for a budget per request through vLLM's extra arguments:

    client.chat.completions.create(model=MODEL, messages=[...], max_tokens=512,
        extra_body={"vllm_xargs": {"min_thinking_tokens": 64, "max_thinking_tokens": 128}})

vllm_xargs keys: min_thinking_tokens, max_thinking_tokens, num_ignore (refuse the first k stops),
extend ("Wait", or a list rotated through), answer_prefix (forced after a cut; "" for none), template
(auto | s1 | r1; auto: the model's saved s1_template.json, else detected), on_turn_end (answer |
delimiter). A bad value is an HTTP 400 with the reason; a request without any of them is plain vLLM.
The request's max_tokens bounds thinking and answer together, as for any vLLM request.

The reasoning parser "s1" splits the reply into `reasoning_content` (the thinking) and `content` (the
answer) at the model's thinking delimiters, for any s1 template (s1, r1 written as text, custom). R1
models whose <think> / </think> are single tokens can use vLLM's own `--reasoning-parser deepseek_r1`.
"""

from __future__ import annotations

from .backends.vllm_processor import V2_MESSAGE, BudgetProcessor, parse_xargs

try:
    from vllm.reasoning import ReasoningParser, ReasoningParserManager
except ImportError:  # no vLLM here: only the names above are useful (docs, tests)
    ReasoningParser = None

SKIP = ("<|im_end|>", "<|endoftext|>")


def split_reasoning(text: str, start: str, end: str, eot: str | None, final: bool) -> tuple[str, str | None]:
    """(thinking, answer or None) of a reply's text so far. Not final: a tail that may still grow
    into the end delimiter is held back, so the parts only ever grow."""
    if not final and start.startswith(text):
        return "", None  # the forced think_start is still arriving
    if text.startswith(start):
        text = text[len(start):]
    head, sep, tail = text.partition(end)
    if sep:
        for t in (eot, *SKIP):
            if t and tail.endswith(t):
                return head, tail[: -len(t)]
        return head, tail if final else _hold(tail, (eot, *SKIP))
    return (head if final else _hold(head, (end,))), None


def _hold(text: str, marks) -> str:
    """`text` without a tail that may be the start of one of `marks`."""
    for m in marks:
        for k in range(min(len(m or "") - 1, len(text)), 0, -1):
            if text.endswith(m[:k]):
                return text[:-k]
    return text


if ReasoningParser is not None:

    @ReasoningParserManager.register_module("s1")
    class S1ReasoningParser(ReasoningParser):
        """Reasoning / content split at the served model's s1 thinking template."""

        def __init__(self, tokenizer, *args, **kwargs):
            super().__init__(tokenizer, *args, **kwargs)
            from pathlib import Path

            from .templates import get_template

            mc = kwargs.get("model_config")
            folder = getattr(mc, "model", None) if mc is not None else None
            folder = folder if folder and Path(folder).is_dir() else None
            hf = getattr(tokenizer, "tokenizer", tokenizer)
            self.template = get_template("auto", hf, folder)
            self.start, self.end = self.template.think_start, self.template.think_end
            self.end_ids = list(self.template.ids(hf, self.end))

        def adjust_request(self, request):
            request.skip_special_tokens = False  # the s1 delimiters begin with a special token
            return request

        def is_reasoning_end(self, input_ids) -> bool:
            ids, n = list(input_ids), len(self.end_ids)
            return any(ids[i:i + n] == self.end_ids for i in range(len(ids) - n + 1))

        def extract_content_ids(self, input_ids: list[int]) -> list[int]:
            ids, n = list(input_ids), len(self.end_ids)
            for i in range(len(ids) - n + 1):
                if ids[i:i + n] == self.end_ids:
                    return ids[i + n:]
            return []

        def extract_reasoning(self, model_output: str, request):
            think, answer = split_reasoning(model_output, self.start, self.end, self.template.end_of_turn, True)
            return (think or None), answer

        def extract_reasoning_streaming(self, previous_text, current_text, delta_text, previous_token_ids,
                                        current_token_ids, delta_token_ids):
            from vllm.entrypoints.generate.base.protocol import DeltaMessage

            eot = self.template.end_of_turn
            t0, a0 = split_reasoning(previous_text, self.start, self.end, eot, False)
            t1, a1 = split_reasoning(current_text, self.start, self.end, eot, False)
            think = t1[len(t0):] if t1.startswith(t0) else ""
            answer = (a1 or "")[len(a0 or ""):] if a1 is not None else ""
            if not think and not answer:
                return None
            return DeltaMessage(reasoning=think or None, content=answer or None)


__all__ = ["BudgetProcessor", "V2_MESSAGE", "parse_xargs", "split_reasoning"]
