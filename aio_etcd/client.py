"""Client: the keys and cluster API of etcd v2, over the layers below it."""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import json
import logging
import ssl
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote, urlencode

import aiohttp
from yarl import URL

from ._http import Response, TransportFailure
from .cluster import Cluster, RetryPath, member_url
from .discovery import discover
from .exceptions import (
    EtcdError,
    EtcdEventIndexCleared,
    EtcdException,
    EtcdInsufficientPermissions,
    EtcdKeyNotFound,
    EtcdWatchTimedOut,
    StopWatching,
)
from .result import EtcdResult

__all__ = ["Client"]

log = logging.getLogger(__name__)

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_JSON = {"Content-Type": "application/json"}

#: What ``host`` accepts: a name, or a tuple of ``(host, port)`` pairs.
HostSpec = str | tuple[tuple[str, int], ...]


def _flag(value: bool) -> str:
    return "true" if value else "false"


@functools.lru_cache(maxsize=4096)
def _key_path(key: str) -> str:
    """The key as a percent-encoded path, with exactly one leading slash.

    Empty, ``.`` and ``..`` path segments are refused: etcd would answer with a
    redirect to the cleaned path, that is, to another key.
    """
    if not isinstance(key, str):
        raise TypeError(f"an etcd key is a str, not {type(key).__name__}")
    if not key.startswith("/"):
        key = "/" + key
    if key != "/":
        segments = key[1:-1] if key.endswith("/") else key[1:]
        if any(segment in _BAD_SEGMENTS for segment in segments.split("/")):
            raise ValueError(f"the key {key!r} has an empty, '.' or '..' segment; etcd would resolve it to another key")
    return quote(key, safe="/")


_BAD_SEGMENTS = frozenset({"", ".", ".."})


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
    :param read_timeout: seconds an ordinary request may take (``None``: no
        limit). Watches have no limit unless one is given per call.
    :param allow_redirect: follow redirects answered by a member.
    :param protocol: ``"http"`` or ``"https"``.
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
    """

    def __init__(
        self,
        host: HostSpec = "127.0.0.1",
        port: int = 2379,
        srv_domain: str | None = None,
        version_prefix: str = "/v2",
        read_timeout: float | None = 60,
        allow_redirect: bool = True,
        protocol: str = "http",
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
    ) -> None:
        if loop is not None:
            warnings.warn(
                "aio_etcd.Client ignores loop=; it always uses the running event loop",
                DeprecationWarning,
                stacklevel=2,
            )
        if protocol not in ("http", "https"):
            raise ValueError(f"protocol must be 'http' or 'https', not {protocol!r}")
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
        self._srv_domain = srv_domain
        self._srv_nameservers = list(srv_nameservers) if srv_nameservers else None
        self._discovery_lock: asyncio.Lock | None = None
        self._version_prefix = "/" + version_prefix.strip("/") if version_prefix.strip("/") else ""
        self._keys = self._version_prefix + "/keys"
        self._read_timeout = read_timeout
        self._allow_redirect = allow_redirect
        self._cert = cert
        self._ca_cert = ca_cert
        self._ssl_verify = ssl_verify
        self._username = username
        self._password = password
        self._allow_reconnect = allow_reconnect
        self._use_proxies = use_proxies
        self._per_host_pool_size = per_host_pool_size
        self._lock_prefix = lock_prefix
        self._cluster = Cluster(
            [member_url(protocol, h, p) for h, p in hosts],
            allow_reconnect=allow_reconnect,
            allow_redirect=allow_redirect,
            expected_cluster_id=expected_cluster_id,
            use_proxies=use_proxies,
            machines_path=self._version_prefix + "/machines",
            per_member=per_host_pool_size,
        )
        self._headers: dict[str, str] = {}
        if username is not None and password is not None:
            self._headers["Authorization"] = _basic_auth(username, password)
        self._form_headers = {**self._headers, **_FORM}
        self._json_headers = {**self._headers, **_JSON}
        self._timeout = aiohttp.ClientTimeout(total=read_timeout)
        self._watch_timeout = aiohttp.ClientTimeout(total=None, connect=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._closed = False
        self._discovered = False
        self._watches: dict[str, _SharedWatch] = {}

    # -- properties -------------------------------------------------------------------

    @property
    def base_uri(self) -> str:
        """The URL of the member requests go to first (``http://host:port``)."""
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
        return self._version_prefix + "/keys"

    @property
    def username(self) -> str | None:
        """The user name sent with every request, if any."""
        return self._username

    @property
    def expected_cluster_id(self) -> str | None:
        """The cluster id the client insists on (learned from the first answer if not given)."""
        return self._cluster.cluster_id

    @property
    def machines_cache(self) -> list[str]:
        """The member URLs the client currently knows."""
        return list(self._cluster.members)

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
        sessions = [s for s in (self._session, self._watch_session) if s is not None]
        self._session = self._watch_session = None
        for session in sessions:
            await session.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if self._protocol != "https":
            return True
        try:
            context = ssl.create_default_context(cafile=self._ca_cert)
            if self._cert is not None:
                if isinstance(self._cert, str):
                    context.load_cert_chain(self._cert)
                else:
                    context.load_cert_chain(self._cert[0], self._cert[1])
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            files = f"ca_cert={self._ca_cert!r}, cert={self._cert!r}"
            raise EtcdException(f"cannot load the TLS files ({files}): {exc}") from exc
        if not self._ssl_verify:
            log.warning("TLS certificate verification is off for %s", self.base_uri)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _new_session(self, ssl_context: ssl.SSLContext | bool) -> aiohttp.ClientSession:
        # No limit in aiohttp: its pool hands a freed connection to whoever asks
        # next, so under load some requests wait for seconds. The cluster layer
        # bounds ordinary requests per member with a first-come-first-served
        # semaphore instead.
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=ssl_context)
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        # aiohttp silently resends PUT and DELETE once when a connection breaks;
        # the cluster layer decides what may be sent twice, so turn that off
        # (aiohttp's own test client does the same).
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    def _sessions(self) -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        if self._closed:
            raise EtcdException("the client is closed")
        if self._session is None or self._watch_session is None:
            context = self._ssl_context()
            self._session = self._new_session(context)
            self._watch_session = self._new_session(context)
        return self._session, self._watch_session

    async def _ready(self) -> None:
        """Discover the members through SRV records, once, on first use."""
        if self._srv_domain is None or self._discovered:
            return
        if self._discovery_lock is None:
            self._discovery_lock = asyncio.Lock()
        async with self._discovery_lock:
            if self._discovered:
                return
            found = await discover(self._srv_domain, self._protocol, nameservers=self._srv_nameservers)
            self._cluster.set_members([member_url(self._protocol, host, port) for host, port in found])
            self._discovered = True
            log.info("discovered etcd members through SRV records of %s: %s", self._srv_domain, found)

    # -- the one request path -----------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        replay_safe: bool = True,
        watch: bool = False,
        retry_path: RetryPath | None = None,
    ) -> Response:
        if self._srv_domain is not None and not self._discovered:
            await self._ready()
        session = self._watch_session if watch else self._session
        if session is None:
            session = self._sessions()[1 if watch else 0]
        if timeout is not None:
            client_timeout = aiohttp.ClientTimeout(total=timeout)
        else:
            client_timeout = self._watch_timeout if watch else self._timeout
        return await self._cluster.request(
            session,
            method,
            path,
            body=body,
            headers=self._headers if headers is None else headers,
            timeout=client_timeout,
            replay_safe=replay_safe,
            retry_path=retry_path,
            bounded=not watch,
        )

    async def _raise_for(self, resp: Response) -> None:
        """Raise the exception an error answer stands for."""
        payload = resp.json_object()
        if resp.status == 401 and payload is None:
            payload = {"message": "The request requires user authentication", "cause": resp.text()[:200]}
        if isinstance(payload, dict) and ("errorCode" in payload or resp.status in EtcdError.status_codes):
            exc = EtcdError.exception_for(payload, resp.status)
            if isinstance(exc, EtcdInsufficientPermissions):
                # etcd does not say what was refused; name it (never the credentials).
                exc = EtcdInsufficientPermissions(f"{exc} (refused: {unquote(URL(resp.url).path)})", exc.payload)
            raise exc
        if resp.status == 404 and payload is None:
            raise EtcdException(await self._v2_missing_reason(resp))
        raise EtcdException(f"unexpected answer: {resp.describe()}")

    async def _v2_missing_reason(self, resp: Response) -> str:
        """Explain a bare 404 on a v2 route: v2 disabled, or gone in etcd 3.6."""
        base = f"{resp.describe()}: the server does not serve the etcd v2 API at {self._version_prefix}"
        try:
            info = (await self._request("GET", "/version")).json()
            server = str(info.get("etcdserver", "")) if isinstance(info, dict) else ""
        except EtcdException:
            return base
        parts = server.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() and (int(parts[0]), int(parts[1])) >= (3, 6):
            return f"{base} (etcd {server} removed the v2 API; use an etcd 3.5 or older, or a v3 client)"
        if server:
            return f"{base} (etcd {server} serves v2 only when started with --enable-v2=true)"
        return base

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
        :param timeout: seconds for this request instead of ``read_timeout``.
        :raises EtcdCompareFailed: a ``prev*`` condition did not hold.
        :raises EtcdAlreadyExist: ``prevExist=False`` and the key exists.
        :raises EtcdKeyNotFound: ``prevExist=True`` and the key does not exist.
        """
        if dir and value is not None:
            raise ValueError("a directory has no value: pass value=None with dir=True")
        if refresh and value is not None:
            raise ValueError("refresh=True keeps the value: pass value=None (or use Client.refresh)")
        if refresh and ttl is None:
            raise ValueError("refresh=True needs a ttl")
        if dir and append:
            raise ValueError("dir=True and append=True cannot be combined")
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
            form["prevExist"] = _flag(prevExist)
        if refresh:
            form["refresh"] = "true"
        if noValueOnSuccess:
            form["noValueOnSuccess"] = "true"
        resp = await self._request(
            "POST" if append else "PUT",
            self._keys + _key_path(key),
            body=urlencode(form).encode(),
            headers=self._form_headers,
            timeout=timeout,
            # A second POST makes a second key; a conditional write sent twice
            # reports its own first success as a failed condition. Only a plain
            # write may be replayed.
            replay_safe=not append and prevExist is None and prevValue is None and prevIndex is None,
        )
        if resp.status >= 300:
            await self._raise_for(resp)
        return _key_result(resp)

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
            raise ValueError("this result has no key to update")
        if obj.dir:
            return await self.write(obj.key, None, ttl=obj.ttl, dir=True, prevExist=True)
        return await self.write(obj.key, obj.value, ttl=obj.ttl, prevIndex=obj.modifiedIndex)

    async def refresh(self, key: str, ttl: int, *, timeout: float | None = None) -> EtcdResult:
        """Reset the TTL of an existing key without changing it or waking watchers."""
        return await self.write(key, None, ttl=ttl, refresh=True, prevExist=True, timeout=timeout)

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
        :param timeout: seconds for this request; a watch waits forever without it.
        :raises EtcdKeyNotFound: the key does not exist.
        :raises EtcdWatchTimedOut: a ``wait`` saw no change within ``timeout``.
        """
        if waitIndex is not None and not wait:
            raise ValueError("waitIndex needs wait=True")
        query: dict[str, str] = {}
        if recursive is not None:
            query["recursive"] = _flag(recursive)
        if sorted is not None:
            query["sorted"] = _flag(sorted)
        if quorum is not None:
            query["quorum"] = _flag(quorum)
        if wait:
            return await self._wait(key, query, waitIndex, timeout)
        resp = await self._request("GET", self._key_url(key, query), timeout=timeout)
        if resp.status >= 300:
            await self._raise_for(resp)
        return _key_result(resp)

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
        :raises EtcdKeyNotFound: the key does not exist.
        :raises EtcdDirNotEmpty: a non-empty directory without ``recursive=True``.
        :raises EtcdCompareFailed: a ``prev*`` condition did not hold.
        """
        query: dict[str, str] = {}
        if recursive is not None:
            query["recursive"] = _flag(recursive)
        if dir is not None:
            query["dir"] = _flag(dir)
        if prevValue is not None:
            query["prevValue"] = str(prevValue)
        if prevIndex is not None:
            query["prevIndex"] = str(int(prevIndex))
        # A delete sent twice reports its own success as "key not found".
        resp = await self._request("DELETE", self._key_url(key, query), timeout=timeout, replay_safe=False)
        if resp.status >= 300:
            await self._raise_for(resp)
        return _key_result(resp)

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
        previous = result._prev_node
        if previous is None:
            raise EtcdException(f"etcd did not return the deleted node of {key!r}")
        previous.action = result.action
        previous.etcd_index = result.etcd_index
        previous.raft_index = result.raft_index
        return previous

    def _key_url(self, key: str, query: Mapping[str, str]) -> str:
        path = self._keys + _key_path(key)
        if query:
            return path + "?" + urlencode(query, quote_via=quote)
        return path

    # -- watches --------------------------------------------------------------------------

    async def _wait(self, key: str, query: dict[str, str], index: int | None, timeout: float | None) -> EtcdResult:
        """One watch, shared with every caller waiting on the same key, options and index.

        Callers that ask for the same thing while a request is pending all wait
        on that one request; each has its own timeout and cancellation, and the
        request is cancelled when its last waiter is gone.
        """
        query = {**query, "wait": "true"}
        if index is not None:
            query["waitIndex"] = str(int(index))
        path = self._key_url(key, query)
        shared = self._watches.get(path)
        if shared is None:
            shared = self._watches[path] = _SharedWatch(asyncio.ensure_future(self._watch_request(key, path, index)))
            shared.task.add_done_callback(functools.partial(self._deliver, path, shared))
        waiter: asyncio.Future[EtcdResult] = asyncio.get_running_loop().create_future()
        shared.waiters.add(waiter)
        try:
            if timeout is None:
                result = await waiter
            else:
                try:
                    result = await asyncio.wait_for(waiter, timeout)
                except asyncio.TimeoutError as exc:
                    raise EtcdWatchTimedOut(f"no change of {key!r} within {timeout}s", cause=exc) from exc
        finally:
            shared.waiters.discard(waiter)
            if not shared.waiters and not shared.task.done():
                # The last caller left: stop the request, and let a caller
                # arriving now start a new one rather than join this one.
                self._forget_watch(path, shared)
                shared.task.cancel()
        return result.copy()

    def _forget_watch(self, path: str, shared: _SharedWatch) -> None:
        if self._watches.get(path) is shared:
            del self._watches[path]

    def _deliver(self, path: str, shared: _SharedWatch, task: asyncio.Future[EtcdResult]) -> None:
        """Hand the shared request's outcome to every caller still waiting."""
        self._forget_watch(path, shared)
        if task.cancelled():
            error: BaseException | None = EtcdException("the watch request was cancelled")
        else:
            error = task.exception()  # retrieved here, so a watch nobody awaits logs nothing
        for waiter in shared.waiters:
            if waiter.done():
                continue
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(task.result())

    async def _watch_request(self, key: str, path: str, index: int | None) -> EtcdResult:
        start = index

        def resume_from(failure: TransportFailure) -> str | None:
            # A watch without an index that broke after the headers arrived
            # continues on the next member from where it started, so no event
            # in between is lost.
            nonlocal start, path
            if start is None and failure.headers is not None:
                began = failure.headers.get("X-Etcd-Index")
                if began is not None and began.isdigit():
                    start = int(began) + 1
                    path += f"&waitIndex={start}"
                    return path
            return None

        while True:
            resp = await self._request("GET", path, watch=True, retry_path=resume_from)
            if resp.status == 200 and not resp.body.strip():
                # The server (or a proxy) ended the watch without an event: ask
                # again from where it started, so nothing is skipped.
                if start is None:
                    began_at = resp.header_int("X-Etcd-Index")
                    if began_at is not None:
                        start = began_at + 1
                        path += f"&waitIndex={start}"
                log.debug("empty watch answer for %s, watching again from %s", key, start)
                continue
            if resp.status >= 300:
                await self._raise_for(resp)
            return _key_result(resp)

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
        query = {} if recursive is None else {"recursive": _flag(recursive)}
        return await self._wait(key, query, index, timeout)

    async def _next_event(self, key: str, index: int | None, recursive: bool | None) -> tuple[EtcdResult, int]:
        """The next change at or after ``index``, and the index to continue from.

        When etcd no longer holds the events since ``index`` (errorCode 401),
        the key's current state stands in for them.
        """
        try:
            event = await self.watch(key, index=index, recursive=recursive)
            return event, (event.modifiedIndex or 0) + 1
        except EtcdEventIndexCleared:
            log.info("events of %s since index %s are gone; reading it again", key, index)
            snapshot = await self.read(key, recursive=recursive)
            return snapshot, (snapshot.etcd_index or 0) + 1

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
        while True:
            event, index = await self._next_event(key, index, recursive)
            try:
                outcome = callback(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except StopWatching:
                return index

    async def watch_iter(
        self, key: str, index: int | None = None, recursive: bool | None = None
    ) -> AsyncGenerator[EtcdResult, None]:
        """Every change of ``key``, in order, as an async iterator::

            async for event in client.watch_iter("/config", recursive=True):
                ...

        The same guarantees as :meth:`eternal_watch` (no event skipped or
        repeated, a snapshot when etcd's history was cleared). Leave it with
        ``break``, by cancelling the task, or with ``aclose()``; between events
        no request is open, and a pending one is cancelled with the iterator.
        """
        while True:
            event, index = await self._next_event(key, index, recursive)
            yield event

    # -- cluster information -------------------------------------------------------------

    async def _get_json(self, path: str) -> Any:
        resp = await self._request("GET", path)
        if resp.status >= 300:
            await self._raise_for(resp)
        return resp.json()

    async def machines(self) -> list[str]:
        """The client URLs of the cluster's members, as etcd lists them."""
        resp = await self._request("GET", self._version_prefix + "/machines")
        if resp.status != 200:
            await self._raise_for(resp)
        return [url.strip() for url in resp.text().split(",") if url.strip()]

    async def members(self) -> dict[str, dict[str, Any]]:
        """The cluster's members, by member id (``id``, ``name``, ``peerURLs``, ``clientURLs``)."""
        data = await self._get_json(self._version_prefix + "/members")
        return {member["id"]: member for member in data.get("members", [])}

    async def leader(self) -> dict[str, Any]:
        """The member that leads the cluster now."""
        data = await self._get_json(self._version_prefix + "/members/leader")
        if not isinstance(data, dict):
            raise EtcdException(f"unexpected leader answer: {data!r}")
        return data

    async def stats(self) -> dict[str, Any]:
        """The answering member's own statistics (``/stats/self``)."""
        return dict(await self._get_json(self._version_prefix + "/stats/self"))

    async def leader_stats(self) -> dict[str, Any]:
        """The leader's view of its followers (``/stats/leader``; only the leader answers)."""
        return dict(await self._get_json(self._version_prefix + "/stats/leader"))

    async def store_stats(self) -> dict[str, Any]:
        """Counters of the key store (``/stats/store``)."""
        return dict(await self._get_json(self._version_prefix + "/stats/store"))

    async def versions(self) -> dict[str, str]:
        """``/version``: ``{"etcdserver": ..., "etcdcluster": ...}``."""
        return dict(await self._get_json("/version"))

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
    ) -> Response:
        """Send a request to a route the client does not wrap and return the answer.

        :param path: the path, already percent-encoded (``/v2/stats/self``).
        :param params: query parameters.
        :param data: the body: bytes or str as is, a mapping as a form.
        :raises EtcdException: the answer was an error (mapped as for every call).
        :returns: the answer, with ``status``, ``headers``, ``body``, ``text()`` and ``json()``.
        """
        method = method.upper()
        if params:
            path += ("&" if "?" in path else "?") + urlencode(
                {k: _flag(v) if isinstance(v, bool) else str(v) for k, v in params.items()}, quote_via=quote
            )
        body: bytes | None
        send_headers = dict(self._headers)
        if isinstance(data, Mapping):
            body = urlencode({k: str(v) for k, v in data.items()}).encode()
            send_headers.update(_FORM)
        elif isinstance(data, str):
            body = data.encode()
        else:
            body = data
        if headers:
            send_headers.update(headers)
        resp = await self._request(
            method, path, body=body, headers=send_headers, timeout=timeout, replay_safe=method != "POST"
        )
        if resp.status >= 300:
            await self._raise_for(resp)
        return resp

    async def api_execute_json(
        self,
        path: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Like :meth:`api_execute`, sending ``data`` as JSON and decoding the JSON answer.

        :returns: the decoded answer, or ``None`` for an empty one (``204``).
        """
        body = None if data is None else json.dumps(data).encode()
        resp = await self.api_execute(path, method, params, body, timeout=timeout, headers=_JSON)
        return resp.json() if resp.body.strip() else None


def _key_result(resp: Response) -> EtcdResult:
    """The result of a 200/201 key answer (errors in the body raised)."""
    try:
        body = json.loads(resp.body)
    except ValueError as exc:  # includes an empty body
        what = "without a body" if not resp.body else "something that is not JSON"
        raise EtcdException(f"the server answered {what}: {resp.describe()}") from exc
    if not isinstance(body, dict):
        raise EtcdException(f"unexpected answer: {resp.describe()}")
    if "errorCode" in body:
        EtcdError.handle(body, resp.status)
    headers = resp.headers
    etcd_index = headers.get("X-Etcd-Index")
    raft_index = headers.get("X-Raft-Index")
    return EtcdResult.from_response(
        body,
        etcd_index=int(etcd_index) if etcd_index and etcd_index.isdigit() else None,
        raft_index=int(raft_index) if raft_index and raft_index.isdigit() else None,
        created=resp.status == 201,
    )


class _SharedWatch:
    """A pending watch request and the futures of the callers waiting on it."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future[EtcdResult]) -> None:
        self.task = task
        self.waiters: set[asyncio.Future[EtcdResult]] = set()


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

