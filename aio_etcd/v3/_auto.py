"""``v3.Client(transport="auto")``: gRPC when it can carry the client, else the JSON gateway.

gRPC is chosen when the ``grpc`` extra imports at versions it is checked with
(grpcio and protobuf, :data:`GRPCIO_MIN` and :data:`PROTOBUF_MIN` up) and none
of the options given is one "auto" leaves to the gateway (:func:`gateway_only`:
``ssl=``, ``ssl_verify=False``, an explicit ``watch_transport``).
The choice is made when the client is made: ``client.transport`` says which,
and a debug line of this module's logger says why when it is the gateway.

Nothing here imports grpc before a client is made with ``"auto"``:
``import aio_etcd.v3`` stays free of grpcio and protobuf.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["GRPCIO_MIN", "PROTOBUF_MIN", "choose", "gateway_only", "grpc_unusable"]

log = logging.getLogger(__name__)

#: The oldest grpcio and protobuf the gRPC transport is checked with (pyproject's ``grpc`` extra).
GRPCIO_MIN = (1, 62)
PROTOBUF_MIN = (4, 21, 12)

_GRPC_CLIENT = "aio_etcd.v3._grpc.client"


def _release(text: str) -> tuple[int, ...]:
    """The numeric release of a version string (``"1.85.0rc1"`` -> ``(1, 85, 0)``)."""
    numbers = []
    for part in text.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(numbers)


def _dotted(release: tuple[int, ...]) -> str:
    return ".".join(map(str, release))


@functools.lru_cache(maxsize=1)
def grpc_unusable() -> str | None:
    """Why the gRPC transport cannot be used in this process, or ``None`` when it can (asked once)."""
    try:
        import grpc
        from google.protobuf import __version__ as protobuf_version
    except ImportError as exc:
        return f'the grpc extra is not installed ({exc}; pip install "aio_etcd[grpc]")'
    for name, found, least in (
        ("grpcio", getattr(grpc, "__version__", "0"), GRPCIO_MIN),
        ("protobuf", protobuf_version, PROTOBUF_MIN),
    ):
        if _release(str(found)) < least:
            return f"{name} {found} is older than the gRPC transport needs ({_dotted(least)})"
    try:
        importlib.import_module(_GRPC_CLIENT)
    except Exception as exc:  # an unforeseen grpcio/protobuf build: "auto" falls back, "grpc" raises it
        return f"{_GRPC_CLIENT} does not load: {type(exc).__name__}: {exc}"
    return None


def gateway_only(options: Mapping[str, Any]) -> str | None:
    """Why the options of a client (its keyword arguments) are the gateway's, or ``None``."""
    if options.get("ssl") is not None:
        return "ssl= (an SSLContext) is not carried by gRPC"
    if options.get("ssl_verify", True) is False:
        # gRPC trusts the certificate each member presents, but not an expired one: the gateway checks nothing.
        return "ssl_verify=False checks nothing on the gateway only"
    watch_transport = options.get("watch_transport", "auto")
    if watch_transport != "auto":
        return f"watch_transport={watch_transport!r} names a way of the gateway's watches"
    return None


def choose(options: Mapping[str, Any]) -> str:
    """``"grpc"`` or ``"gateway"``: what ``transport="auto"`` makes of a client with ``options``."""
    why = gateway_only(options) or grpc_unusable()
    if why is not None:
        log.debug("transport='auto': the JSON gateway, because %s", why)
        return "gateway"
    log.debug("transport='auto': gRPC (the grpc extra is installed)")
    return "grpc"
