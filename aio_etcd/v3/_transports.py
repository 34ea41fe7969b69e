"""The registry of the v3 client's transports: what ``v3.Client(transport=name)`` makes.

A second v3 transport is its module (a subclass of :class:`aio_etcd.v3.Client`
with its wire, rules and transport) plus its line in :data:`TRANSPORTS`.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

__all__ = ["TRANSPORTS"]

_C = TypeVar("_C", bound=type)

#: The names ``transport=`` takes, and the client each makes: ``None`` is :class:`Client`
#: itself (the JSON gateway); otherwise ``("module:Class", extra)``, a subclass of
#: :class:`Client` imported only when asked for, and the extra that installs its libraries.
#: A second v3 transport is its module plus its line here.
TRANSPORTS: dict[str, tuple[str, str] | None] = {
    "auto": None,  # gRPC or the gateway, chosen when the client is made: aio_etcd.v3._auto
    "gateway": None,
    "grpc": ("aio_etcd.v3._grpc.client:GrpcClient", "grpc"),
}


def _transport_names() -> str:
    names = [repr(name) for name in TRANSPORTS]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _client_class(name: str, target: str, extra: str, base: _C) -> _C:
    """The client class registered for ``transport=name`` (a subclass of ``base``), imported now."""
    module, _, attribute = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        needs = f'transport="{name}" needs the {extra} extra: pip install "aio_etcd[{extra}]"'
        raise ImportError(f"{needs}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, base)):
        raise TypeError(f"{target} (transport={name!r}) is not a v3.Client")
    return found  # type: ignore[return-value]
