"""What a v3 transport writes and reads for each call: the ``Wire`` protocol.

:class:`aio_etcd.v3.Client` writes each public call once: its arguments
checked, its defaults, its paging, its deadline and its token. What differs
between transports is only how a request is written and how its answer is
read. That is a wire's job, one object per client: for each call it names
the method (:class:`Unary`: where the request goes, whether it may be sent
again, the check that reads the answer), builds the request's body from
arguments already checked, and reads the checked answer into the public
result classes. The JSON gateway's wire is
:class:`aio_etcd.v3._gateway_wire.GatewayWire`; gRPC's is
:class:`aio_etcd.v3._grpc.wire.GrpcWire`.

A new call: its line in :data:`RULES`, its members here, in each wire, and
its public method in ``client.py``. A new transport: a wire (and the
transport and rules under it).

Nothing here does I/O, and a wire adds no step to a call: a builder is the
work the call did before (a dict and ``json.dumps``, or a message and its
serialization); a reader is a result class or one function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .._core import SAFE, UNSAFE, ReplayRule, Response

if TYPE_CHECKING:
    from .results import KV, Delete, LeaseGrant, LeaseInfo, Member, Put, Range, Status, TxnResult
    from .txn import Txn

__all__ = ["RULES", "Check", "Escape", "Unary", "Wire"]

#: Reads a member's answer: the answer (a JSON object, a message), or the error it is, raised.
Check = Callable[[Response], Any]

#: Whether each call may be sent again after an attempt that may have reached a member: the one
#: table of the client's calls, for every wire. A transaction that writes nothing is safe too
#: (``Client._commit``). Gateway calls made through ``Client.call`` follow the gateway's table
#: (:func:`aio_etcd.v3._gateway.replay_rule`), which agrees (``tests/unit/test_unit_v3_wire.py``).
RULES: dict[str, ReplayRule] = {
    "range": SAFE,
    "put": UNSAFE,
    "delete": UNSAFE,
    "txn": UNSAFE,
    "compact": UNSAFE,
    "grant": UNSAFE,
    "revoke": UNSAFE,
    "time_to_live": SAFE,
    "leases": SAFE,
    "keep_alive": SAFE,  # renewing twice is renewing once
    "members": SAFE,
    "status": SAFE,
    "authenticate": SAFE,
}


class Unary:
    """One unary call as a wire makes it: its ``path`` (a gateway path, a gRPC method), the
    ``check`` that reads its answer, and its replay ``rule`` (the call's in :data:`RULES`)."""

    __slots__ = ("path", "check", "rule")

    def __init__(self, path: str, check: Check, rule: ReplayRule = UNSAFE) -> None:
        self.path = path
        self.check = check
        self.rule = rule

    def __repr__(self) -> str:
        return f"<Unary {self.path}>"


#: A gateway path as a wire sends it (``Client.call``, which gives the replay rule): where
#: it goes and how its answer is checked, the body of a request dict, and the gateway dict of
#: the answer (``None``: the checked answer is that dict already).
Escape = tuple[Unary, Callable[[dict[str, Any]], bytes], "Callable[[Any], dict[str, Any]] | None"]


class Wire(Protocol):
    """How one transport writes the v3 calls and reads their answers (see the module)."""

    range: Unary
    put: Unary
    delete: Unary
    txn: Unary
    compact: Unary
    grant: Unary
    revoke: Unary
    time_to_live: Unary
    leases: Unary
    keep_alive: Unary
    members: Unary
    status: Unary
    authenticate: Unary
    #: The body of a request without fields (member list, lease list, status).
    empty: bytes
    #: A linearizable count of one key, whose answer's header holds the store's revision.
    count_one: bytes
    #: The headers of a call made without the token (authenticate).
    plain_headers: Mapping[str, str]

    # -- requests: bodies from checked arguments (keys and values as bytes, ids as ints) ----------

    def get_body(self, key: bytes, serializable: bool) -> bytes: ...

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
        """``end`` ``b""``: the key alone; ``sort``: etcd's names (``("KEY", "ASCEND")``)."""
        ...

    def put_body(
        self, key: bytes, value: bytes, lease: int, prev_kv: bool, ignore_value: bool, ignore_lease: bool
    ) -> bytes: ...

    def delete_body(self, key: bytes, end: bytes, prev_kv: bool) -> bytes: ...

    def txn_body(self, txn: Txn) -> bytes: ...

    def compact_body(self, revision: int, physical: bool) -> bytes: ...

    def grant_body(self, ttl: int, lease_id: int) -> bytes: ...

    def lease_body(self, lease_id: int, keys: bool = False) -> bytes:
        """Revoke, time-to-live (``keys``: list them) and keep-alive: one lease's id."""
        ...

    def authenticate_body(self, name: str, password: str) -> bytes: ...

    def escape(self, path: str) -> Escape:
        """How ``Client.call(path, request)`` goes (``EtcdException`` when this wire cannot)."""
        ...

    # -- answers: checked answers into the public results -----------------------------------------

    def first_kv(self, answer: Any) -> KV | None: ...

    def range_result(self, answer: Any) -> Range: ...

    def put_result(self, answer: Any) -> Put: ...

    def delete_result(self, answer: Any) -> Delete: ...

    def txn_result(self, answer: Any) -> TxnResult: ...

    def txn_fields(self, answer: Any) -> dict[str, Any]:
        """A transaction's answer as the gateway's JSON object (for readers of those shapes)."""
        ...

    def revision_of(self, answer: Any) -> int: ...

    def lease_grant(self, answer: Any) -> LeaseGrant: ...

    def lease_info(self, answer: Any) -> LeaseInfo: ...

    def lease_ids(self, answer: Any) -> list[int]: ...

    def keep_alive_ttl(self, answer: Any) -> int:
        """The lease's new TTL (0 or less: it is gone)."""
        ...

    def members_of(self, answer: Any) -> list[Member]: ...

    def status_of(self, answer: Any) -> Status: ...

    def token(self, answer: Any) -> str | None: ...
