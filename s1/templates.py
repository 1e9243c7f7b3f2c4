"""Thinking templates: where thinking starts and ends for a model family (s1, r1, custom).

A template renders the prompt, splits a completion into thinking and answer, counts thinking
tokens exactly and resolves budget settings to token ids. It needs a tokenizer, never a model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from .budget import BudgetConfig, BudgetError, ForcingPlan

# The s1 models were trained with Qwen's default system prompt (REFERENCE.md section 3).
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
TEMPLATE_FILE = "s1_template.json"  # saved next to a checkpoint by `s1 train`


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class ThinkingTemplate:
    """Delimiters of one thinking format.

    think_start: appended after the chat prompt's assistant header; the model thinks after it.
    think_end: closes the thinking. Its *first token* is what the model emits to try to stop
        (for s1 that is `<|im_start|>`, the first of several tokens), as in the reference.
    end_of_turn: ends the answer (None: the tokenizer's eos token).
    separator: put before a forced think_end when the thinking does not already end with it.
    """

    name: str
    think_start: str
    think_end: str
    end_of_turn: str | None = None
    separator: str = "\n"

    # -- text -------------------------------------------------------------------------------
    def render_prompt(self, tokenizer, question: str, system: str | None = None) -> str:
        """Chat prompt with the assistant turn opened and thinking started."""
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": question}
        ]
        return self.render_messages(tokenizer, messages)

    def render_messages(self, tokenizer, messages: list[dict]) -> str:
        """A chat (system / user / assistant turns) with the assistant turn opened and thinking started."""
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # no chat template: plain ChatML, which the s1 format is built on
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            text += "<|im_start|>assistant\n"
        # R1-style chat templates may open thinking themselves
        if text.rstrip().endswith(self.think_start.strip()):
            return text
        return text + self.think_start

    def split(self, completion: str) -> tuple[str, str]:
        """Split the text after the prompt into (thinking, answer); no delimiter: all thinking."""
        if completion.startswith(self.think_start):
            completion = completion[len(self.think_start) :]
        head, sep, tail = completion.partition(self.think_end)
        if not sep:
            return completion, ""
        if self.end_of_turn and tail.endswith(self.end_of_turn):
            tail = tail[: -len(self.end_of_turn)]
        return head, tail

    # -- tokens -----------------------------------------------------------------------------
    def ids(self, tokenizer, text: str) -> tuple[int, ...]:
        return tuple(tokenizer.encode(text, add_special_tokens=False)) if text else ()

    def eot_ids(self, tokenizer) -> frozenset[int]:
        ids = set()
        if self.end_of_turn:
            eot = self.ids(tokenizer, self.end_of_turn)
            if len(eot) != 1:
                raise TemplateError(f"end of turn {self.end_of_turn!r} must be one token of this tokenizer")
            ids.add(eot[0])
        if tokenizer.eos_token_id is not None:
            ids.add(tokenizer.eos_token_id)
        if not ids:
            raise TemplateError("the tokenizer has no end-of-sequence token and the template no end of turn")
        return frozenset(ids)

    def split_ids(self, tokenizer, completion_ids) -> tuple[list[int], list[int]]:
        """Split completion token ids at the first end-of-thinking delimiter: exact token counts."""
        end = list(self.ids(tokenizer, self.think_end))
        ids = list(completion_ids)
        n = len(end)
        for i in range(len(ids) - n + 1):
            if ids[i : i + n] == end:
                answer = ids[i + n :]
                if answer and answer[-1] in self.eot_ids(tokenizer):
                    answer = answer[:-1]
                return ids[:i], answer
        return ids, []

    def plan(self, tokenizer, budget: BudgetConfig) -> ForcingPlan:
        """Resolve a budget to this tokenizer's token ids."""
        budget.validate()
        end = self.ids(tokenizer, self.think_end)
        if not end:
            raise TemplateError("the end-of-thinking delimiter is empty")
        eot = self.eot_ids(tokenizer)
        prefix = self.ids(tokenizer, budget.answer_prefix or "")
        if len(prefix) >= budget.max_answer_tokens:
            raise BudgetError(
                f"max answer tokens ({budget.max_answer_tokens}) leaves no room after the answer prefix"
            )
        sep = self.separator
        return ForcingPlan(
            budget=budget,
            stop_ids=frozenset({end[0], *eot}),
            think_end_ids=end,
            eot_ids=eot,
            extend_ids=tuple(self.ids(tokenizer, s) for s in budget.extend),
            answer_prefix_ids=prefix,
            separator_ids=self.ids(tokenizer, sep),
            ends_with_separator=_ends_with(tokenizer, sep),
            step_marker_ids=tuple(self.ids(tokenizer, budget.step_marker.format(k=k))
                                  for k in range((budget.max_steps or 0) + 1)) if budget.max_steps is not None else (),
            token_text=_token_text(tokenizer),
        )

    # -- files ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        Path(folder, TEMPLATE_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")


def _token_text(tokenizer):
    @lru_cache(maxsize=None)
    def text(tok: int) -> str:
        return tokenizer.decode([tok])

    return text


def _ends_with(tokenizer, sep: str):
    @lru_cache(maxsize=None)
    def check(tok: int) -> bool:
        return tokenizer.decode([tok]).endswith(sep) if sep else True

    return check


TEMPLATES = {
    # Qwen ChatML; "think" and "answer" are plain text after the special token <|im_start|>
    "s1": ThinkingTemplate("s1", "<|im_start|>think\n", "<|im_start|>answer\n", "<|im_end|>"),
    # DeepSeek-R1, QwQ, Qwen3: <think> ... </think>, answer until end of turn
    "r1": ThinkingTemplate("r1", "<think>\n", "</think>\n\n", None),
}


def detect_template(tokenizer) -> ThinkingTemplate:
    """Pick a template from the tokenizer: r1 if it knows <think>, else s1 for ChatML models."""
    vocab = tokenizer.get_vocab()
    chat = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(chat, dict):
        chat = " ".join(chat.values())
    if "</think>" in vocab or "<think>" in chat:
        return TEMPLATES["r1"]
    if "<|im_start|>" in vocab:
        return TEMPLATES["s1"]
    return TEMPLATES["r1"]


def get_template(
    spec: str | ThinkingTemplate | None,
    tokenizer=None,
    model_dir: str | Path | None = None,
    think_start: str | None = None,
    think_end: str | None = None,
) -> ThinkingTemplate:
    """Resolve 'auto' | 's1' | 'r1' | 'custom' | path to a JSON file into a template.

    'auto' prefers the template saved with a checkpoint (s1_template.json), then detection.
    think_start / think_end override the delimiters of whatever was chosen.
    """
    if isinstance(spec, ThinkingTemplate):
        tpl = spec
    elif spec in (None, "auto"):
        saved = Path(model_dir, TEMPLATE_FILE) if model_dir else None
        if saved is not None and saved.is_file():
            tpl = _load(saved)
        elif tokenizer is not None:
            tpl = detect_template(tokenizer)
        else:
            tpl = TEMPLATES["s1"]
    elif spec in TEMPLATES:
        tpl = TEMPLATES[spec]
    elif spec == "custom":
        if not (think_start and think_end):
            raise TemplateError("--template custom needs --think-start and --think-end")
        tpl = ThinkingTemplate("custom", think_start, think_end)
    elif str(spec).endswith(".json") and Path(spec).is_file():
        tpl = _load(Path(spec))
    else:
        raise TemplateError(f"unknown template {spec!r} (choose auto, s1, r1, custom or a .json file)")
    if think_start or think_end:
        tpl = ThinkingTemplate(
            "custom" if spec != "custom" else tpl.name,
            think_start or tpl.think_start,
            think_end or tpl.think_end,
            tpl.end_of_turn,
            tpl.separator,
        )
    return tpl


def _load(path: Path) -> ThinkingTemplate:
    try:
        data = json.loads(path.read_text())
        return ThinkingTemplate(**data)
    except (ValueError, TypeError) as e:
        raise TemplateError(f"{path}: not a valid template file ({e})") from None
