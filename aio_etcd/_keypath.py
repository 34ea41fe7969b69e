"""How a v2 key is written, the same for both keys APIs (and importable without the v3 client)."""

from __future__ import annotations

__all__ = ["check_prefix", "v2_key"]

_BAD_SEGMENTS = frozenset({"", ".", ".."})


def v2_key(key: str) -> str:
    """``key`` as v2 names it: one leading ``/``, no trailing ``/`` (``"/"`` is the root).

    Empty, ``.`` and ``..`` segments are refused: etcd would resolve them to another key.
    Both APIs of :class:`aio_etcd.Client` check keys here.
    """
    if not isinstance(key, str):
        raise TypeError(f"an etcd key is a str, not {type(key).__name__}")
    if not key.startswith("/"):
        key = "/" + key
    if key == "/":
        return key
    if key.endswith("/"):
        key = key[:-1]
    if any(segment in _BAD_SEGMENTS for segment in key[1:].split("/")):
        raise ValueError(f"the key {key!r} has an empty, '.' or '..' segment; etcd would resolve it to another key")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can hold a v2 key space in v3 (``v3_prefix=``), else a ``ValueError``."""
    if prefix.endswith("/"):
        raise ValueError("the v3 prefix must not end with '/': v2 keys bring their own")
    return prefix
