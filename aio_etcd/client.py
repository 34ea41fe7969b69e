"""Client: the keys and cluster API of etcd v2, thin over the layers below it.

A call builds its request (:class:`~aio_etcd._core.Call`: method, path,
body, and whether it is safe to repeat, from :mod:`aio_etcd.retry`), the
core's attempt loop (:class:`aio_etcd._core.Cluster`, given v2's rules:
:class:`~aio_etcd._v2.rules.V2Rules`) sends it under the client's
:class:`RetryPolicy`, and a function of :mod:`aio_etcd._answers` turns the
answer into the result.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import inspect
import logging
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from . import _answers
from ._calls import FORM, ClusterCalls, flag
from ._core import AiohttpTransport, Call, Cluster, Observer, Response, Transport, member_url, tls_protocol
from ._core.discovery import SrvMembers
from ._keypath import v2_key
from ._v2.rules import V2Rules
from ._v2.wire import NotEtcd
from .exceptions import EtcdException, EtcdKeyNotFound, EtcdValueError, StopWatching
from .result import EtcdResult
from .retry import RetryPolicy, replay_rule
from .v2on3._mode import ApiModes
from .watch import Watches, follow

if TYPE_CHECKING:
    from .keepalive import KeepAlive

__all__ = ["Client"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: What ``host`` accepts: a name, or a tuple of ``(host, port)`` pairs.
HostSpec = str | tuple[tuple[str, int], ...]


@functools.lru_cache(maxsize=4096)
def _key_path(key: str) -> str:
    """The key as a percent-encoded path, with exactly one leading slash (and its trailing one).

    Empty, ``.`` and ``..`` path segments are refused (:func:`~aio_etcd.v2on3._layout.v2_key`):
    etcd would answer with a redirect to the cleaned path, that is, to another key.
    """
    name = v2_key(key)
    if key.endswith("/") and name != "/":
        name += "/"
    return quote(name, safe="/")


class Client(ClusterCalls, ApiModes):
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
        exceptions on etcd's v3 store, through its JSON gateway (etcd 3.x, 3.6
        and later included), in the layout of :mod:`aio_etcd.v2on3`.
        ``"auto"``: v2 where the server serves it, else v3 (decided at the first call).
    :param v3_prefix: with ``api="v3"``, where the key space lives in v3
        (the ``--dest-prefix`` of a migration).
    :param retry: how calls are retried: attempts, per-attempt timeout,
        backoff (see :class:`RetryPolicy` and ``docs/clusters.rst``).
    :param transport: what sends the HTTP requests (default: aiohttp). Tests
        pass a scripted one; see :class:`aio_etcd._core.Transport`.
    :param observer: told of every exchange with a member (tracing, metrics,
        tests): see :mod:`aio_etcd._core.observer`.
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
    ) -> None:
        if loop is not None:
            warnings.warn(
                "aio_etcd.Client ignores loop=; it always uses the running event loop",
                DeprecationWarning,
                stacklevel=2,
            )
        protocol = tls_protocol(protocol, ssl, ca_cert, cert, ssl_verify)
        if api not in ("v2", "v3", "auto"):
            raise ValueError(f"api is 'v2', 'v3' or 'auto', not {api!r}")
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

        self._protocol = protocol
        self._srv = SrvMembers(srv_domain, protocol, srv_nameservers) if srv_domain is not None else None
        self._discovered = srv_domain is None
        self._version_prefix = "/" + version_prefix.strip("/") if version_prefix.strip("/") else ""
        self._keys = self._version_prefix + "/keys"
        self._read_timeout = read_timeout
        self._policy = retry or RetryPolicy()
        self._deadline = self._policy.deadline if self._policy.deadline is not None else read_timeout
        self._allow_redirect = allow_redirect
        self._username = username
        self._allow_reconnect = allow_reconnect
        self._use_proxies = use_proxies
        self._lock_prefix = lock_prefix
        self._headers: dict[str, str] = {}
        if username is not None and password is not None:
            self._headers["Authorization"] = _basic_auth(username, password)
        self._form_headers = {**self._headers, **FORM}
        self._cluster = Cluster(
            [member_url(protocol, h, p) for h, p in hosts],
            allow_reconnect=allow_reconnect,
            allow_redirect=allow_redirect,
            expected_cluster_id=expected_cluster_id,
            use_proxies=use_proxies,
            per_member=per_host_pool_size,
            rules=V2Rules(self._version_prefix, self._headers),
            observer=observer,
        )
        self._transport: Transport = transport or AiohttpTransport(
            protocol,
            ca_cert=ca_cert,
            cert=cert,
            ssl_verify=ssl_verify,
            ssl_context=ssl,
            name=", ".join(self._cluster.members),
        )
        self._closed = False
        self._watches = Watches(self)
        self._init_api(
            api,
            v3_prefix,
            {
                "ca_cert": ca_cert,
                "cert": cert,
                "ssl_verify": ssl_verify,
                "ssl": ssl,
                "username": username,
                "password": password,
                "expected_cluster_id": expected_cluster_id,
                "read_timeout": read_timeout,
                "retry": self._policy,
                "allow_reconnect": allow_reconnect,
                "use_proxies": use_proxies,
                "per_member": per_host_pool_size,
                "srv_domain": srv_domain,
                "srv_nameservers": srv_nameservers,
                "observer": observer,
                **({"transport": transport} if transport is not None else {}),
            },
        )

    # -- properties -------------------------------------------------------------------

    @property
    def base_uri(self) -> str:
        """The URL of the member requests go to first (``http://host:port``)."""
        if self._keys3 is not None:
            return self._keys3.v3.current_member
        return self._cluster.current

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
        return self._protocol

    @property
    def allow_redirect(self) -> bool:
        """Whether redirects from a member are followed."""
        return self._allow_redirect

    @property
    def allow_reconnect(self) -> bool:
        """Whether a failed request moves on to another member."""
        return self._allow_reconnect

    @property
    def lock_prefix(self) -> str:
        """The directory locks keep their keys in."""
        return self._lock_prefix

    @property
    def version_prefix(self) -> str:
        """The path of the v2 API (``/v2``)."""
        return self._version_prefix

    @property
    def key_endpoint(self) -> str:
        """The path of the keys API (``/v2/keys``)."""
        return self._keys

    @property
    def username(self) -> str | None:
        """The user name sent with every request, if any."""
        return self._username

    @property
    def expected_cluster_id(self) -> str | None:
        """The cluster id the client insists on (learned from the first answer if not given)."""
        if self._keys3 is not None:
            found = self._keys3.v3.cluster_id
            return None if found is None else f"{found:x}"
        return self._cluster.cluster_id

    @property
    def machines_cache(self) -> list[str]:
        """The member URLs the client currently knows."""
        if self._keys3 is not None:
            return self._keys3.v3.members_known
        return list(self._cluster.members)

    @property
    def retry(self) -> RetryPolicy:
        """The :class:`RetryPolicy` every call follows."""
        return self._policy

    @property
    def read_timeout(self) -> float | None:
        """The default deadline of a call, in seconds (``None``: none)."""
        return self._deadline

    def __repr__(self) -> str:
        user = f" user={self._username!r}" if self._username else ""
        return f"<aio_etcd.Client {self.base_uri}{self._version_prefix}{user}>"

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's connections. Safe to call more than once."""
        self._closed = True
        self._watches.close()
        if self._keys3 is not None:
            await self._keys3.close()
            await self._keys3.v3.close()
        await self._cluster.close()
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    async def _discover(self) -> None:
        """Find the members through SRV records (once, on first use)."""
        assert self._srv is not None
        await self._srv.apply(self._cluster)
        self._discovered = True

    # -- the one request path -----------------------------------------------------------

    async def _send(
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
            return await self._cluster.request(
                self._transport,
                call,
                check,
                self._policy,
                deadline=self._deadline if timeout is None else timeout,
                attempt_timeout=attempt_timeout,
            )
        except NotEtcd as exc:
            raise EtcdException(await self._not_etcd(exc)) from None

    async def _not_etcd(self, exc: NotEtcd) -> str:
        """The message for an answer that is not etcd's; a bare 404 says why v2 is missing."""
        if exc.response.status != 404:
            return str(exc)
        if exc.response.url.endswith("/version"):
            return f"{exc.response.describe()}: the server has no etcd /version: is it an etcd member?"
        base = f"{exc.response.describe()}: the server does not serve the etcd v2 API at {self._version_prefix}"
        # Asked past _send: a /version that is not etcd's must not be explained by asking /version again.
        call = Call("GET", "/version", self._headers, op="version")
        try:
            info = await self._cluster.request(
                self._transport,
                call,
                functools.partial(_answers.json_answer, needs="etcdserver"),
                self._policy,
                deadline=self._deadline,
            )
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

    async def sync_members(self) -> list[str]:
        """Learn the cluster's member list now, and return :attr:`machines_cache`.

        With failover on (and ``use_proxies`` off) the client does this by
        itself, in the background, after its first answer and after every
        failover; this waits for it. A member list that cannot be read leaves
        the list as it was (the failure is logged, not raised).
        """
        keys3 = await self._v3_store()
        if keys3 is not None:
            await keys3.v3.sync_members()
            return self.machines_cache
        if self._allow_reconnect and not self._use_proxies:
            if not self._discovered:
                await self._discover()
            await self._cluster.sync(self._transport, self._policy)
        return self.machines_cache

    def _key_url(self, key: str, query: Mapping[str, str]) -> str:
        path = self._keys + _key_path(key)
        if query:
            return path + "?" + urlencode(query, quote_via=quote)
        return path

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
        if self._keys3 is not None or self._auto:
            keys3 = await self._v3_store()
            if keys3 is not None:
                return await keys3.write(
                    key,
                    value,
                    ttl=None if ttl is None else int(ttl),
                    dir=dir,
                    append=append,
                    prevValue=prevValue,
                    prevIndex=prevIndex,
                    prevExist=prevExist,
                    refresh=refresh,
                    noValueOnSuccess=noValueOnSuccess,
                    timeout=timeout,
                )
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
            self._keys + _key_path(key),
            self._form_headers,
            body=urlencode(form).encode(),
            rule=replay_rule(method, form),
            op="append to" if append else "write",
            key=key,
        )
        check = _answers.nodeless_key_answer if noValueOnSuccess else _answers.key_answer
        return await self._send(call, check, timeout=timeout, attempt_timeout=attempt_timeout)

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
        query: dict[str, str] = {}
        if recursive is not None:
            query["recursive"] = flag(recursive)
        if sorted is not None:
            query["sorted"] = flag(sorted)
        if quorum is not None:
            query["quorum"] = flag(quorum)
        if self._keys3 is not None or self._auto:
            keys3 = await self._v3_store()
            if keys3 is not None and not wait:
                return await keys3.read(key, recursive=recursive, quorum=quorum, timeout=timeout)
        if wait:
            return await self._watches.wait(key, query, waitIndex, timeout)
        call = Call("GET", self._key_url(key, query), self._headers, op="read", key=key)
        return await self._send(call, _answers.key_answer, timeout=timeout)

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
        if self._keys3 is not None or self._auto:
            keys3 = await self._v3_store()
            if keys3 is not None:
                return await keys3.delete(
                    key, recursive=recursive, dir=dir, prevValue=prevValue, prevIndex=prevIndex, timeout=timeout
                )
        query: dict[str, str] = {}
        if recursive is not None:
            query["recursive"] = flag(recursive)
        if dir is not None:
            query["dir"] = flag(dir)
        if prevValue is not None:
            query["prevValue"] = str(prevValue)
        if prevIndex is not None:
            query["prevIndex"] = str(int(prevIndex))
        call = Call(
            "DELETE", self._key_url(key, query), self._headers, rule=replay_rule("DELETE", query), op="delete", key=key
        )
        return await self._send(call, _answers.key_answer, timeout=timeout)

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
        query = {} if recursive is None else {"recursive": flag(recursive)}
        if self._auto:
            await self._v3_store()
        return await self._watches.wait(key, query, index, timeout)

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
        async with contextlib.aclosing(follow(self, key, index, recursive)) as changes:
            async for event, index in changes:
                try:
                    outcome = callback(event)
                    if inspect.isawaitable(outcome):
                        await outcome
                except StopWatching:
                    return index
        raise AssertionError("follow() ends only by raising")

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
        async with contextlib.aclosing(follow(self, key, index, recursive)) as changes:
            async for event, _ in changes:
                yield event


def _any(resp: Response) -> Response:
    return resp


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
