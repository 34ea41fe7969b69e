"""The v3 Client: etcd's v3 API over the same request path as the v2 client.

Each public call is written here once: its arguments checked, its defaults,
its paging, its deadline. The client's wire (:mod:`aio_etcd.v3._wire`;
the JSON gateway's, :class:`~aio_etcd.v3._gateway_wire.GatewayWire`, by
default) writes its request and reads its answer; :meth:`Client._unary`
sends it through the core (:class:`aio_etcd._core.Cluster`, given the
transport's rules: :class:`~aio_etcd.v3._gateway.GatewayRules`) under the
client's :class:`~aio_etcd.RetryPolicy`. Reads are sent again to another
member when one fails; writes never are once they may have been sent (they
raise :class:`~aio_etcd.EtcdOutcomeUnknown`): the table of the calls
(:data:`aio_etcd.v3._wire.RULES`) says which is which.
"""

from __future__ import annotations

import asyncio
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
from ._gateway_wire import GatewayWire
from ._mux import Multiplexer
from ._session import Session
from ._shared import StreamShares
from ._transports import TRANSPORTS, _client_class, _transport_names
from ._wire import Unary, Wire
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
    to_bytes,
)
from .watch import Probes, Watch

__all__ = ["TRANSPORTS", "Client", "Session"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How a member is named: ``(host, port)``, ``"host:port"`` or ``"http://host:port"``.
MemberSpec = tuple[str, int] | str

_JSON = {"Content-Type": "application/json"}


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
        self._wire: Wire = self._make_wire()
        self._mux: Multiplexer | None = self._make_mux(watch_transport, username is not None)
        # Without a multiplexer each etcd watch is an HTTP stream, identical watches sharing one.
        self._streams: StreamShares | None = None if self._mux else StreamShares(self._transport, self._cluster)
        #: Users, roles, enabling auth: :class:`aio_etcd.v3.auth.Auth`.
        self.auth: Auth = Auth(self)
        self._keepalives: KeepAlives = KeepAlives(self)
        self._probes: Probes = Probes(self)
        # Package-internal (not part of the public API, so not in the user docs): what
        # aio_etcd's own modules use of this client besides its public methods.
        self.session = Session(
            cluster=self._cluster,
            transport=self._transport,
            mux=self._mux,
            probes=self._probes,
            keepalives=self._keepalives,
            has_credentials=username is not None,
            check=self._check,
            send=self._send,
            send_as_is=self._send_as_is,
            authenticate=self._authenticate,
            range_answer=self._range_answer,
            txn_answer=self._txn_answer,
        )

    def __new__(cls, *members: MemberSpec, transport: Transport | str | None = "auto", **options: Any) -> Client:
        if cls is Client and (transport is None or isinstance(transport, str)):
            if transport is None or transport == "auto":
                from . import _auto

                transport = _auto.choose(options)
            registered = TRANSPORTS.get(transport)
            if registered is not None:
                return object.__new__(_client_class(transport, *registered, Client))
        return object.__new__(cls)

    def _api_rules(self) -> ApiRules:
        """The core's rules for this client's transport (the gateway's)."""
        return _gateway.GatewayRules(lambda: self._headers)

    def _make_wire(self) -> Wire:
        """How this client writes each call and reads its answer (the gateway's JSON)."""
        return GatewayWire(self._check)

    def _make_mux(self, watch_transport: str, has_credentials: bool) -> Multiplexer | None:
        """The watch multiplexer (``None``: each watch is an HTTP stream of its own)."""
        if watch_transport == "websocket" or (watch_transport == "auto" and not has_credentials):
            if getattr(self._transport, "websockets", False):
                return Multiplexer(self._transport, self._cluster)
            if watch_transport == "websocket":
                raise ValueError("watch_transport='websocket' needs a transport that opens websockets")
        return None

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
        if self._streams is not None:
            await self._streams.close()
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

        The escape hatch for gateway calls this client has no method for
        (over gRPC: the paths of etcd's services, converted both ways).

        :param safe: the call may be sent again after an attempt that may have
            reached a member (reads); writes must say ``False`` (or give the
            :class:`~aio_etcd.retry.ReplayRule` to follow). ``None`` (the
            default): the gateway's table decides (:func:`aio_etcd.v3._gateway.replay_rule`:
            the known reads are safe, anything else is not).
        :param timeout: the call's deadline (``None``: the client's; ``math.inf``: none).
        :param stream: the answer may take long (a blocking lock): use the
            watch connections and no attempt time limit past connecting.
        """
        method, encode, decode = self._wire.escape(path)
        if safe is None:
            rule = _gateway.replay_rule(path, request)
        else:
            rule = safe if isinstance(safe, ReplayRule) else SAFE if safe else UNSAFE
        answer = await self._unary(
            method,
            encode(request),
            op or path,
            key,
            timeout,
            rule=rule,
            attempt_timeout=attempt_timeout,
            attempts=attempts,
            stream=stream,
        )
        return answer if decode is None else decode(answer)

    async def _unary(
        self,
        method: Unary,
        body: bytes,
        op: str,
        key: bytes | None = None,
        timeout: float | None = None,
        *,
        rule: ReplayRule | None = None,
        attempt_timeout: float | None = None,
        attempts: int | None = -1,
        stream: bool = False,
    ) -> Any:
        """Send one call's ``body`` the way ``method`` says (its path, its check; its replay
        rule unless ``rule`` is given) through the attempt loop, the token added. A token
        refused as stale is renewed and the call made once more; a server's error names the call."""
        path, check = method.path, method.check
        if rule is None:
            rule = method.rule
        call = Call("POST", path, self._headers, body=body, rule=rule, op=op, key=key, stream=stream)
        token = self._token
        try:
            if self._closed or not self._discovered or token is None:
                return await self._send(
                    call, check, timeout=timeout, attempt_timeout=attempt_timeout, attempts=attempts
                )
            # The common case, one coroutine less: straight to the core's attempt loop.
            return await self._cluster.request(
                self._transport,
                call,
                check,
                self._policy,
                deadline=self._deadline if timeout is None else timeout,
                attempt_timeout=attempt_timeout,
                attempts=attempts,
            )
        except EtcdServerError as exc:
            if not self.stale_token(exc):
                exc.args = (f"{call}: {exc.args[0]}",)  # name the call, not only the member
                raise
        await self._authenticate(token)  # once: a token refused again is the caller's to see
        call = Call("POST", path, self._headers, body=body, rule=rule, op=op, key=key, stream=stream)
        try:
            return await self._send(call, check, timeout=timeout, attempt_timeout=attempt_timeout, attempts=attempts)
        except EtcdServerError as exc:
            exc.args = (f"{call}: {exc.args[0]}",)
            raise

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
            (self._mux or self._streams or self._transport) if watch else self._transport,
            call,
            check,
            self._policy,
            deadline=self._deadline if timeout is None else timeout,
            attempt_timeout=attempt_timeout,
            attempts=attempts,
        )

    async def _send_as_is(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        """Make ``call`` as it is (no token added): :meth:`Session.send_as_is`."""
        if self._closed:
            raise EtcdException("the client is closed")
        if not self._discovered:
            await self._discover()
        return await self._cluster.request(
            self._transport,
            call,
            check,
            self._policy,
            deadline=self._deadline if timeout is None else timeout,
            attempt_timeout=attempt_timeout,
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
            wire = self._wire
            method = wire.authenticate
            body = wire.authenticate_body(self._username or "", self._password or "")
            call = Call("POST", method.path, wire.plain_headers, body=body, op="authenticate")
            try:
                answer = await self._cluster.request(
                    self._transport, call, method.check, self._policy, deadline=self._deadline
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
            token = wire.token(answer)
            if not token:
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
        wire = self._wire
        answer = await self._unary(wire.range, wire.get_body(raw, serializable), "get", raw, timeout)
        return wire.first_kv(answer)

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
        start, end = _txn.raw_range(key, prefix, range_end)
        if limit < 0:
            raise ValueError("limit must not be negative")
        order = None if sort is None else _txn.sort_names(sort)
        wire = self._wire
        body = wire.range_body(start, end, limit, revision, order, keys_only, count_only, serializable)
        answer = await self._unary(wire.range, body, "range", start, timeout)
        return wire.range_result(answer)

    async def _range_answer(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        serializable: bool = False,
        key: bytes | None = None,
        timeout: float | None = None,
    ) -> Any:
        """``client.session.range_answer`` (see :class:`Session`)."""
        wire = self._wire
        body = wire.range_body(start, end, limit, revision, None, keys_only, False, serializable)
        return await self._unary(wire.range, body, "read", key if key is not None else start, timeout)

    async def _txn_answer(
        self, txn: _txn.Txn, *, rule: ReplayRule, op: str, key: bytes, timeout: float | None = None
    ) -> dict[str, Any]:
        """``client.session.txn_answer`` (see :class:`Session`)."""
        wire = self._wire
        return wire.txn_fields(await self._unary(wire.txn, wire.txn_body(txn), op, key, timeout, rule=rule))

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
        start, end = _txn.raw_range(key, prefix, range_end)
        wire = self._wire
        revision = 0
        while True:
            body = wire.range_body(start, end, page, revision, None, keys_only, False, False)
            answer = wire.range_result(await self._unary(wire.range, body, "scan", start))
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
        data = _txn.put_value(value, ignore_value)
        lid = 0 if lease is None else _txn.lease_id(lease)
        wire = self._wire
        body = wire.put_body(raw, data, lid, prev_kv, ignore_value, ignore_lease)
        return wire.put_result(await self._unary(wire.put, body, "put", raw, timeout))

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
        start, end = _txn.raw_range(key, prefix, range_end)
        wire = self._wire
        body = wire.delete_body(start, end, prev_kv)
        answer = await self._unary(wire.delete, body, "delete", start, timeout)
        return wire.delete_result(answer)

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
        wire = self._wire
        rule = None if txn.writes else SAFE  # a transaction that writes nothing is a read
        answer = await self._unary(wire.txn, wire.txn_body(txn), "txn", rule=rule)
        return wire.txn_result(answer)

    async def compact(self, revision: int, *, physical: bool = False) -> None:
        """Forget the history before ``revision`` (watches and reads below it fail with EtcdCompacted)."""
        wire = self._wire
        await self._unary(wire.compact, wire.compact_body(revision, physical), "compact")

    # -- leases ---------------------------------------------------------------------------

    def lease(self, ttl: int, *, lease_id: int = 0) -> Lease:
        """A lease to use as ``async with``: granted on entry, kept alive, revoked on exit."""
        return Lease(self, ttl, lease_id=lease_id)

    async def grant(self, ttl: int, *, lease_id: int = 0) -> LeaseGrant:
        """Grant a lease of ``ttl`` seconds (etcd's minimum is 2); nobody keeps it alive."""
        if ttl < 1:
            raise ValueError("a lease's ttl is at least 1 second")
        wire = self._wire
        body = wire.grant_body(ttl, lease_id)
        return wire.lease_grant(await self._unary(wire.grant, body, "lease grant"))

    async def revoke(self, lease: Lease | LeaseGrant | int) -> None:
        """Revoke a lease: its keys are deleted (``EtcdLeaseNotFound`` if it is gone)."""
        wire = self._wire
        body = wire.lease_body(_txn.lease_id(lease))
        await self._unary(wire.revoke, body, "lease revoke")

    async def time_to_live(self, lease: Lease | LeaseGrant | int, *, keys: bool = False) -> LeaseInfo:
        """What etcd knows of a lease (``ttl`` -1 when it is gone)."""
        wire = self._wire
        body = wire.lease_body(_txn.lease_id(lease), keys)
        return wire.lease_info(await self._unary(wire.time_to_live, body, "lease time-to-live"))

    async def leases(self) -> list[int]:
        """The ids of every lease."""
        wire = self._wire
        return wire.lease_ids(await self._unary(wire.leases, wire.empty, "lease list"))

    async def keep_alive_once(
        self, lease: Lease | LeaseGrant | int, *, timeout: float | None = None, attempt_timeout: float | None = None
    ) -> int:
        """Renew a lease once; its new TTL (``EtcdLeaseNotFound`` when it is gone)."""
        lid = _txn.lease_id(lease)
        wire = self._wire
        answer = await self._unary(
            wire.keep_alive,
            wire.lease_body(lid),
            "lease keep-alive",
            None,
            timeout,
            attempt_timeout=attempt_timeout,
            attempts=None,
        )
        ttl = wire.keep_alive_ttl(answer)
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
        wire = self._wire
        return wire.members_of(await self._unary(wire.members, wire.empty, "member list"))

    async def status(self, member: str | None = None) -> Status:
        """The status of ``member`` (a client URL; default: the member calls go to)."""
        wire = self._wire
        if member is None:
            return wire.status_of(await self._unary(wire.status, wire.empty, "status"))
        call = Call("POST", wire.status.path, self._headers, body=wire.empty, op="status")
        resp = await self._cluster.ask(self._transport, member.rstrip("/"), call, self._policy.attempt_timeout)
        return wire.status_of(wire.status.check(resp))

    async def sync_members(self) -> list[str]:
        """Learn the member list now; the URLs known afterwards."""
        await self._cluster.sync(self._transport, self._policy)
        return list(self._cluster.members)

    async def revision(self) -> int:
        """The store's current revision."""
        wire = self._wire
        return wire.revision_of(await self._unary(wire.range, wire.count_one, "revision"))
