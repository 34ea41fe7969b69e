"""The gRPC transport's :class:`~aio_etcd._core.ApiRules`: the gateway's, with etcd's messages.

Errors are classified as on the gateway (the transport hands them over in
the gateway's shape); the member list, the status probe and the read through
a member are gRPC calls; what may be sent again is :func:`replay_rule`'s table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import DecodeError

from ..._core import SAFE, UNSAFE, Call, MemberProbe, NotEtcd, ReplayRule, Response
from .._gateway import GatewayRules
from .messages import etcdserverpb as pb

__all__ = ["GrpcRules", "SAFE_METHODS", "replay_rule"]

#: Calls that read, or that doing twice is doing once (as the gateway's ``SAFE_PATHS``).
SAFE_METHODS = frozenset(
    {
        "/etcdserverpb.KV/Range",
        "/etcdserverpb.Lease/LeaseTimeToLive",
        "/etcdserverpb.Lease/LeaseLeases",
        "/etcdserverpb.Lease/LeaseKeepAlive",
        "/etcdserverpb.Cluster/MemberList",
        "/etcdserverpb.Maintenance/Status",
        "/v3electionpb.Election/Leader",
        "/v3electionpb.Election/Resign",
        "/v3lockpb.Lock/Unlock",
    }
)

MEMBER_LIST = "/etcdserverpb.Cluster/MemberList"
STATUS = "/etcdserverpb.Maintenance/Status"
RANGE = "/etcdserverpb.KV/Range"

_EMPTY = b""
#: A linearizable count of one key: costs etcd the read index only.
_READ = pb.RangeRequest(key=b"\0", count_only=True).SerializeToString()


def replay_rule(path: str, writes: bool = True) -> ReplayRule:
    """The replay rule of a gRPC call; a transaction says whether it ``writes``."""
    if path in SAFE_METHODS:
        return SAFE
    if path == "/etcdserverpb.KV/Txn":
        return UNSAFE if writes else SAFE
    return UNSAFE


def parse(resp: Response, cls: Any) -> Any:
    """The message of a 200 answer (``NotEtcd`` when it does not parse)."""
    if resp.status != 200:
        raise NotEtcd(resp, "not a member's answer", "v3")
    try:
        return cls.FromString(resp.body)
    except DecodeError:
        raise NotEtcd(resp, f"not an etcd {cls.DESCRIPTOR.name}", "v3") from None


def leader_view(resp: Response) -> tuple[str, str] | None:
    """The leader and term of a member's status answer (``None``: no leader)."""
    if resp.status != 200:
        return None
    try:
        status = pb.StatusResponse.FromString(resp.body)
    except DecodeError:
        return None
    if not status.leader:
        return None
    return str(status.leader), str(status.raftTerm)


def read_answered(resp: Response) -> bool:
    return resp.status == 200


class GrpcRules(GatewayRules):
    """The rules of the gRPC transport, for one client (``headers``: what calls send now)."""

    def __init__(self, headers: Callable[[], Mapping[str, str]]) -> None:
        super().__init__(headers)
        self.probe = MemberProbe(self.status_call, leader_view, self._read_call, read_answered)

    def members_call(self) -> Call:
        return Call("POST", MEMBER_LIST, self._headers(), body=_EMPTY, op="member list")

    def parse_members(self, resp: Response) -> list[str]:
        answer = parse(resp, pb.MemberListResponse)
        return [str(url).rstrip("/") for m in answer.members for url in m.clientURLs]

    def replay_rule(self, method: str, path: str, params: Mapping[str, Any]) -> ReplayRule:
        return replay_rule(path, bool(params.get("writes", True)))

    def status_call(self) -> Call:
        return Call("POST", STATUS, self._headers(), body=_EMPTY, op="status")

    def _read_call(self) -> Call:
        return Call("POST", RANGE, self._headers(), body=_READ, op="read")
