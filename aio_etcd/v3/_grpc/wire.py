"""gRPC's :class:`~aio_etcd.v3._wire.Wire`: each call one of etcd's methods, its request and answer messages.

Requests are built as messages from the checked arguments and serialized;
answers are parsed by each method's check (:meth:`GrpcWire.check_of`, which
guards the cluster id) and read behind the public result classes
(:mod:`aio_etcd.v3._grpc.results`). ``Client.call``'s gateway paths are
converted both ways: the KV paths by :mod:`~aio_etcd.v3._grpc.calls`, the
others through protobuf's JSON mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from google.protobuf.message import DecodeError

from ..._core import NotEtcd, Response
from ...exceptions import EtcdException
from .._wire import RULES, Check, Escape, Unary
from ..errors import error_from
from ..results import KV, LeaseGrant, Member
from . import calls as _calls
from . import results as _res
from .messages import METHODS
from .messages import etcdserverpb as pb

if TYPE_CHECKING:
    from ..._core import Cluster
    from ..txn import Txn

__all__ = ["GrpcWire", "not_yet"]

#: etcd's enum numbers of ``RangeRequest``'s SortTarget and SortOrder, by their names.
_SORT_NUMBERS = {"KEY": 0, "VERSION": 1, "CREATE": 2, "MOD": 3, "VALUE": 4, "ASCEND": 1, "DESCEND": 2}

#: The KV gateway paths ``Client.call`` takes over gRPC: (method, body -> message, message -> body, answer).
_KV_PATHS: dict[str, tuple[str, Callable[[dict[str, Any]], Any], Callable[[Any], dict[str, Any]], Any]] = {
    "/v3/kv/range": ("/etcdserverpb.KV/Range", _calls.range_message, _calls.range_answer, pb.RangeResponse),
    "/v3/kv/put": ("/etcdserverpb.KV/Put", _calls.put_message, _calls.put_answer, pb.PutResponse),
    "/v3/kv/deleterange": (
        "/etcdserverpb.KV/DeleteRange",
        _calls.delete_message,
        _calls.delete_answer,
        pb.DeleteRangeResponse,
    ),
    "/v3/kv/txn": ("/etcdserverpb.KV/Txn", _calls.txn_message, _calls.txn_answer, pb.TxnResponse),
}

#: The other gateway paths ``Client.call`` takes, by their gRPC method (converted by protobuf's
#: JSON mapping, which is the gateway's: original field names, int64 as strings, bytes in
#: base64, enums by name; slower than the KV paths' converters, and off the hot path).
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


def not_yet(what: str) -> NoReturn:
    raise EtcdException(f"{what} is not available over the gRPC transport yet: use transport='gateway'")


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


def _serializer(to_message: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], bytes]:
    def encode(request: dict[str, Any]) -> bytes:
        data: bytes = to_message(request).SerializeToString()
        return data

    return encode


class GrpcWire:
    """gRPC's wire for one client, whose core (``cluster``) guards the cluster id answers carry."""

    empty = b""
    count_one = pb.RangeRequest(key=b"\0", count_only=True).SerializeToString()
    plain_headers: Mapping[str, str] = {}

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._checks: dict[Any, Check] = {}
        self._escapes: dict[str, Escape] = {}
        #: The cluster id answers carried so far, as the int they carry it as.
        self._cluster_int = 0
        check = self.check_of
        self.range = Unary("/etcdserverpb.KV/Range", check(pb.RangeResponse), RULES["range"])
        self.put = Unary("/etcdserverpb.KV/Put", check(pb.PutResponse), RULES["put"])
        self.delete = Unary("/etcdserverpb.KV/DeleteRange", check(pb.DeleteRangeResponse), RULES["delete"])
        self.txn = Unary("/etcdserverpb.KV/Txn", check(pb.TxnResponse), RULES["txn"])
        self.compact = Unary("/etcdserverpb.KV/Compact", check(pb.CompactionResponse), RULES["compact"])
        self.grant = Unary("/etcdserverpb.Lease/LeaseGrant", check(pb.LeaseGrantResponse), RULES["grant"])
        self.revoke = Unary("/etcdserverpb.Lease/LeaseRevoke", check(pb.LeaseRevokeResponse), RULES["revoke"])
        self.time_to_live = Unary(
            "/etcdserverpb.Lease/LeaseTimeToLive", check(pb.LeaseTimeToLiveResponse), RULES["time_to_live"]
        )
        self.leases = Unary("/etcdserverpb.Lease/LeaseLeases", check(pb.LeaseLeasesResponse), RULES["leases"])
        self.keep_alive = Unary(
            "/etcdserverpb.Lease/LeaseKeepAlive", check(pb.LeaseKeepAliveResponse), RULES["keep_alive"]
        )
        self.members = Unary("/etcdserverpb.Cluster/MemberList", check(pb.MemberListResponse), RULES["members"])
        self.status = Unary("/etcdserverpb.Maintenance/Status", check(pb.StatusResponse), RULES["status"])
        self.authenticate = Unary(
            "/etcdserverpb.Auth/Authenticate", check(pb.AuthenticateResponse), RULES["authenticate"]
        )

    def check_of(self, cls: Any) -> Check:
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

    # -- requests ---------------------------------------------------------------------------------

    def get_body(self, key: bytes, serializable: bool) -> bytes:
        if serializable:
            return pb.RangeRequest(key=key, serializable=True).SerializeToString()  # type: ignore[no-any-return]
        return pb.RangeRequest(key=key).SerializeToString()  # type: ignore[no-any-return]

    def range_body(
        self,
        key: bytes,
        end: bytes,
        limit: int,
        revision: int,
        sort: tuple[str, str] | None,
        keys_only: bool,
        count_only: bool,
        serializable: bool,
    ) -> bytes:
        request = pb.RangeRequest(
            key=key,
            range_end=end,
            limit=limit,
            revision=revision,
            keys_only=keys_only,
            count_only=count_only,
            serializable=serializable,
        )
        if sort is not None:
            request.sort_target = _SORT_NUMBERS[sort[0]]
            request.sort_order = _SORT_NUMBERS[sort[1]]
        return request.SerializeToString()  # type: ignore[no-any-return]

    def put_body(
        self, key: bytes, value: bytes, lease: int, prev_kv: bool, ignore_value: bool, ignore_lease: bool
    ) -> bytes:
        if not (lease or prev_kv or ignore_value or ignore_lease):
            return pb.PutRequest(key=key, value=value).SerializeToString()  # type: ignore[no-any-return]
        request = pb.PutRequest(
            key=key,
            value=value,
            lease=lease,
            prev_kv=prev_kv,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )
        return request.SerializeToString()  # type: ignore[no-any-return]

    def delete_body(self, key: bytes, end: bytes, prev_kv: bool) -> bytes:
        return pb.DeleteRangeRequest(key=key, range_end=end, prev_kv=prev_kv).SerializeToString()  # type: ignore[no-any-return]

    def txn_body(self, txn: Txn) -> bytes:
        # The message straight from the comparisons' and operations' raw fields (aio_etcd.v3.txn).
        return _calls.txn_request(txn).SerializeToString()  # type: ignore[no-any-return]

    def compact_body(self, revision: int, physical: bool) -> bytes:
        return pb.CompactionRequest(revision=revision, physical=physical).SerializeToString()  # type: ignore[no-any-return]

    def grant_body(self, ttl: int, lease_id: int) -> bytes:
        return pb.LeaseGrantRequest(TTL=ttl, ID=lease_id).SerializeToString()  # type: ignore[no-any-return]

    def lease_body(self, lease_id: int, keys: bool = False) -> bytes:
        # LeaseRevokeRequest, LeaseKeepAliveRequest and LeaseTimeToLiveRequest: ID is field 1 of each,
        # keys field 2 of the last; the same bytes.
        return pb.LeaseTimeToLiveRequest(ID=lease_id, keys=keys).SerializeToString()  # type: ignore[no-any-return]

    def authenticate_body(self, name: str, password: str) -> bytes:
        return pb.AuthenticateRequest(name=name, password=password).SerializeToString()  # type: ignore[no-any-return]

    def escape(self, path: str) -> Escape:
        known = self._escapes.get(path)
        if known is not None:
            return known
        converters = _KV_PATHS.get(path)
        if converters is None:
            method = _GATEWAY_METHODS.get(path)
            if method is None:
                not_yet(f"the gateway call {path}")
            converters = _json_mapping(method)
        method, to_message, to_body, answer = converters
        known = self._escapes[path] = (Unary(method, self.check_of(answer)), _serializer(to_message), to_body)
        return known

    # -- answers ----------------------------------------------------------------------------------

    @staticmethod
    def first_kv(answer: Any) -> KV | None:
        kvs = answer.kvs
        return _res.PbKV(kvs[0]) if kvs else None

    range_result = staticmethod(_res.PbRange)
    put_result = staticmethod(_res.PbPut)
    delete_result = staticmethod(_res.PbDelete)
    txn_result = staticmethod(_res.PbTxnResult)
    txn_fields = staticmethod(_calls.txn_answer)
    lease_info = staticmethod(_res.lease_info)
    status_of = staticmethod(_res.status)

    @staticmethod
    def revision_of(answer: Any) -> int:
        return int(answer.header.revision)

    @staticmethod
    def lease_grant(answer: Any) -> LeaseGrant:
        return LeaseGrant(int(answer.ID), int(answer.TTL))

    @staticmethod
    def lease_ids(answer: Any) -> list[int]:
        return [int(item.ID) for item in answer.leases]

    @staticmethod
    def keep_alive_ttl(answer: Any) -> int:
        return int(answer.TTL)

    @staticmethod
    def members_of(answer: Any) -> list[Member]:
        return [_res.member(m) for m in answer.members]

    @staticmethod
    def token(answer: Any) -> str | None:
        return answer.token or None
