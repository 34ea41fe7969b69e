"""``v3.Client(..., transport="grpc")``: the v3 client's calls as gRPC calls, through the same core.

:class:`GrpcClient` is what ``v3.Client(transport="grpc")`` makes (a
subclass: ``isinstance(client, v3.Client)`` holds). Every call goes through
the client's :class:`~aio_etcd._core.Cluster` as on the gateway (member
pinning, failover, deadlines, the replay rules, the frozen-member probe,
the observer), on a :class:`~aio_etcd.v3._grpc.transport.GrpcTransport`:
requests are built as messages from the arguments, answers read as messages
behind the public result classes (:mod:`aio_etcd.v3._grpc.results`).

Watches go through the client's websocket multiplexer
(:mod:`aio_etcd.v3._mux`), over one gRPC Watch stream per member
(:class:`~aio_etcd.v3._grpc.transport.WatchStream`), so they resume as on
the gateway. Locks, elections and user management go through
:meth:`GrpcClient.call`, which converts the gateway's bodies to messages and
back. Not carried: ``ssl=`` (an :class:`~ssl.SSLContext`), refused with a
``ValueError`` naming the options to give instead (``ca_cert=``, ``cert=``;
``transport="auto"`` takes the gateway for it). ``ssl_verify=False`` trusts
the certificate each member presents (:mod:`aio_etcd.v3._grpc.transport`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, NoReturn

from google.protobuf.message import DecodeError

from ..._core import SAFE, UNSAFE, ApiRules, Call, NotEtcd, ReplayRule, Response
from ...exceptions import EtcdException
from .. import _gateway
from .. import txn as _txn
from ..client import Client
from ..errors import EtcdAuthFailed, EtcdLeaseNotFound, EtcdServerError, error_from
from ..results import KV, Delete, LeaseGrant, LeaseInfo, Member, Put, Range, Status, TxnResult, to_bytes, value_bytes
from . import calls as _calls
from . import results as _res
from .messages import METHODS
from .messages import etcdserverpb as pb
from .rules import GrpcRules, replay_rule
from .transport import GrpcTransport
from .watch import GrpcMultiplexer, GrpcWatch

if TYPE_CHECKING:
    from ..lease import Lease
    from ..watch import Watch

__all__ = ["GrpcClient"]

_RANGE = "/etcdserverpb.KV/Range"
_PUT = "/etcdserverpb.KV/Put"
_DELETE = "/etcdserverpb.KV/DeleteRange"
_TXN = "/etcdserverpb.KV/Txn"

_SORT_TARGETS = {"key": 0, "version": 1, "create": 2, "mod": 3, "value": 4}
_SORT_ORDERS = {"asc": 1, "desc": 2, "ascend": 1, "descend": 2}

#: The gateway paths :meth:`GrpcClient.call` still takes: (gRPC method, body -> message, message -> body).
_GATEWAY_PATHS: dict[str, tuple[str, Callable[[dict[str, Any]], Any], Callable[[Any], dict[str, Any]], Any]] = {
    "/v3/kv/range": (_RANGE, _calls.range_message, _calls.range_answer, pb.RangeResponse),
    "/v3/kv/put": (_PUT, _calls.put_message, _calls.put_answer, pb.PutResponse),
    "/v3/kv/deleterange": (_DELETE, _calls.delete_message, _calls.delete_answer, pb.DeleteRangeResponse),
    "/v3/kv/txn": (_TXN, _calls.txn_message, _calls.txn_answer, pb.TxnResponse),
}


#: The other gateway paths :meth:`GrpcClient.call` takes, by their gRPC method (converted by
#: protobuf's JSON mapping, which is the gateway's: original field names, int64 as strings,
#: bytes in base64, enums by name; slower than the KV paths' converters, and off the hot path).
_GATEWAY_METHODS = {
    "/v3/kv/compaction": "/etcdserverpb.KV/Compact",
    "/v3/lease/grant": "/etcdserverpb.Lease/LeaseGrant",
    "/v3/lease/revoke": "/etcdserverpb.Lease/LeaseRevoke",
    "/v3/lease/timetolive": "/etcdserverpb.Lease/LeaseTimeToLive",
    "/v3/lease/leases": "/etcdserverpb.Lease/LeaseLeases",
    "/v3/lease/keepalive": "/etcdserverpb.Lease/LeaseKeepAlive",
    "/v3/cluster/member/list": "/etcdserverpb.Cluster/MemberList",
    "/v3/maintenance/status": "/etcdserverpb.Maintenance/Status",
    "/v3/maintenance/alarm": "/etcdserverpb.Maintenance/Alarm",
    "/v3/maintenance/defragment": "/etcdserverpb.Maintenance/Defragment",
    "/v3/maintenance/hash": "/etcdserverpb.Maintenance/Hash",
    "/v3/lock/lock": "/v3lockpb.Lock/Lock",
    "/v3/lock/unlock": "/v3lockpb.Lock/Unlock",
    "/v3/election/campaign": "/v3electionpb.Election/Campaign",
    "/v3/election/proclaim": "/v3electionpb.Election/Proclaim",
    "/v3/election/leader": "/v3electionpb.Election/Leader",
    "/v3/election/resign": "/v3electionpb.Election/Resign",
    "/v3/auth/enable": "/etcdserverpb.Auth/AuthEnable",
    "/v3/auth/disable": "/etcdserverpb.Auth/AuthDisable",
    "/v3/auth/status": "/etcdserverpb.Auth/AuthStatus",
    "/v3/auth/authenticate": "/etcdserverpb.Auth/Authenticate",
    "/v3/auth/user/add": "/etcdserverpb.Auth/UserAdd",
    "/v3/auth/user/get": "/etcdserverpb.Auth/UserGet",
    "/v3/auth/user/list": "/etcdserverpb.Auth/UserList",
    "/v3/auth/user/delete": "/etcdserverpb.Auth/UserDelete",
    "/v3/auth/user/changepw": "/etcdserverpb.Auth/UserChangePassword",
    "/v3/auth/user/grant": "/etcdserverpb.Auth/UserGrantRole",
    "/v3/auth/user/revoke": "/etcdserverpb.Auth/UserRevokeRole",
    "/v3/auth/role/add": "/etcdserverpb.Auth/RoleAdd",
    "/v3/auth/role/get": "/etcdserverpb.Auth/RoleGet",
    "/v3/auth/role/list": "/etcdserverpb.Auth/RoleList",
    "/v3/auth/role/delete": "/etcdserverpb.Auth/RoleDelete",
    "/v3/auth/role/grant": "/etcdserverpb.Auth/RoleGrantPermission",
    "/v3/auth/role/revoke": "/etcdserverpb.Auth/RoleRevokePermission",
}


def _json_mapping(method: str) -> tuple[str, Callable[[dict[str, Any]], Any], Callable[[Any], dict[str, Any]], Any]:
    """A gateway path's converters through protobuf's JSON mapping."""
    from google.protobuf import json_format

    info = METHODS[method]

    def to_message(body: dict[str, Any]) -> Any:
        return json_format.ParseDict(body, info.request())

    def to_body(answer: Any) -> dict[str, Any]:
        result: dict[str, Any] = json_format.MessageToDict(answer, preserving_proto_field_name=True)
        return result

    return method, to_message, to_body, info.response


def _not_yet(what: str) -> NoReturn:
    raise EtcdException(f"{what} is not available over the gRPC transport yet: use transport='gateway'")


def _refuse_context(context: SSLContext | None) -> None:
    """A ``ValueError`` naming what to give instead of an :class:`~ssl.SSLContext`, which grpc cannot take.

    grpc takes PEM bytes; a context's CA certificates can be read back, its client key cannot.
    """
    if context is not None:
        raise ValueError(
            "transport='grpc' cannot take ssl= (an SSLContext: grpc reads PEM files and a context's "
            "client key cannot be read back): give ca_cert='ca.pem' and cert=('client.pem', 'client-key.pem') "
            "(or cert='one.pem' holding both), or transport='gateway' (which 'auto' picks for ssl=)"
        )


def _key_range(key: str | bytes, prefix: bool, range_end: str | bytes | None) -> tuple[bytes, bytes]:
    raw = to_bytes(key)
    if prefix:
        if range_end is not None:
            raise ValueError("give prefix=True or range_end, not both")
        return raw, _txn.prefix_end(raw)
    if range_end is not None:
        return raw, to_bytes(range_end, "range_end")
    return raw, b""


class GrpcClient(Client):
    """A :class:`~aio_etcd.v3.Client` over gRPC (see the module for what it carries)."""

    def __init__(
        self,
        *members: Any,
        ca_cert: str | None = None,
        cert: str | tuple[str, str] | None = None,
        ssl_verify: bool = True,
        ssl: SSLContext | None = None,
        transport: Any = "grpc",
        **options: Any,
    ) -> None:
        _refuse_context(ssl)
        wire = GrpcTransport(ca_cert=ca_cert, cert=cert, ssl_verify=ssl_verify)
        self._checks: dict[Any, Callable[[Response], Any]] = {}
        #: The cluster id answers carried so far, as the int they carry it as.
        self._cluster_int = 0
        super().__init__(*members, ca_cert=ca_cert, cert=cert, ssl_verify=ssl_verify, transport=wire, **options)
        wire.name = ", ".join(self._cluster.members)
        # Every watch of a member shares its one Watch stream, credentials or not (the
        # multiplexer the gateway client may have made has opened nothing yet).
        self._mux = GrpcMultiplexer(wire, self._cluster)

    @property
    def watch_transport(self) -> str:
        """``"grpc"``: watches share one gRPC Watch stream per member."""
        return "grpc"

    def _api_rules(self) -> ApiRules:
        return GrpcRules(lambda: self._headers)

    @property
    def transport(self) -> str:
        """``"grpc"``."""
        return "grpc"

    # -- the request path ---------------------------------------------------------------

    def _check_of(self, cls: Any) -> Callable[[Response], Any]:
        """The check of answers carrying ``cls``: the message, the cluster id guarded, or the error."""
        known = self._checks.get(cls)
        if known is not None:
            return known
        cluster = self._cluster
        parse = cls.FromString

        def check(resp: Response) -> Any:
            if resp.status == 200:
                try:
                    answer = parse(resp.body)
                except DecodeError:
                    raise NotEtcd(resp, f"not an etcd {cls.DESCRIPTOR.name}", "v3") from None
                seen = answer.header.cluster_id
                if seen != self._cluster_int and seen:
                    cluster.guard_cluster_id(str(seen), resp.url)
                    self._cluster_int = seen
                return answer
            payload = resp.json_object()
            error = error_from(payload, resp.status, resp.url) if payload is not None else None
            if error is not None:
                raise error
            raise NotEtcd(resp, "not an etcd gRPC answer", "v3")

        self._checks[cls] = check
        return check

    async def rpc(
        self,
        path: str,
        request: Any,
        answer: Any,
        *,
        rule: ReplayRule | None = None,
        op: str = "",
        key: bytes | None = None,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
        attempts: int | None = -1,
        stream: bool = False,
    ) -> Any:
        """Make the unary gRPC call ``path`` with the message ``request``; the answer's message (class ``answer``).

        :param stream: the answer may take long (a lock, a campaign): no attempt time limit.
        """
        body = request.SerializeToString()
        if rule is None:
            rule = replay_rule(path)
        check = self._checks.get(answer) or self._check_of(answer)
        call = Call("POST", path, self._headers, body=body, rule=rule, op=op or path, key=key, stream=stream)
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
        call = Call("POST", path, self._headers, body=body, rule=rule, op=op or path, key=key, stream=stream)
        try:
            return await self._send(call, check, timeout=timeout, attempt_timeout=attempt_timeout, attempts=attempts)
        except EtcdServerError as exc:
            exc.args = (f"{call}: {exc.args[0]}",)
            raise

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
        """The gateway escape hatch: over gRPC only the KV paths (converted both ways)."""
        known = _GATEWAY_PATHS.get(path)
        if known is None:
            method_path = _GATEWAY_METHODS.get(path)
            if method_path is None:
                _not_yet(f"the gateway call {path}")
            known = _GATEWAY_PATHS[path] = _json_mapping(method_path)
        method, to_message, to_body, answer_cls = known
        if safe is None:
            rule = _gateway.replay_rule(path, request)
        else:
            rule = safe if isinstance(safe, ReplayRule) else SAFE if safe else UNSAFE
        answer = await self.rpc(
            method,
            to_message(request),
            answer_cls,
            rule=rule,
            op=op or path,
            key=key,
            timeout=timeout,
            attempt_timeout=attempt_timeout,
            attempts=attempts,
            stream=stream,
        )
        return to_body(answer)

    async def _authenticate(self, stale: str | None) -> None:
        """Get a token (once for concurrent callers): ``stale`` is the token that failed."""
        import asyncio

        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            if self._token is not None and self._token != stale:
                return
            request = pb.AuthenticateRequest(name=self._username or "", password=self._password or "")
            call = Call(
                "POST", "/etcdserverpb.Auth/Authenticate", {}, body=request.SerializeToString(), op="authenticate"
            )
            try:
                answer = await self._cluster.request(
                    self._transport,
                    call,
                    self._check_of(pb.AuthenticateResponse),
                    self._policy,
                    deadline=self._deadline,
                )
            except EtcdServerError as exc:
                if "authentication is not enabled" in exc.grpc_message:
                    self._set_token("")
                    return
                raise EtcdAuthFailed(
                    f"etcd refused the credentials of {self._username!r}: {exc.grpc_message}",
                    exc.code,
                    exc.grpc_message,
                    exc.status,
                ) from exc
            if not answer.token:
                raise EtcdException("etcd answered authenticate without a token")
            self._set_token(answer.token)

    # -- KV -------------------------------------------------------------------------------

    async def get(self, key: str | bytes, *, serializable: bool = False, timeout: float | None = None) -> KV | None:
        raw = to_bytes(key)
        request = pb.RangeRequest(key=raw, serializable=serializable) if serializable else pb.RangeRequest(key=raw)
        answer = await self.rpc(_RANGE, request, pb.RangeResponse, rule=SAFE, op="get", key=raw, timeout=timeout)
        kvs = answer.kvs
        return _res.PbKV(kvs[0]) if kvs else None

    @staticmethod
    def _range_message(
        key: str | bytes,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        limit: int = 0,
        revision: int = 0,
        sort: tuple[str, str] | None = None,
        keys_only: bool = False,
        count_only: bool = False,
        serializable: bool = False,
    ) -> Any:
        start, end = _key_range(key, prefix, range_end)
        if limit < 0:
            raise ValueError("limit must not be negative")
        request = pb.RangeRequest(
            key=start,
            range_end=end,
            limit=limit,
            revision=revision,
            keys_only=keys_only,
            count_only=count_only,
            serializable=serializable,
        )
        if sort is not None:
            target, order = sort
            try:
                request.sort_target = _SORT_TARGETS[target.lower()]
                request.sort_order = _SORT_ORDERS[order.lower()]
            except KeyError:
                raise ValueError(
                    f"sort is (target, order): target one of {sorted(_SORT_TARGETS)}, "
                    f"order 'asc' or 'desc'; not {sort!r}"
                ) from None
        return request

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
        request = self._range_message(
            key, prefix, range_end, limit, revision, sort, keys_only, count_only, serializable
        )
        answer = await self.rpc(
            _RANGE, request, pb.RangeResponse, rule=SAFE, op="range", key=request.key, timeout=timeout
        )
        return _res.PbRange(answer)

    async def scan(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        page: int = 500,
        keys_only: bool = False,
    ) -> AsyncIterator[KV]:
        if page < 1:
            raise ValueError("page must be at least 1")
        start, end = _key_range(key, prefix, range_end)
        revision = 0
        while True:
            request = pb.RangeRequest(key=start, range_end=end, limit=page, revision=revision, keys_only=keys_only)
            answer = await self.rpc(_RANGE, request, pb.RangeResponse, rule=SAFE, op="scan", key=start)
            revision = revision or answer.header.revision
            kvs = answer.kvs
            for kv in kvs:
                yield _res.PbKV(kv)
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
        raw = to_bytes(key)
        if ignore_value:
            if value not in (b"", ""):
                raise ValueError("ignore_value=True keeps the value: give no value (b'')")
            data = b""
        else:
            data = value if type(value) is bytes else value_bytes(value)
        if lease is None and not (prev_kv or ignore_value or ignore_lease):
            request = pb.PutRequest(key=raw, value=data)
        else:
            request = pb.PutRequest(
                key=raw,
                value=data,
                lease=_txn.lease_id(lease),
                prev_kv=prev_kv,
                ignore_value=ignore_value,
                ignore_lease=ignore_lease,
            )
        answer = await self.rpc(_PUT, request, pb.PutResponse, rule=UNSAFE, op="put", key=raw, timeout=timeout)
        return _res.PbPut(answer)

    async def delete(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        prev_kv: bool = False,
        timeout: float | None = None,
    ) -> Delete:
        start, end = _key_range(key, prefix, range_end)
        request = pb.DeleteRangeRequest(key=start, range_end=end, prev_kv=prev_kv)
        answer = await self.rpc(
            _DELETE, request, pb.DeleteRangeResponse, rule=UNSAFE, op="delete", key=start, timeout=timeout
        )
        return _res.PbDelete(answer)

    async def _commit(self, txn: _txn.Txn) -> TxnResult:
        # The message straight from the comparisons' and operations' raw fields (aio_etcd.v3.txn).
        request = _calls.txn_request(txn)
        rule = UNSAFE if txn.writes else SAFE
        answer = await self.rpc(_TXN, request, pb.TxnResponse, rule=rule, op="txn")
        return _res.PbTxnResult(answer)

    async def compact(self, revision: int, *, physical: bool = False) -> None:
        request = pb.CompactionRequest(revision=revision, physical=physical)
        await self.rpc("/etcdserverpb.KV/Compact", request, pb.CompactionResponse, rule=UNSAFE, op="compact")

    async def revision(self) -> int:
        request = pb.RangeRequest(key=b"\0", count_only=True)
        answer = await self.rpc(_RANGE, request, pb.RangeResponse, rule=SAFE, op="revision")
        return int(answer.header.revision)

    # -- leases ---------------------------------------------------------------------------

    async def grant(self, ttl: int, *, lease_id: int = 0) -> LeaseGrant:
        if ttl < 1:
            raise ValueError("a lease's ttl is at least 1 second")
        request = pb.LeaseGrantRequest(TTL=ttl, ID=lease_id)
        answer = await self.rpc("/etcdserverpb.Lease/LeaseGrant", request, pb.LeaseGrantResponse, op="lease grant")
        return LeaseGrant(int(answer.ID), int(answer.TTL))

    async def revoke(self, lease: Lease | LeaseGrant | int) -> None:
        request = pb.LeaseRevokeRequest(ID=_txn.lease_id(lease))
        await self.rpc("/etcdserverpb.Lease/LeaseRevoke", request, pb.LeaseRevokeResponse, op="lease revoke")

    async def time_to_live(self, lease: Lease | LeaseGrant | int, *, keys: bool = False) -> LeaseInfo:
        request = pb.LeaseTimeToLiveRequest(ID=_txn.lease_id(lease), keys=keys)
        answer = await self.rpc(
            "/etcdserverpb.Lease/LeaseTimeToLive", request, pb.LeaseTimeToLiveResponse, op="lease time-to-live"
        )
        return _res.lease_info(answer)

    async def leases(self) -> list[int]:
        answer = await self.rpc(
            "/etcdserverpb.Lease/LeaseLeases", pb.LeaseLeasesRequest(), pb.LeaseLeasesResponse, op="lease list"
        )
        return [int(item.ID) for item in answer.leases]

    async def keep_alive_once(
        self, lease: Lease | LeaseGrant | int, *, timeout: float | None = None, attempt_timeout: float | None = None
    ) -> int:
        lid = _txn.lease_id(lease)
        answer = await self.rpc(
            "/etcdserverpb.Lease/LeaseKeepAlive",
            pb.LeaseKeepAliveRequest(ID=lid),
            pb.LeaseKeepAliveResponse,
            op="lease keep-alive",
            timeout=timeout,
            attempt_timeout=attempt_timeout,
            attempts=None,
        )
        if answer.TTL <= 0:
            raise EtcdLeaseNotFound(
                f"lease keep-alive: lease {lid:x} is gone (expired or revoked)", 5, "requested lease not found"
            )
        return int(answer.TTL)

    # -- not over gRPC yet ----------------------------------------------------------------

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
        return GrpcWatch(
            self,
            _txn.key_range(key, prefix, range_end),
            start_revision=start_revision,
            prev_kv=prev_kv,
            filters=filters,
            progress_notify=progress_notify,
        )

    # -- cluster --------------------------------------------------------------------------

    async def members(self) -> list[Member]:
        answer = await self.rpc(
            "/etcdserverpb.Cluster/MemberList", pb.MemberListRequest(), pb.MemberListResponse, op="member list"
        )
        return [_res.member(m) for m in answer.members]

    async def status(self, member: str | None = None) -> Status:
        if member is None:
            answer = await self.rpc(
                "/etcdserverpb.Maintenance/Status", pb.StatusRequest(), pb.StatusResponse, op="status"
            )
            return _res.status(answer)
        call = Call("POST", "/etcdserverpb.Maintenance/Status", self._headers, body=b"", op="status")
        resp = await self._cluster.ask(self._transport, member.rstrip("/"), call, self._policy.attempt_timeout)
        return _res.status(self._check_of(pb.StatusResponse)(resp))
