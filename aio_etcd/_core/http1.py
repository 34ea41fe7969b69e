"""An HTTP/1.1 transport of its own for short exchanges over plain HTTP (experimental).

:class:`Http1Transport` is an :class:`~aio_etcd._core.aiohttp.AiohttpTransport` whose
ordinary exchanges with ``http://`` members go through keep-alive connections
of asyncio streams: the request written at once (request line, headers and
body), the answer read by its ``Content-Length`` or its chunks. On Python 3.11
aiohttp's POST costs a v3 call (the JSON gateway takes only POST) about 1.8x
a v2 GET in client CPU; this costs a read about 0.6x (``benchmarks/floors.py``).
Streams (watches), websockets, redirects to other origins and TLS stay with
aiohttp.

Failures keep the seam's meaning: a connection that cannot be opened is
``sent=False``; anything after the request was written is ``sent=True`` (with
the answer's headers if they had arrived); the whole exchange is timed by the
same watchdog as aiohttp's exchanges. A connection is reused only after a
complete answer that did not ask to close it, and not once the server closed it.
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

__all__ = ["Http1Transport"]

#: Longest response head read (status line and headers).
_MAX_HEAD = 64 * 1024
_NO_BODY = {204, 304}

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Malformed(ValueError):
    """The server's answer is not HTTP/1.1 this transport reads."""


class Http1Transport(AiohttpTransport):
    """:class:`~aio_etcd._core.aiohttp.AiohttpTransport` with ordinary ``http://`` exchanges over its own
    HTTP/1.1 connections (see the module). Takes the same arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
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
        seen: CIMultiDictProxy[str] | None = None
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
            status, seen, keep = _head(await reader.readuntil(b"\r\n\r\n"))
            if method == "HEAD" or status in _NO_BODY or status < 200:
                data = b""
            else:
                data, keep = await _body(reader, seen, keep)
            if keep:
                self._idle.setdefault((host, port), []).append(conn)
                conn = None
            return Response(status, seen, data, url)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _Malformed) as exc:
            timed_out = attempt is not None and attempt.expired and uncancel(attempt.task)
            raise TransportFailure(url, exc, sent=sent, timed_out=timed_out, headers=seen) from exc
        except asyncio.CancelledError:
            if attempt is not None and attempt.expired and uncancel(attempt.task):
                raise TransportFailure(
                    url, asyncio.TimeoutError(), sent=sent, timed_out=True, headers=seen
                ) from None
            raise
        finally:
            if attempt is not None:
                self._watchdog.disarm(attempt)
            if conn is not None:  # not given back: an answer not read whole, or one that closes
                conn[1].close()

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for _, writer in conns:
                writer.close()
        await super().close()


def _head(raw: bytes) -> tuple[int, CIMultiDictProxy[str], bool]:
    """Status, headers and whether the connection may be kept, from a response head."""
    lines = raw[:-4].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise _Malformed(f"not an HTTP/1 answer: {lines[0][:80]!r}")
    found: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise _Malformed(f"a header line without a colon: {line[:80]!r}")
        found.add(name.strip(), value.strip())
    keep = version == "HTTP/1.1" and found.get("Connection", "").lower() != "close"
    return int(code), CIMultiDictProxy(found), keep


async def _body(reader: asyncio.StreamReader, headers: Mapping[str, str], keep: bool) -> tuple[bytes, bool]:
    """The answer's body, and whether the connection may still be kept."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        parts: list[bytes] = []
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise _Malformed(f"a bad chunk size: {line[:40]!r}") from None
            if not size:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(parts), keep
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise _Malformed("a chunk not ended by CRLF")
    length = headers.get("Content-Length")
    if length is not None:
        try:
            return await reader.readexactly(int(length)), keep
        except ValueError:
            raise _Malformed(f"a bad Content-Length: {length[:40]!r}") from None
    return await reader.read(), False  # ends with the connection
