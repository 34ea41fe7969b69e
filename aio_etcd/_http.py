"""The transport seam's names at their old path (kept for compatibility).

The protocol and the answers are :mod:`aio_etcd._core.transport`, the aiohttp
transport :mod:`aio_etcd._core.aiohttp`.
"""

from __future__ import annotations

from ._core.aiohttp import AiohttpTransport, AiohttpWebSocket, tls_protocol
from ._core.transport import MAX_LINE, LineStream, Response, Transport, TransportFailure, WebSocket

__all__ = [
    "MAX_LINE",
    "AiohttpTransport",
    "AiohttpWebSocket",
    "LineStream",
    "Response",
    "Transport",
    "TransportFailure",
    "WebSocket",
    "tls_protocol",
]
