"""One HTTP exchange over aiohttp: the only module that sees aiohttp's errors."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from .exceptions import EtcdException

__all__ = ["Response", "TransportFailure", "exchange"]

#: How much of an unexpected body an error message quotes.
_QUOTE_BYTES = 200


class Response:
    """A complete HTTP answer: status, headers and the whole body."""

    __slots__ = ("status", "headers", "body", "url")

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

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
        headers: CIMultiDictProxy[str] | None = None,
    ) -> None:
        super().__init__(f"{type(cause).__name__} talking to {url}: {cause}")
        self.url = url
        self.cause = cause
        self.sent = sent
        self.timed_out = timed_out
        self.headers = headers


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> URL:
    """The parsed form of an already percent-encoded URL (parsed once per distinct URL)."""
    return URL(url, encoded=True)


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: aiohttp.ClientTimeout,
) -> Response:
    """Send one request to ``url`` (already percent-encoded) and read the whole answer.

    Raises :class:`TransportFailure` for every failure below HTTP; cancellation
    propagates untouched (aiohttp closes the connection it was using).
    """
    headers_seen: CIMultiDictProxy[str] | None = None
    try:
        async with session.request(
            method,
            _url(url),
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            headers_seen = resp.headers
            data = await resp.read()
            return Response(resp.status, resp.headers, data, url)
    except aiohttp.ClientConnectorError as exc:
        # Includes certificate and DNS failures: nothing was sent.
        raise TransportFailure(url, exc, sent=False) from exc
    except aiohttp.ConnectionTimeoutError as exc:
        raise TransportFailure(url, exc, sent=False, timed_out=True) from exc
    except asyncio.TimeoutError as exc:
        raise TransportFailure(url, exc, sent=True, timed_out=True, headers=headers_seen) from exc
    except (aiohttp.ClientError, OSError) as exc:
        if session.closed:
            raise EtcdException("the client was closed while the request was under way") from exc
        raise TransportFailure(url, exc, sent=True, headers=headers_seen) from exc
    except RuntimeError as exc:
        if session.closed:  # aiohttp refuses requests on a closed session with a RuntimeError
            raise EtcdException("the client was closed while the request was under way") from exc
        raise
