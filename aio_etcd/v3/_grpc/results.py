# mypy: disable-error-code="no-any-return"
"""The v3 result classes backed by etcd's messages: the same public classes, read off the message.

Each is a subclass of the gateway's view (``isinstance(r, v3.KV)`` holds):
keys and values are the message's bytes, integers its integers, a zero the
field's default; nothing is copied or decoded before it is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, overload

from .. import results as _r

__all__ = ["PbDelete", "PbKV", "PbKVs", "PbPut", "PbRange", "PbTxnResult", "lease_info", "member", "status"]


class PbKV(_r.KV):
    """A :class:`~aio_etcd.v3.KV` over an ``mvccpb.KeyValue``."""

    __slots__ = ()
    _raw: Any

    @property
    def key(self) -> bytes:
        return self._raw.key

    @property
    def value(self) -> bytes:
        return self._raw.value

    @property
    def create_revision(self) -> int:
        return self._raw.create_revision

    @property
    def mod_revision(self) -> int:
        return self._raw.mod_revision

    @property
    def version(self) -> int:
        return self._raw.version

    @property
    def lease(self) -> int:
        return self._raw.lease

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PbKV):
            return bool(self._raw == other._raw)
        if isinstance(other, _r.KV):
            return (self.key, self.value, self.create_revision, self.mod_revision, self.version, self.lease) == (
                other.key,
                other.value,
                other.create_revision,
                other.mod_revision,
                other.version,
                other.lease,
            )
        return False

    __hash__ = None


class PbKVs(_r.KVs):
    """The keys of a range, over the message's repeated field."""

    __slots__ = ()
    _raw: Any

    @overload
    def __getitem__(self, index: int) -> _r.KV: ...

    @overload
    def __getitem__(self, index: slice) -> list[_r.KV]: ...

    def __getitem__(self, index: int | slice) -> _r.KV | list[_r.KV]:
        if isinstance(index, slice):
            return [PbKV(raw) for raw in self._raw[index]]
        return PbKV(self._raw[index])

    def __iter__(self) -> Iterator[_r.KV]:
        for raw in self._raw:
            yield PbKV(raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_r.KVs, list)):
            return list(self) == list(other)
        return False

    __hash__ = None


def _kv_or_none(message: Any, field: str) -> _r.KV | None:
    return PbKV(getattr(message, field)) if message.HasField(field) else None


class PbRange(_r.Range):
    """A :class:`~aio_etcd.v3.Range` over an ``etcdserverpb.RangeResponse``."""

    __slots__ = ()
    _raw: Any

    @property
    def kvs(self) -> _r.KVs:
        return PbKVs(self._raw.kvs)

    @property
    def count(self) -> int:
        return self._raw.count

    @property
    def more(self) -> bool:
        return self._raw.more

    @property
    def revision(self) -> int:
        return self._raw.header.revision

    def __len__(self) -> int:
        return len(self._raw.kvs)


class PbPut(_r.Put):
    """A :class:`~aio_etcd.v3.Put` over an ``etcdserverpb.PutResponse``."""

    __slots__ = ()
    _raw: Any

    @property
    def revision(self) -> int:
        return self._raw.header.revision

    @property
    def prev_kv(self) -> _r.KV | None:
        return _kv_or_none(self._raw, "prev_kv")


class PbDelete(_r.Delete):
    """A :class:`~aio_etcd.v3.Delete` over an ``etcdserverpb.DeleteRangeResponse``."""

    __slots__ = ()
    _raw: Any

    @property
    def deleted(self) -> int:
        return self._raw.deleted

    @property
    def prev_kvs(self) -> list[_r.KV]:
        return [PbKV(raw) for raw in self._raw.prev_kvs]

    @property
    def revision(self) -> int:
        return self._raw.header.revision


class PbTxnResult(_r.TxnResult):
    """A :class:`~aio_etcd.v3.TxnResult` over an ``etcdserverpb.TxnResponse``."""

    __slots__ = ()
    _raw: Any

    @property
    def succeeded(self) -> bool:
        return self._raw.succeeded

    @property
    def revision(self) -> int:
        return self._raw.header.revision

    @property
    def responses(self) -> list[_r.Range | _r.Put | _r.Delete | _r.TxnResult]:
        return [_response(op) for op in self._raw.responses]


_RESPONSES: dict[str, type[PbRange] | type[PbPut] | type[PbDelete] | type[PbTxnResult]] = {
    "response_range": PbRange,
    "response_put": PbPut,
    "response_delete_range": PbDelete,
    "response_txn": PbTxnResult,
}


def _response(op: Any) -> _r.Range | _r.Put | _r.Delete | _r.TxnResult:
    which = op.WhichOneof("response")
    cls = _RESPONSES.get(which or "")
    if cls is None:
        raise ValueError(f"unknown transaction response {which!r}")
    return cls(getattr(op, which))


def lease_info(message: Any) -> _r.LeaseInfo:
    """A :class:`~aio_etcd.v3.LeaseInfo` of an ``etcdserverpb.LeaseTimeToLiveResponse``."""
    info = _r.LeaseInfo.__new__(_r.LeaseInfo)
    info.id = message.ID
    info.ttl = message.TTL
    info.granted_ttl = message.grantedTTL
    info.keys = list(message.keys)
    return info


def member(message: Any) -> _r.Member:
    """A :class:`~aio_etcd.v3.Member` of an ``etcdserverpb.Member``."""
    made = _r.Member.__new__(_r.Member)
    made.id = message.ID
    made.name = message.name
    made.peer_urls = list(message.peerURLs)
    made.client_urls = list(message.clientURLs)
    made.is_learner = message.isLearner
    return made


def status(message: Any) -> _r.Status:
    """A :class:`~aio_etcd.v3.Status` of an ``etcdserverpb.StatusResponse``."""
    made = _r.Status.__new__(_r.Status)
    made.version = message.version
    made.db_size = message.dbSize
    made.leader = message.leader
    made.member_id = message.header.member_id
    made.raft_index = message.raftIndex
    made.raft_term = message.raftTerm
    made.errors = list(message.errors)
    return made
