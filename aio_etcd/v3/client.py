"""The v3 Client: etcd's JSON gateway over the same request path as the v2 client.

A call is a ``POST`` of a JSON body to a ``/v3/...`` path, made by
:meth:`Client.call` through the core (:class:`aio_etcd._core.Cluster`, given
the gateway's rules: :class:`~aio_etcd.v3._gateway.GatewayRules`) under the
client's :class:`~aio_etcd.RetryPolicy`. Reads are sent again to another
member when one fails; writes never are once they may have been sent (they
raise :class:`~aio_etcd.EtcdOutcomeUnknown`): the gateway's table
(:func:`aio_etcd.v3._gateway.replay_rule`) says which is which.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from ssl import SSLContext
from typing import Any, TypeVar

from .._core import (
    SAFE,
    UNSAFE,
    AiohttpTransport,
    ApiRules,
    Call,
    Cluster,
    NotEtcd,
    Observer,
    ReplayRule,
    Response,
    RetryPolicy,
    Transport,
    member_url,
    tls_protocol,
)
from .._core.discovery import SrvMembers
from ..exceptions import EtcdException
from . import _gateway
from . import txn as _txn
from ._mux import Multiplexer
from .auth import Auth
from .errors import EtcdAuthFailed, EtcdLeaseNotFound, EtcdServerError, error_from
from .lease import KeepAlives, Lease
from .lock import Election, Lock
from .results import (
    KV,
    Delete,
    LeaseGrant,
    LeaseInfo,
    Member,
    Put,
    Range,
    Status,
    TxnResult,
    revision_of,
    to_bytes,
)
from .watch import Probes, Watch

__all__ = ["Client"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How a member is named: ``(host, port)``, ``"host:port"`` or ``"http://host:port"``.
MemberSpec = tuple[str, int] | str

_JSON = {"Content-Type": "application/json"}

#: The names ``transport=`` takes, and the client each makes: ``None`` is :class:`Client`
#: itself (the JSON gateway); otherwise ``("module:Class", extra)``, a subclass of
#: :class:`Client` imported only when asked for, and the extra that installs its libraries.
#: A second v3 transport is its module plus its line here.
TRANSPORTS: dict[str, tuple[str, str] | None] = {
    "auto": None,  # gRPC or the gateway, chosen when the client is made: aio_etcd.v3._auto
    "gateway": None,
    "grpc": ("aio_etcd.v3._grpc.client:GrpcClient", "grpc"),
}


def _transport_names() -> str:
    names = [repr(name) for name in TRANSPORTS]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _client_class(name: str, target: str, extra: str) -> type[Client]:
    """The client class registered for ``transport=name``, imported now."""
    module, _, attribute = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        needs = f'transport="{name}" needs the {extra} extra: pip install "aio_etcd[{extra}]"'
        raise ImportError(f"{needs}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Client)):
        raise TypeError(f"{target} (transport={name!r}) is not a v3.Client")
    return found


def _cluster_id(expected: int | str | None) -> str | None:
    """The cluster id as the gateway writes it (a decimal uint64); etcdctl prints hex."""
    if expected is None:
        return None
    if isinstance(expected, int) and not isinstance(expected, bool):
        return str(expected)
    if isinstance(expected, str):
        try:
            return str(int(expected.removeprefix("0x"), 16))
        except ValueError:
            pass
    raise ValueError(f"expected_cluster_id is an int or the hex string etcdctl prints, not {expected!r}")


def _member_urls(members: Sequence[MemberSpec], protocol: str, port: int) -> list[str]:
    urls = []
    for member in members:
        if isinstance(member, tuple):
            host, member_port = member
            urls.append(member_url(protocol, str(host), int(member_port)))
        elif isinstance(member, str) and "://" in member:
            urls.append(member.rstrip("/"))
        elif isinstance(member, str):
            host, sep, rest = member.rpartition(":")
            if sep and rest.isdigit() and not host.endswith(":"):
                urls.append(member_url(protocol, host.strip("[]"), int(rest)))
            else:
                urls.append(member_url(protocol, member, port))
        else:
            raise TypeError(f"a member is (host, port), 'host:port' or a URL, not {member!r}")
    return urls


class Client:
    """An asyncio client for etcd v3, through the JSON gateway every etcd 3.x serves.

    ``v3.Client(("10.0.0.1", 2379), ("10.0.0.2", 2379))``: the members, as
    ``(host, port)``, ``"host:port"`` or URLs (or ``host=((h, p), ...)``).
    No I/O happens before the first call; close the client with
    :meth:`close` or use it as ``async with``.

    :param host: a host name, or ``((host, port), ...)``, as for the v2 client.
    :param port: the port of members given without one.
    :param srv_domain: find the members in SRV records of this domain.
    :param srv_nameservers: DNS servers for those lookups.
    :param protocol: ``"http"`` or ``"https"`` (``"https"`` when ``ssl`` is given,
        else ``"http"``); members given as URLs keep their own.
    :param ca_cert: CA bundle to verify members with.
    :param cert: client certificate: one PEM file, or ``(certificate, key)``.
    :param ssl_verify: verify the members' certificates and names.
    :param ssl: an :class:`ssl.SSLContext` holding the TLS settings (CA,
        client certificate, from files or memory), instead of ``ca_cert``,
        ``cert`` and ``ssl_verify``.
    :param username: user name; the client gets a token and renews it.
    :param password: its password (never logged).
    :param expected_cluster_id: refuse members of another cluster: an int, or
        the hex string etcdctl prints. Learned from the first answer if not given.
    :param read_timeout: the deadline of a call in seconds, retries included
        (``None``: none). Calls take their own ``timeout=`` too.
    :param retry: the :class:`~aio_etcd.RetryPolicy`.
    :param allow_reconnect: move to another member when one fails (default:
        yes with several members or SRV discovery).
    :param use_proxies: talk only to the members given, never to the ones
        the cluster lists.
    :param per_member: ordinary calls under way per member at once (watches,
        locks and campaigns are not counted).
    :param watch_probe_interval: seconds of silence after which the member
        under a watch is asked whether it is alive and has a leader.
    :param watch_transport: ``"websocket"``: all watches to a member share one
        websocket; ``"http"``: one HTTP stream per watch; ``"auto"`` (the
        default): websocket without credentials, HTTP streams with them (on
        etcd 3.5 the websocket drops the auth token).
    :param transport: ``"auto"`` (the default): gRPC when the ``grpc`` extra is
        installed and none of ``ssl=``, ``ssl_verify=False`` or a
        ``watch_transport`` is given, else the gateway;
        ``"gateway"``: the JSON gateway; ``"grpc"``: etcd's gRPC API (needs the
        ``grpc`` extra; the client is then a
        :class:`~aio_etcd.v3._grpc.client.GrpcClient`); :attr:`transport` says
        which was made (docs/v3.rst: which to choose); or a
        :class:`~aio_etcd._core.Transport` that sends HTTP (tests script one;
        watches share websockets when it opens them: its ``websockets``).
    :param observer: told of every exchange with a member (tracing, metrics,
        tests): see :mod:`aio_etcd._core.observer`.
    """

    def __init__(
        self,
        *members: MemberSpec,
        host: str | Sequence[tuple[str, int]] | None = None,
        port: int = 2379,
        srv_domain: str | None = None,
        srv_nameservers: Sequence[str] | None = None,
        protocol: str | None = None,
        ca_cert: str | None = None,
        cert: str | tuple[str, str] | None = None,
        ssl_verify: bool = True,
        ssl: SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        expected_cluster_id: int | str | None = None,
        read_timeout: float | None = 60,
        retry: RetryPolicy | None = None,
        allow_reconnect: bool | None = None,
        use_proxies: bool = False,
        per_member: int = 10,
        watch_probe_interval: float = 5.0,
        watch_transport: str = "auto",
        transport: Transport | str | None = "auto",
        observer: Observer | None = None,
    ) -> None:
        if isinstance(transport, str):
            if transport not in TRANSPORTS:
                raise ValueError(f"transport is {_transport_names()} (or a Transport), not {transport!r}")
            if TRANSPORTS[transport] is not None:
                raise ValueError(f"transport={transport!r} makes the client v3.Client(...) itself: not for a subclass")
            transport = None  # Client itself: the gateway
        protocol = tls_protocol(protocol, ssl, ca_cert, cert, ssl_verify)
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if read_timeout is not None and read_timeout <= 0:
            raise ValueError("read_timeout must be positive, or None for no limit")
        if per_member < 1:
            raise ValueError("per_member must be at least 1")
        if watch_probe_interval <= 0:
            raise ValueError("watch_probe_interval must be positive")
        if watch_transport not in ("auto", "websocket", "http"):
            raise ValueError(f"watch_transport is 'auto', 'websocket' or 'http', not {watch_transport!r}")
        specs: list[MemberSpec] = list(members)
        if host is not None:
            if specs:
                raise ValueError("give the members positionally or as host=, not both")
            specs = [host] if isinstance(host, str) else [(str(h), int(p)) for h, p in host]
        if not specs:
            specs = [("127.0.0.1", port)]
        urls = _member_urls(specs, protocol, port)
        if allow_reconnect is None:
            allow_reconnect = len(urls) > 1 or srv_domain is not None
        self._protocol = protocol
        self._srv = SrvMembers(srv_domain, protocol, srv_nameservers) if srv_domain is not None else None
        self._discovered = srv_domain is None
        self._policy = retry or RetryPolicy()
        self._deadline = self._policy.deadline if self._policy.deadline is not None else read_timeout
        self._username = username
        self._password = password
        self._token: str | None = None if username is not None else ""
        self._auth_lock: asyncio.Lock | None = None
        self._headers: dict[str, str] = dict(_JSON)
        self._cluster_id = _cluster_id(expected_cluster_id)
        self._cluster = Cluster(
            urls,
            allow_reconnect=allow_reconnect,
            allow_redirect=False,
            expected_cluster_id=self._cluster_id,
            use_proxies=use_proxies,
            per_member=per_member,
            rules=self._api_rules(),
            observer=observer,
        )
        tls = "https" if any(url.startswith("https://") for url in urls) else protocol
        self._transport: Transport = transport or AiohttpTransport(
            tls, ca_cert=ca_cert, cert=cert, ssl_verify=ssl_verify, ssl_context=ssl, name=", ".join(urls)
        )
        self._closed = False
        self.watch_probe_interval = watch_probe_interval
        self._mux: Multiplexer | None = None
        if watch_transport == "websocket" or (watch_transport == "auto" and username is None):
            if getattr(self._transport, "websockets", False):
                self._mux = Multiplexer(self._transport, self._cluster)
            elif watch_transport == "websocket":
                raise ValueError("watch_transport='websocket' needs a transport that opens websockets")
        # Package-internal (not part of the public API, so not in the user docs): what
        # aio_etcd's own modules use of this client besides its public methods (Session, below).
        self.session = Session(self)
        #: Users, roles, enabling auth: :class:`aio_etcd.v3.auth.Auth`.
        self.auth: Auth = Auth(self)
        self._keepalives: KeepAlives = KeepAlives(self)
        self._probes: Probes = Probes(self)

    def __new__(cls, *members: MemberSpec, transport: Transport | str | None = "auto", **options: Any) -> Client:
        if cls is Client and (transport is None or isinstance(transport, str)):
            if transport is None or transport == "auto":
                from . import _auto

                transport = _auto.choose(options)
            registered = TRANSPORTS.get(transport)
            if registered is not None:
                return object.__new__(_client_class(transport, *registered))
        return object.__new__(cls)

    def _api_rules(self) -> ApiRules:
        """The core's rules of this client's wire (the gateway's)."""
        return _gateway.GatewayRules(lambda: self._headers)

    # -- properties and lifecycle ------------------------------------------------------

    @property
    def transport(self) -> str:
        """``"gateway"`` or ``"grpc"``: how this client's calls reach etcd."""
        return "gateway"

    @property
    def members_known(self) -> list[str]:
        """The member URLs the client knows now."""
        return list(self._cluster.members)

    @property
    def current_member(self) -> str:
        """The URL of the member calls go to first."""
        return self._cluster.current

    @property
    def retry(self) -> RetryPolicy:
        """The :class:`~aio_etcd.RetryPolicy` every call follows."""
        return self._policy

    @property
    def read_timeout(self) -> float | None:
        """The default deadline of a call, in seconds."""
        return self._deadline

    @property
    def cluster_id(self) -> int | None:
        """The id of the cluster the client talks to (``None`` before the first answer)."""
        return int(self._cluster.cluster_id) if self._cluster.cluster_id else None

    @property
    def watch_transport(self) -> str:
        """``"websocket"`` or ``"http"``: how this client's watches reach etcd."""
        return "websocket" if self._mux is not None else "http"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def __repr__(self) -> str:
        user = f" user={self._username!r}" if self._username else ""
        return f"<aio_etcd.v3.Client {self._cluster.current}{user}>"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop keep-alives and watches, close the connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._keepalives.close()
        await self._probes.close()
        if self._mux is not None:
            await self._mux.close()
        await self._cluster.close()
        await self._transport.close()

    # -- the request path ---------------------------------------------------------------

    def _check(self, resp: Response) -> dict[str, Any]:
        """A 200 answer as a JSON object (learning or guarding the cluster id), or the error it is."""
        if resp.status == 200:
            try:
                body = json.loads(resp.body)
            except ValueError:
                raise NotEtcd(resp, "the answer is not JSON", "v3") from None
            if type(body) is not dict:
                raise NotEtcd(resp, "the answer is not a JSON object", "v3")
            header = body.get("header")
            if header is not None:
                seen = header.get("cluster_id")
                if seen != self._cluster.cluster_id and seen is not None:
                    self._cluster.guard_cluster_id(seen, resp.url)
            return body
        payload = resp.json_object()
        if payload is not None:
            error = error_from(_gateway.error_body(payload), resp.status, resp.url)
            if error is not None:
                raise error
        if resp.status == 404:
            raise NotEtcd(resp, "no v3 gateway here (etcd before 3.x, or --enable-grpc-gateway=false)", "v3")
        raise NotEtcd(resp, "not an etcd v3 gateway answer", "v3")

    async def call(
        self,
        path: str,
        request: dict[str, Any],
        *,
        safe: bool | ReplayRule | None = None,
        op: str = "",
        key: bytes | None = None,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
        attempts: int | None = -1,
        stream: bool = False,
    ) -> dict[str, Any]:
        """POST ``request`` to the gateway path ``path`` and return the answer's JSON object.

        The escape hatch for gateway calls this client has no method for.

        :param safe: the call may be sent again after an attempt that may have
            reached a member (reads); writes must say ``False`` (or give the
            :class:`~aio_etcd.retry.ReplayRule` to follow). ``None`` (the
            default): the gateway's table decides (:func:`aio_etcd.v3._gateway.replay_rule`:
            the known reads are safe, anything else is not).
        :param timeout: the call's deadline (``None``: the client's; ``math.inf``: none).
        :param stream: the answer may take long (a blocking lock): use the
            watch connections and no attempt time limit past connecting.
        """
        body = json.dumps(request).encode()
        if safe is None:
            rule = _gateway.replay_rule(path, request)
        else:
            rule = safe if isinstance(safe, ReplayRule) else SAFE if safe else UNSAFE
        where = op or path
        for auth_retry in (True, False):
            token = self._token
            call = Call(
                "POST",
                path,
                self._headers,
                body=body,
                rule=rule,
                op=where,
                key=key,
                stream=stream,
            )
            try:
                return await self._send(
                    call, self._check, timeout=timeout, attempt_timeout=attempt_timeout, attempts=attempts
                )
            except EtcdServerError as exc:
                if auth_retry and self.stale_token(exc):
                    await self._authenticate(token)
                    continue
                exc.args = (f"{call}: {exc.args[0]}",)  # name the call, not only the member
                raise
        raise AssertionError("unreachable")

    async def _send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
        attempts: int | None = -1,
        watch: bool = False,
    ) -> _T:
        """Make ``call`` under the retry policy; ``check`` reads the answer.

        :param watch: a watch: over the websocket multiplexer when the client uses one.
        """
        if self._closed or not self._discovered or self._token is None:
            if self._closed:
                raise EtcdException("the client is closed")
            if not self._discovered:
                await self._discover()
            if self._token is None:
                await self._authenticate(None)
            call.headers = {**call.headers, **self._headers}  # the token just got
        return await self._cluster.request(
            self._mux if watch and self._mux is not None else self._transport,
            call,
            check,
            self._policy,
            deadline=self._deadline if timeout is None else timeout,
            attempt_timeout=attempt_timeout,
            attempts=attempts,
        )

    # -- auth tokens ----------------------------------------------------------------------

    def stale_token(self, exc: EtcdServerError) -> bool:
        """Whether ``exc`` says the client's token needs renewing (it has credentials to)."""
        if self._username is None:
            return False
        words = exc.grpc_message
        return exc.code == 16 or "auth store is old" in words or "user name is empty" in words

    async def _authenticate(self, stale: str | None) -> None:
        """Get a token (once for concurrent callers): ``stale`` is the token that failed."""
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            if self._token is not None and self._token != stale:
                return  # another call renewed it meanwhile
            request = {"name": self._username, "password": self._password}
            body = json.dumps(request).encode()
            call = Call("POST", "/v3/auth/authenticate", _JSON, body=body, op="authenticate")
            try:
                answer = await self._cluster.request(
                    self._transport, call, self._check, self._policy, deadline=self._deadline
                )
            except EtcdServerError as exc:
                if "authentication is not enabled" in exc.grpc_message:
                    self._set_token("")  # nothing to present; asked again if auth gets enabled
                    return
                raise EtcdAuthFailed(
                    f"etcd refused the credentials of {self._username!r}: {exc.grpc_message}",
                    exc.code,
                    exc.grpc_message,
                    exc.status,
                ) from exc
            token = answer.get("token")
            if not isinstance(token, str) or not token:
                raise EtcdException("etcd answered authenticate without a token")
            self._set_token(token)
            log.debug("got a new auth token for %r", self._username)

    def _set_token(self, token: str) -> None:
        self._token = token
        headers = dict(_JSON)
        if token:
            headers["Authorization"] = token
        self._headers = headers

    @property
    def headers(self) -> dict[str, str]:
        """The headers every call sends now (the token included: do not log them)."""
        return self._headers

    async def _discover(self) -> None:
        """Find the members through SRV records (once, on first use)."""
        assert self._srv is not None
        await self._srv.apply(self._cluster)
        self._discovered = True

    # -- KV -------------------------------------------------------------------------------

    async def get(self, key: str | bytes, *, serializable: bool = False, timeout: float | None = None) -> KV | None:
        """The key, or ``None`` when it does not exist."""
        raw = to_bytes(key)
        request = _txn.range_request(raw, serializable=serializable)
        answer = await self.call("/v3/kv/range", request, op="get", key=raw, timeout=timeout)
        kvs = answer.get("kvs")
        return KV(kvs[0]) if kvs else None

    async def range(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        limit: int = 0,
        revision: int = 0,
        sort: tuple[str, str] | None = None,
        keys_only: bool = False,
        count_only: bool = False,
        serializable: bool = False,
        timeout: float | None = None,
    ) -> Range:
        """Read a key, a prefix (``prefix=True``) or ``[key, range_end)``.

        :param limit: at most this many keys (:attr:`Range.more` says if more match).
        :param revision: read the store as it was at this revision.
        :param sort: ``(target, order)``: target ``"key"``, ``"version"``,
            ``"create"``, ``"mod"`` or ``"value"``; order ``"asc"`` or ``"desc"``.
        :param serializable: let the member answer from its own copy, without
            asking the leader (faster, may be stale; works without quorum).
        """
        request = _txn.range_request(
            key,
            prefix=prefix,
            range_end=range_end,
            limit=limit,
            revision=revision,
            sort=sort,
            keys_only=keys_only,
            count_only=count_only,
            serializable=serializable,
        )
        return Range(
            await self.call("/v3/kv/range", request, op="range", key=to_bytes(key), timeout=timeout)
        )

    async def scan(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        page: int = 500,
        keys_only: bool = False,
    ) -> AsyncIterator[KV]:
        """Every key of a range, in key order, read ``page`` keys at a time at one revision."""
        if page < 1:
            raise ValueError("page must be at least 1")
        fields = _txn.key_range(key, prefix, range_end)
        end = fields.get("range_end")
        start, revision = to_bytes(key), 0
        while True:
            request = _txn.range_request(start, limit=page, revision=revision, keys_only=keys_only)
            if end is not None:
                request["range_end"] = end
            answer = Range(await self.call("/v3/kv/range", request, op="scan", key=start))
            revision = revision or answer.revision
            kvs = answer.kvs
            for kv in kvs:
                yield kv
            if not answer.more or not kvs:
                return
            start = kvs[-1].key + b"\0"

    async def put(
        self,
        key: str | bytes,
        value: str | bytes | int | float,
        *,
        lease: Lease | LeaseGrant | int | None = None,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
        timeout: float | None = None,
    ) -> Put:
        """Set ``key`` to ``value`` (never sent twice: see :class:`~aio_etcd.EtcdOutcomeUnknown`).

        ``value`` is ``bytes``, ``str`` (stored as UTF-8), or an ``int`` or ``float``
        (stored as its text, ``1`` as ``b"1"``, as the v2 client's ``write`` does).

        :param lease: attach the key to a lease (a granted :class:`Lease`, a grant, or an
            id); a :class:`Lease` never granted raises :class:`~aio_etcd.EtcdValueError`.
        :param prev_kv: return the key as it was before (:attr:`Put.prev_kv`).
        :param ignore_value: keep the current value (give ``b""``), change only the lease.
        :param ignore_lease: keep the current lease.
        """
        raw = to_bytes(key)
        request = _txn.put_request(
            raw, value, lease=lease, prev_kv=prev_kv, ignore_value=ignore_value, ignore_lease=ignore_lease
        )
        return Put(await self.call("/v3/kv/put", request, op="put", key=raw, timeout=timeout))

    async def delete(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        prev_kv: bool = False,
        timeout: float | None = None,
    ) -> Delete:
        """Delete a key, a prefix or a range; :attr:`Delete.deleted` counts what went."""
        request = _txn.delete_request(key, prefix=prefix, range_end=range_end, prev_kv=prev_kv)
        answer = await self.call(
            "/v3/kv/deleterange", request, op="delete", key=to_bytes(key), timeout=timeout
        )
        return Delete(answer)

    async def create(
        self, key: str | bytes, value: str | bytes | int | float, *, lease: Lease | LeaseGrant | int | None = None
    ) -> bool:
        """Put ``value`` at ``key`` only if the key does not exist (put-if-absent); ``True`` if it was created.

        The transaction ``if_(T.create_revision(key) == 0).then(T.put(key, value))``.
        """
        result = await self.txn().if_(_txn.create_revision(key) == 0).then(_txn.put(key, value, lease=lease)).commit()
        return result.succeeded

    def txn(self) -> _txn.Txn:
        """Start a transaction: ``.if_(...).then(...).else_(...)``, then ``await .commit()``."""
        return _txn.Txn(self._commit)

    async def _commit(self, txn: _txn.Txn) -> TxnResult:
        answer = await self.call("/v3/kv/txn", txn.request(), op="txn")
        return TxnResult(answer)

    async def compact(self, revision: int, *, physical: bool = False) -> None:
        """Forget the history before ``revision`` (watches and reads below it fail with EtcdCompacted)."""
        request: dict[str, Any] = {"revision": str(revision)}
        if physical:
            request["physical"] = True
        await self.call("/v3/kv/compaction", request, op="compact")

    # -- leases ---------------------------------------------------------------------------

    def lease(self, ttl: int, *, lease_id: int = 0) -> Lease:
        """A lease to use as ``async with``: granted on entry, kept alive, revoked on exit."""
        return Lease(self, ttl, lease_id=lease_id)

    async def grant(self, ttl: int, *, lease_id: int = 0) -> LeaseGrant:
        """Grant a lease of ``ttl`` seconds (etcd's minimum is 2); nobody keeps it alive."""
        if ttl < 1:
            raise ValueError("a lease's ttl is at least 1 second")
        request: dict[str, Any] = {"TTL": str(ttl)}
        if lease_id:
            request["ID"] = str(lease_id)
        answer = await self.call("/v3/lease/grant", request, op="lease grant")
        return LeaseGrant(int(answer["ID"]), int(answer.get("TTL", 0)))

    async def revoke(self, lease: Lease | LeaseGrant | int) -> None:
        """Revoke a lease: its keys are deleted (``EtcdLeaseNotFound`` if it is gone)."""
        request = {"ID": str(_txn.lease_id(lease))}
        await self.call("/v3/lease/revoke", request, op="lease revoke")

    async def time_to_live(self, lease: Lease | LeaseGrant | int, *, keys: bool = False) -> LeaseInfo:
        """What etcd knows of a lease (``ttl`` -1 when it is gone)."""
        request: dict[str, Any] = {"ID": str(_txn.lease_id(lease))}
        if keys:
            request["keys"] = True
        return LeaseInfo(await self.call("/v3/lease/timetolive", request, op="lease time-to-live"))

    async def leases(self) -> list[int]:
        """The ids of every lease."""
        answer = await self.call("/v3/lease/leases", {}, op="lease list")
        return [int(item["ID"]) for item in answer.get("leases", ())]

    async def keep_alive_once(
        self, lease: Lease | LeaseGrant | int, *, timeout: float | None = None, attempt_timeout: float | None = None
    ) -> int:
        """Renew a lease once; its new TTL (``EtcdLeaseNotFound`` when it is gone)."""
        lid = _txn.lease_id(lease)
        answer = await self.call(
            "/v3/lease/keepalive",
            {"ID": str(lid)},
            op="lease keep-alive",
            timeout=timeout,
            attempt_timeout=attempt_timeout,
            attempts=None,
        )
        result = answer.get("result")
        if not isinstance(result, dict):
            error = error_from(_gateway.error_body(answer), None, "lease keep-alive")
            raise error or EtcdException(f"lease keep-alive: unexpected answer {answer!r}")
        ttl = int(result.get("TTL", 0))
        if ttl <= 0:
            raise EtcdLeaseNotFound(
                f"lease keep-alive: lease {lid:x} is gone (expired or revoked)", 5, "requested lease not found"
            )
        return ttl

    # -- watches, locks, elections --------------------------------------------------------

    def watch(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Sequence[str] | set[str] = (),
        progress_notify: bool = False,
    ) -> Watch:
        """Watch a key, prefix or range: ``async with client.watch(...) as events: async for ev in events``.

        On entry the watch is established (a write made after it is seen).
        It resumes on another member when its member dies, freezes or loses
        quorum, without losing or repeating an event.

        :param start_revision: deliver changes from this revision on (history
            must not be compacted: ``EtcdCompacted``).
        :param filters: ``{"noput"}`` and/or ``{"nodelete"}``: leave those events out.
        """
        return Watch(
            self,
            _txn.key_range(key, prefix, range_end),
            start_revision=start_revision,
            prev_kv=prev_kv,
            filters=filters,
            progress_notify=progress_notify,
        )

    def lock(self, name: str | bytes, *, ttl: int = 60, timeout: float | None = None) -> Lock:
        """etcd's own FIFO lock (``/v3/lock``), as ``async with client.lock(name) as lock``.

        :param ttl: the TTL of the lease the client grants for it and keeps alive.
        :param timeout: give up after this many seconds (:class:`EtcdLockTimeout`).
        """
        return Lock(self, name, ttl=ttl, timeout=timeout)

    def election(self, name: str | bytes, *, ttl: int = 60) -> Election:
        """An election (``/v3/election``): campaign, proclaim, resign, leader, observe."""
        return Election(self, name, ttl=ttl)

    # -- cluster --------------------------------------------------------------------------

    async def members(self) -> list[Member]:
        """The cluster's members."""
        answer = await self.call("/v3/cluster/member/list", {}, op="member list")
        return [Member(raw) for raw in answer.get("members", ())]

    async def status(self, member: str | None = None) -> Status:
        """The status of ``member`` (a client URL; default: the member calls go to)."""
        if member is None:
            return Status(await self.call("/v3/maintenance/status", {}, op="status"))
        resp = await _gateway.ask_status(
            self._cluster, self._transport, member.rstrip("/"), self._headers, self._policy.attempt_timeout
        )
        return Status(self._check(resp))

    async def sync_members(self) -> list[str]:
        """Learn the member list now; the URLs known afterwards."""
        await self._cluster.sync(self._transport, self._policy)
        return list(self._cluster.members)

    async def revision(self) -> int:
        """The store's current revision."""
        answer = await self.call("/v3/kv/range", _txn.range_request(b"\0", count_only=True), op="revision")
        return revision_of(answer)


class Session:
    """The package-internal side of a v3 client (``client.session``): not part of the public API.

    The service modules (:mod:`~aio_etcd.v3.watch`, :mod:`~aio_etcd.v3.lease`,
    :mod:`~aio_etcd.v3.lock`, :mod:`~aio_etcd.v3.auth`) and :mod:`aio_etcd.v2on3`
    use the client through its public methods and through this, never through
    the client's private names; each states at its top, as a ``Protocol``, what
    it uses (so none imports this module: no import circle). It holds no state
    of its own: it reads the client's, so a subclass (the gRPC client) that
    replaces a part (its multiplexer, how it authenticates) is seen here too.
    """

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def cluster(self) -> Cluster:
        """The client's core: its members, attempt loop, cluster id and observer."""
        return self._client._cluster

    @property
    def transport(self) -> Transport:
        """The client's transport (the one its ordinary calls go through)."""
        return self._client._transport

    @property
    def mux(self) -> Multiplexer | None:
        """The watch multiplexer (``None``: each watch is a stream of its own)."""
        return self._client._mux

    @property
    def probes(self) -> Probes:
        """The freeze probes of the client's watches (a watch adds itself while it streams)."""
        return self._client._probes

    @property
    def keepalives(self) -> KeepAlives:
        """The keep-alive timer of the client's leases (a granted lease adds itself)."""
        return self._client._keepalives

    @property
    def has_credentials(self) -> bool:
        """Whether the client was given a user name and password (its token can be renewed)."""
        return self._client._username is not None

    def check(self, resp: Response) -> dict[str, Any]:
        """A gateway answer as its JSON object, or the error it holds, raised."""
        return self._client._check(resp)

    async def send(self, call: Call, check: Callable[[Response], _T], *, watch: bool = False) -> _T:
        """Make ``call`` under the client's retry policy (its token added when just got);
        ``check`` reads the answer. ``watch``: over the multiplexer when there is one."""
        return await self._client._send(call, check, watch=watch)

    async def send_as_is(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        """Make ``call`` as it is (its own headers: no token is added) through the client's
        members, attempt loop and transport; ``check`` reads the answer.

        For the requests of :class:`aio_etcd.Client` with ``api="v3"`` that are not v3
        calls (``/version``, ``api_execute``), so that that client has one session.
        """
        client = self._client
        if client._closed:
            raise EtcdException("the client is closed")
        if not client._discovered:
            await client._discover()
        return await client._cluster.request(
            client._transport,
            call,
            check,
            client._policy,
            deadline=client._deadline if timeout is None else timeout,
            attempt_timeout=attempt_timeout,
        )

    async def authenticate(self, stale: str | None) -> None:
        """Get a new token (once for concurrent callers); ``stale`` is the token that was refused."""
        await self._client._authenticate(stale)
