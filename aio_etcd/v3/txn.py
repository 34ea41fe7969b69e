"""Transactions: comparisons and operations, written as Python expressions.

::

    from aio_etcd.v3 import txn as T

    await (etcd.txn()
           .if_(T.value("/a") == b"1", T.version("/b") > 0, T.create("/c") == 0, T.mod("/d") < rev)
           .then(T.put("/a", b"2"), T.get("/b"), T.delete("/tmp/", prefix=True))
           .else_(T.get("/a"))
           .commit())

A comparison is a target of a key (:func:`value`, :func:`version`,
:func:`create`, :func:`mod`, :func:`lease`) compared with ``==``, ``!=``,
``<`` or ``>``. The operations are :func:`put`, :func:`get`, :func:`delete`
and :func:`txn` (a nested transaction). etcd allows 128 operations per
transaction and at most one write per key.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from ..exceptions import EtcdValueError
from .results import TxnResult, b64, to_bytes, value_bytes

__all__ = [
    "Compare",
    "Op",
    "Txn",
    "create",
    "create_revision",
    "delete",
    "get",
    "lease",
    "mod",
    "mod_revision",
    "put",
    "txn",
    "value",
    "version",
]


def key_range(key: str | bytes, prefix: bool = False, range_end: str | bytes | None = None) -> dict[str, str]:
    """The ``key``/``range_end`` fields of a request (base64; no ``range_end`` for one key)."""
    return _range_fields(*raw_range(key, prefix, range_end))


def raw_range(key: str | bytes, prefix: bool = False, range_end: str | bytes | None = None) -> tuple[bytes, bytes]:
    """``(key, range_end)`` as bytes (``b""``: no range end), checked."""
    raw = to_bytes(key)
    if prefix:
        if range_end is not None:
            raise ValueError("give prefix=True or range_end, not both")
        return raw, prefix_end(raw)
    if range_end is not None:
        return raw, to_bytes(range_end, "range_end")
    return raw, b""


def _range_fields(start: bytes, end: bytes) -> dict[str, str]:
    """:func:`key_range`'s fields from :func:`raw_range`'s bytes."""
    fields = {"key": b64(start)}
    if end:
        fields["range_end"] = b64(end)
    return fields


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix`` (``b"\\0"``: no end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key from `prefix` on: the empty prefix, or all 0xff


#: The gateway's JSON of a comparison or operation: given, or made when first asked for.
_Given = dict[str, Any] | Callable[[], dict[str, Any]]


class _Fields:
    """The gateway's JSON of a comparison or operation, made when first asked for when given as a function."""

    __slots__ = ("_fields",)

    def __init__(self, fields: _Given) -> None:
        self._fields = fields

    @property
    def fields(self) -> dict[str, Any]:
        """It as the gateway's JSON."""
        fields = self._fields
        if callable(fields):
            fields = self._fields = fields()
        return fields

    @fields.setter
    def fields(self, fields: dict[str, Any]) -> None:
        self._fields = fields


class Compare(_Fields):
    """One comparison of a transaction's ``if_`` (made by ``T.value(key) == ...`` and the like).

    :attr:`fields` is it as the gateway's JSON; :attr:`raw`, when not ``None``,
    the same as the fields of etcd's ``Compare`` message (bytes, ints, enum
    numbers), which the gRPC transport builds its message from. ``fields``
    may be given as a function that makes them: the builders below do, so
    that a transaction sent over gRPC never writes its keys in base64.
    """

    __slots__ = ("raw",)

    def __init__(self, fields: _Given, raw: dict[str, Any] | None = None) -> None:
        super().__init__(fields)
        self.raw = raw

    def __repr__(self) -> str:
        return f"<Compare {self.fields}>"


_RESULTS = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
#: etcd's enum numbers (``etcdserverpb.Compare``'s CompareResult and CompareTarget).
_RESULT_NUMBERS = {"EQUAL": 0, "GREATER": 1, "LESS": 2, "NOT_EQUAL": 3}
_TARGET_NUMBERS = {"VERSION": 0, "CREATE": 1, "MOD": 2, "VALUE": 3, "LEASE": 4}


def _compare_fields(
    start: bytes, end: bytes, target: str, result: str, field: str, given: Any, operand: str | None
) -> dict[str, Any]:
    """A comparison's gateway JSON (``operand``: ``given`` as the gateway has it, or ``None``: base64)."""
    return {**_range_fields(start, end), "target": target, "result": result, field: operand or b64(given)}


class _Target:
    """A key's value, version, create or mod revision, or lease, waiting for a comparison."""

    __slots__ = ("_target", "_field", "_range")

    def __init__(self, key: str | bytes, target: str, field: str, prefix: bool, range_end: str | bytes | None) -> None:
        self._range = raw_range(key, prefix, range_end)
        self._target = target
        self._field = field

    def _compare(self, op: str, other: object) -> Compare:
        target, field = self._target, self._field
        if target == "VALUE":
            given: Any = to_bytes(other, "a value")  # type: ignore[arg-type]
            operand = None  # its base64, when asked for
        elif isinstance(other, bool) or not isinstance(other, int):
            raise TypeError(f"a {field} compares with an int, not {type(other).__name__}")
        else:
            given, operand = other, str(other)
        result = _RESULTS[op]
        start, end = self._range
        raw = {
            "key": start,
            "range_end": end,
            "target": _TARGET_NUMBERS[target],
            "result": _RESULT_NUMBERS[result],
            field: given,
        }
        return Compare(functools.partial(_compare_fields, start, end, target, result, field, given, operand), raw)

    def __eq__(self, other: object) -> Compare:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> Compare:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: object) -> Compare:
        return self._compare("<", other)

    def __gt__(self, other: object) -> Compare:
        return self._compare(">", other)

    __hash__ = None  # type: ignore[assignment]


def value(key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None) -> _Target:
    """The key's value (compare with ``bytes`` or ``str``)."""
    return _Target(key, "VALUE", "value", prefix, range_end)


def version(key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None) -> _Target:
    """The key's version (0: the key does not exist)."""
    return _Target(key, "VERSION", "version", prefix, range_end)


def create_revision(key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None) -> _Target:
    """The revision that created the key (0: the key does not exist); clientv3's ``CreateRevision``.

    A comparison, not a write: ``T.create_revision(key) == 0`` holds while the
    key does not exist. ``client.create(key, value)`` is the write that needs it.
    """
    return _Target(key, "CREATE", "create_revision", prefix, range_end)


def mod_revision(key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None) -> _Target:
    """The revision of the key's last change (0: the key does not exist); clientv3's ``ModRevision``."""
    return _Target(key, "MOD", "mod_revision", prefix, range_end)


#: The short names of :func:`create_revision` and :func:`mod_revision` (etcd's
#: ``CREATE`` and ``MOD`` compare targets); they stay.
create = create_revision
mod = mod_revision


def lease(key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None) -> _Target:
    """The id of the key's lease (0: none)."""
    return _Target(key, "LEASE", "lease", prefix, range_end)


class Op(_Fields):
    """One operation of a transaction branch; :attr:`writes` tells a change from a read.

    :attr:`fields` is it as the gateway's JSON; :attr:`raw`, when not ``None``,
    ``(kind, fields)``: the ``RequestOp`` field (``"request_put"``...) and the
    fields of its message as bytes, ints and enum numbers (for
    ``"request_txn"``: the nested transaction's ``(compares, success,
    failure)``), which the gRPC transport builds its message from.
    """

    __slots__ = ("writes", "raw")

    def __init__(self, fields: _Given, writes: bool, raw: tuple[str, Any] | None = None) -> None:
        super().__init__(fields)
        self.writes = writes
        self.raw = raw

    def __repr__(self) -> str:
        return f"<Op {self.fields}>"


def lease_id(lease: Any) -> int:
    """A lease given as its id or as an object with an ``id`` (a :class:`~aio_etcd.v3.Lease`)."""
    if lease is None:
        return 0
    if isinstance(lease, int) and not isinstance(lease, bool):
        return lease  # 0: no lease
    found = getattr(lease, "id", None)
    if not isinstance(found, int):
        raise TypeError(f"a lease is a Lease or an int id, not {type(lease).__name__}")
    if not found:
        # Its id 0 would mean "no lease": the key would never expire.
        raise EtcdValueError(
            f"{lease!r} was never granted: use it as `async with client.lease(ttl) as lease:`, "
            "or `await lease.grant()` first"
        )
    return found


def put_request(
    key: str | bytes,
    value: str | bytes | int | float,
    *,
    lease: Any = None,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> dict[str, Any]:
    """The body of a put (:func:`put`'s, as the gateway's JSON)."""
    op = put(key, value, lease=lease, prev_kv=prev_kv, ignore_value=ignore_value, ignore_lease=ignore_lease)
    fields: dict[str, Any] = op.fields["request_put"]
    return fields


def put_value(value: str | bytes | int | float, ignore_value: bool) -> bytes:
    """A put's value as bytes; with ``ignore_value`` (the value is kept) ``b""``, which must be what was given."""
    if ignore_value:
        if value not in (b"", ""):
            raise ValueError("ignore_value=True keeps the value: give no value (b'')")
        return b""
    return value if type(value) is bytes else value_bytes(value)


def put_fields(
    key: bytes, value: bytes, lease: int, prev_kv: bool, ignore_value: bool, ignore_lease: bool
) -> dict[str, Any]:
    """A put's body from checked arguments (``value`` left out with ``ignore_value``; ``lease`` 0: none)."""
    fields: dict[str, Any] = {"key": b64(key)}
    if not ignore_value:
        fields["value"] = b64(value)
    if lease:
        fields["lease"] = str(lease)
    if prev_kv:
        fields["prev_kv"] = True
    if ignore_value:
        fields["ignore_value"] = True
    if ignore_lease:
        fields["ignore_lease"] = True
    return fields


_SORT_TARGETS = {"key": "KEY", "version": "VERSION", "create": "CREATE", "mod": "MOD", "value": "VALUE"}
_SORT_ORDERS = {"asc": "ASCEND", "desc": "DESCEND", "ascend": "ASCEND", "descend": "DESCEND"}
#: etcd's enum numbers (``etcdserverpb.RangeRequest``'s SortTarget and SortOrder).
_SORT_NUMBERS = {"KEY": 0, "VERSION": 1, "CREATE": 2, "MOD": 3, "VALUE": 4, "ASCEND": 1, "DESCEND": 2}


def sort_names(sort: tuple[str, str]) -> tuple[str, str]:
    """A range's ``sort=(target, order)`` as etcd's names (``("KEY", "ASCEND")``), checked."""
    target, order = sort
    try:
        return _SORT_TARGETS[target.lower()], _SORT_ORDERS[order.lower()]
    except KeyError:
        raise ValueError(
            f"sort is (target, order): target one of {sorted(_SORT_TARGETS)}, order 'asc' or 'desc'; not {sort!r}"
        ) from None


def range_request(
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
) -> dict[str, Any]:
    """The body of a range."""
    fields: dict[str, Any] = key_range(key, prefix, range_end)
    return range_options(fields, limit, revision, _checked_sort(limit, sort), keys_only, count_only, serializable)


def _checked_sort(limit: int, sort: tuple[str, str] | None) -> tuple[str, str] | None:
    """A range's ``limit`` checked, and its ``sort`` as etcd's names."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    return None if sort is None else sort_names(sort)


def range_options(
    fields: dict[str, Any],
    limit: int,
    revision: int,
    sort: tuple[str, str] | None,
    keys_only: bool,
    count_only: bool,
    serializable: bool,
) -> dict[str, Any]:
    """``fields`` (a range's key and range end) with the range's checked options added."""
    if limit:
        fields["limit"] = str(limit)
    if revision:
        fields["revision"] = str(revision)
    if sort is not None:
        fields["sort_target"], fields["sort_order"] = sort
    if keys_only:
        fields["keys_only"] = True
    if count_only:
        fields["count_only"] = True
    if serializable:
        fields["serializable"] = True
    return fields


def delete_request(
    key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None, prev_kv: bool = False
) -> dict[str, Any]:
    """The body of a delete (:func:`delete`'s, as the gateway's JSON)."""
    op = delete(key, prefix=prefix, range_end=range_end, prev_kv=prev_kv)
    fields: dict[str, Any] = op.fields["request_delete_range"]
    return fields


def put(
    key: str | bytes,
    value: str | bytes | int | float,
    *,
    lease: Any = None,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> Op:
    """Put ``value`` at ``key``, as :meth:`aio_etcd.v3.Client.put` does (with a lease;
    ``ignore_value``: keep the value, give ``b""``; ``ignore_lease``: keep the lease)."""
    raw_key = to_bytes(key)
    data, number = put_value(value, ignore_value), lease_id(lease)
    raw = {"key": raw_key, "value": data, "lease": number, "prev_kv": prev_kv}
    if ignore_value:
        raw["ignore_value"] = True
    if ignore_lease:
        raw["ignore_lease"] = True
    fields = functools.partial(_put_op, raw_key, data, number, prev_kv, ignore_value, ignore_lease)
    return Op(fields, True, ("request_put", raw))


def _put_op(
    key: bytes, value: bytes, lease: int, prev_kv: bool, ignore_value: bool, ignore_lease: bool
) -> dict[str, Any]:
    return {"request_put": put_fields(key, value, lease, prev_kv, ignore_value, ignore_lease)}


def get(
    key: str | bytes,
    *,
    prefix: bool = False,
    range_end: str | bytes | None = None,
    limit: int = 0,
    keys_only: bool = False,
    count_only: bool = False,
    sort: tuple[str, str] | None = None,
) -> Op:
    """Read a key or range (its response is a :class:`~aio_etcd.v3.Range`)."""
    start, end = raw_range(key, prefix, range_end)
    names = _checked_sort(limit, sort)
    raw: dict[str, Any] = {"key": start, "range_end": end, "limit": limit, "keys_only": keys_only}
    raw["count_only"] = count_only
    if names is not None:
        raw["sort_target"], raw["sort_order"] = _SORT_NUMBERS[names[0]], _SORT_NUMBERS[names[1]]
    fields = functools.partial(_get_op, start, end, limit, names, keys_only, count_only)
    return Op(fields, False, ("request_range", raw))


def _get_op(
    start: bytes, end: bytes, limit: int, sort: tuple[str, str] | None, keys_only: bool, count_only: bool
) -> dict[str, Any]:
    return {"request_range": range_options(_range_fields(start, end), limit, 0, sort, keys_only, count_only, False)}


def delete(
    key: str | bytes, *, prefix: bool = False, range_end: str | bytes | None = None, prev_kv: bool = False
) -> Op:
    """Delete a key or range."""
    start, end = raw_range(key, prefix, range_end)
    raw = {"key": start, "range_end": end, "prev_kv": prev_kv}
    return Op(functools.partial(_delete_op, start, end, prev_kv), True, ("request_delete_range", raw))


def _delete_op(start: bytes, end: bytes, prev_kv: bool) -> dict[str, Any]:
    fields: dict[str, Any] = _range_fields(start, end)
    if prev_kv:
        fields["prev_kv"] = True
    return {"request_delete_range": fields}


class Txn:
    """A transaction being built: ``if_(...)``, ``then(...)``, ``else_(...)``, then :meth:`commit`.

    Made by :meth:`aio_etcd.v3.Client.txn`; without a client (``T.txn()``) it
    is an operation to nest in another transaction.
    """

    def __init__(self, commit: Callable[[Txn], Awaitable[TxnResult]] | None = None) -> None:
        self._commit = commit
        self.compares: list[Compare] = []
        self.success: list[Op] = []
        self.failure: list[Op] = []

    def if_(self, *compares: Compare) -> Txn:
        """Add comparisons; the ``then`` branch runs when all of them hold."""
        for compare in compares:
            if not isinstance(compare, Compare):
                raise TypeError(f"if_() takes comparisons such as T.value(key) == b'x', not {compare!r}")
        self.compares.extend(compares)
        return self

    def then(self, *ops: Op | Txn) -> Txn:
        """Add operations to run when the comparisons hold."""
        self.success.extend(_ops(ops))
        return self

    def else_(self, *ops: Op | Txn) -> Txn:
        """Add operations to run when a comparison fails."""
        self.failure.extend(_ops(ops))
        return self

    @property
    def writes(self) -> bool:
        """Whether either branch changes anything (then the transaction is never sent twice)."""
        return any(op.writes for op in self.success) or any(op.writes for op in self.failure)

    def request(self) -> dict[str, Any]:
        """The body of the transaction."""
        return _request(self.compares, self.success, self.failure)

    async def commit(self) -> TxnResult:
        """Send the transaction."""
        if self._commit is None:
            raise TypeError("this transaction has no client: use client.txn() to build one to commit")
        return await self._commit(self)

    def __repr__(self) -> str:
        return f"<Txn {len(self.compares)} compares, {len(self.success)} then, {len(self.failure)} else>"


def _request(compares: list[Compare], success: list[Op], failure: list[Op]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if compares:
        fields["compare"] = [c.fields for c in compares]
    if success:
        fields["success"] = [op.fields for op in success]
    if failure:
        fields["failure"] = [op.fields for op in failure]
    return fields


def _nested(compares: list[Compare], success: list[Op], failure: list[Op]) -> dict[str, Any]:
    return {"request_txn": _request(compares, success, failure)}


def _ops(ops: tuple[Op | Txn, ...]) -> list[Op]:
    out = []
    for op in ops:
        if isinstance(op, Txn):
            nested = (list(op.compares), list(op.success), list(op.failure))  # as it is now
            out.append(Op(functools.partial(_nested, *nested), op.writes, ("request_txn", nested)))
        elif isinstance(op, Op):
            out.append(op)
        else:
            raise TypeError(f"then()/else_() take T.put/T.get/T.delete/T.txn operations, not {op!r}")
    return out


def txn() -> Txn:
    """A transaction to nest inside another (``T.txn().if_(...).then(...)``)."""
    return Txn()
