"""Seeing every exchange: the :class:`Observer` hook of the core.

Every exchange the core makes, whatever the API (the attempts of a call, the
redirects they follow, the member-list reads, the status and read-through
probes of a request that waits on its member, the one-member asks such as a
v3 status of a named member or a ``/metrics`` read, the opening of a
websocket) passes through one method of :class:`~aio_etcd._core.attempts.Cluster`,
which tells the cluster's observer, when it has one::

    class Printer:
        def on_request(self, exchange):
            print("->", exchange.kind, exchange.method, exchange.url, exchange.attempt)

        def on_response(self, exchange, response, duration):
            print("<-", response.status, f"{duration * 1000:.1f} ms")

        def on_failure(self, exchange, error, duration):
            print("!!", exchange.url, error)

    client = aio_etcd.Client(observer=Printer())        # or v3.Client(observer=...)

An observer is called synchronously, in the task that makes the exchange: it
must be quick and should not raise (what it raises is logged and dropped). It sees
exchanges, not calls: a call that fails over makes several. Messages on an
open stream or websocket are not exchanges; opening them is.
"""

from __future__ import annotations

import logging
from typing import Protocol

from .transport import Response

__all__ = ["Exchange", "Observer"]

log = logging.getLogger(__name__)


class Exchange:
    """One exchange with one member, as the observer is told of it.

    :param kind: what it is: ``"request"`` (an ordinary attempt),
        ``"stream"`` (a long-poll attempt: a v2 watch, a v3 lock or
        campaign), ``"lines"`` (a stream of lines opened: a v3 watch, the
        migrator's follow of a v2 store),
        ``"redirect"`` (a hop of a redirect), ``"probe"`` (a vigil's status
        or read-through question to the member of a request that must not
        be repeated), ``"ask"`` (one question to one member, no retry: a
        status, a ``/metrics`` read), ``"websocket"`` (a websocket opened).
    :param method: the HTTP method (``"GET"``; ``"WS"`` for a websocket).
    :param url: the whole URL (the member's base URL and the path; over
        the v3 client's gRPC transport the path is the gRPC method's,
        ``/etcdserverpb.KV/Range``, and the method ``"POST"``).
    :param member: the member's base URL (``http://host:port``).
    :param attempt: the attempt of the call it belongs to (1, 2, ...; a
        probe carries the number of the attempt it watches, an ask 1).
    :param op: what the call is, as error messages name it (``"write '/k'"``).
    :param started: the event loop's time when it was sent.
    """

    __slots__ = ("kind", "method", "url", "member", "attempt", "op", "started")

    def __init__(
        self, kind: str, method: str, url: str, member: str, attempt: int, op: str, started: float
    ) -> None:
        self.kind = kind
        self.method = method
        self.url = url
        self.member = member
        self.attempt = attempt
        self.op = op
        self.started = started

    def __repr__(self) -> str:
        return f"<Exchange {self.kind} {self.method} {self.url} attempt={self.attempt}>"


class Observer(Protocol):
    """What the core tells of each exchange (set one as ``Client(observer=...)``)."""

    def on_request(self, exchange: Exchange) -> None:
        """The exchange is about to be sent."""

    def on_response(self, exchange: Exchange, response: Response, duration: float) -> None:
        """An answer came (any status; for a stream or websocket: it was opened) after ``duration`` seconds."""

    def on_failure(self, exchange: Exchange, error: BaseException, duration: float) -> None:
        """The exchange failed below the API (a ``TransportFailure``) or was cancelled."""


def told(what: str, error: Exception) -> None:
    """An observer raised: log it, never fail the request for it."""
    log.warning("the observer failed in %s: %r", what, error)
