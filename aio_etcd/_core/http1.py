"""An HTTP/1.1 transport of its own for short exchanges over plain HTTP (opt-in).

:class:`Http1Transport` is an :class:`~aio_etcd._core.aiohttp.AiohttpTransport` whose
ordinary exchanges with ``http://`` members go through keep-alive connections
of asyncio streams: the request written at once (request line, headers and
body), the answer parsed by httptools (llhttp, the parser of Node.js and of
uvicorn; the ``http1`` extra: ``pip install 'aio_etcd[http1]'``). On Python 3.11
aiohttp's POST costs a v3 call (the JSON gateway takes only POST) about 1.8x
a v2 GET in client CPU; this costs a read about 0.6x (``benchmarks/floors.py``).
Streams (watches), websockets, redirects to other origins and TLS stay with
aiohttp.

Failures keep the seam's meaning: a connection that cannot be opened is
``sent=False``; anything after the request was written is ``sent=True`` (with
the answer's headers if they had arrived); the whole exchange is timed by the
same watchdog as aiohttp's exchanges. A connection is reused only after a
complete answer that did not ask to close it, and not once the server closed it.
An answer llhttp refuses, or a head longer than 64 KiB, is a failure after
sending. 204 and 304 answers (and answers to HEAD) have no body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from ..exceptions import EtcdException
from .aiohttp import AiohttpTransport
from .transport import Response, TransportFailure, uncancel

try:
    from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
except ImportError:  # the http1 extra is not installed: Http1Transport() says so
    HttpResponseParser = None  # type: ignore[assignment,misc]

__all__ = ["Http1Transport"]

#: Longest response head read (status line and headers).
_MAX_HEAD = 64 * 1024
#: Most bytes taken from the connection at once.
_READ = 256 * 1024
_NO_BODY = {204, 304}

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Malformed(ValueError):
    """The server's answer is not HTTP/1.1 this transport reads."""


class Http1Transport(AiohttpTransport):
    """:class:`~aio_etcd._core.aiohttp.AiohttpTransport` with ordinary ``http://`` exchanges over its own
    HTTP/1.1 connections (see the module). Takes the same arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if HttpResponseParser is None:
            raise ImportError(
                "Http1Transport parses answers with httptools, which is not installed: "
                "pip install 'aio_etcd[http1]'"
            )
        super().__init__(*args, **kwargs)
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._where: dict[str, tuple[str, int, bytes]] = {}

    def _target(self, url: str) -> tuple[str, int, bytes]:
        found = self._where.get(url)
        if found is None:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or 80
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            found = (host, port, f" {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("latin-1"))
            if len(self._where) < 1024:
                self._where[url] = found
        return found

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
        if stream or foreign or self._protocol != "http" or not url.startswith("http://"):
            return await super().exchange(
                method, url, body=body, headers=headers, timeout=timeout, stream=stream, foreign=foreign
            )
        if self._closed:
            raise EtcdException("the client is closed")
        host, port, target = self._target(url)
        attempt = None if timeout is None else self._watchdog.arm(timeout)
        conn: _Conn | None = None
        sent = False
        answer: _Answer | None = None
        try:
            idle = self._idle.get((host, port))
            while idle:
                conn = idle.pop()
                if not conn[0].at_eof() and not conn[1].is_closing():
                    break
                conn[1].close()  # the server closed it meanwhile
                conn = None
            if conn is None:
                conn = await asyncio.open_connection(host, port, limit=_MAX_HEAD)
            reader, writer = conn
            request = [method.encode("latin-1"), target]
            for name, value in headers.items():
                request.append(f"{name}: {value}\r\n".encode("latin-1"))
            if body is not None:
                request.append(b"Content-Length: %d\r\n\r\n" % len(body))
                request.append(body)
            else:
                request.append(b"\r\n")
            writer.write(b"".join(request))
            sent = True
            answer = _Answer()
            answer.parser = parser = HttpResponseParser(answer)
            keep = True
            fed = 0
            while not answer.done:
                # the head, read no further than _MAX_HEAD bytes; then the rest
                data = await reader.read(_READ if answer.seen is not None else _MAX_HEAD - fed)
                if not data:  # the server closed the connection
                    if answer.seen is None or "Content-Length" in answer.seen or "Transfer-Encoding" in answer.seen:
                        raise EOFError("the connection closed before the whole answer")
                    keep = False  # an answer without a length ends with the connection
                    break
                try:
                    parser.feed_data(data)
                except (HttpParserError, HttpParserUpgrade) as exc:
                    if not answer.done:
                        raise _Malformed(f"not an HTTP/1.1 answer: {exc}") from None
                    keep = False  # something after a complete answer: not reused
                if answer.seen is None:
                    fed += len(data)
                    if fed >= _MAX_HEAD:
                        raise _Malformed(f"an answer's head longer than {_MAX_HEAD} bytes")
                elif not answer.done and (method == "HEAD" or parser.get_status_code() in _NO_BODY):
                    break  # no body, whatever its headers say (httptools 0.5 reads one after a 304 with a length)
            status, seen = parser.get_status_code(), answer.seen
            if seen is None:  # the loop ends only after the headers
                raise _Malformed("an answer without its headers")
            data = b"".join(answer.body)
            keep = keep and answer.keep and status >= 200 and answer.begun == 1  # one final answer, nothing after
            if keep:
                self._idle.setdefault((host, port), []).append(conn)
                conn = None
            return Response(status, seen, data, url)
        except (OSError, EOFError, _Malformed) as exc:
            timed_out = attempt is not None and attempt.expired and uncancel(attempt.task)
            raise TransportFailure(url, exc, sent=sent, timed_out=timed_out, headers=_seen(answer)) from exc
        except asyncio.CancelledError:
            if attempt is not None and attempt.expired and uncancel(attempt.task):
                raise TransportFailure(
                    url, asyncio.TimeoutError(), sent=sent, timed_out=True, headers=_seen(answer)
                ) from None
            raise
        finally:
            if attempt is not None:
                self._watchdog.disarm(attempt)
            if answer is not None:
                answer.parser = None  # the parser holds the answer's callbacks: no cycle left
            if conn is not None:  # not given back: an answer not read whole, or one that closes
                conn[1].close()

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for _, writer in conns:
                writer.close()
        await super().close()


def _seen(answer: _Answer | None) -> CIMultiDictProxy[str] | None:
    return None if answer is None else answer.seen


class _Answer:
    """One answer as httptools hands it over (its callbacks): headers, body, whether complete."""

    __slots__ = ("parser", "headers", "seen", "body", "begun", "done", "keep")

    def __init__(self) -> None:
        self.parser: HttpResponseParser | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()
        #: The headers, once all of them have arrived.
        self.seen: CIMultiDictProxy[str] | None = None
        self.body: list[bytes] = []
        #: How many answers began (more than one: something followed this one).
        self.begun = 0
        self.done = False
        #: llhttp's rule: HTTP/1.1 without "Connection: close" (or HTTP/1.0 with
        #: "keep-alive"), and a body that does not end with the connection; read
        #: with the headers (llhttp forgets it once the answer is complete).
        self.keep = False

    def on_message_begin(self) -> None:
        self.begun += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.seen is None:  # not the trailers of a chunked answer
            self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if self.seen is None:
            self.seen = CIMultiDictProxy(self.headers)
            if self.parser is not None:
                self.keep = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if not self.done:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True
