"""EtcdResult: one etcd node, with its subtree parsed only when walked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["EtcdResult"]

_NODE_FIELDS = ("key", "value", "expiration", "ttl", "modifiedIndex", "createdIndex", "newKey", "dir")


class EtcdResult:
    """A node of etcd's key space, as a key request returned it.

    :param action: etcd's ``action`` (``get``, ``set``, ``create``, ``delete``...).
    :param node: etcd's ``node`` object.
    :param prevNode: etcd's ``prevNode`` object, when the answer had one.
    :param etcd_index: the ``X-Etcd-Index`` response header.
    :param raft_index: the ``X-Raft-Index`` response header.
    :param newKey: ``True`` when the server answered ``201 Created``.

    Attributes mirror etcd's node fields: ``key``, ``value`` (``None`` for a
    directory), ``dir``, ``ttl`` and ``expiration`` (``None`` without a TTL),
    ``modifiedIndex``, ``createdIndex``. The child nodes of a directory are kept
    as etcd sent them and become :class:`EtcdResult` objects only while
    :attr:`leaves`, :attr:`children` or :meth:`get_subtree` walks them.
    """

    __slots__ = (
        "action",
        "key",
        "value",
        "expiration",
        "ttl",
        "modifiedIndex",
        "createdIndex",
        "newKey",
        "dir",
        "etcd_index",
        "raft_index",
        "_prev_node",
        "_children",
    )

    def __init__(
        self,
        action: str | None = None,
        node: Mapping[str, Any] | None = None,
        prevNode: Mapping[str, Any] | None = None,  # noqa: N803 - etcd's spelling
        *,
        etcd_index: int | None = None,
        raft_index: int | None = None,
        newKey: bool = False,  # noqa: N803 - etcd's spelling
    ) -> None:
        if node is None:
            node = {}
        self.action: str | None = action
        #: The full path of the key.
        self.key: str | None = node.get("key")
        #: The value (``None`` for a directory). Assign to it before :meth:`Client.update`.
        self.value: str | None = node.get("value")
        self.expiration: str | None = node.get("expiration")
        self.ttl: int | None = node.get("ttl")
        self.modifiedIndex: int | None = node.get("modifiedIndex")
        self.createdIndex: int | None = node.get("createdIndex")
        #: ``True`` when the request created the key (HTTP 201).
        self.newKey: bool = newKey
        self.dir: bool = bool(node.get("dir", False))
        #: ``X-Etcd-Index``: the store's index when the server answered.
        self.etcd_index: int | None = etcd_index
        #: ``X-Raft-Index``.
        self.raft_index: int | None = raft_index
        self._prev_node: EtcdResult | None = EtcdResult(None, prevNode) if prevNode is not None else None
        self._children: list[Mapping[str, Any]] = node.get("nodes") or []

    @classmethod
    def from_response(
        cls,
        body: Mapping[str, Any],
        *,
        etcd_index: int | None = None,
        raft_index: int | None = None,
        created: bool = False,
    ) -> EtcdResult:
        """Build a result from a decoded key response body."""
        return cls(
            body.get("action"),
            body.get("node"),
            body.get("prevNode"),
            etcd_index=etcd_index,
            raft_index=raft_index,
            newKey=created,
        )

    def copy(self) -> EtcdResult:
        """A shallow copy (the child nodes and previous node are shared)."""
        clone = EtcdResult.__new__(EtcdResult)
        for name in EtcdResult.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone

    def get_subtree(self, leaves_only: bool = False) -> Iterator[EtcdResult]:
        """Walk this node and everything below it, depth first.

        A node without children (a key, or an empty directory) yields itself.
        Otherwise the directory yields itself first (unless ``leaves_only``),
        then the subtree of each child in the order etcd sent them.
        """
        if not self._children:
            yield self
            return
        if not leaves_only:
            yield self
        for raw in self._children:
            yield from EtcdResult(None, raw).get_subtree(leaves_only)

    @property
    def leaves(self) -> Iterator[EtcdResult]:
        """The nodes without children under this one (itself, for a plain key)."""
        return self.get_subtree(leaves_only=True)

    @property
    def children(self) -> Iterator[EtcdResult]:
        """Same as :attr:`leaves`, the name python-etcd and the 2018 README use."""
        return self.get_subtree(leaves_only=True)

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _NODE_FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EtcdResult):
            return NotImplemented
        return self._fields() == other._fields() and self._children == other._children

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        parts = [f"action={self.action!r}", f"key={self.key!r}"]
        if self.dir:
            parts.append(f"dir=True children={len(self._children)}")
        else:
            parts.append(f"value={self.value!r}")
        if self.ttl is not None:
            parts.append(f"ttl={self.ttl}")
        parts.append(f"modifiedIndex={self.modifiedIndex}")
        return f"<EtcdResult {' '.join(parts)}>"
