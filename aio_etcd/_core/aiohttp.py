"""The aiohttp transport: the only module that sees aiohttp and its errors.

:class:`AiohttpTransport` implements :class:`~aio_etcd._core.transport.Transport`
over two aiohttp sessions (ordinary requests, and streams and websockets), with
one watchdog timer for the time limits of every exchange. A second transport
(gRPC, HTTP/2...) is a module like this one: it implements the protocol and
turns its library's errors into :class:`~aio_etcd._core.transport.TransportFailure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import math
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.http_exceptions import LineTooLong
from multidict import CIMultiDictProxy
from yarl import URL

from ..exceptions import EtcdException
from .timeouts import within
from .transport import MAX_LINE, LineStream, Response, TransportFailure, uncancel

__all__ = ["AiohttpTransport", "AiohttpWebSocket", "tls_protocol"]

log = logging.getLogger(__name__)


class AiohttpWebSocket:
    """A :class:`~aio_etcd._core.transport.WebSocket` over aiohttp's."""

    __slots__ = ("_ws", "url")

    def __init__(self, ws: Any, url: str) -> None:  # an aiohttp.ClientWebSocketResponse
        self._ws = ws
        self.url = url

    async def send(self, text: str) -> None:
        """Send one message."""
        try:
            await self._ws.send_str(text)
        except (aiohttp.ClientError, OSError, RuntimeError) as exc:
            raise TransportFailure(self.url, exc, sent=True) from exc

    async def receive(self) -> bytes | None:
        """The next message, ``None`` once the socket closed."""
        msg = await self._ws.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            return str(msg.data).encode()
        if msg.type is aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type is aiohttp.WSMsgType.ERROR:
            cause = msg.data if isinstance(msg.data, BaseException) else OSError(str(msg.data))
            raise TransportFailure(self.url, cause, sent=True)
        return None  # closing or closed

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return bool(self._ws.closed)

    async def close(self) -> None:
        """Close the socket (safe to call twice)."""
        with contextlib.suppress(Exception):
            await self._ws.close()


#: aiohttp warns about bodies above 1 MiB given as bytes; larger ones go as a file.
_BIG_BODY = 1024 * 1024


def tls_protocol(
    protocol: str | None,
    context: ssl.SSLContext | None,
    ca_cert: str | None,
    cert: str | tuple[str, str] | None,
    ssl_verify: bool,
) -> str:
    """The protocol a client's TLS options make (``https`` with a context), or a ``ValueError``."""
    if context is not None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"ssl= takes an ssl.SSLContext, not {type(context).__name__}")
        if ca_cert is not None or cert is not None or not ssl_verify:
            raise ValueError("give ssl= or ca_cert=/cert=/ssl_verify=, not both (set those on the SSLContext)")
        protocol = protocol or "https"
        if protocol != "https":
            raise ValueError(f"ssl= is for protocol='https', not {protocol!r}")
    protocol = protocol or "http"
    if protocol not in ("http", "https"):
        raise ValueError(f"protocol must be 'http' or 'https', not {protocol!r}")
    return protocol


def _data(body: bytes | None) -> bytes | io.BytesIO | None:
    return io.BytesIO(body) if body is not None and len(body) > _BIG_BODY else body


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> URL:
    """The parsed form of an already percent-encoded URL (parsed once per distinct URL)."""
    return URL(url, encoded=True)


#: aiohttp timeouts by seconds: whole exchanges, and connecting only (watches).
_TOTAL: dict[float | None, aiohttp.ClientTimeout] = {}
_CONNECT: dict[float | None, aiohttp.ClientTimeout] = {}


def _timeout(seconds: float | None, stream: bool) -> aiohttp.ClientTimeout:
    if seconds is not None and math.isinf(seconds):
        seconds = None
    cache = _CONNECT if stream else _TOTAL
    timeout = cache.get(seconds)
    if timeout is None:
        if stream:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds)
        else:
            timeout = aiohttp.ClientTimeout(total=seconds)
        if len(cache) < 256:  # the policy's values; what is left of a deadline varies
            cache[seconds] = timeout
    return timeout


#: Streams have no time limit of their own: their callers watch them.
_STREAM = aiohttp.ClientTimeout(total=None)


def _failure(exc: BaseException, url: str, session: aiohttp.ClientSession, headers: Any) -> Exception:
    """The :class:`TransportFailure` (or closed-client error) an aiohttp failure stands for."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Includes certificate and DNS failures: nothing was sent.
        return TransportFailure(url, exc, sent=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransportFailure(url, exc, sent=False, timed_out=True)
    if isinstance(exc, asyncio.TimeoutError):
        return TransportFailure(url, exc, sent=True, timed_out=True, headers=headers)
    if session.closed:  # aiohttp refuses requests on a closed session with a RuntimeError
        return EtcdException("the client was closed while the request was under way")
    if isinstance(exc, RuntimeError):
        raise exc
    return TransportFailure(url, exc, sent=True, headers=headers)


async def _read_line(resp: aiohttp.ClientResponse, url: str) -> bytes:
    """The next line of a streamed answer (see :meth:`LineStream.next_line`)."""
    try:
        line = await resp.content.readuntil(b"\n", max_size=MAX_LINE)
    except LineTooLong as exc:
        raise EtcdException(f"{url} sent a line longer than {MAX_LINE} bytes") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise TransportFailure(url, exc, sent=True, headers=resp.headers) from exc
    if line.endswith(b"\n"):
        return line[:-1]
    if line:
        cut = aiohttp.ClientPayloadError(f"the answer ended in the middle of a line ({len(line)} bytes)")
        raise TransportFailure(url, cut, sent=True, headers=resp.headers)
    return b""


class _Attempt:
    __slots__ = ("task", "end", "expired")

    def __init__(self, task: asyncio.Task[Any], end: float) -> None:
        self.task = task
        self.end = end
        self.expired = False


class _Watchdog:
    """Ends exchanges that outlive their time limit, by cancelling them.

    One timer ticks every :attr:`TICK` seconds while any exchange runs, in
    place of aiohttp's timer per request: at 64 requests under way those
    timers cost about 12% more CPU per request, because each expires a second
    later and is taken off the loop's heap on its own. A limit is kept to
    within one tick.
    """

    TICK = 0.05

    def __init__(self) -> None:
        self._running: set[_Attempt] = set()
        self._ticking = False

    def arm(self, seconds: float) -> _Attempt | None:
        task = asyncio.current_task()
        if task is None or math.isinf(seconds):
            return None
        loop = task.get_loop()
        attempt = _Attempt(task, loop.time() + seconds)
        self._running.add(attempt)
        if not self._ticking:
            self._ticking = True
            loop.call_later(self.TICK, self._tick, loop)
        return attempt

    def disarm(self, attempt: _Attempt) -> None:
        self._running.discard(attempt)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for attempt in [a for a in self._running if a.end <= now]:
            self._running.discard(attempt)
            attempt.expired = True
            attempt.task.cancel()
        if self._running:
            loop.call_later(self.TICK, self._tick, loop)
        else:
            self._ticking = False


class AiohttpTransport:
    """:class:`Transport` over two aiohttp sessions: ordinary requests and watches.

    Nothing is opened until the first exchange, which must run inside the event
    loop that will use the transport.

    :param protocol: ``"http"`` or ``"https"``.
    :param ca_cert: CA bundle to verify servers with.
    :param cert: client certificate: one PEM file, or ``(certificate, key)``.
    :param ssl_verify: verify the server's certificate and host name.
    :param ssl_context: the TLS settings whole, instead of the three above
        (certificates from memory, pinned ciphers...). A redirect to another
        origin is made without it: with the system's CAs and no client certificate.
    :param name: what the transport talks to, for log messages.
    """

    #: It opens websockets (:meth:`websocket`).
    websockets = True

    def __init__(
        self,
        protocol: str = "http",
        *,
        ca_cert: str | None = None,
        cert: str | tuple[str, str] | None = None,
        ssl_verify: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "",
    ) -> None:
        self._name = name
        self._protocol = protocol
        self._ca_cert = ca_cert
        self._cert = cert
        self._ssl_verify = ssl_verify
        self._given_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._bare_ssl: ssl.SSLContext | bool = True
        self._closed = False
        self._watchdog = _Watchdog()

    def _ssl_context(self, with_cert: bool) -> ssl.SSLContext | bool:
        if self._protocol != "https":
            return True
        if self._given_context is not None:
            return self._given_context if with_cert else ssl.create_default_context()
        try:
            context = ssl.create_default_context(cafile=self._ca_cert)
            if with_cert and self._cert is not None:
                if isinstance(self._cert, str):
                    context.load_cert_chain(self._cert)
                else:
                    context.load_cert_chain(self._cert[0], self._cert[1])
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            files = f"ca_cert={self._ca_cert!r}, cert={self._cert!r}"
            raise EtcdException(f"cannot load the TLS files ({files}): {exc}") from exc
        if not self._ssl_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _new_session(self, context: ssl.SSLContext | bool) -> aiohttp.ClientSession:
        # No limit in aiohttp: its pool hands a freed connection to whoever asks
        # next, so under load some requests wait for seconds. The cluster layer
        # bounds ordinary requests per member with first-come-first-served
        # slots instead.
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=context)
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)
        # aiohttp silently resends PUT and DELETE once when a connection breaks;
        # the retry layer decides what may be sent twice, so turn that off
        # (aiohttp's own test client does the same).
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    def _open(self) -> None:
        if self._closed:
            raise EtcdException("the client is closed")
        context = self._ssl_context(with_cert=True)
        if self._protocol == "https" and not self._ssl_verify:
            log.warning("TLS certificate verification is off for %s", self._name)
        bare = self._cert is not None or self._given_context is not None
        self._bare_ssl = self._ssl_context(with_cert=False) if bare else context
        self._session = self._new_session(context)
        self._watch_session = self._new_session(context)

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
        session = self._watch_session if stream else self._session
        if session is None:
            self._open()
            session = self._watch_session if stream else self._session
            assert session is not None
        headers_seen: CIMultiDictProxy[str] | None = None
        # The whole exchange's limit is kept by the watchdog; aiohttp keeps only
        # the connecting one (so a timeout while connecting is "not sent").
        attempt = None if stream or timeout is None else self._watchdog.arm(timeout)
        try:
            async with session.request(
                method,
                _url(url),
                data=_data(body),
                headers=headers,
                timeout=_CONNECT.get(timeout) or _timeout(timeout, True),
                allow_redirects=False,
                ssl=self._bare_ssl if foreign else True,  # True: the connector's context
            ) as resp:
                headers_seen = resp.headers
                data = await resp.read()
                return Response(resp.status, resp.headers, data, url)
        except (aiohttp.ClientError, OSError, RuntimeError, asyncio.TimeoutError) as exc:
            if attempt is not None and attempt.expired and uncancel(attempt.task):
                # The watchdog's cancellation came out of aiohttp as another error.
                raise TransportFailure(url, exc, sent=True, timed_out=True, headers=headers_seen) from exc
            raise _failure(exc, url, session, headers_seen) from exc
        except asyncio.CancelledError:
            if attempt is not None and attempt.expired and uncancel(attempt.task):
                cause = asyncio.TimeoutError()
                raise TransportFailure(url, cause, sent=True, timed_out=True, headers=headers_seen) from None
            raise
        finally:
            if attempt is not None:
                self._watchdog.disarm(attempt)

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
        session = self._watch_session
        if session is None:
            self._open()
            session = self._watch_session
            assert session is not None
        resp: aiohttp.ClientResponse | None = None

        async def opening() -> Response:
            nonlocal resp
            resp = await session.request(
                method,
                _url(url),
                data=_data(body),
                headers=headers,
                timeout=_STREAM,
                allow_redirects=False,
                ssl=self._bare_ssl if foreign else True,
            )
            if resp.status != 200:
                data = await resp.read()
                resp.release()
                return Response(resp.status, resp.headers, data, url)
            line = await _read_line(resp, url) if first_line else b""
            reader = functools.partial(_read_line, resp, url)
            return LineStream(resp.status, resp.headers, line, url, reader, resp.close)

        try:
            return await within(opening(), timeout)
        except BaseException as exc:
            if resp is not None:
                resp.close()
            if isinstance(exc, (aiohttp.ClientError, OSError, RuntimeError, asyncio.TimeoutError)):
                raise _failure(exc, url, session, resp.headers if resp is not None else None) from exc
            raise

    async def websocket(self, url: str, *, headers: Mapping[str, str], timeout: float | None) -> AiohttpWebSocket:
        """Open a websocket to ``url`` (``http``/``https``; on the stream connections).

        :raises TransportFailure: it could not be opened (``sent`` is False).
        """
        session = self._watch_session
        if session is None:
            self._open()
            session = self._watch_session
            assert session is not None
        try:
            connecting = session.ws_connect(
                _url(url),
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                max_msg_size=MAX_LINE,
            )
            ws = await within(connecting, timeout, discard=lambda ws: ws.close())  # 3.10: opened as cancelled
        except (aiohttp.ClientError, OSError, RuntimeError, asyncio.TimeoutError) as exc:
            failure = _failure(exc, url, session, None)
            if isinstance(failure, TransportFailure):
                failure.sent = False  # no watch was asked for yet
            raise failure from exc
        return AiohttpWebSocket(ws, url)

    async def close(self) -> None:
        self._closed = True
        sessions = [s for s in (self._session, self._watch_session) if s is not None]
        self._session = self._watch_session = None
        for session in sessions:
            await session.close()
