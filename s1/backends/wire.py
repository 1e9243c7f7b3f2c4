"""The openai backend's side of the protocol: the request flags that make a server return token ids, and
reading what it sends back (base URLs, the context a /models entry states, ids in a choice, error messages).

    from s1.backends.wire import extract_ids; how, ids = extract_ids(response["choices"][0])
"""

from __future__ import annotations

import json

import httpx

from ..generation import BackendError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
ID_FLAGS = {  # what makes a server return token ids, by how it answered
    "token_ids": {"return_token_ids": True},
    "logprobs": {"logprobs": 1},
    "logprobs_tokens": {"logprobs": 1, "return_tokens_as_token_ids": True},
    "text": {},
}
PROBE_FLAGS = {"return_token_ids": True, "logprobs": 1}


def base_url_of(url: str) -> str:
    """The API base (…/v1) of a server URL: a trailing /completions is cut, a bare host gets /v1."""
    url = url.rstrip("/")
    if url.endswith("/completions"):
        url = url[: -len("/completions")]
    if httpx.URL(url).path in ("", "/"):
        url += "/v1"
    return url


def context_of(info: list[dict], served: str) -> int | None:
    """The context window a /models entry states (vLLM max_model_len, llama.cpp meta.n_ctx), else None."""
    entry = next((d for d in info if d.get("id") == served), info[0] if len(info) == 1 else None)
    if not entry:
        return None
    for v in (entry.get("max_model_len"), (entry.get("meta") or {}).get("n_ctx"), entry.get("context_length")):
        if isinstance(v, int) and v > 0:
            return v
    return None


def extract_ids(choice: dict) -> tuple[str, list[int]] | None:
    """(how, ids) when a choice carries token ids: vLLM's token_ids, llama.cpp's logprobs.content[].id,
    or vLLM's logprobs tokens written as 'token_id:N'."""
    if isinstance(choice.get("token_ids"), list):
        return "token_ids", [int(t) for t in choice["token_ids"]]
    lp = choice.get("logprobs")
    if isinstance(lp, dict):
        content = lp.get("content")
        if isinstance(content, list) and all(isinstance(c, dict) and "id" in c for c in content):
            return "logprobs", [int(c["id"]) for c in content]
        toks = lp.get("tokens")
        if isinstance(toks, list) and toks and all(isinstance(t, str) and t.startswith("token_id:") for t in toks):
            return "logprobs_tokens", [int(t.split(":", 1)[1]) for t in toks]
    return None


def first_choice(data: dict) -> dict:
    """The first choice of a completion response; BackendError when there is none."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices:
        raise BackendError(f"the server answered without choices: {json.dumps(data)[:200]}")
    return choices[0]


def server_message(text: str) -> str:
    """The one-line message of an error body (OpenAI error JSON, FastAPI detail or plain text)."""
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300] or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or json.dumps(err)
        else:
            msg = str(err)
        return " ".join(str(msg).split())[:300]
    return " ".join(text.split())[:300]


def describe_error(e: Exception) -> str:
    """'ConnectError: ...': a transport error in one line."""
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__
