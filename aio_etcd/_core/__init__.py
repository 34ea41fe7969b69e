"""The core every API of aio_etcd rides on; it knows no etcd API.

One module per job:

- :mod:`~aio_etcd._core.transport`: the :class:`Transport` protocol (unary
  exchanges, streams of lines, websockets), :class:`Response`,
  :class:`TransportFailure`.
- :mod:`~aio_etcd._core.aiohttp`: :class:`AiohttpTransport`, the one
  implementation today.
- :mod:`~aio_etcd._core.members`: the member list, the pinned member, the
  cluster id, the slots per member.
- :mod:`~aio_etcd._core.attempts`: :class:`Cluster`, the attempt loop with
  deadlines, backoff and the vigils of requests that must not be repeated,
  and the one path of every exchange.
- :mod:`~aio_etcd._core.policy`: :class:`RetryPolicy` and :class:`ReplayRule`.
- :mod:`~aio_etcd._core.rules`: :class:`ApiRules`, what an API hands the
  core, and :class:`MemberProbe`.
- :mod:`~aio_etcd._core.observer`: :class:`Observer`, told of every exchange.
- :mod:`~aio_etcd._core.discovery`: members from DNS SRV records.
- :mod:`~aio_etcd._core.timeouts`: :func:`within`, the time limit of one
  awaitable that never loses its caller's cancellation (not
  :func:`asyncio.wait_for`).

Nothing here imports from aio_etcd outside this package but
:mod:`aio_etcd.exceptions` (``tests/project/test_imports.py`` checks it).
"""

from __future__ import annotations

from .aiohttp import AiohttpTransport, tls_protocol
from .attempts import Call, Cluster, NotEtcd
from .members import Members, member_url
from .observer import Exchange, Observer
from .policy import GUARDED, SAFE, UNSAFE, ReplayRule, RetryPolicy
from .rules import ApiRules, Classifier, MemberProbe
from .timeouts import quarter_up, within
from .transport import LineStream, Response, Transport, TransportFailure, WebSocket

__all__ = [
    "GUARDED",
    "SAFE",
    "UNSAFE",
    "AiohttpTransport",
    "ApiRules",
    "Call",
    "Classifier",
    "Cluster",
    "Exchange",
    "LineStream",
    "Members",
    "MemberProbe",
    "NotEtcd",
    "Observer",
    "ReplayRule",
    "Response",
    "RetryPolicy",
    "Transport",
    "TransportFailure",
    "WebSocket",
    "member_url",
    "quarter_up",
    "tls_protocol",
    "within",
]
