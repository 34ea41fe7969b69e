"""The keys backend of etcd's v2 API over HTTP (``Client(api="v2")``).

A call builds its request (:class:`~aio_etcd._core.Call`: method, path,
body, and whether it is safe to repeat, from v2's table in
:mod:`aio_etcd._v2.wire`), the core's attempt loop
(:class:`aio_etcd._core.Cluster`, given v2's rules:
:class:`~aio_etcd._v2.rules.V2Rules`) sends it under the client's
:class:`~aio_etcd.RetryPolicy`, and a function of :mod:`aio_etcd._answers`
turns the answer into the result. The backend owns the member list, the
transport, SRV discovery, the cluster calls and the long-poll watches.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from .. import _answers
from .._core import AiohttpTransport, Call, Cluster, LineStream, NotEtcd, Response, Transport, TransportFailure
from .._core.discovery import SrvMembers
from .._keypath import v2_key
from ..exceptions import EtcdException
from ..result import EtcdResult
from ..watch import Watches, follow
from .rules import V2Rules
from .wire import NotEtcd as V2NotEtcd
from .wire import replay_rule

if TYPE_CHECKING:
    from .._backend import Options
    from .._lockqueue import LockQueue
    from ..v3 import Client as V3Client

__all__ = ["FORM", "JSON", "HttpKeys", "as_is", "flag", "key_path", "not_v2_message"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Request headers of a form body and of a JSON body.
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def flag(value: bool) -> str:
    """A boolean as etcd reads it."""
    return "true" if value else "false"


def as_is(resp: Response) -> Response:
    """The answer itself, error or not (``api_execute(..., raise_for_status=False)``)."""
    return resp


@functools.lru_cache(maxsize=4096)
def key_path(key: str) -> str:
    """The key as a percent-encoded path, with exactly one leading slash (and its trailing one).

    Empty, ``.`` and ``..`` path segments are refused (:func:`~aio_etcd._keypath.v2_key`):
    etcd would answer with a redirect to the cleaned path, that is, to another key.
    """
    name = v2_key(key)
    if key.endswith("/") and name != "/":
        name += "/"
    return quote(name, safe="/")


def key_query(key: str, query: Mapping[str, str]) -> str:
    """The path of ``key`` below the keys endpoint, with ``query``."""
    path = key_path(key)
    if query:
        return path + "?" + urlencode(query, quote_via=quote)
    return path


def read_query(recursive: bool | None, sorted: bool | None, quorum: bool | None) -> dict[str, str]:
    """The query of a read (and of a watch that waits for its next change)."""
    query: dict[str, str] = {}
    if recursive is not None:
        query["recursive"] = flag(recursive)
    if sorted is not None:
        query["sorted"] = flag(sorted)
    if quorum is not None:
        query["quorum"] = flag(quorum)
    return query




def _watch_answer(resp: Response) -> EtcdResult | int:
    """A watch's event, or for an empty answer the ``X-Etcd-Index`` it started at."""
    if resp.status == 200 and not resp.body.strip():
        began = resp.header_int("X-Etcd-Index")
        if began is None:
            raise V2NotEtcd(resp, "an empty watch answer without X-Etcd-Index")
        return began
    return _answers.key_answer(resp)


async def not_v2_message(
    exc: NotEtcd, version_prefix: str, ask_version: Callable[[], Awaitable[dict[str, Any]]]
) -> str:
    """The message for an answer that is not etcd's; a bare 404 says why v2 is missing.

    :param ask_version: asks ``/version`` past the client's own request path (a
        ``/version`` that is not etcd's must not be explained by asking it again).
    """
    if exc.response.status != 404:
        return str(exc)
    if exc.response.url.endswith("/version"):
        return f"{exc.response.describe()}: the server has no etcd /version: is it an etcd member?"
    base = f"{exc.response.describe()}: the server does not serve the etcd v2 API at {version_prefix}"
    try:
        info = await ask_version()
    except NotEtcd as again:
        return f"{base}; its /version is not etcd's either (HTTP {again.response.status}): is it an etcd member?"
    except EtcdException:
        return base
    server = str(info.get("etcdserver", ""))
    parts = server.split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() and (int(parts[0]), int(parts[1])) >= (3, 6):
        return (
            f"{base} (etcd {server} removed the v2 API; Client(api=\"auto\") or api=\"v3\" serves the same "
            "calls on its v3 store)"
        )
    return (
        f"{base} (etcd {server} serves v2 only when started with --enable-v2=true; Client(api=\"auto\") or "
        "api=\"v3\" serves the same calls on its v3 store)"
    )


def _stream_answer(resp: Response) -> tuple[LineStream, int]:
    """An open watch stream and the index it starts after, or the error the answer stands for."""
    head = resp.header_int("X-Etcd-Index")
    if isinstance(resp, LineStream) and head is not None:
        return resp, head
    if isinstance(resp, LineStream):
        resp.close()
    _answers.raise_error(resp)  # an etcd error answer (a bare 404: a server without v2)
    raise V2NotEtcd(resp, "a v2 watch stream without X-Etcd-Index")


#: How an answer of ``/version`` is read.
version_answer = functools.partial(_answers.json_answer, needs="etcdserver")


class HttpKeys:
    """etcd's v2 keys and cluster API over HTTP: one member list, one transport, one attempt loop.

    :param options: the client's options, checked.
    """

    def __init__(self, options: Options) -> None:
        self._options = options
        self._policy = options.retry
        self._deadline = options.deadline
        self._prefix = options.version_prefix
        self._keys = options.keys_path
        self._headers = options.headers
        self._form_headers = {**options.headers, **FORM}
        self._srv = (
            SrvMembers(options.srv_domain, options.protocol, options.srv_nameservers)
            if options.srv_domain is not None
            else None
        )
        self._discovered = options.srv_domain is None
        #: The members, the pinned one, the attempt loop (package-internal: tests tune it).
        self.cluster = Cluster(
            list(options.seeds),
            allow_reconnect=options.allow_reconnect,
            allow_redirect=options.allow_redirect,
            expected_cluster_id=options.expected_cluster_id,
            use_proxies=options.use_proxies,
            per_member=options.per_member,
            rules=V2Rules(self._prefix, self._headers),
            observer=options.observer,
        )
        self._transport: Transport = options.transport or AiohttpTransport(
            options.protocol,
            ca_cert=options.ca_cert,
            cert=options.cert,
            ssl_verify=options.ssl_verify,
            ssl_context=options.ssl,
            name=", ".join(self.cluster.members),
        )
        self._closed = False
        self._watches = Watches()

    # -- what the client shows -----------------------------------------------------------

    @property
    def api(self) -> str:
        return "v2"

    @property
    def current_member(self) -> str:
        return self.cluster.current

    @property
    def cluster_id(self) -> str | None:
        return self.cluster.cluster_id

    @property
    def members_known(self) -> list[str]:
        return list(self.cluster.members)

    @property
    def v3_client(self) -> V3Client | None:
        return None

    async def close(self) -> None:
        self._closed = True
        self._watches.close()
        await self.cluster.close()
        await self._transport.close()

    # -- the one request path ------------------------------------------------------------

    async def _discover(self) -> None:
        """Find the members through SRV records (once, on first use)."""
        assert self._srv is not None
        await self._srv.apply(self.cluster)
        self._discovered = True

    async def send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        """Make ``call`` under the retry policy; ``check`` reads the answer.

        :param timeout: the call's deadline (``None``: the client's default, ``math.inf``: none).
        """
        if self._closed:
            raise EtcdException("the client is closed")
        if not self._discovered:
            await self._discover()
        try:
            return await self.cluster.request(
                self._transport,
                call,
                check,
                self._policy,
                deadline=self._deadline if timeout is None else timeout,
                attempt_timeout=attempt_timeout,
            )
        except NotEtcd as exc:
            raise EtcdException(await self.explain(exc)) from None

    async def explain(self, exc: NotEtcd) -> str:
        return await not_v2_message(exc, self._prefix, self._version_past_send)

    async def _version_past_send(self) -> dict[str, Any]:
        call = Call("GET", "/version", self._headers, op="version")
        return await self.cluster.request(self._transport, call, version_answer, self._policy, deadline=self._deadline)

    async def sync_members(self) -> None:
        if self._options.allow_reconnect and not self._options.use_proxies:
            if not self._discovered:
                await self._discover()
            await self.cluster.sync(self._transport, self._policy)

    # -- keys ------------------------------------------------------------------------------

    async def read(
        self, key: str, *, recursive: bool | None, sorted: bool | None, quorum: bool | None, timeout: float | None
    ) -> EtcdResult:
        path = self._keys + key_query(key, read_query(recursive, sorted, quorum))
        call = Call("GET", path, self._headers, op="read", key=key)
        return await self.send(call, _answers.key_answer, timeout=timeout)

    async def write(
        self,
        key: str,
        value: Any,
        *,
        ttl: int | None,
        dir: bool,
        append: bool,
        prevValue: Any,  # noqa: N803 - etcd's spelling
        prevIndex: int | None,  # noqa: N803
        prevExist: bool | None,  # noqa: N803
        refresh: bool,
        noValueOnSuccess: bool,  # noqa: N803
        timeout: float | None,
        attempt_timeout: float | None,
    ) -> EtcdResult:
        form: dict[str, str] = {}
        if value is not None:
            form["value"] = str(value)
        if ttl is not None:
            form["ttl"] = str(int(ttl))
        if dir:
            form["dir"] = "true"
        if prevValue is not None:
            form["prevValue"] = str(prevValue)
        if prevIndex is not None:
            form["prevIndex"] = str(int(prevIndex))
        if prevExist is not None:
            form["prevExist"] = flag(prevExist)
        if refresh:
            form["refresh"] = "true"
        if noValueOnSuccess:
            form["noValueOnSuccess"] = "true"
        method = "POST" if append else "PUT"
        call = Call(
            method,
            self._keys + key_path(key),
            self._form_headers,
            body=urlencode(form).encode(),
            rule=replay_rule(method, form),
            op="append to" if append else "write",
            key=key,
        )
        check = _answers.nodeless_key_answer if noValueOnSuccess else _answers.key_answer
        return await self.send(call, check, timeout=timeout, attempt_timeout=attempt_timeout)

    async def delete(
        self,
        key: str,
        *,
        recursive: bool | None,
        dir: bool | None,
        prevValue: Any,  # noqa: N803 - etcd's spelling
        prevIndex: int | None,  # noqa: N803
        timeout: float | None,
    ) -> EtcdResult:
        query: dict[str, str] = {}
        if recursive is not None:
            query["recursive"] = flag(recursive)
        if dir is not None:
            query["dir"] = flag(dir)
        if prevValue is not None:
            query["prevValue"] = str(prevValue)
        if prevIndex is not None:
            query["prevIndex"] = str(int(prevIndex))
        path = self._keys + key_query(key, query)
        call = Call("DELETE", path, self._headers, rule=replay_rule("DELETE", query), op="delete", key=key)
        return await self.send(call, _answers.key_answer, timeout=timeout)

    # -- watches ---------------------------------------------------------------------------

    async def wait(
        self,
        key: str,
        *,
        index: int | None,
        recursive: bool | None,
        sorted: bool | None = None,
        quorum: bool | None = None,
        timeout: float | None = None,
    ) -> EtcdResult:
        query = {**read_query(recursive, sorted, quorum), "wait": "true"}
        if index is not None:
            query["waitIndex"] = str(int(index))
        path = self._keys + key_query(key, query)
        return await self._watches.wait(path, key, functools.partial(self._long_poll, key, path, index), timeout)

    def follow(
        self, key: str, index: int | None, recursive: bool | None
    ) -> AsyncGenerator[tuple[EtcdResult, int], None]:
        # One long poll per event: no request is open between events.
        return follow(self, key, index, recursive)

    async def open_stream(self, key: str, *, recursive: bool) -> tuple[LineStream, int]:
        """A v2 stream of ``key``'s changes (``stream=true``) registered at a member, and the
        ``X-Etcd-Index`` it starts after (for :class:`aio_etcd._v2.follow.Changes`)."""
        query = {"wait": "true", "recursive": flag(recursive), "stream": "true"}
        call = Call("GET", self._keys + key_query(key, query), self._headers, lines=True, head_only=True, op="follow")
        return await self.send(call, _stream_answer)

    async def _long_poll(self, key: str, path: str, index: int | None) -> EtcdResult:
        """One watch request, resumed across members; an empty answer is asked again."""
        start = index
        call = Call("GET", path, self._headers, stream=True, op="watch", key=key)

        def resume(failure: TransportFailure) -> None:
            # A watch without an index that broke after the headers arrived
            # continues on the next member from where it started, so no event
            # in between is lost.
            nonlocal start
            if start is None and failure.headers is not None:
                began = failure.headers.get("X-Etcd-Index")
                if began is not None and began.isdigit():
                    start = int(began) + 1
                    call.path += f"&waitIndex={start}"

        call.resume = resume
        while True:
            answer = await self.send(call, _watch_answer, timeout=math.inf)
            if isinstance(answer, EtcdResult):
                return answer
            # The server (or a proxy) ended the watch without an event: ask
            # again from where it started, so nothing is skipped.
            if start is None:
                start = answer + 1
                call.path += f"&waitIndex={start}"
            log.debug("empty watch answer for %s, watching again from %s", key, start)

    # -- the cluster -----------------------------------------------------------------------

    async def _get_json(self, path: str, *, needs: str) -> dict[str, Any]:
        call = Call("GET", path, self._headers)
        return await self.send(call, functools.partial(_answers.json_answer, needs=needs))

    async def versions(self) -> dict[str, str]:
        return dict(await self._get_json("/version", needs="etcdserver"))

    async def machines(self) -> list[str]:
        call = Call("GET", self._prefix + "/machines", self._headers, op="member list")
        return await self.send(call, _answers.machines_answer)

    async def members(self) -> dict[str, dict[str, Any]]:
        data = await self._get_json(self._prefix + "/members", needs="members")
        members = data["members"]
        if not isinstance(members, list) or not all(isinstance(m, dict) and "id" in m for m in members):
            raise EtcdException(
                f"{self.current_member} answered a member list without member ids: {members!r:.200}"
            )
        return {member["id"]: member for member in members}

    async def leader(self) -> dict[str, Any]:
        return dict(await self._get_json(self._prefix + "/members/leader", needs="id"))

    async def stats(self) -> dict[str, Any]:
        return dict(await self._get_json(self._prefix + "/stats/self", needs="id"))

    async def leader_stats(self) -> dict[str, Any]:
        return dict(await self._get_json(self._prefix + "/stats/leader", needs="leader"))

    async def store_stats(self) -> dict[str, Any]:
        return dict(await self._get_json(self._prefix + "/stats/store", needs="watchers"))

    def check_v2_auth(self) -> None:
        """The v2 API has users and roles (``/v2/auth``)."""

    def lock_queue(self, name: str, keys_queue: LockQueue) -> LockQueue:
        """A lock's keys are appended to its directory under ``lock_prefix`` (v2 has no lock service)."""
        return keys_queue
