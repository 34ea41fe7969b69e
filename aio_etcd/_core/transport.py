"""The transport seam: what an API needs from the wire, and what comes back.

Everything above this module talks to a :class:`Transport`: "send this request
to this URL, give me the whole answer (or the start of a stream of lines, or a
websocket) or a :class:`TransportFailure`". The client uses
:class:`~aio_etcd._core.aiohttp.AiohttpTransport`; unit tests pass a scripted
transport instead, so failover, replay rules and deadlines can be tested
without sockets. Nothing here knows an etcd API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from multidict import CIMultiDict, CIMultiDictProxy

from ..exceptions import EtcdException

__all__ = ["LineStream", "Response", "Transport", "TransportFailure", "WebSocket", "cancelling", "uncancel"]

#: How much of an unexpected body an error message quotes.
_QUOTE_BYTES = 200


class Response:
    """A complete HTTP answer: status, headers and the whole body."""

    __slots__ = ("status", "headers", "body", "url")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes, url: str) -> None:
        self.status = status
        #: The response headers (case-insensitive).
        self.headers = headers
        self.body = body
        #: The URL that answered.
        self.url = url

    @classmethod
    def build(cls, status: int, body: bytes = b"", url: str = "", headers: Mapping[str, str] | None = None) -> Response:
        """A response made by hand (scripted transports, tests)."""
        return cls(status, CIMultiDictProxy(CIMultiDict(headers or {})), body, url)

    def header_int(self, name: str) -> int | None:
        """An integer header (``X-Etcd-Index``...), ``None`` when absent or malformed."""
        raw = self.headers.get(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def describe(self) -> str:
        """Status and the start of the body, for error messages."""
        snippet = self.body[:_QUOTE_BYTES].decode("utf-8", "replace")
        more = "..." if len(self.body) > _QUOTE_BYTES else ""
        return f"HTTP {self.status} from {self.url}: {snippet!r}{more}"

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object (etcd's error bodies), or ``None`` when it is not one."""
        if self.body[:1] != b"{":
            return None
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def json(self) -> Any:
        """The body decoded as JSON; an :class:`EtcdException` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise EtcdException(f"the server did not answer JSON: {self.describe()}") from exc


#: The longest line a stream may send (a watch answer carrying many large
#: values with their previous values can be tens of megabytes).
MAX_LINE = 64 * 1024 * 1024


class LineStream(Response):
    """A 200 answer that goes on line by line (etcd v3's watches and observes).

    :attr:`body` holds the first line; :meth:`next_line` reads the ones after
    it. :meth:`close` drops the connection, which is how the gateway is told
    to stop (HTTP/1.1 has no other way).
    """

    __slots__ = ("next_line", "_release", "_gone")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        url: str,
        reader: Callable[[], Awaitable[bytes]],
        release: Callable[[], asyncio.Future[None] | None],
    ) -> None:
        super().__init__(status, headers, body, url)
        #: ``await stream.next_line()``: the next line, without its newline;
        #: ``b""`` when the answer ended. Raises :class:`TransportFailure` when
        #: the connection broke or the answer ended in the middle of a line.
        self.next_line = reader
        self._release = release
        self._gone: asyncio.Future[None] | None = None

    def close(self) -> None:
        """Drop the connection (safe to call twice)."""
        gone = self._release()
        if gone is not None:
            self._gone = gone

    async def wait_closed(self, timeout: float) -> None:
        """After :meth:`close`: wait (at most ``timeout`` seconds) until the server confirmed
        the end, where it does (a websocket watch's cancel); else return at once."""
        gone = self._gone
        if gone is not None and not gone.done():
            await asyncio.wait((gone,), timeout=timeout)


class WebSocket(Protocol):
    """A websocket to one member: text messages both ways, failures as :class:`TransportFailure`."""

    url: str

    async def send(self, text: str) -> None:
        """Send one message."""
        ...

    async def receive(self) -> bytes | None:
        """The next message, ``None`` once the socket closed."""
        ...

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        ...

    async def close(self) -> None:
        """Close the socket (safe to call twice)."""
        ...


class TransportFailure(Exception):
    """The exchange failed below HTTP.

    ``sent`` is False only when the request certainly never reached the server
    (the connection could not be opened), so replaying it cannot double it.
    ``timed_out`` tells a timeout from other failures. ``headers`` holds the
    response headers when they had arrived before the body broke off.
    """

    def __init__(
        self,
        url: str,
        cause: BaseException,
        *,
        sent: bool,
        timed_out: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(url, cause)
        self.url = url
        self.cause = cause
        self.sent = sent
        self.timed_out = timed_out
        self.headers = headers
        #: The time limit that ran out (seconds), when the layer above set it.
        self.limit: float | None = None
        #: Which limit that was.
        self.limit_name = "attempt_timeout"

    def __str__(self) -> str:
        if self.timed_out:
            if self.limit is not None:
                within = f" within {self.limit:g}s ({self.limit_name})"
            elif self.limit_name != "attempt_timeout":
                within = f" ({self.limit_name})"
            else:
                within = " in time"
            return f"{self.url}: no answer{within}"
        return f"{self.url}: {type(self.cause).__name__}: {self.cause}"


class Transport(Protocol):
    """What the APIs need from the wire: unary exchanges, line streams, websockets, closing.

    The core (:class:`~aio_etcd._core.attempts.Cluster`) makes every call
    through these methods, and every exchange it makes is seen by its
    observer. A transport is told where to go (a member's base URL plus
    a path) and returns what came back; it never retries, and it raises
    :class:`TransportFailure` (with ``sent`` saying whether the request may
    have left) for anything below the API's answer.
    """

    #: Whether :meth:`websocket` opens websockets (the v3 watch multiplexer
    #: needs them; a transport that cannot says ``False`` and v3 watches use
    #: line streams instead). A transport that wraps another forwards it.
    websockets: bool

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        stream: bool = False,
        foreign: bool = False,
    ) -> Response:
        """Send one request to ``url`` (already percent-encoded) and read the whole answer.

        :param timeout: seconds for the whole exchange; for a ``stream``
            (a watch, which may wait for hours) only for opening the connection.
        :param stream: a long-poll request, kept apart from ordinary ones.
        :param foreign: the URL is another origin than the member the request
            was meant for (a redirect): send no client certificate.
        :raises TransportFailure: the exchange failed below HTTP.
        """
        ...

    async def open_lines(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        foreign: bool = False,
        first_line: bool = True,
    ) -> Response:
        """Send a request whose answer is a stream of lines, and read up to its first line.

        A 200 answer is a :class:`LineStream` (its caller closes it); any
        other is read whole. Streams never use the ordinary connections.

        :param timeout: seconds for connecting and the first line (``None``: no limit).
        :param first_line: ``False``: return as soon as the answer's head
            arrived (:attr:`LineStream.body` is then empty).
        :raises TransportFailure: the exchange failed below HTTP.
        """
        ...

    async def websocket(self, url: str, *, headers: Mapping[str, str], timeout: float | None) -> WebSocket:
        """Open a websocket to ``url`` (``http``/``https``; on the stream connections).

        :param timeout: seconds for opening it (``None``: no limit).
        :raises TransportFailure: it could not be opened (``sent`` is False).
        """
        ...

    async def close(self) -> None:
        """Release every connection. Safe to call twice."""
        ...


def cancelling() -> bool:
    """Whether the current task was asked to stop (Python 3.11 and later tell; on 3.10 a
    cancellation is taken as not the caller's)."""
    count = getattr(asyncio.current_task(), "cancelling", None)
    return bool(count is not None and count())


def uncancel(task: asyncio.Task[Any]) -> bool:
    """Take back a cancellation this library made (a watchdog's, a vigil's).

    ``False`` if somebody else cancelled the task too: then theirs stands (the
    caller lets the :exc:`asyncio.CancelledError` go on), and ours is taken
    back all the same, so that an :func:`asyncio.timeout` that expired at the
    same moment still finds only its own and raises :exc:`TimeoutError`.
    """
    if getattr(task, "cancelling", None) is None:  # Python 3.10: cancellations are not counted
        return True
    return int(task.uncancel()) == 0  # type: ignore[attr-defined,unused-ignore]  # 3.11+
