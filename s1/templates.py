"""Thinking templates: where thinking starts and ends for a model family (s1, r1, custom).

A template renders the prompt, splits a completion into thinking and answer, counts thinking
tokens exactly and resolves budget settings to token ids. It needs a tokenizer, never a model.
Prompt token ids come from `encode_messages` / `encode_prompt`: the template's own markup becomes
control tokens, message content stays text (a message that writes `<|im_end|>` gets those characters).
"""

from __future__ import annotations

import json
import re
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
        return self.render_messages(tokenizer, _chat(question, system))

    def encode_prompt(self, tokenizer, question: str, system: str | None = None) -> list[int]:
        """Token ids of `render_prompt`, the question and system prompt read as text (see encode_messages)."""
        return self.encode_messages(tokenizer, _chat(question, system))

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

    def encode_messages(self, tokenizer, messages: list[dict]) -> list[int]:
        """Token ids of `render_messages`: control tokens where the chat template and the thinking
        delimiter write them, and message content as plain text, so that content cannot close its turn,
        open another or start the thinking by writing the markup. For content without control-token
        text the ids are exactly those of tokenizing the rendered text."""
        controls = _controls(tokenizer)
        if controls is None:  # no added tokens: there is no markup to forge
            return _encode(tokenizer, self.render_messages(tokenizer, messages))
        # The template itself still sees the content (it may trim or split it): only each control-token
        # text inside it is wrapped in markers, and the markers tell the encoder which ones to spell out.
        marked = [{**m, "content": _mark(m["content"], controls)} for m in messages]
        return _encode_marked(tokenizer, self.render_messages(tokenizer, marked), controls)

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
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def save(self, folder: str | Path) -> None:
        Path(folder, TEMPLATE_FILE).write_text(self.to_json())


def _chat(question: str, system: str | None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]


# Two Unicode noncharacters (reserved for a program's internal use, never text) mark the control-token
# text found in message content; any already in the content are dropped so they cannot be forged.
_OPEN, _CLOSE = "\ufdd0", "\ufdd1"


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False) if text else []


def _controls(tokenizer) -> re.Pattern | None:
    """A pattern of the tokenizer's control tokens: its added tokens (special or not, as `<think>` often
    is), except one-character and whitespace ones, which are ordinary text pieces."""
    words = tuple(sorted(w for w in tokenizer.added_tokens_encoder if len(w) > 1 and w.strip()))
    return _alternation(words) if words else None


@lru_cache(maxsize=32)
def _alternation(words: tuple[str, ...]) -> re.Pattern:
    """Leftmost-longest match of any of `words`, as a trie: one pass over the text however many words
    there are (tokenizers with hundreds of reserved tokens share long prefixes)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        alts = [re.escape(ch) + pattern(child) for ch, child in node.items() if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longer word wins where both match

    return re.compile(pattern(trie))


def _mark(content: str, controls: re.Pattern) -> str:
    content = content.replace(_OPEN, "").replace(_CLOSE, "")
    return controls.sub(lambda m: _OPEN + m.group() + _CLOSE, content)


def _encode_marked(tokenizer, text: str, controls: re.Pattern) -> list[int]:
    """Tokenize rendered text whose content-borne control-token text is marked: marked words become
    their characters, a lone marker (the template cut a marked word apart, as R1 templates split
    assistant content at `</think>`) only separates the text around it (a trim the template applies
    right there keeps that whitespace), everything else is tokenized as usual."""
    if _OPEN not in text and _CLOSE not in text:
        return _encode(tokenizer, text)
    seen: dict[str, list[int]] = {}  # content repeating a word or a piece pays for it once

    def piece(s: str, spell: bool) -> list[int]:
        key = ("w" if spell else "t") + s
        if key not in seen:
            seen[key] = _spelled(tokenizer, s, controls) if spell else _encode(tokenizer, s)
        return seen[key]

    ids, pos = [], 0
    for m in re.finditer(f"{_OPEN}({controls.pattern}){_CLOSE}|[{_OPEN}{_CLOSE}]", text):
        ids += piece(text[pos:m.start()], False)
        if m.group(1):
            ids += piece(m.group(1), True)
        pos = m.end()
    return ids + piece(text[pos:], False)


def _spelled(tokenizer, text: str, controls: re.Pattern) -> list[int]:
    """Ids of `text` in which no control token forms: each control word is cut after its first
    character, so the tokenizer reads `<` and `|im_end|>` (the rest is cut again if it holds another)."""
    ids, pos = [], 0
    for m in controls.finditer(text):
        word = m.group()
        ids += _encode(tokenizer, text[pos:m.start()]) + _encode(tokenizer, word[0])
        ids += _spelled(tokenizer, word[1:], controls)
        pos = m.end()
    return ids + _encode(tokenizer, text[pos:])


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
