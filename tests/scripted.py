"""A scripted transport: the client's HTTP exchanges answered by a test, no sockets.

``Scripted(handler)`` passes every exchange to ``handler(sent)``, which returns
a :class:`~aio_etcd._http.Response` (or an awaitable of one), or raises a
:class:`~aio_etcd._http.TransportFailure` as the aiohttp transport would.
Every exchange is recorded in ``transport.sent``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aio_etcd._http import Response, TransportFailure

CLUSTER_ID = "c0ffee"
A, B, C = "http://a:2379", "http://b:2379", "http://c:2379"


@dataclass(frozen=True)
class Sent:
    """One exchange as the client made it."""

    method: str
    url: str
    body: bytes | None
    headers: Mapping[str, str]
    timeout: float | None
    stream: bool
    foreign: bool

    @property
    def base(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def path(self) -> str:
        return self.url[len(self.base) :]

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs((self.body or b"").decode()).items()}


Handler = Callable[[Sent], "Response | Awaitable[Response]"]


class Scripted:
    """A :class:`~aio_etcd._http.Transport` whose answers come from ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[Sent] = []
        self.closed = False

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
        sent = Sent(method, url, body, dict(headers), timeout, stream, foreign)
        self.sent.append(sent)
        answer = self.handler(sent)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, Response)
        return answer

    async def close(self) -> None:
        self.closed = True

    def bases(self, path_prefix: str = "/v2/keys") -> list[str]:
        """The member each keys request went to, in order."""
        return [s.base for s in self.sent if s.path.startswith(path_prefix)]


# -- answers ------------------------------------------------------------------------------------


def etcd_json(body: Any, status: int = 200, *, index: int | None = 10, url: str = "") -> Response:
    headers = {"X-Etcd-Cluster-Id": CLUSTER_ID, "Content-Type": "application/json"}
    if index is not None:
        headers["X-Etcd-Index"] = str(index)
    return Response.build(status, json.dumps(body).encode(), url, headers)


def node(sent: Sent, value: str = "v", *, action: str = "set", index: int = 10) -> Response:
    key = sent.path.split("?", 1)[0].removeprefix("/v2/keys")
    body = {"action": action, "node": {"key": key, "value": value, "modifiedIndex": index, "createdIndex": index}}
    return etcd_json(body, 201 if action == "create" else 200, index=index, url=sent.url)


def error(sent: Sent, code: int, status: int, message: str = "", cause: str = "") -> Response:
    body = {"errorCode": code, "message": message or f"error {code}", "cause": cause, "index": 10}
    return etcd_json(body, status, url=sent.url)


def raw(sent: Sent, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response.build(status, body, sent.url, headers)


def refused(sent: Sent) -> Response:
    raise TransportFailure(sent.url, ConnectionRefusedError("refused"), sent=False)


def cut(sent: Sent) -> Response:
    """The connection broke after the request went out, before any answer."""
    raise TransportFailure(sent.url, ConnectionResetError("reset by peer"), sent=True)


def timed_out(sent: Sent) -> Response:
    raise TransportFailure(sent.url, asyncio.TimeoutError(), sent=True, timed_out=True)


async def hang(sent: Sent) -> Response:
    """No answer until the attempt's time runs out (a paused member; no limit: an hour)."""
    await asyncio.sleep(3600 if sent.timeout is None else sent.timeout)
    raise TransportFailure(sent.url, asyncio.TimeoutError(), sent=True, timed_out=True)


def machines(sent: Sent, *urls: str) -> Response:
    return Response.build(200, ", ".join(urls).encode(), sent.url, {"X-Etcd-Cluster-Id": CLUSTER_ID})
