"""Client: the keys and cluster API of etcd v2, a facade over one keys backend.

The client holds the options and the lifecycle, checks each call's
arguments, and hands the call to the keys backend chosen once when it is
built (:func:`aio_etcd._choose.choose`): etcd's v2 API over HTTP
(:mod:`aio_etcd._v2.keys`), the same calls on a v3 store
(:mod:`aio_etcd.v2on3`, ``api="v3"``), or the first of the two the server
serves (``api="auto"``). See ``docs/architecture.rst``.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import logging
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from . import _answers
from ._backend import KeysBackend, Options
from ._choose import choose
from ._core import SAFE, UNSAFE, Call, NotEtcd, Observer, Response, RetryPolicy, Transport, member_url, tls_protocol
from ._v2.keys import FORM, JSON, as_is, flag, key_path
from .exceptions import EtcdException, EtcdKeyNotFound, EtcdValueError, StopWatching
from .result import EtcdResult

if TYPE_CHECKING:
    from .keepalive import KeepAlive
    from .v3 import Client as V3Client

__all__ = ["Client"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Where :mod:`aio_etcd.migrate` finds it.
_key_path = key_path

#: What ``host`` accepts: a name, or a tuple of ``(host, port)`` pairs.
HostSpec = str | tuple[tuple[str, int], ...]


class Client:
    """An asyncio client for one etcd cluster's v2 API.

    Building a client does no I/O: the HTTP session is opened on first use,
    inside the running event loop. Close it with :meth:`close`, or use the
    client as ``async with etcd.Client(...) as client:``.

    :param host: a host name or address, or a tuple of ``(host, port)`` pairs
        naming several members of one cluster.
    :param port: the port for a single ``host``.
    :param srv_domain: discover the members from SRV records of this domain.
    :param version_prefix: the path of the v2 API on the server.
    :param read_timeout: the deadline of a call: the most seconds it may take,
        every retry included (``None``: no limit). Each call may give its own
        ``timeout=``. A watch waits for its event as long as it takes, unless
        it is given a ``timeout``.
    :param allow_redirect: follow redirects answered by a member.
    :param protocol: ``"http"`` or ``"https"`` (``"https"`` when ``ssl`` is given,
        else ``"http"``).
    :param cert: a client certificate: one PEM file holding certificate and key,
        or a ``(certificate, key)`` pair of files.
    :param ca_cert: a CA bundle to verify the server with.
    :param username: user name for HTTP Basic authentication.
    :param password: password for HTTP Basic authentication (never logged or shown).
    :param allow_reconnect: move to another member when one fails. Defaults to
        ``True`` when ``host`` names several members, ``False`` otherwise.
    :param use_proxies: talk only to the given hosts, never to member URLs the
        cluster advertises.
    :param expected_cluster_id: refuse to talk to another cluster.
    :param per_host_pool_size: connections kept per member for ordinary
        requests (watches have their own, unbounded pool).
    :param lock_prefix: the directory :class:`aio_etcd.Lock` keeps its keys in.
    :param ssl_verify: verify the server's certificate and host name.
    :param loop: ignored; accepted for code written for Python 3.5.
    :param srv_nameservers: DNS servers for ``srv_domain`` lookups (``"ip"`` or
        ``"ip:port"``) instead of the system's.
    :param ssl: an :class:`ssl.SSLContext` holding the TLS settings (CA,
        client certificate, from files or memory), instead of ``ca_cert``,
        ``cert`` and ``ssl_verify``.
    :param api: ``"v2"`` (the default): etcd's v2 API, which etcd 3.4 and 3.5
        serve with ``--enable-v2=true``. ``"v3"``: the same calls, results and
        exceptions on etcd's v3 store (etcd 3.x, 3.6 and later included), in
        the layout of :mod:`aio_etcd.v2on3`, through etcd's JSON gateway or its
        gRPC API (``v3_transport``).
        ``"auto"``: v2 where the server serves it, else v3 (decided at the first call).
    :param v3_prefix: with ``api="v3"``, where the key space lives in v3
        (the ``--dest-prefix`` of a migration).
    :param v3_transport: how the calls reach a v3 store (``api="v3"``, or
        ``"auto"`` on a server without v2): the ``transport=`` of the
        :class:`aio_etcd.v3.Client` under them. ``"gateway"``: etcd's JSON
        gateway; ``"grpc"``: etcd's gRPC API (needs the ``grpc`` extra);
        ``"auto"`` (the default): what ``v3.Client(transport="auto")`` picks
        (gRPC where the extra is installed and the TLS options are ones it
        carries, else the gateway). The requests made as they are (``versions()``,
        ``api_execute``) stay HTTP requests: see ``docs/v2-on-v3.rst``.
    :param retry: how calls are retried: attempts, per-attempt timeout,
        backoff (see :class:`RetryPolicy` and ``docs/clusters.rst``).
    :param transport: what sends the HTTP requests (default: aiohttp). Tests
        pass a scripted one; see :class:`aio_etcd._core.Transport`.
    :param observer: told of every exchange with a member (tracing, metrics,
        tests), whichever API the calls go to: see :mod:`aio_etcd._core.observer`.
    """

    def __init__(
        self,
        host: HostSpec = "127.0.0.1",
        port: int = 2379,
        srv_domain: str | None = None,
        version_prefix: str = "/v2",
        read_timeout: float | None = 60,
        allow_redirect: bool = True,
        protocol: str | None = None,
        cert: str | tuple[str, str] | None = None,
        ca_cert: str | None = None,
        username: str | None = None,
        password: str | None = None,
        allow_reconnect: bool | None = None,
        use_proxies: bool = False,
        expected_cluster_id: str | None = None,
        per_host_pool_size: int = 10,
        lock_prefix: str = "/_locks",
        ssl_verify: bool = True,
        loop: object = None,
        srv_nameservers: Sequence[str] | None = None,
        *,
        ssl: SSLContext | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        api: str = "v2",
        v3_prefix: str = "",
        observer: Observer | None = None,
        v3_transport: str = "auto",
    ) -> None:
        if loop is not None:
            warnings.warn(
                "aio_etcd.Client ignores loop=; it always uses the running event loop",
                DeprecationWarning,
                stacklevel=2,
            )
        protocol = tls_protocol(protocol, ssl, ca_cert, cert, ssl_verify)
        if isinstance(host, str):
            hosts: list[tuple[str, int]] = [(host, int(port))]
            if allow_reconnect is None:
                allow_reconnect = srv_domain is not None
        else:
            hosts = [(str(h), int(p)) for h, p in host]
            if not hosts:
                raise ValueError("host names no member")
            if allow_reconnect is None:
                allow_reconnect = True
            elif not allow_reconnect and len(hosts) > 1:
                raise ValueError(
                    "host names several members but allow_reconnect=False forbids moving between them; "
                    "leave allow_reconnect out (or True), or give a single host"
                )
        if per_host_pool_size < 1:
            raise ValueError("per_host_pool_size must be at least 1")
        if read_timeout is not None and read_timeout <= 0:
            raise ValueError("read_timeout must be positive, or None for no limit")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if v3_transport not in ("auto", "gateway", "grpc"):
            raise ValueError(f"v3_transport is 'auto', 'gateway' or 'grpc', not {v3_transport!r}")
        if transport is not None and v3_transport == "grpc":
            raise ValueError("transport= (HTTP requests) and v3_transport='grpc' exclude each other: give one")

        prefix = "/" + version_prefix.strip("/") if version_prefix.strip("/") else ""
        self._lock_prefix = lock_prefix
        #: The headers of every v2 request: the HTTP Basic credentials.
        self._headers: dict[str, str] = {}
        if username is not None and password is not None:
            self._headers["Authorization"] = _basic_auth(username, password)
        self._options = Options(
            seeds=tuple(member_url(protocol, h, p) for h, p in hosts),
            protocol=protocol,
            srv_domain=srv_domain,
            srv_nameservers=srv_nameservers,
            version_prefix=prefix,
            read_timeout=read_timeout,
            retry=retry or RetryPolicy(),
            allow_redirect=allow_redirect,
            allow_reconnect=allow_reconnect,
            use_proxies=use_proxies,
            expected_cluster_id=expected_cluster_id,
            per_member=per_host_pool_size,
            username=username,
            password=password,
            headers=self._headers,
            ca_cert=ca_cert,
            cert=cert,
            ssl_verify=ssl_verify,
            ssl=ssl,
            transport=transport,
            v3_prefix=v3_prefix,
            observer=observer,
            v3_transport=v3_transport,
        )
        self._closed = False
        self._backend: KeysBackend = choose(api, self._options)

    # -- properties -------------------------------------------------------------------

    @property
    def base_uri(self) -> str:
        """The URL of the member requests go to first (``http://host:port``)."""
        return self._backend.current_member

    @property
    def host(self) -> str:
        """The host of :attr:`base_uri`."""
        return _split_base(self.base_uri)[0]

    @property
    def port(self) -> int:
        """The port of :attr:`base_uri`."""
        return _split_base(self.base_uri)[1]

    @property
    def protocol(self) -> str:
        """``"http"`` or ``"https"``."""
        return self._options.protocol

    @property
    def allow_redirect(self) -> bool:
        """Whether redirects from a member are followed."""
        return self._options.allow_redirect

    @property
    def allow_reconnect(self) -> bool:
        """Whether a failed request moves on to another member."""
        return self._options.allow_reconnect

    @property
    def lock_prefix(self) -> str:
        """The directory locks keep their keys in."""
        return self._lock_prefix

    @property
    def version_prefix(self) -> str:
        """The path of the v2 API (``/v2``)."""
        return self._options.version_prefix

    @property
    def key_endpoint(self) -> str:
        """The path of the keys API (``/v2/keys``)."""
        return self._options.keys_path

    @property
    def username(self) -> str | None:
        """The user name sent with every request, if any."""
        return self._options.username

    @property
    def expected_cluster_id(self) -> str | None:
        """The cluster id the client insists on (learned from the first answer if not given)."""
        return self._backend.cluster_id

    @property
    def machines_cache(self) -> list[str]:
        """The member URLs the client currently knows."""
        return self._backend.members_known

    @property
    def retry(self) -> RetryPolicy:
        """The :class:`RetryPolicy` every call follows."""
        return self._options.retry

    @property
    def read_timeout(self) -> float | None:
        """The default deadline of a call, in seconds (``None``: none)."""
        return self._options.deadline

    @property
    def api(self) -> str:
        """``"v2"`` or ``"v3"``: where the keys calls go (``"auto"`` until the first call decided)."""
        return self._backend.api

    @property
    def v3_client(self) -> V3Client | None:
        """With ``api="v3"``: the :class:`aio_etcd.v3.Client` under the keys calls (its
        leases, compaction, transactions); ``None`` on the v2 API."""
        return self._backend.v3_client

    @property
    def backend(self) -> KeysBackend:
        """The keys backend the calls go to (:class:`aio_etcd._backend.KeysBackend`): for the
        modules of ``aio_etcd`` (:mod:`aio_etcd.auth` asks it), not a stable interface."""
        return self._backend

    def __repr__(self) -> str:
        user = f" user={self.username!r}" if self.username else ""
        return f"<aio_etcd.Client {self.base_uri}{self.version_prefix}{user}>"

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's connections. Safe to call more than once."""
        self._closed = True
        await self._backend.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- the one request path -----------------------------------------------------------

    async def _send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        """Make ``call`` through the backend's members and attempt loop; ``check`` reads the answer.

        :param timeout: the call's deadline (``None``: the client's default, ``math.inf``: none).
        """
        return await self._backend.send(call, check, timeout=timeout, attempt_timeout=attempt_timeout)

    async def sync_members(self) -> list[str]:
        """Learn the cluster's member list now, and return :attr:`machines_cache`.

        With failover on (and ``use_proxies`` off) the client does this by
        itself, in the background, after its first answer and after every
        failover; this waits for it. A member list that cannot be read leaves
        the list as it was (the failure is logged, not raised).
        """
        await self._backend.sync_members()
        return self.machines_cache

    # -- keys -----------------------------------------------------------------------------

    async def write(
        self,
        key: str,
        value: Any,
        ttl: int | None = None,
        dir: bool = False,
        append: bool = False,
        *,
        prevValue: Any = None,  # noqa: N803 - etcd's spelling
        prevIndex: int | None = None,  # noqa: N803
        prevExist: bool | None = None,  # noqa: N803
        refresh: bool = False,
        noValueOnSuccess: bool = False,  # noqa: N803
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> EtcdResult:
        """Write ``value`` to ``key`` (``PUT``; ``POST`` with ``append=True``).

        :param value: stored as ``str(value)``; ``None`` with ``dir=True`` or ``refresh=True``.
        :param ttl: seconds until etcd deletes the key.
        :param dir: create a directory instead of a key.
        :param append: create a new key with an increasing name inside the
            directory ``key`` and return it.
        :param prevValue: write only if the current value equals this.
        :param prevIndex: write only if the key was last modified at this index.
        :param prevExist: write only if the key exists (``True``) or does not (``False``).
        :param refresh: reset the TTL without changing the value or waking watchers.
        :param noValueOnSuccess: ask etcd to leave the node out of the answer.
        :param timeout: the call's deadline in seconds instead of ``read_timeout``
            (``math.inf``: no deadline).
        :param attempt_timeout: seconds per attempt instead of the retry policy's.
        :raises EtcdCompareFailed: a ``prev*`` condition did not hold.
        :raises EtcdAlreadyExist: ``prevExist=False`` and the key exists.
        :raises EtcdKeyNotFound: ``prevExist=True`` and the key does not exist.
        :raises EtcdValueError: options that do not go together (``dir`` with a value...).
        :raises EtcdOutcomeUnknown: a write that is not safe to repeat may or
            may not have been applied (see ``docs/clusters.rst``).
        """
        if dir and value is not None:
            raise EtcdValueError("a directory has no value: pass value=None with dir=True")
        if refresh and value is not None:
            raise EtcdValueError("refresh=True keeps the value: pass value=None (or use Client.refresh)")
        if refresh and ttl is None:
            raise EtcdValueError("refresh=True needs a ttl")
        if dir and append:
            raise EtcdValueError("dir=True and append=True cannot be combined")
        return await self._backend.write(
            key,
            value,
            ttl=ttl,
            dir=dir,
            append=append,
            prevValue=prevValue,
            prevIndex=prevIndex,
            prevExist=prevExist,
            refresh=refresh,
            noValueOnSuccess=noValueOnSuccess,
            timeout=timeout,
            attempt_timeout=attempt_timeout,
        )

    async def set(self, key: str, value: Any, ttl: int | None = None) -> EtcdResult:
        """Write ``value`` to ``key``; the same as :meth:`write` without conditions."""
        return await self.write(key, value, ttl=ttl)

    async def test_and_set(self, key: str, value: Any, prev_value: Any, ttl: int | None = None) -> EtcdResult:
        """Write ``value`` only if the current value is ``prev_value``.

        :raises EtcdCompareFailed: the current value is different.
        """
        return await self.write(key, value, ttl=ttl, prevValue=prev_value)

    async def update(self, obj: EtcdResult) -> EtcdResult:
        """Write back a result read earlier, with its (possibly changed) value and TTL.

        For a key, the write succeeds only if nobody changed it since it was
        read (it is conditional on ``obj.modifiedIndex``).

        :raises EtcdCompareFailed: someone else wrote the key in between (a ``ValueError``).
        """
        if obj.key is None:
            raise EtcdValueError("this result has no key to update")
        if obj.dir:
            return await self.write(obj.key, None, ttl=obj.ttl, dir=True, prevExist=True)
        return await self.write(obj.key, obj.value, ttl=obj.ttl, prevIndex=obj.modifiedIndex)

    async def refresh(
        self, key: str, ttl: int, *, timeout: float | None = None, attempt_timeout: float | None = None
    ) -> EtcdResult:
        """Reset the TTL of an existing key without changing it or waking watchers.

        Safe to repeat, so it is retried like a read.

        :raises EtcdKeyNotFound: the key does not exist (it may have expired).
        """
        return await self.write(
            key, None, ttl=ttl, refresh=True, prevExist=True, timeout=timeout, attempt_timeout=attempt_timeout
        )

    def keep_alive(
        self, key: str, value: Any, ttl: int, *, interval: float | None = None, keep: bool = False
    ) -> KeepAlive:
        """Hold ``key`` with ``value`` alive while an ``async with`` block runs::

            async with client.keep_alive("/services/worker/7", "10.0.0.7:80", ttl=3) as alive:
                ...            # alive.lost is an asyncio.Event; alive.recreated counts re-creations

        Entering writes the key with the TTL; a background task refreshes it
        every ``interval`` (``ttl / 3``) with short attempts retried until the
        TTL runs out, and writes it again if it vanished. Leaving deletes the
        key, unless ``keep``. See :class:`aio_etcd.keepalive.KeepAlive`.
        """
        from .keepalive import KeepAlive

        return KeepAlive(self, key, value, ttl, interval=interval, keep=keep)

    async def read(
        self,
        key: str,
        *,
        recursive: bool | None = None,
        wait: bool = False,
        waitIndex: int | None = None,  # noqa: N803 - etcd's spelling
        sorted: bool | None = None,
        quorum: bool | None = None,
        timeout: float | None = None,
    ) -> EtcdResult:
        """Read a key or a directory.

        :param recursive: include the whole subtree of a directory.
        :param wait: wait for the next change instead (see :meth:`watch`).
        :param waitIndex: with ``wait``, the first index to report.
        :param sorted: list a directory's children in key order.
        :param quorum: read through the raft log (linearizable).
        :param timeout: the call's deadline in seconds instead of ``read_timeout``;
            with ``wait``, how long to wait for a change (forever without it).
        :raises EtcdKeyNotFound: the key does not exist.
        :raises EtcdWatchTimedOut: a ``wait`` saw no change within ``timeout``.
        """
        if waitIndex is not None and not wait:
            raise EtcdValueError("waitIndex needs wait=True")
        if wait:
            return await self._backend.wait(
                key, index=waitIndex, recursive=recursive, sorted=sorted, quorum=quorum, timeout=timeout
            )
        return await self._backend.read(key, recursive=recursive, sorted=sorted, quorum=quorum, timeout=timeout)

    async def get(self, key: str) -> EtcdResult:
        """Read ``key``; the same as :meth:`read` without options."""
        return await self.read(key)

    async def contains(self, key: str) -> bool:
        """Whether ``key`` exists."""
        try:
            await self.read(key)
        except EtcdKeyNotFound:
            return False
        return True

    async def delete(
        self,
        key: str,
        recursive: bool | None = None,
        dir: bool | None = None,
        *,
        prevValue: Any = None,  # noqa: N803 - etcd's spelling
        prevIndex: int | None = None,  # noqa: N803
        timeout: float | None = None,
    ) -> EtcdResult:
        """Delete a key, or a directory (``dir=True``; with its contents: ``recursive=True``).

        :param prevValue: delete only if the current value equals this.
        :param prevIndex: delete only if the key was last modified at this index.
        :param timeout: the call's deadline in seconds instead of ``read_timeout``.
        :raises EtcdKeyNotFound: the key does not exist.
        :raises EtcdDirNotEmpty: a non-empty directory without ``recursive=True``.
        :raises EtcdCompareFailed: a ``prev*`` condition did not hold.
        :raises EtcdOutcomeUnknown: a conditional delete may or may not have
            been applied, or a repeated delete found the key gone after an
            attempt of unknown outcome.
        """
        return await self._backend.delete(
            key, recursive=recursive, dir=dir, prevValue=prevValue, prevIndex=prevIndex, timeout=timeout
        )

    async def pop(
        self,
        key: str,
        recursive: bool | None = None,
        dir: bool | None = None,
        *,
        prevValue: Any = None,  # noqa: N803 - etcd's spelling
        prevIndex: int | None = None,  # noqa: N803
    ) -> EtcdResult:
        """Delete ``key`` and return the node as it was before the delete."""
        result = await self.delete(key, recursive=recursive, dir=dir, prevValue=prevValue, prevIndex=prevIndex)
        previous = result.prev_node
        if previous is None:
            raise EtcdException(f"etcd did not return the deleted node of {key!r}")
        previous.action = result.action
        previous.etcd_index = result.etcd_index
        previous.raft_index = result.raft_index
        return previous

    # -- watches (aio_etcd.watch) ---------------------------------------------------------------

    async def watch(
        self,
        key: str,
        index: int | None = None,
        recursive: bool | None = None,
        timeout: float | None = None,
    ) -> EtcdResult:
        """Wait for the next change of ``key`` (at or after ``index``) and return it.

        Without ``index``, the first change after the server received the
        watch. Many tasks watching the same key from the same index share one
        request to the server. Wrap it in :func:`asyncio.wait_for` to give up
        after a while: the request is cancelled cleanly.

        :param timeout: give up after this many seconds with :class:`EtcdWatchTimedOut`.
        :raises EtcdEventIndexCleared: ``index`` is older than the events etcd keeps.
        """
        return await self._backend.wait(key, index=index, recursive=recursive, timeout=timeout)

    async def eternal_watch(
        self,
        key: str,
        callback: Callable[[EtcdResult], Awaitable[object] | object],
        index: int | None = None,
        recursive: bool | None = None,
    ) -> int:
        """Call ``callback`` with every change of ``key``, in order, until it raises :class:`StopWatching`.

        ``callback`` may be a plain function or a coroutine function. After an
        event the watch continues from its ``modifiedIndex + 1``, so no event is
        skipped or repeated. When etcd no longer holds the events since the
        index (it keeps the last 1000), the key is read again (recursively if
        the watch is) and that snapshot, with action ``get``, is passed to the
        callback; the watch goes on from the snapshot's ``etcd_index + 1``.

        :returns: the index to continue watching from.
        """
        async with contextlib.aclosing(self._backend.follow(key, index, recursive)) as changes:
            async for event, index in changes:
                try:
                    outcome = callback(event)
                    if inspect.isawaitable(outcome):
                        await outcome
                except StopWatching:
                    return index
        raise AssertionError("follow ends only by raising")

    async def watch_iter(
        self, key: str, index: int | None = None, recursive: bool | None = None
    ) -> AsyncGenerator[EtcdResult, None]:
        """Every change of ``key``, in order, as an async iterator::

            async for event in client.watch_iter("/config", recursive=True):
                ...

        The same guarantees as :meth:`eternal_watch` (no event skipped or
        repeated, a snapshot when etcd's history was cleared). Leave it with
        ``break``, by cancelling the task, or with ``aclose()``. On the v2 API
        no request is open between events, and a pending one is cancelled
        with the iterator; with ``api="v3"`` one v3 watch streams the events
        for the iterator's whole life, and is closed with it (after ``break``,
        when the iterator is garbage-collected: call ``aclose()`` to close it
        at once).
        """
        async with contextlib.aclosing(self._backend.follow(key, index, recursive)) as changes:
            async for event, _ in changes:
                yield event

    # -- the cluster and the low level ----------------------------------------------------------

    async def machines(self) -> list[str]:
        """The client URLs of the cluster's members, as etcd lists them."""
        return await self._backend.machines()

    async def members(self) -> dict[str, dict[str, Any]]:
        """The cluster's members, by member id (``id``, ``name``, ``peerURLs``, ``clientURLs``)."""
        return await self._backend.members()

    async def leader(self) -> dict[str, Any]:
        """The member that leads the cluster now."""
        return await self._backend.leader()

    async def stats(self) -> dict[str, Any]:
        """The answering member's own statistics (``/stats/self``)."""
        return await self._backend.stats()

    async def leader_stats(self) -> dict[str, Any]:
        """The leader's view of its followers (``/stats/leader``; only the leader answers; v2 only)."""
        return await self._backend.leader_stats()

    async def store_stats(self) -> dict[str, Any]:
        """Counters of the key store (``/stats/store``)."""
        return await self._backend.store_stats()

    async def versions(self) -> dict[str, str]:
        """``/version``: ``{"etcdserver": ..., "etcdcluster": ...}``."""
        return await self._backend.versions()

    @property
    def version(self) -> Awaitable[str]:
        """The server's version; use as ``await client.version``."""
        return self._version_field("etcdserver")

    @property
    def cluster_version(self) -> Awaitable[str]:
        """The cluster's version; use as ``await client.cluster_version``."""
        return self._version_field("etcdcluster")

    async def _version_field(self, field: str) -> str:
        return str((await self.versions()).get(field, ""))

    # -- low level ------------------------------------------------------------------------

    async def api_execute(
        self,
        path: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        data: bytes | str | Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        replay_safe: bool | None = None,
        raise_for_status: bool = True,
    ) -> Response:
        """Send a request to a route the client does not wrap and return the answer.

        It takes the client's path for every call: its credentials, member
        choice, failover, deadline and retry policy.

        :param path: the path, already percent-encoded (``/v2/stats/self``).
        :param params: query parameters.
        :param data: the body: bytes or str as is, a mapping as a form.
        :param headers: more request headers (the client's credentials are added).
        :param replay_safe: whether the request may be sent again after an
            attempt that may have reached a member. By default only ``GET``
            (and ``HEAD``) are; pass ``True`` for a request you know to be
            idempotent, ``False`` to forbid replaying even a ``GET``. A request
            that may not be replayed raises :class:`EtcdOutcomeUnknown` when
            its outcome is unknown.
        :param raise_for_status: raise the :class:`EtcdException` an error
            answer stands for (default); with ``False`` every answer the
            server gave is returned, errors included (5xx answers are still
            retried first, as for every call).
        :returns: the answer, with ``status``, ``headers``, ``body``, ``text()`` and ``json()``.
        """
        method = method.upper()
        if params:
            path += ("&" if "?" in path else "?") + urlencode(
                {k: flag(v) if isinstance(v, bool) else str(v) for k, v in params.items()}, quote_via=quote
            )
        body: bytes | None
        send_headers = dict(self._headers)
        if isinstance(data, Mapping):
            body = urlencode({k: str(v) for k, v in data.items()}).encode()
            send_headers.update(FORM)
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data
        if headers:
            send_headers.update(headers)
        if replay_safe is None:
            replay_safe = method in ("GET", "HEAD")
        call = Call(method, path, send_headers, body=body, rule=SAFE if replay_safe else UNSAFE)
        return await self._send(call, _answers.any_answer if raise_for_status else as_is, timeout=timeout)

    async def api_execute_json(
        self,
        path: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        *,
        timeout: float | None = None,
        replay_safe: bool | None = None,
    ) -> Any:
        """Like :meth:`api_execute`, sending ``data`` as JSON and decoding the JSON answer.

        :returns: the decoded answer, or ``None`` for an empty one (``204``).
        """
        body = None if data is None else json.dumps(data).encode()
        resp = await self.api_execute(
            path, method, params, body, timeout=timeout, headers=JSON, replay_safe=replay_safe
        )
        return resp.json() if resp.body.strip() else None

    async def raise_for_answer(self, resp: Response) -> None:
        """Raise the :class:`EtcdException` an error answer stands for, as every call of the client does.

        For answers got with ``api_execute(..., raise_for_status=False)``.
        Does nothing for an answer below 300. A bare 404 (a member without
        the v2 API) is explained: v2 not enabled, or etcd 3.6 and later.
        """
        if resp.status < 300:
            return
        try:
            _answers.raise_error(resp)
        except NotEtcd as exc:
            raise EtcdException(await self._backend.explain(exc)) from None


def _basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP Basic authentication."""
    if ":" in username:
        raise ValueError("a user name for HTTP Basic authentication cannot contain ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _split_base(base: str) -> tuple[str, int]:
    netloc = base.split("://", 1)[1]
    host, _, port = netloc.rpartition(":")
    return host.strip("[]"), int(port)
