"""The JSON gateway's :class:`~aio_etcd.v3._wire.Wire`: each call a ``POST`` of a JSON body to a ``/v3/`` path.

The bodies are the gateway's JSON (keys and values in base64, int64 as
strings, zero values left out); the answers are the JSON objects the
client's check returns, read by the result views of :mod:`aio_etcd.v3.results`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..exceptions import EtcdException
from . import _gateway
from ._wire import RULES, Check, Escape, Unary
from .errors import error_from
from .results import KV, Delete, LeaseGrant, LeaseInfo, Member, Put, Range, Status, TxnResult, b64, revision_of
from .txn import Txn, put_fields, range_options

__all__ = ["GatewayWire"]

_dumps = json.dumps


def _encode(request: dict[str, Any]) -> bytes:
    return _dumps(request).encode()


class GatewayWire:
    """The gateway's wire for one client (``check``: the client's check of a gateway answer)."""

    empty = b"{}"
    count_one = b'{"key":"AA==","count_only":true}'
    plain_headers: Mapping[str, str] = {"Content-Type": "application/json"}

    def __init__(self, check: Check) -> None:
        self._check = check
        self._escapes: dict[str, Escape] = {}
        self.range = Unary("/v3/kv/range", check, RULES["range"])
        self.put = Unary("/v3/kv/put", check, RULES["put"])
        self.delete = Unary("/v3/kv/deleterange", check, RULES["delete"])
        self.txn = Unary("/v3/kv/txn", check, RULES["txn"])
        self.compact = Unary("/v3/kv/compaction", check, RULES["compact"])
        self.grant = Unary("/v3/lease/grant", check, RULES["grant"])
        self.revoke = Unary("/v3/lease/revoke", check, RULES["revoke"])
        self.time_to_live = Unary("/v3/lease/timetolive", check, RULES["time_to_live"])
        self.leases = Unary("/v3/lease/leases", check, RULES["leases"])
        self.keep_alive = Unary("/v3/lease/keepalive", check, RULES["keep_alive"])
        self.members = Unary("/v3/cluster/member/list", check, RULES["members"])
        self.status = Unary("/v3/maintenance/status", check, RULES["status"])
        self.authenticate = Unary("/v3/auth/authenticate", check, RULES["authenticate"])

    # -- requests ---------------------------------------------------------------------------------

    def get_body(self, key: bytes, serializable: bool) -> bytes:
        if serializable:
            return _dumps({"key": b64(key), "serializable": True}).encode()
        return _dumps({"key": b64(key)}).encode()

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
        fields: dict[str, Any] = {"key": b64(key)}
        if end:
            fields["range_end"] = b64(end)
        return _dumps(range_options(fields, limit, revision, sort, keys_only, count_only, serializable)).encode()

    def put_body(
        self, key: bytes, value: bytes, lease: int, prev_kv: bool, ignore_value: bool, ignore_lease: bool
    ) -> bytes:
        return _dumps(put_fields(key, value, lease, prev_kv, ignore_value, ignore_lease)).encode()

    def delete_body(self, key: bytes, end: bytes, prev_kv: bool) -> bytes:
        fields: dict[str, Any] = {"key": b64(key)}
        if end:
            fields["range_end"] = b64(end)
        if prev_kv:
            fields["prev_kv"] = True
        return _dumps(fields).encode()

    def txn_body(self, txn: Txn) -> bytes:
        return _dumps(txn.request()).encode()

    def compact_body(self, revision: int, physical: bool) -> bytes:
        fields: dict[str, Any] = {"revision": str(revision)}
        if physical:
            fields["physical"] = True
        return _dumps(fields).encode()

    def grant_body(self, ttl: int, lease_id: int) -> bytes:
        fields = {"TTL": str(ttl)}
        if lease_id:
            fields["ID"] = str(lease_id)
        return _dumps(fields).encode()

    def lease_body(self, lease_id: int, keys: bool = False) -> bytes:
        if keys:
            return _dumps({"ID": str(lease_id), "keys": True}).encode()
        return _dumps({"ID": str(lease_id)}).encode()

    def authenticate_body(self, name: str, password: str) -> bytes:
        return _dumps({"name": name, "password": password}).encode()

    def escape(self, path: str) -> Escape:
        known = self._escapes.get(path)
        if known is None:
            known = self._escapes[path] = (Unary(path, self._check), _encode, None)
        return known

    # -- answers ----------------------------------------------------------------------------------

    @staticmethod
    def first_kv(answer: Any) -> KV | None:
        kvs = answer.get("kvs")
        return KV(kvs[0]) if kvs else None

    range_result: Callable[[Any], Range] = staticmethod(Range)
    put_result: Callable[[Any], Put] = staticmethod(Put)
    delete_result: Callable[[Any], Delete] = staticmethod(Delete)
    txn_result: Callable[[Any], TxnResult] = staticmethod(TxnResult)
    revision_of: Callable[[Any], int] = staticmethod(revision_of)
    lease_info: Callable[[Any], LeaseInfo] = staticmethod(LeaseInfo)
    status_of: Callable[[Any], Status] = staticmethod(Status)

    @staticmethod
    def txn_fields(answer: Any) -> dict[str, Any]:
        return answer  # type: ignore[no-any-return]  # the gateway's JSON object already

    @staticmethod
    def lease_grant(answer: Any) -> LeaseGrant:
        return LeaseGrant(int(answer["ID"]), int(answer.get("TTL", 0)))

    @staticmethod
    def lease_ids(answer: Any) -> list[int]:
        return [int(item["ID"]) for item in answer.get("leases", ())]

    @staticmethod
    def keep_alive_ttl(answer: Any) -> int:
        # The gateway answers a stream's first message: {"result": {...}} or {"error": {...}}.
        result = answer.get("result")
        if not isinstance(result, dict):
            error = error_from(_gateway.error_body(answer), None, "lease keep-alive")
            raise error or EtcdException(f"lease keep-alive: unexpected answer {answer!r}")
        return int(result.get("TTL", 0))

    @staticmethod
    def members_of(answer: Any) -> list[Member]:
        return [Member(raw) for raw in answer.get("members", ())]

    @staticmethod
    def token(answer: Any) -> str | None:
        found = answer.get("token")
        return found if isinstance(found, str) else None
