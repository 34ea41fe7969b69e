"""``v3.Client(..., transport="grpc")``: the v3 client's calls as gRPC calls, through the same core.

:class:`GrpcClient` is what ``v3.Client(transport="grpc")`` makes (a
subclass: ``isinstance(client, v3.Client)`` holds). Every call goes through
the client's :class:`~aio_etcd._core.Cluster` as on the gateway (member
pinning, failover, deadlines, the replay rules, the frozen-member probe,
the observer), on a :class:`~aio_etcd.v3._grpc.transport.GrpcTransport`:
the client's calls are :class:`aio_etcd.v3.Client`'s, written once; this
client's wire (:class:`~aio_etcd.v3._grpc.wire.GrpcWire`) builds each request
as a message and reads each answer as one, behind the public result classes
(:mod:`aio_etcd.v3._grpc.results`).

Watches go through the client's websocket multiplexer
(:mod:`aio_etcd.v3._mux`), over one gRPC Watch stream per member
(:class:`~aio_etcd.v3._grpc.transport.WatchStream`), so they resume as on
the gateway. Locks, elections and user management go through
:meth:`~aio_etcd.v3.Client.call`, whose gateway bodies the wire converts to
messages and back. Not carried: ``ssl=`` (an :class:`~ssl.SSLContext`), refused with a
``ValueError`` naming the options to give instead (``ca_cert=``, ``cert=``;
``transport="auto"`` takes the gateway for it). ``ssl_verify=False`` trusts
the certificate each member presents (:mod:`aio_etcd.v3._grpc.transport`).
"""

from __future__ import annotations

from collections.abc import Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING, Any

from ..._core import ApiRules
from .. import txn as _txn
from .._mux import Multiplexer
from .._wire import Wire
from ..client import Client
from .rules import GrpcRules
from .transport import GrpcTransport
from .watch import GrpcMultiplexer, GrpcWatch
from .wire import GrpcWire

if TYPE_CHECKING:
    from ..watch import Watch

__all__ = ["GrpcClient"]


def _refuse_context(context: SSLContext | None) -> None:
    """A ``ValueError`` naming what to give instead of an :class:`~ssl.SSLContext`, which grpc cannot take.

    grpc takes PEM bytes; a context's CA certificates can be read back, its client key cannot.
    """
    if context is not None:
        raise ValueError(
            "transport='grpc' cannot take ssl= (an SSLContext: grpc reads PEM files and a context's "
            "client key cannot be read back): give ca_cert='ca.pem' and cert=('client.pem', 'client-key.pem') "
            "(or cert='one.pem' holding both), or transport='gateway' (which 'auto' picks for ssl=)"
        )


class GrpcClient(Client):
    """A :class:`~aio_etcd.v3.Client` over gRPC (see the module for what it carries)."""

    def __init__(
        self,
        *members: Any,
        ca_cert: str | None = None,
        cert: str | tuple[str, str] | None = None,
        ssl_verify: bool = True,
        ssl: SSLContext | None = None,
        transport: Any = "grpc",
        **options: Any,
    ) -> None:
        _refuse_context(ssl)
        grpc = GrpcTransport(ca_cert=ca_cert, cert=cert, ssl_verify=ssl_verify)
        super().__init__(*members, ca_cert=ca_cert, cert=cert, ssl_verify=ssl_verify, transport=grpc, **options)
        grpc.name = ", ".join(self._cluster.members)

    def _api_rules(self) -> ApiRules:
        return GrpcRules(lambda: self._headers)

    def _make_wire(self) -> Wire:
        return GrpcWire(self._cluster)

    def _make_mux(self, watch_transport: str, has_credentials: bool) -> Multiplexer | None:
        # Every watch of a member shares its one Watch stream, credentials or not.
        return GrpcMultiplexer(self._transport, self._cluster)

    @property
    def watch_transport(self) -> str:
        """``"grpc"``: watches share one gRPC Watch stream per member."""
        return "grpc"

    @property
    def transport(self) -> str:
        """``"grpc"``."""
        return "grpc"

    def watch(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Sequence[str] | set[str] = (),
        progress_notify: bool = False,
    ) -> Watch:
        return GrpcWatch(
            self,
            _txn.key_range(key, prefix, range_end),
            start_revision=start_revision,
            prev_kv=prev_kv,
            filters=filters,
            progress_notify=progress_notify,
        )
