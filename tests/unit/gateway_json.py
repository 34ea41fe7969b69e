"""Key-values as etcd's JSON gateway writes them, for the unit tests."""

from __future__ import annotations

import base64
from typing import Any


def kv(raw: bytes, value: bytes = b"", create: int = 1, mod: int | None = None, lease: int = 0) -> dict[str, Any]:
    """A key-value as the gateway's JSON carries it."""
    out: dict[str, Any] = {
        "key": base64.b64encode(raw).decode(),
        "create_revision": str(create),
        "mod_revision": str(mod or create),
        "version": "1",
    }
    if value:
        out["value"] = base64.b64encode(value).decode()
    if lease:
        out["lease"] = str(lease)
    return out
