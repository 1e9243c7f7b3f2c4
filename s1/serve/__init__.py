"""`s1 serve`: an OpenAI-compatible server with thinking budgets (see s1/serve/app.py)."""

from __future__ import annotations

from .protocol import Limits, RequestError
from .service import LocalService, PlainRow, ServiceError, UpstreamService

__all__ = ["Limits", "LocalService", "PlainRow", "RequestError", "ServiceError", "UpstreamService"]
