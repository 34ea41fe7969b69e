"""aio_etcd against fake servers: the answers and failures a real etcd will not give on demand.

Each fake listens on 127.0.0.1 on a free port and records every request it
receives. ``servers.http(routes)`` is an aiohttp application answering from
the given handlers; ``servers.raw(answer)`` reads one request per connection,
writes ``answer`` (nothing, or a truncated response) and closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cli import OURS, run

import aio_etcd as etcd
from aio_etcd.testing import EtcdCluster, free_port

pytestmark = pytest.mark.timeout(15)

HOST = "127.0.0.1"
ATTEMPTS = 4
CLUSTER_ID = "cdf818194e3a8c32"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- the fake servers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as a fake server received it."""

    method: str
    raw_path: str  # path and query exactly as sent on the wire
    path: str  # the path percent-decoded
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class Fake:
    """A running fake server: its port and the requests it saw."""

    port: int
    seen: list[Seen] = field(default_factory=list)

    def client(self, *others: Fake, **options: Any) -> etcd.Client:
        """A client of this server (and ``others``, as further members), making at most
        ``ATTEMPTS`` attempts per call with a short backoff."""
        options.setdefault("read_timeout", 5)
        options.setdefault("retry", etcd.RetryPolicy(attempts=ATTEMPTS, backoff=0.01))
        if not others:
            return etcd.Client(host=HOST, port=self.port, **options)
        return etcd.Client(host=tuple((HOST, fake.port) for fake in (self, *others)), **options)


class FakeServers:
    """Starts fake servers for one test and stops all of them afterwards."""

    def __init__(self) -> None:
        #: Handlers that must hang wait for this; it is set only at teardown.
        self.never = asyncio.Event()
        self._http: list[TestServer] = []
        self._raw: list[asyncio.Server] = []
        self._raw_tasks: set[asyncio.Task[Any]] = set()
        self._sockets: list[socket.socket] = []

    async def http(self, routes: Mapping[str, Handler]) -> Fake:
        """An aiohttp server answering ``routes`` (aiohttp route paths, any method)."""
        seen: list[Seen] = []

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            seen.append(
                Seen(
                    method=request.method,
                    raw_path=request.raw_path,
                    path=request.path,
                    query=dict(request.query),
                    headers={name.lower(): value for name, value in request.headers.items()},
                    body=await request.read(),
                )
            )
            return await handler(request)

        app = web.Application(middlewares=[record])
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        server = TestServer(app, host=HOST, port=0, shutdown_timeout=1.0)
        self._http.append(server)
        await server.start_server()
        assert server.port is not None
        return Fake(server.port, seen)

    async def raw(self, answer: bytes = b"") -> Fake:
        """A TCP server that reads a request, writes ``answer`` and closes the connection."""
        seen: list[Seen] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._raw_tasks.add(task)
            try:
                seen.append(await _read_request(reader))
                writer.write(answer)
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

        server = await asyncio.start_server(serve, HOST, 0)
        self._raw.append(server)
        return Fake(server.sockets[0].getsockname()[1], seen)

    def blackhole(self) -> Fake:
        """A port whose connections are never accepted: the listen queue is kept full, so the
        kernel drops further SYNs and a connect hangs until the client gives up."""
        listener = socket.socket()
        self._sockets.append(listener)
        listener.bind((HOST, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(2):
            filler = socket.socket()
            self._sockets.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((HOST, port))
        return Fake(port)

    async def close(self) -> None:
        self.never.set()
        for sock in self._sockets:
            sock.close()
        for server in self._http:
            await server.close()
        for raw in self._raw:
            raw.close()
            await raw.wait_closed()
        await asyncio.gather(*self._raw_tasks)


async def _read_request(reader: asyncio.StreamReader) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *lines = head.split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    path, _, query = target.partition("?")
    return Seen(
        method=method,
        raw_path=target,
        path=unquote(path),
        query={name: values[0] for name, values in parse_qs(query).items()},
        headers=headers,
        body=body,
    )


@pytest.fixture
async def servers() -> AsyncIterator[FakeServers]:
    fakes = FakeServers()
    try:
        yield fakes
    finally:
        await fakes.close()


# -- canned answers -----------------------------------------------------------------------


def reply(
    body: bytes | str | dict[str, Any] = b"",
    status: int = 200,
    *,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Handler:
    """A handler answering ``body`` (a dict is sent as JSON) with ``status`` every time."""
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        content_type = content_type or "application/json"
    else:
        data = body.encode() if isinstance(body, str) else body
        content_type = content_type or "text/plain"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=data, status=status, content_type=content_type, headers=headers)

    return handler


def node(key: str, value: str, index: int = 10, *, action: str = "get", cluster_id: str = CLUSTER_ID) -> Handler:
    """etcd's answer for a key holding ``value``."""
    return reply(
        {"action": action, "node": {"key": key, "value": value, "modifiedIndex": index, "createdIndex": index}},
        status=201 if action == "create" else 200,
        headers={"X-Etcd-Index": str(index), "X-Etcd-Cluster-Id": cluster_id, "X-Raft-Index": str(index + 100)},
    )


def in_turn(*handlers: Handler) -> Handler:
    """A handler answering with each of ``handlers`` in turn; the last one repeats."""
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        current = handlers[min(calls, len(handlers) - 1)]
        calls += 1
        return await current(request)

    return handler


def hang(never: asyncio.Event, *, headers_first: bool = False) -> Handler:
    """A handler that never answers; with ``headers_first`` it sends the headers (as an etcd
    watch does) and never the body."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if headers_first:
            response = web.StreamResponse(headers={"X-Etcd-Index": "41", "Content-Type": "application/json"})
            await response.prepare(request)
        await never.wait()
        raise AssertionError("the hang was released before the client gave up")

    return handler


#: Status line and headers of a chunked watch answer, then part of the first chunk.
PARTIAL_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    b"X-Etcd-Index: 41\r\nX-Etcd-Cluster-Id: " + CLUSTER_ID.encode() + b"\r\n\r\n"
    b'40\r\n{"action":"set","no'
)


# -- answers that are not etcd's ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "garbage", "text/plain"),
        (500, "<html><head><title>500 Internal Server Error</title></head><body>" + "x" * 300, "text/html"),
    ],
    ids=["200-garbage", "500-html"],
)
async def test_unexpected_body_is_an_etcd_exception(
    servers: FakeServers, status: int, body: str, content_type: str
) -> None:
    fake = await servers.http({"/v2/keys/x": reply(body, status, content_type=content_type)})
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdException) as info:
            await client.read("/x")
    assert type(info.value) is etcd.EtcdException
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert body[:40] in message
    assert "/v2/keys/x" in message


async def test_empty_body_on_a_read_is_an_etcd_exception(servers: FakeServers) -> None:
    fake = await servers.http({"/v2/keys/x": reply(b"", headers={"X-Etcd-Index": "5"})})
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdException, match=r"without a body.*HTTP 200") as info:
            await client.read("/x")
    assert type(info.value) is etcd.EtcdException


@pytest.mark.parametrize(("index", "resumed_at"), [(7, "7"), (None, "42")], ids=["waitIndex", "no-index"])
async def test_empty_watch_answer_is_reissued_from_the_same_index(
    servers: FakeServers, index: int | None, resumed_at: str
) -> None:
    fake = await servers.http(
        {
            "/v2/keys/w": in_turn(
                reply(b"", headers={"X-Etcd-Index": "41", "X-Etcd-Cluster-Id": CLUSTER_ID}),
                node("/w", "changed", 43, action="set"),
            )
        }
    )
    async with fake.client() as client:
        event = await client.read("/w", wait=True, waitIndex=index)
    assert (event.action, event.key, event.value, event.modifiedIndex) == ("set", "/w", "changed", 43)
    first, second = fake.seen
    assert first.query.get("waitIndex") == (None if index is None else str(index))
    assert second.query == {"wait": "true", "waitIndex": resumed_at}


# -- transport failures -------------------------------------------------------------------


@pytest.mark.parametrize("answer", [b"", PARTIAL_CHUNKED], ids=["before-answer", "mid-body"])
async def test_cut_connection_is_connection_failed(servers: FakeServers, answer: bytes) -> None:
    fake = await servers.raw(answer)
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/x")
    exc = info.value
    assert type(exc) is etcd.EtcdConnectionFailed
    assert exc.cause is not None
    assert exc.__cause__ is exc.cause
    assert f"{HOST}:{fake.port}/v2/keys/x" in str(exc)
    assert f"in {ATTEMPTS} attempts" in str(exc)
    # A read is safe to repeat: every attempt of the policy was made, and aiohttp added none.
    assert [(seen.method, seen.raw_path) for seen in fake.seen] == [("GET", "/v2/keys/x")] * ATTEMPTS


async def test_single_member_failure_says_it_could_not_be_reached() -> None:
    async with etcd.Client(host=HOST, port=free_port()) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/x")
    assert "could not be reached" in str(info.value)


async def test_connection_refused_everywhere_fails_after_one_pass() -> None:
    port = free_port()
    async with etcd.Client(host=HOST, port=port) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/x")
    exc = info.value
    assert type(exc) is etcd.EtcdConnectionFailed
    assert exc.cause is not None
    assert exc.__cause__ is exc.cause
    assert f"{HOST}:{port}" in str(exc)
    # Nobody listens: waiting and trying again would only delay the error.
    assert "read '/x'" in str(exc) and "in 1 attempt:" in str(exc)


@pytest.mark.parametrize("per_call", [False, True], ids=["read_timeout", "timeout="])
async def test_hanging_read_ends_at_the_deadline(servers: FakeServers, per_call: bool) -> None:
    fake = await servers.http({"/v2/keys/x": hang(servers.never)})
    async with fake.client(read_timeout=0.3 if not per_call else 5) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/x", timeout=0.3 if per_call else None)
    assert info.value.cause is not None
    message = str(info.value)
    assert "read '/x'" in message and "0.3s deadline" in message
    assert f"{HOST}:{fake.port}/v2/keys/x" in message
    assert len(fake.seen) == 1  # the deadline cut the first attempt


async def test_hanging_member_attempts_end_at_the_attempt_timeout(servers: FakeServers) -> None:
    fake = await servers.http({"/v2/keys/x": hang(servers.never)})
    policy = etcd.RetryPolicy(attempts=2, attempt_timeout=0.2, backoff=0.01)
    async with fake.client(retry=policy) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.read("/x")
    message = str(info.value)
    assert "read '/x'" in message and "within 0.2s (attempt_timeout)" in message and "in 2 attempts" in message
    assert len(fake.seen) == 2


async def test_hanging_watch_with_timeout_is_watch_timed_out(servers: FakeServers) -> None:
    fake = await servers.http({"/v2/keys/w": hang(servers.never, headers_first=True)})
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdWatchTimedOut) as info:
            await client.read("/w", wait=True, timeout=0.3)
    assert "within 0.3s" in str(info.value)
    assert isinstance(info.value, etcd.EtcdConnectionFailed)
    assert info.value.cause is not None
    assert info.value.__cause__ is info.value.cause
    assert fake.seen[0].query == {"wait": "true"}


async def test_watch_timeout_holds_across_empty_answers(servers: FakeServers) -> None:
    fake = await servers.http({"/v2/keys/w": reply(b"", headers={"X-Etcd-Index": "41"})})
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdWatchTimedOut):
            await asyncio.wait_for(client.read("/w", wait=True, timeout=0.3), 1)


async def test_watch_cut_mid_body_resumes_on_next_member_from_same_index(servers: FakeServers) -> None:
    cut = await servers.raw(PARTIAL_CHUNKED)
    good = await servers.http({"/v2/keys/w": node("/w", "v", 44, action="set")})
    async with cut.client(good) as client:
        event = await client.read("/w", wait=True, waitIndex=42)
    assert event.modifiedIndex == 44
    # (after the failover the client also asks the new member for /v2/machines)
    watches = [seen.query for seen in cut.seen + good.seen if seen.path.startswith("/v2/keys")]
    assert watches == [{"wait": "true", "waitIndex": "42"}] * 2


async def test_read_fails_over_from_a_member_that_never_accepts(servers: FakeServers) -> None:
    dead = servers.blackhole()
    good = await servers.http({"/v2/keys/x": node("/x", "v", 5)})
    async with dead.client(good, retry=etcd.RetryPolicy(attempt_timeout=0.3)) as client:
        assert (await client.read("/x")).value == "v"
        assert client.base_uri == f"http://{HOST}:{good.port}"


async def test_watch_fails_over_from_a_member_that_never_accepts(servers: FakeServers) -> None:
    dead = servers.blackhole()
    good = await servers.http({"/v2/keys/w": node("/w", "v", 5, action="set")})
    async with dead.client(good, retry=etcd.RetryPolicy(attempt_timeout=0.3)) as client:
        event = await client.read("/w", wait=True)
    assert event.modifiedIndex == 5


async def test_watch_without_index_cut_mid_body_resumes_from_where_it_started(servers: FakeServers) -> None:
    cut = await servers.raw(PARTIAL_CHUNKED)
    good = await servers.http({"/v2/keys/w": node("/w", "v", 44, action="set")})
    async with cut.client(good) as client:
        await client.read("/w", wait=True)
    assert good.seen[0].query == {"wait": "true", "waitIndex": "42"}


# -- error answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "hint"),
    [("3.6.0", "3.6.0 removed the v2 API"), ("3.5.1", "--enable-v2")],
)
async def test_bare_404_explains_the_missing_v2_api(servers: FakeServers, version: str, hint: str) -> None:
    fake = await servers.http(
        {
            "/v2/keys/x": reply("404 page not found", 404),
            "/version": reply({"etcdserver": version, "etcdcluster": version}),
        }
    )
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdException) as info:
            await client.read("/x")
    assert type(info.value) is etcd.EtcdException
    message = str(info.value)
    assert hint in message
    assert "HTTP 404" in message
    assert "404 page not found" in message
    assert [seen.path for seen in fake.seen] == ["/v2/keys/x", "/version"]


@pytest.mark.parametrize("api", ["v2", "auto"])
async def test_a_server_answering_404_to_everything_is_named_in_one_line(servers: FakeServers, api: str) -> None:
    # A web server, or a wrong port: /version is no etcd's either. Explaining the
    # first 404 by asking /version must not explain that one by asking again.
    fake = await servers.http({})
    async with fake.client(api=api) as client:
        with pytest.raises(etcd.EtcdException) as info:
            await client.read("/x")
    assert type(info.value) is etcd.EtcdException
    message = str(info.value)
    assert "\n" not in message
    assert f"HTTP 404 from http://{HOST}:{fake.port}/" in message
    assert "is it an etcd member?" in message
    assert fake.seen and all(seen.path in ("/v2/keys/x", "/version") for seen in fake.seen)


@pytest.mark.parametrize(("api", "path"), [("v2", "/v2/keys/x"), ("auto", "/version")])
async def test_the_command_line_names_a_server_answering_404_in_one_line(
    servers: FakeServers, api: str, path: str
) -> None:
    # With --api auto (the default) the first request asks /version, which is where the 404 is met.
    fake = await servers.http({})
    status, out, err = await run(OURS, ["--api", api, "--endpoints", f"http://{HOST}:{fake.port}", "get", "/x"])
    assert status != 0 and not out
    assert "RecursionError" not in err and "Traceback" not in err
    (line,) = err.splitlines()
    assert f"HTTP 404 from http://{HOST}:{fake.port}{path}" in line and "is it an etcd member?" in line


@pytest.mark.parametrize(
    ("status", "body", "exc_class", "code"),
    [
        (
            404,
            {"errorCode": 100, "message": "Key not found", "cause": "/x", "index": 12},
            etcd.EtcdKeyNotFound,
            100,
        ),
        (401, {"message": "Insufficient credentials"}, etcd.EtcdInsufficientPermissions, 110),
        (
            400,
            {
                "errorCode": 401,
                "message": "The event in requested index is outdated and cleared",
                "cause": "the requested history has been cleared [1008/7]",
                "index": 2007,
            },
            etcd.EtcdEventIndexCleared,
            401,
        ),
    ],
    ids=["100-key-not-found", "401-no-error-code", "401-event-index-cleared"],
)
async def test_error_body_maps_to_exception(
    servers: FakeServers, status: int, body: dict[str, Any], exc_class: type[etcd.EtcdException], code: int
) -> None:
    fake = await servers.http({"/v2/keys/x": reply(body, status, headers={"X-Etcd-Index": "12"})})
    async with fake.client() as client:
        with pytest.raises(exc_class) as info:
            await client.read("/x")
    exc = info.value
    assert type(exc) is exc_class
    assert exc.payload is not None
    assert exc.payload.items() >= body.items()
    assert exc.error_code == code
    assert str(body["message"]) in str(exc)
    assert f"[{code}]" in str(exc)


# -- redirects and the cluster-id guard ---------------------------------------------------


async def test_redirect_is_followed(servers: FakeServers) -> None:
    fake = await servers.http(
        {
            "/v2/keys/a": reply(status=307, headers={"Location": "/moved/keys/a?quorum=true"}),
            "/moved/keys/a": node("/a", "moved", 9),
        }
    )
    async with fake.client() as client:
        assert client.allow_redirect
        result = await client.read("/a")
    assert (result.key, result.value, result.etcd_index) == ("/a", "moved", 9)
    assert [seen.raw_path for seen in fake.seen] == ["/v2/keys/a", "/moved/keys/a?quorum=true"]


async def test_redirect_refused_without_allow_redirect(servers: FakeServers) -> None:
    fake = await servers.http(
        {
            "/v2/keys/a": reply(status=307, headers={"Location": "/moved/keys/a"}),
            "/moved/keys/a": node("/a", "moved", 9),
        }
    )
    async with fake.client(allow_redirect=False) as client:
        with pytest.raises(etcd.EtcdException, match=r"redirected GET .*/v2/keys/a to '/moved/keys/a'") as info:
            await client.read("/a")
    assert type(info.value) is etcd.EtcdException
    assert "allow_redirect is False" in str(info.value)
    assert [seen.path for seen in fake.seen] == ["/v2/keys/a"]


async def test_cluster_id_change_is_refused(servers: FakeServers) -> None:
    fake = await servers.http(
        {"/v2/keys/x": in_turn(node("/x", "1", cluster_id="aaa"), node("/x", "1", cluster_id="bbb"))}
    )
    async with fake.client() as client:
        assert (await client.read("/x")).value == "1"
        assert client.expected_cluster_id == "aaa"
        with pytest.raises(etcd.EtcdClusterIdChanged, match=r"cluster bbb.*cluster aaa"):
            await client.read("/x")


async def test_expected_cluster_id_is_enforced_from_the_first_answer(servers: FakeServers) -> None:
    fake = await servers.http({"/v2/keys/x": node("/x", "1", cluster_id="aaa")})
    async with fake.client(expected_cluster_id="zzz") as client:
        with pytest.raises(etcd.EtcdClusterIdChanged, match=r"cluster aaa.*cluster zzz"):
            await client.read("/x")
    assert len(fake.seen) == 1


# -- the shape of requests ----------------------------------------------------------------


async def test_key_with_special_characters_is_percent_encoded(servers: FakeServers) -> None:
    key = "/dir/a b?c#d%2Fe&f+g/ключ"
    fake = await servers.http({"/v2/keys/{key:.*}": node(key, "v")})
    async with fake.client() as client:
        await client.read(key, recursive=False)
    (seen,) = fake.seen
    assert seen.raw_path == "/v2/keys/dir/a%20b%3Fc%23d%252Fe%26f%2Bg/%D0%BA%D0%BB%D1%8E%D1%87?recursive=false"
    assert seen.path == "/v2/keys" + key
    assert seen.query == {"recursive": "false"}


async def test_write_sends_a_form_body(servers: FakeServers) -> None:
    fake = await servers.http({"/v2/keys/{key:.*}": node("/k", "a=1&b c", 3, action="create")})
    async with fake.client() as client:
        result = await client.write("/k", "a=1&b c", ttl=30, prevExist=False)
    assert result.newKey
    (seen,) = fake.seen
    assert seen.method == "PUT"
    assert seen.raw_path == "/v2/keys/k"
    assert seen.query == {}
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.form() == {"value": ["a=1&b c"], "ttl": ["30"], "prevExist": ["false"]}


# -- failover and what may be replayed ----------------------------------------------------


async def test_post_cut_after_sending_is_not_replayed(servers: FakeServers) -> None:
    cut = await servers.raw()
    second = await servers.http({"/v2/keys/{key:.*}": node("/q/00000000000000000007", "job", 7, action="create")})
    async with cut.client(second) as client:
        with pytest.raises(etcd.EtcdConnectionFailed) as info:
            await client.write("/q", "job", append=True)
    exc = info.value
    assert isinstance(exc, etcd.EtcdOutcomeUnknown)
    assert exc.cause is not None
    assert exc.__cause__ is exc.cause
    assert "append to '/q'" in str(exc)
    assert "it was not sent again" in str(exc)
    assert [(seen.method, seen.body) for seen in cut.seen] == [("POST", b"value=job")]
    assert len(second.seen) == 0


async def test_put_cut_after_sending_is_not_replayed(servers: FakeServers) -> None:
    # Even a plain write: a member that got it may still apply it after newer writes.
    cut = await servers.raw()
    second = await servers.http({"/v2/keys/{key:.*}": node("/k", "v", 8, action="set")})
    async with cut.client(second) as client:
        with pytest.raises(etcd.EtcdOutcomeUnknown, match="it was not sent again"):
            await client.write("/k", "v")
    assert [(seen.method, seen.body) for seen in cut.seen if seen.path != "/v2/machines"] == [("PUT", b"value=v")]
    assert [seen for seen in second.seen if seen.path != "/v2/machines"] == []


async def test_create_cut_after_sending_is_not_replayed(servers: FakeServers) -> None:
    cut = await servers.raw()
    second = await servers.http({"/v2/keys/{key:.*}": node("/k", "v", 8, action="create")})
    async with cut.client(second) as client:
        with pytest.raises(etcd.EtcdOutcomeUnknown, match="it was not sent again"):
            await client.write("/k", "v", prevExist=False)
    assert len(second.seen) == 0
    assert [(seen.method, seen.form()) for seen in cut.seen] == [("PUT", {"value": ["v"], "prevExist": ["false"]})]


async def test_rolling_upgrade_error_moves_to_the_next_member(servers: FakeServers) -> None:
    upgrading = reply(
        {"errorCode": 300, "message": "Not capable of accessing auth store during rolling upgrades"}, status=500
    )
    first = await servers.http({"/v2/keys/{key:.*}": upgrading})
    second = await servers.http({"/v2/keys/{key:.*}": node("/k", "v")})
    async with first.client(second, use_proxies=True) as client:
        assert (await client.read("/k")).value == "v"
        assert client.base_uri == f"http://{HOST}:{second.port}"
    assert len(first.seen) == 1


async def test_5xx_everywhere_reports_the_etcd_error(servers: FakeServers) -> None:
    failing = reply({"errorCode": 300, "message": "Raft Internal Error", "cause": "etcdserver: request timed out"}, 500)
    first = await servers.http({"/v2/keys/{key:.*}": failing})
    second = await servers.http({"/v2/keys/{key:.*}": failing})
    async with first.client(second, use_proxies=True) as client:
        with pytest.raises(etcd.EtcdException, match="request timed out") as info:
            await client.read("/k")
    assert info.value.error_code == 300
    assert not isinstance(info.value, etcd.EtcdConnectionFailed)
    # Every attempt of the policy was made, alternating between the members.
    assert (len(first.seen), len(second.seen)) == (ATTEMPTS // 2, ATTEMPTS // 2)


async def test_requests_per_member_are_bounded_and_served_in_order(servers: FakeServers) -> None:
    release = asyncio.Event()
    limit_reached = asyncio.Event()
    in_flight = 0
    most = 0
    order: list[str] = []

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        order.append(request.path)
        if in_flight == 2:
            limit_reached.set()
        await release.wait()
        in_flight -= 1
        return await node(request.path.removeprefix("/v2/keys"), "v")(request)

    fake = await servers.http({"/v2/keys/{key:.*}": slow})
    async with fake.client(per_host_pool_size=2) as client:
        reads = [asyncio.create_task(client.read(f"/k{i}")) for i in range(8)]
        await limit_reached.wait()
        release.set()
        await asyncio.gather(*reads)
    assert most == 2
    assert order == [f"/v2/keys/k{i}" for i in range(8)]


# -- servers that are not etcd ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ({"status": "ok"}, None, "without an action"),
        (b"<html><body>It works!</body></html>", "text/html", "not JSON"),
        (b"[1, 2, 3]", "application/json", "without an action"),
        ({"action": "get", "node": {"key": "/x", "value": "v"}}, None, "without X-Etcd-Index"),
    ],
    ids=["status-ok", "html", "json-list", "no-etcd-index"],
)
async def test_a_server_that_is_not_etcd_is_passed_over(
    servers: FakeServers, body: Any, content_type: str | None, reason: str
) -> None:
    stranger = await servers.http({"/v2/keys/{key:.*}": reply(body, content_type=content_type)})
    etcd_member = await servers.http({"/v2/keys/{key:.*}": node("/x", "from etcd")})
    async with stranger.client(etcd_member) as client:
        assert (await client.read("/x")).value == "from etcd"
        assert client.base_uri == f"http://{HOST}:{etcd_member.port}"
    async with stranger.client() as alone:
        with pytest.raises(etcd.EtcdException) as info:
            await alone.read("/x")
    assert type(info.value) is etcd.EtcdException
    assert reason in str(info.value) and f"{HOST}:{stranger.port}" in str(info.value)
    # Once for each client: answers that are not etcd's are not retried.
    assert [seen.path for seen in stranger.seen if seen.path != "/v2/machines"] == ["/v2/keys/x"] * 2


async def test_a_key_answer_without_a_node_is_refused(servers: FakeServers) -> None:
    etcd_headers = {"X-Etcd-Index": "5", "X-Etcd-Cluster-Id": CLUSTER_ID}
    fake = await servers.http({"/v2/keys/x": reply({"action": "get"}, headers=etcd_headers)})
    async with fake.client() as client:
        with pytest.raises(etcd.EtcdException, match="without a node") as info:
            await client.read("/x")
    assert type(info.value) is etcd.EtcdException
    assert f"{HOST}:{fake.port}" in str(info.value)
    # ...except where etcd leaves it out on purpose: a write with noValueOnSuccess.
    written = await servers.http({"/v2/keys/x": reply({"action": "set"}, headers=etcd_headers)})
    async with written.client() as client:
        result = await client.write("/x", "v", noValueOnSuccess=True)
    assert result.action == "set" and result.etcd_index == 5


async def test_a_refused_answer_pins_no_cluster_id(servers: FakeServers, etcd_server: EtcdCluster) -> None:
    # A server that looks like etcd by its headers, but whose answer is refused,
    # must not decide which cluster the client talks to.
    impostor = await servers.http(
        {"/v2/{path:.*}": reply({"hello": "world"}, headers={"X-Etcd-Cluster-Id": "0123456789abcdef"})}
    )
    hosts = ((HOST, impostor.port), (etcd_server.host, etcd_server.port))
    async with etcd.Client(host=hosts, retry=etcd.RetryPolicy(attempts=ATTEMPTS, backoff=0.01)) as client:
        assert (await client.read("/")).dir
        assert client.expected_cluster_id not in (None, "0123456789abcdef")
    assert impostor.seen  # it was asked first, and passed over


async def test_a_redirect_to_another_origin_carries_no_credentials(servers: FakeServers) -> None:
    target = await servers.http({"/v2/keys/{key:.*}": node("/x", "moved", 9)})
    origin = await servers.http(
        {"/v2/keys/{key:.*}": reply(status=307, headers={"Location": f"http://{HOST}:{target.port}/v2/keys/x"})}
    )
    async with origin.client(username="user", password="secret") as client:
        assert (await client.read("/x")).value == "moved"
    assert "authorization" in origin.seen[0].headers
    assert [seen.path for seen in target.seen] == ["/v2/keys/x"]
    assert "authorization" not in target.seen[0].headers
