"""EtcdResult: one etcd node over etcd's own decoded JSON."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["EtcdResult"]

_NODE_FIELDS = ("key", "value", "expiration", "ttl", "modifiedIndex", "createdIndex", "newKey", "dir")
_new = object.__new__


class EtcdResult:
    """A node of etcd's key space, as a key request returned it.

    :param action: etcd's ``action`` (``get``, ``set``, ``create``, ``delete``...).
    :param node: etcd's ``node`` object.
    :param prevNode: etcd's ``prevNode`` object, when the answer had one.
    :param etcd_index: the ``X-Etcd-Index`` response header.
    :param raft_index: the ``X-Raft-Index`` response header.
    :param newKey: ``True`` when the server answered ``201 Created``.

    The node fields are etcd's: :attr:`key`, :attr:`value` (``None`` for a
    directory), :attr:`dir`, :attr:`ttl` and :attr:`expiration` (``None``
    without a TTL), :attr:`modifiedIndex`, :attr:`createdIndex`. A result reads
    them straight from etcd's decoded answer, and a directory's children become
    :class:`EtcdResult` objects only while :attr:`leaves`, :attr:`children` or
    :meth:`get_subtree` walks them, so a large recursive read costs little more
    than decoding its JSON.

    Fields can be assigned (``result.value = ...`` before :meth:`Client.update
    <aio_etcd.Client.update>`); that changes this object only.
    """

    # ``key`` and ``value``, read for nearly every node, are copied into slots;
    # the other node fields are properties over etcd's decoded object, and what
    # the response said about the node lives in ``_meta`` (one object shared by
    # every child met while walking a tree, replaced on first write).
    __slots__ = ("key", "value", "_node", "_meta")

    #: The full path of the key (``None`` for the root directory).
    key: str | None
    #: The value, ``None`` for a directory.
    value: str | None
    _node: dict[str, Any]
    _meta: _Meta

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
        node = dict(node or {})
        self.key = node.get("key")
        self.value = node.get("value")
        self._node = node
        self._meta = _Meta(action, prevNode, etcd_index, raft_index, newKey)
        self._meta.owned = True

    @classmethod
    def from_response(
        cls,
        body: dict[str, Any],
        *,
        etcd_index: int | None = None,
        raft_index: int | None = None,
        created: bool = False,
    ) -> EtcdResult:
        """Build a result from a decoded key response body, which it takes over."""
        node = body.get("node")
        result = _wrap(node if isinstance(node, dict) else {})
        result._meta = _Meta(body.get("action"), body.get("prevNode"), etcd_index, raft_index, created)
        return result

    def _own_meta(self) -> _Meta:
        meta = self._meta
        if meta is _CHILD:
            meta = self._meta = _Meta(None, None, None, None, False)
        return meta

    def _set(self, name: str, value: Any) -> None:
        meta = self._own_meta()
        if not meta.owned:  # etcd's object may be shared with other results: copy on first write
            self._node = dict(self._node)
            meta.owned = True
        self._node[name] = value

    @property
    def action(self) -> str | None:
        """etcd's ``action`` (``None`` for nodes met while walking a tree)."""
        return self._meta.action

    @action.setter
    def action(self, value: str | None) -> None:
        self._own_meta().action = value

    @property
    def newKey(self) -> bool:  # noqa: N802 - etcd's spelling
        """``True`` when the request created the key (HTTP 201)."""
        return self._meta.new_key

    @newKey.setter
    def newKey(self, value: bool) -> None:  # noqa: N802
        self._own_meta().new_key = value

    @property
    def etcd_index(self) -> int | None:
        """``X-Etcd-Index``: the store's index when the server answered."""
        return self._meta.etcd_index

    @etcd_index.setter
    def etcd_index(self, value: int | None) -> None:
        self._own_meta().etcd_index = value

    @property
    def raft_index(self) -> int | None:
        """``X-Raft-Index`` of the answer."""
        return self._meta.raft_index

    @raft_index.setter
    def raft_index(self, value: int | None) -> None:
        self._own_meta().raft_index = value

    @property
    def expiration(self) -> str | None:
        """When the key expires (RFC 3339), ``None`` without a TTL."""
        return self._node.get("expiration")

    @expiration.setter
    def expiration(self, value: str | None) -> None:
        self._set("expiration", value)

    @property
    def ttl(self) -> int | None:
        """Seconds left to live, ``None`` without a TTL."""
        return self._node.get("ttl")

    @ttl.setter
    def ttl(self, value: int | None) -> None:
        self._set("ttl", value)

    @property
    def modifiedIndex(self) -> int | None:  # noqa: N802 - etcd's spelling
        """The index of the last change of this node."""
        return self._node.get("modifiedIndex")

    @modifiedIndex.setter
    def modifiedIndex(self, value: int | None) -> None:  # noqa: N802
        self._set("modifiedIndex", value)

    @property
    def createdIndex(self) -> int | None:  # noqa: N802 - etcd's spelling
        """The index at which this node was created."""
        return self._node.get("createdIndex")

    @createdIndex.setter
    def createdIndex(self, value: int | None) -> None:  # noqa: N802
        self._set("createdIndex", value)

    @property
    def dir(self) -> bool:
        """Whether the node is a directory."""
        return bool(self._node.get("dir", False))

    @dir.setter
    def dir(self, value: bool) -> None:
        self._set("dir", value)

    @property
    def prev_node(self) -> EtcdResult | None:
        """The node as it was before this change (etcd's ``prevNode``), when etcd sent it.

        Writes over an existing key, deletes, compare-and-swaps and watch
        events of such changes carry it.
        """
        prev = self._meta.prev
        if prev is None or isinstance(prev, EtcdResult):
            return prev
        result = self._meta.prev = _wrap(dict(prev))
        return result

    #: python-etcd's name for :attr:`prev_node`.
    _prev_node = prev_node

    @property
    def nodes(self) -> list[EtcdResult]:
        """The direct children of a directory (etcd's ``nodes``), in the order etcd sent them; empty for a key.

        Unlike :attr:`children` and :attr:`leaves`, which walk the whole
        subtree, this keeps its shape: each child has ``nodes`` of its own.
        """
        return [_wrap(raw) for raw in self._node.get("nodes") or ()]

    @property
    def _children(self) -> list[dict[str, Any]]:
        """The child nodes as etcd sent them (python-etcd's name)."""
        nodes: list[dict[str, Any]] | None = self._node.get("nodes")
        return nodes or []

    def copy(self) -> EtcdResult:
        """A copy whose fields can be changed without changing this one (children are shared)."""
        clone = _wrap(self._node)
        clone.key = self.key
        clone.value = self.value
        meta = self._meta
        if meta is not _CHILD:
            clone._meta = _Meta(meta.action, meta.prev, meta.etcd_index, meta.raft_index, meta.new_key)
        return clone

    # -- walking --------------------------------------------------------------------------

    def get_subtree(self, leaves_only: bool = False) -> Iterator[EtcdResult]:
        """Walk this node and everything below it, depth first.

        A node without children (a key, or an empty directory) yields itself.
        Otherwise the directory yields itself first (unless ``leaves_only``),
        then the subtree of each child in the order etcd sent them. Each node
        becomes an :class:`EtcdResult` only when the walk reaches it, and is
        gone again once the caller lets go of it.
        """
        children = self._node.get("nodes")
        if not children:
            yield self
            return
        if not leaves_only:
            yield self
        walked, child = _Walked, _CHILD
        stack = [iter(children)]
        while stack:
            for raw in stack[-1]:
                if "nodes" in raw:  # (a key has none: cheaper asked so than with get)
                    below = raw["nodes"]
                    if below:
                        if not leaves_only:
                            yield _wrap(raw)
                        stack.append(iter(below))
                        break
                # _wrap(raw), inlined: this runs once per key of the tree.
                result = walked()
                result.key = raw.get("key")
                result.value = raw.get("value")
                result._node = raw
                result._meta = child
                yield result
            else:
                stack.pop()

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


class _Meta:
    """What a response said about a node besides the node itself."""

    __slots__ = ("action", "prev", "etcd_index", "raft_index", "new_key", "owned")

    def __init__(
        self,
        action: str | None,
        prev: Mapping[str, Any] | EtcdResult | None,
        etcd_index: int | None,
        raft_index: int | None,
        new_key: bool,
    ) -> None:
        self.action = action
        self.prev = prev
        self.etcd_index = etcd_index
        self.raft_index = raft_index
        self.new_key = new_key
        #: Whether the node object belongs to this result alone (may be changed in place).
        self.owned = False


#: The metadata of every node met while walking a tree (never changed: replaced on write).
_CHILD = _Meta(None, None, None, None, False)


class _Walked(EtcdResult):
    """An :class:`EtcdResult` made while walking a tree.

    The same class in all but construction: calling it runs no Python code,
    which matters when a walk makes one per key.
    """

    __slots__ = ()
    __init__ = object.__init__


def _wrap(node: dict[str, Any]) -> EtcdResult:
    """A result over etcd's node object (not copied until a field is assigned)."""
    result: EtcdResult = _new(EtcdResult)
    result.key = node.get("key")
    result.value = node.get("value")
    result._node = node
    result._meta = _CHILD
    return result
