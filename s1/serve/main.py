"""Build the service `s1 serve` asked for and run it under uvicorn (`s1 serve --help`).

The address is checked before the model loads: a bad port or one in use is one line, not a traceback
minutes later, and a server reachable from other machines without an API key is warned about at once.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

from .protocol import Limits


class ListenError(ValueError):
    """An address `s1 serve` cannot listen on."""


def check_listen(host: str, port: int, api_key: str | None) -> str | None:
    """Raise ListenError unless (host, port) can be bound now; return a warning when the address is
    reachable from other machines and no API key is set (None otherwise)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ListenError(f"--port must be between 1 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ListenError(f"--host {host}: not an address of this machine ({e})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closing socket is no conflict
        try:
            s.bind(addr)
        except OSError as e:
            raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    if api_key or all(_loopback(info[4][0]) for info in infos):
        return None
    return (f"s1 serve: warning: {host} is reachable from other machines and no API key is set "
            "(--api-key or $S1_API_KEY): anyone who can reach it can use the model")


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def build_service(args):
    """(service, default model name) for parsed `s1 serve` arguments."""
    from ..backends import load_backend

    common = dict(template=args.template, think_start=args.think_start, think_end=args.think_end)
    if args.upstream or args.backend == "openai":
        from .service import UpstreamService

        backend = load_backend("openai", args.model, **common, device=args.device,
                               base_url=args.upstream or args.base_url, tokenizer=args.tokenizer,
                               served_model=args.served_model)
        return UpstreamService(backend, getattr(args, "upstream_forcing", "auto")), backend.served_model
    from .service import LocalService

    engine = load_backend("transformers", args.model, **common, dtype=args.dtype, device=args.device)
    return LocalService(engine, args.max_batch), args.model or "smollm2-135m"


def run_server(args, effort: dict[str, int], api_key: str | None) -> int:
    import uvicorn

    from .app import ServeSettings, create_app

    warning = check_listen(args.host, args.port, api_key)  # before the model loads
    if warning:
        print(warning, file=sys.stderr)
    service, name = build_service(args)
    limits = Limits(max_prompt_tokens=args.max_prompt_tokens, max_thinking_tokens=args.max_thinking_limit,
                    max_answer_tokens=args.max_tokens_limit,
                    default_answer_tokens=min(args.default_max_tokens, args.max_tokens_limit), max_n=args.max_n,
                    effort=effort, default_thinking=args.default_thinking)
    settings = ServeSettings(model_name=args.name or name, api_key=api_key, max_body_bytes=args.max_body_bytes,
                             max_concurrent=args.max_concurrent, limits=limits)
    app = create_app(service, settings)
    where = "upstream " + (args.upstream or args.base_url) if (args.upstream or args.backend == "openai") \
        else "in-process"
    print(f"s1 serve: http://{args.host}:{args.port}/v1 · model {settings.model_name} ({where})"
          f"{' · API key required' if api_key else ''}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
