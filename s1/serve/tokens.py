"""`s1 serve`'s tokenizer routes and completion log-probs, as vLLM serves them and lm-eval's API models use them.

    GET  /tokenizer_info   {"eos_token", "bos_token", "pad_token", "chat_template", "model_max_length", ...}
    POST /tokenize         {"prompt": str, "add_special_tokens": bool} | {"messages": [...]} -> {"tokens", "count"}
    POST /detokenize       {"tokens": [int]} -> {"prompt": str}

lm-eval's `local-completions` probes /tokenizer_info and /tokenize at start and, when both answer,
tokenizes through the server (no tokenizer arguments needed). The chat template served opens the
thinking after the assistant header, as /v1/chat/completions does, so a prompt rendered with it
(`--apply_chat_template`) is what a /v1/completions request with `thinking` continues.
`logprobs_block` writes the legacy completions `logprobs` object (tokens, token_logprobs,
top_logprobs, text_offset) that lm-eval reads for loglikelihood requests (`echo` + `logprobs`).
"""

from __future__ import annotations

import json

from .protocol import Limits, RequestError, parse


def tokenizer_info(tok, template, context_length: int | None) -> dict:
    """The served tokenizer's special tokens and chat template (see the module docstring)."""
    info = {"tokenizer_class": type(tok).__name__, "model_max_length": context_length}
    for name in ("eos_token", "bos_token", "pad_token", "unk_token"):
        info[name] = getattr(tok, name, None)
    info["add_bos_token"] = bool(getattr(tok, "add_bos_token", False))
    info["chat_template"] = thinking_chat_template(tok, template)
    return info


def thinking_chat_template(tok, template) -> str | None:
    """The tokenizer's chat template, with the thinking delimiter written after the generation prompt
    unless the template opens the thinking itself (as R1-style templates do)."""
    chat = getattr(tok, "chat_template", None)
    if not isinstance(chat, str):
        return None
    probe = tok.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    if probe.rstrip().endswith(template.think_start.strip()):
        return chat
    # a Jinja string literal: escapes as in JSON; an expression, so block whitespace trimming cannot eat it
    return chat + "{% if add_generation_prompt %}{{ " + json.dumps(template.think_start) + " }}{% endif %}"


def tokenize(body, tok, template, context_length: int | None) -> dict:
    """Token ids of a prompt (read as the client's own rendering, markup included, as /v1/completions reads it)
    or of chat messages (rendered as /v1/chat/completions renders them: thinking opened)."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    add_special = body.get("add_special_tokens", True)
    if not isinstance(add_special, bool):
        raise RequestError("'add_special_tokens' must be true or false", "add_special_tokens")
    prompt = body.get("prompt")
    # lm-eval's remote tokenizer sends the chat (a list of messages) as the prompt under --apply_chat_template
    messages = body.get("messages") if "messages" in body else prompt if isinstance(prompt, list) else None
    if messages is not None:
        messages = parse({"messages": messages}, "chat", Limits()).prompts[0]
        ids = template.encode_messages(tok, messages)
    else:
        if not isinstance(prompt, str):
            raise RequestError("'prompt' must be a string (or send 'messages')", "prompt")
        ids = tok.encode(prompt, add_special_tokens=add_special)
    out = {"count": len(ids), "max_model_len": context_length, "tokens": ids, "token_strs": None}
    if body.get("return_token_strs"):
        out["token_strs"] = tok.convert_ids_to_tokens(ids)
    return out


def detokenize(body, tok) -> dict:
    ids = body.get("tokens") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
        raise RequestError("'tokens' must be a list of token ids", "tokens")
    if ids and (min(ids) < 0 or max(ids) >= len(tok)):
        raise RequestError(f"a token id is outside the vocabulary (0..{len(tok) - 1})", "tokens")
    return {"prompt": tok.decode(ids)}


def logprobs_block(tok, ids: list[int], scores, first: int, offset0: int = 0) -> dict:
    """The legacy completions `logprobs` of tokens ids[first:]: `scores[k]` scores ids[k] given everything
    before it (None for a first prompt token, which has nothing to condition on)."""
    tokens, lps, tops, offsets = [], [], [], []
    at = offset0
    for k in range(first, len(ids)):
        text = tok.decode([ids[k]])
        tokens.append(text)
        offsets.append(at)
        at += len(text)
        s = scores[k]
        if s is None:
            lps.append(None)
            tops.append(None)
            continue
        lps.append(s.logprob)
        top = {tok.decode([t]): lp for t, lp in s.top}
        top.setdefault(text, s.logprob)  # the token itself is always listed (as vLLM does)
        tops.append(top)
    return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}
