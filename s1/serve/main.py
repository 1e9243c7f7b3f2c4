"""Build the service `s1 serve` asked for and run it under uvicorn."""

from __future__ import annotations

import os
import sys

from .protocol import Limits


def build_service(args):
    """(service, default model name) for parsed `s1 serve` arguments."""
    if args.upstream or args.backend == "openai":
        from ..backends.openai import OpenAIBackend
        from .service import UpstreamService

        backend = OpenAIBackend(args.model, template=args.template, think_start=args.think_start,
                                think_end=args.think_end, base_url=args.upstream or args.base_url,
                                api_key=os.environ.get("OPENAI_API_KEY"), tokenizer=args.tokenizer,
                                served_model=args.served_model)
        return UpstreamService(backend), backend.served_model
    from ..cli import _engine
    from .service import LocalService

    engine = _engine(args)
    return LocalService(engine, args.max_batch), args.model or "smollm2-135m"


def run_server(args, effort: dict[str, int], api_key: str | None) -> int:
    import uvicorn

    from .app import ServeSettings, create_app

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
    if args.host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        print("s1 serve: warning: listening beyond this machine without an API key", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
