"""The v3 JSON gateway's :class:`~aio_etcd._core.ApiRules`: what the core needs to know of it.

- An error answer is a gRPC status (:func:`~aio_etcd.v3.errors.error_from`);
  it is transient as :func:`~aio_etcd.v3.errors.is_transient` says, and a
  5xx that is not etcd's (a proxy's page) is too.
- The members are listed by ``/v3/cluster/member/list``; the cluster id is
  in the ``header`` of each answer's body, which the client's check reads
  (there is no header for the core to read).
- A member is asked about itself with ``/v3/maintenance/status`` (its leader
  and term), and read through with a linearizable count of one key;
  :func:`ask_status` asks one named member (the watch probes, the
  multiplexer's leader check, ``Client.status(member)``).
- What may be sent again is :func:`replay_rule`'s table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._core import SAFE, UNSAFE, Call, Cluster, MemberProbe, NotEtcd, ReplayRule, Response, Transport
from ..exceptions import EtcdException
from .errors import error_from, is_transient

__all__ = ["GatewayRules", "ask_status", "error_body", "leads", "replay_rule"]

#: Gateway calls that read, or that doing twice is doing once: sent again
#: after an attempt that may have reached a member. Every other call is not,
#: but a transaction without writes (see :func:`replay_rule`).
SAFE_PATHS = frozenset(
    {
        "/v3/kv/range",
        "/v3/lease/timetolive",
        "/v3/lease/leases",
        "/v3/lease/keepalive",  # renewing twice is renewing once
        "/v3/cluster/member/list",
        "/v3/maintenance/status",
        "/v3/election/leader",
        "/v3/election/resign",  # resigning a term twice is resigning it once
        "/v3/lock/unlock",  # the lock key is deleted once; a second delete finds nothing
    }
)

_WRITES = ("request_put", "request_delete_range")


def _txn_writes(request: Mapping[str, Any]) -> bool:
    """Whether a ``/v3/kv/txn`` body changes anything (on either branch, nested ones included)."""
    for branch in ("success", "failure"):
        for op in request.get(branch) or ():
            if any(name in op for name in _WRITES):
                return True
            inner = op.get("request_txn")
            if isinstance(inner, Mapping) and _txn_writes(inner):
                return True
    return False


def replay_rule(path: str, request: Mapping[str, Any]) -> ReplayRule:
    """The :class:`~aio_etcd.retry.ReplayRule` of a gateway call (a ``POST`` of ``request`` to ``path``).

    Reads and the calls of :data:`SAFE_PATHS` are safe; a transaction is
    safe when it writes nothing; every other call is not.
    """
    if path in SAFE_PATHS:
        return SAFE
    if path == "/v3/kv/txn":
        return UNSAFE if _txn_writes(request) else SAFE
    return UNSAFE


def error_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The error of a unary answer (``{code, message}``) or of a stream line (``{"error": {...}}``)."""
    inner = payload.get("error")
    return inner if isinstance(inner, dict) else payload


def classify(resp: Response) -> tuple[EtcdException, bool] | None:
    """The core's question about an error answer: another attempt, and was it applied?"""
    payload = resp.json_object()
    if payload is None:
        if resp.status >= 500:  # a proxy's page, or a member dying mid-answer
            return EtcdException(f"unexpected answer: {resp.describe()}"), False
        return None
    error = error_from(error_body(payload), resp.status, resp.url)
    if error is None:
        return (EtcdException(f"unexpected answer: {resp.describe()}"), False) if resp.status >= 500 else None
    worth, certainly_not = is_transient(error)
    return (error, certainly_not) if worth else None


def leader_view(resp: Response) -> tuple[str, str] | None:
    """The leader and term a member's status answer names (``None``: no leader, as when cut off)."""
    if resp.status != 200:
        return None
    body = resp.json_object()
    if body is None or not body.get("leader"):
        return None
    return str(body["leader"]), str(body.get("raftTerm"))


def read_answered(resp: Response) -> bool:
    return resp.status == 200


def parse_members(resp: Response) -> list[str]:
    """The client URLs of a ``/v3/cluster/member/list`` answer."""
    body = resp.json_object()
    if resp.status != 200 or body is None or not isinstance(body.get("members"), list):
        raise NotEtcd(resp, "not a member list", "v3")
    return [str(url).rstrip("/") for m in body["members"] for url in (m.get("clientURLs") or ())]


class GatewayRules:
    """The gateway's rules, for one client.

    :param headers: the headers every call sends now (they change when the
        client gets a new auth token).
    """

    name: str = "v3"
    #: The cluster id is in the body's ``header``: the client's check guards it.
    cluster_id_header: str | None = None
    probe: MemberProbe | None

    def __init__(self, headers: Callable[[], Mapping[str, str]]) -> None:
        self._headers = headers
        self.probe = MemberProbe(self.status_call, leader_view, self._read_call, read_answered)

    def classify(self, resp: Response) -> tuple[EtcdException, bool] | None:
        return classify(resp)

    def members_call(self) -> Call:
        return Call("POST", "/v3/cluster/member/list", self._headers(), body=b"{}", op="member list")

    def parse_members(self, resp: Response) -> list[str]:
        return parse_members(resp)

    def replay_rule(self, method: str, path: str, params: Mapping[str, Any]) -> ReplayRule:
        return replay_rule(path, params)

    def status_call(self) -> Call:
        """A member's ``/v3/maintenance/status`` (one member: its leader, its term)."""
        return Call("POST", "/v3/maintenance/status", self._headers(), body=b"{}", op="status")

    def _read_call(self) -> Call:
        """A linearizable read that costs etcd nothing but the read index (a count of one key)."""
        return Call("POST", "/v3/kv/range", self._headers(), body=b'{"key":"AA==","count_only":true}', op="read")


async def ask_status(
    cluster: Cluster, transport: Transport, base: str, headers: Mapping[str, str], timeout: float | None
) -> Response:
    """One member's ``/v3/maintenance/status`` answer (one attempt, no failover, in the observer's sight)."""
    call = Call("POST", "/v3/maintenance/status", headers, body=b"{}", op="status")
    return await cluster.ask(transport, base, call, timeout)


def leads(resp: Response) -> bool:
    """Whether a 200 status answer names a leader (a member cut off from quorum names none)."""
    body = resp.json_object()
    return body is not None and bool(body.get("leader"))
