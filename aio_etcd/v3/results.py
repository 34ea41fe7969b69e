"""What v3 calls return: thin, lazy views over the gateway's JSON.

Nothing is decoded before it is asked for: a range of 5,000 keys is 5,000
dicts until its :attr:`Range.kvs` are read, and a :class:`KV`'s key and value
are base64 until they are read. The gateway omits zero values (a missing
``count`` is 0, a missing ``succeeded`` is false); the properties put them back.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any, overload

__all__ = [
    "KV",
    "KVs",
    "Delete",
    "Event",
    "LeaseGrant",
    "LeaseInfo",
    "Member",
    "Put",
    "Range",
    "Status",
    "TxnResult",
    "to_bytes",
]

_b64decode = base64.b64decode


def to_bytes(data: str | bytes, what: str = "a key") -> bytes:
    """Keys and values: ``bytes`` as they are, ``str`` as UTF-8."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} is str or bytes, not {type(data).__name__}")


def value_bytes(value: str | bytes | int | float) -> bytes:
    """A value to store: ``bytes`` as they are, ``str`` as UTF-8, and, as the v2 client's
    ``write`` takes them, an ``int`` or ``float`` as its decimal text (``1`` -> ``b"1"``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value).encode()
    return to_bytes(value, "a value (str, bytes, int or float)")  # type: ignore[arg-type]


def b64(data: bytes) -> str:
    """The gateway's encoding of bytes."""
    return base64.b64encode(data).decode("ascii")


def _int(raw: Any) -> int:
    return int(raw) if raw else 0


def revision_of(body: dict[str, Any]) -> int:
    """The store revision in an answer's ``header``."""
    header = body.get("header")
    return _int(header.get("revision")) if isinstance(header, dict) else 0


class KV:
    """One key with its value and revisions (etcd's ``mvccpb.KeyValue``).

    ``key`` and ``value`` are ``bytes``; :attr:`text` and :attr:`key_text`
    decode them as UTF-8.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def key(self) -> bytes:
        """The key."""
        return _b64decode(self._raw.get("key", ""))

    @property
    def value(self) -> bytes:
        """The value (empty for a ``keys_only`` range)."""
        return _b64decode(self._raw.get("value", ""))

    @property
    def text(self) -> str:
        """The value decoded as UTF-8."""
        return self.value.decode()

    @property
    def key_text(self) -> str:
        """The key decoded as UTF-8 (undecodable bytes escaped)."""
        return self.key.decode("utf-8", "backslashreplace")

    @property
    def create_revision(self) -> int:
        """The revision that created the key (the start of its current life)."""
        return _int(self._raw.get("create_revision"))

    @property
    def mod_revision(self) -> int:
        """The revision of the key's last change."""
        return _int(self._raw.get("mod_revision"))

    @property
    def version(self) -> int:
        """How many times the key was written since it was created (1 after the first put)."""
        return _int(self._raw.get("version"))

    @property
    def lease(self) -> int:
        """The id of the key's lease (0: none)."""
        return _int(self._raw.get("lease"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KV) and self._raw == other._raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        value = self.value
        shown = value if len(value) <= 40 else value[:40] + b"..."
        return f"<KV {self.key!r}={shown!r} mod_revision={self.mod_revision} version={self.version}>"


def _kv_or_none(raw: Any) -> KV | None:
    return KV(raw) if isinstance(raw, dict) and raw else None


class KVs(Sequence[KV]):
    """The keys of a range: a sequence that makes each :class:`KV` only when it is read."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[dict[str, Any]]) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> KV: ...

    @overload
    def __getitem__(self, index: slice) -> list[KV]: ...

    def __getitem__(self, index: int | slice) -> KV | list[KV]:
        if isinstance(index, slice):
            return [KV(raw) for raw in self._raw[index]]
        return KV(self._raw[index])

    def __iter__(self) -> Iterator[KV]:
        for raw in self._raw:
            yield KV(raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KVs):
            return self._raw == other._raw
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} KVs>"


class Range:
    """The answer to a range: :attr:`kvs` (read lazily), :attr:`count`, :attr:`more`, :attr:`revision`.

    Iterating a range iterates its :attr:`kvs`.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def kvs(self) -> KVs:
        """The keys found, in the order asked for (a sequence of :class:`KV`, made as they are read)."""
        return KVs(self._raw.get("kvs", []))

    @property
    def count(self) -> int:
        """How many keys match (beyond ``limit`` too)."""
        return _int(self._raw.get("count"))

    @property
    def more(self) -> bool:
        """Whether ``limit`` left keys out."""
        return bool(self._raw.get("more"))

    @property
    def revision(self) -> int:
        """The store revision the range was read at."""
        return revision_of(self._raw)

    def __iter__(self) -> Iterator[KV]:
        return iter(self.kvs)

    def __len__(self) -> int:
        return len(self._raw.get("kvs", ()))

    def __repr__(self) -> str:
        return f"<Range {len(self)} kvs count={self.count} more={self.more} revision={self.revision}>"


class Put:
    """The answer to a put: :attr:`revision`, and :attr:`prev_kv` when asked for."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def revision(self) -> int:
        """The revision of the put."""
        return revision_of(self._raw)

    @property
    def prev_kv(self) -> KV | None:
        """The key before the put (with ``prev_kv=True``; ``None`` if it did not exist)."""
        return _kv_or_none(self._raw.get("prev_kv"))

    def __repr__(self) -> str:
        return f"<Put revision={self.revision}>"


class Delete:
    """The answer to a delete: :attr:`deleted`, :attr:`prev_kvs` when asked for, :attr:`revision`."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def deleted(self) -> int:
        """How many keys were deleted."""
        return _int(self._raw.get("deleted"))

    @property
    def prev_kvs(self) -> list[KV]:
        """The deleted keys (with ``prev_kv=True``)."""
        return [KV(raw) for raw in self._raw.get("prev_kvs", ())]

    @property
    def revision(self) -> int:
        """The store revision after the delete."""
        return revision_of(self._raw)

    def __repr__(self) -> str:
        return f"<Delete deleted={self.deleted} revision={self.revision}>"


class TxnResult:
    """The answer to a transaction: :attr:`succeeded`, :attr:`revision`, :attr:`responses`.

    ``responses`` holds one result per operation of the branch that ran:
    :class:`Range` for a get, :class:`Put`, :class:`Delete`, :class:`TxnResult`.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def succeeded(self) -> bool:
        """Whether every comparison held (and so the ``then`` branch ran)."""
        return bool(self._raw.get("succeeded"))

    @property
    def revision(self) -> int:
        """The store revision after the transaction."""
        return revision_of(self._raw)

    @property
    def responses(self) -> list[Range | Put | Delete | TxnResult]:
        """The results of the operations that ran, in order."""
        return [_response(raw) for raw in self._raw.get("responses", ())]

    def __bool__(self) -> bool:
        return self.succeeded

    def __repr__(self) -> str:
        return f"<TxnResult succeeded={self.succeeded} revision={self.revision}>"


_RESPONSES: dict[str, type[Range] | type[Put] | type[Delete] | type[TxnResult]] = {
    "response_range": Range,
    "response_put": Put,
    "response_delete_range": Delete,
    "response_txn": TxnResult,
}


def _response(raw: dict[str, Any]) -> Range | Put | Delete | TxnResult:
    for name, cls in _RESPONSES.items():
        if name in raw:
            return cls(raw[name] or {})
    raise ValueError(f"unknown transaction response {sorted(raw)}")


class Event:
    """One change seen by a watch: :attr:`type` (``"PUT"`` or ``"DELETE"``), :attr:`kv`, :attr:`prev_kv`."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def type(self) -> str:
        """``"PUT"`` or ``"DELETE"``."""
        return str(self._raw.get("type") or "PUT")

    @property
    def kv(self) -> KV:
        """The key after the change (for a delete: the key, its ``mod_revision``, no value)."""
        return KV(self._raw.get("kv") or {})

    @property
    def prev_kv(self) -> KV | None:
        """The key before the change (watches with ``prev_kv=True``)."""
        return _kv_or_none(self._raw.get("prev_kv"))

    @property
    def mod_revision(self) -> int:
        """The revision of the change."""
        kv = self._raw.get("kv")
        return _int(kv.get("mod_revision")) if isinstance(kv, dict) else 0

    def __repr__(self) -> str:
        return f"<Event {self.type} {self.kv.key!r} mod_revision={self.mod_revision}>"


class LeaseGrant:
    """A granted lease: :attr:`id` and :attr:`ttl` (seconds)."""

    __slots__ = ("id", "ttl")

    def __init__(self, lease_id: int, ttl: int) -> None:
        self.id = lease_id
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"<LeaseGrant id={self.id} ttl={self.ttl}>"


class LeaseInfo:
    """What etcd knows of a lease: :attr:`ttl` left (-1 when it is gone), :attr:`granted_ttl`, :attr:`keys`."""

    __slots__ = ("id", "ttl", "granted_ttl", "keys")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.id = _int(raw.get("ID"))
        self.ttl = int(raw.get("TTL", 0))
        self.granted_ttl = _int(raw.get("grantedTTL"))
        self.keys: list[bytes] = [_b64decode(k) for k in raw.get("keys", ())]

    def __repr__(self) -> str:
        return f"<LeaseInfo id={self.id} ttl={self.ttl} granted_ttl={self.granted_ttl} keys={len(self.keys)}>"


class Member:
    """A cluster member: :attr:`id`, :attr:`name`, :attr:`peer_urls`, :attr:`client_urls`, :attr:`is_learner`."""

    __slots__ = ("id", "name", "peer_urls", "client_urls", "is_learner")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.id = _int(raw.get("ID"))
        self.name = str(raw.get("name", ""))
        self.peer_urls = [str(u) for u in raw.get("peerURLs", ())]
        self.client_urls = [str(u) for u in raw.get("clientURLs", ())]
        self.is_learner = bool(raw.get("isLearner"))

    def __repr__(self) -> str:
        return f"<Member {self.id:x} {self.name!r} {self.client_urls}>"


class Status:
    """A member's status: :attr:`version`, :attr:`leader`, :attr:`member_id`, :attr:`raft_index`...

    :attr:`leader` is 0 and :attr:`errors` says why when the member has no leader.
    """

    __slots__ = ("version", "db_size", "leader", "member_id", "raft_index", "raft_term", "errors")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.version = str(raw.get("version", ""))
        self.db_size = _int(raw.get("dbSize"))
        self.leader = _int(raw.get("leader"))
        header = raw.get("header") or {}
        self.member_id = _int(header.get("member_id"))
        self.raft_index = _int(raw.get("raftIndex"))
        self.raft_term = _int(raw.get("raftTerm"))
        self.errors = [str(e) for e in raw.get("errors", ())]

    def __repr__(self) -> str:
        return f"<Status version={self.version} leader={self.leader:x} member={self.member_id:x}>"
