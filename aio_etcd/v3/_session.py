"""``client.session``: the package-internal side of a v3 client (not part of the public API).

The service modules (:mod:`~aio_etcd.v3.watch`, :mod:`~aio_etcd.v3.lease`,
:mod:`~aio_etcd.v3.lock`, :mod:`~aio_etcd.v3.auth`) and :mod:`aio_etcd.v2on3`
use the client through its public methods and through this, never through
the client's private names; each states at its top, as a ``Protocol``, what
it uses (so none imports the client's module: no import circle).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._core import Call, Cluster, Response, Transport

if TYPE_CHECKING:
    from ._mux import Multiplexer
    from .lease import KeepAlives
    from .watch import Probes

__all__ = ["Session"]

_T = TypeVar("_T")


class Session:
    """What aio_etcd's own modules use of a v3 client besides its public methods.

    The client builds it once its parts are made (a subclass's multiplexer
    included) and hands it the parts and the ways to send: it holds no state
    of its own.
    """

    __slots__ = (
        "cluster",
        "transport",
        "mux",
        "probes",
        "keepalives",
        "has_credentials",
        "check",
        "_send",
        "_send_as_is",
        "_authenticate",
        "range_answer",
        "txn_answer",
    )

    def __init__(
        self,
        *,
        cluster: Cluster,
        transport: Transport,
        mux: Multiplexer | None,
        probes: Probes,
        keepalives: KeepAlives,
        has_credentials: bool,
        check: Callable[[Response], dict[str, Any]],
        send: Callable[..., Awaitable[Any]],
        send_as_is: Callable[..., Awaitable[Any]],
        authenticate: Callable[[str | None], Awaitable[None]],
        range_answer: Callable[..., Awaitable[Any]],
        txn_answer: Callable[..., Awaitable[dict[str, Any]]],
    ) -> None:
        #: The client's core: its members, attempt loop, cluster id and observer.
        self.cluster = cluster
        #: The client's transport (the one its ordinary calls go through).
        self.transport = transport
        #: The watch multiplexer (``None``: each watch is a stream of its own).
        self.mux = mux
        #: The freeze probes of the client's watches (a watch adds itself while it streams).
        self.probes = probes
        #: The keep-alive timer of the client's leases (a granted lease adds itself).
        self.keepalives = keepalives
        #: Whether the client was given a user name and password (its token can be renewed).
        self.has_credentials = has_credentials
        #: A gateway answer as its JSON object, or the error it holds, raised.
        self.check = check
        self._send = send
        self._send_as_is = send_as_is
        self._authenticate = authenticate
        #: ``await range_answer(start, end, *, limit=, revision=, keys_only=, serializable=, key=,
        #: timeout=)``: the keys in ``[start, end)`` as the transport's answer holds them, not made
        #: into a :class:`~aio_etcd.v3.Range`: etcd's ``RangeResponse`` message over gRPC (its
        #: ``kvs`` read as :class:`~aio_etcd.v3.KV` is, ``kv.key``...), the gateway's JSON object
        #: otherwise. For a reader that turns many keys into its own shapes at once (the v2 keys
        #: API on a v3 store), where a view per key would cost more than the range. ``key`` names
        #: the call for the observer (``start`` by default).
        self.range_answer = range_answer
        #: ``await txn_answer(txn, *, rule=, op=, key=, timeout=)``: commit the
        #: :class:`~aio_etcd.v3.txn.Txn` once through the attempt loop under the replay ``rule``
        #: and return its answer as the gateway's JSON object, on every transport (over gRPC the
        #: request is built from the builders' raw fields, no base64 and back; the answer message
        #: is read into those shapes). For readers written against the gateway's shapes (the v2
        #: keys API on a v3 store); ``op`` and ``key`` name the call for the observer.
        self.txn_answer = txn_answer

    async def send(self, call: Call, check: Callable[[Response], _T], *, watch: bool = False) -> _T:
        """Make ``call`` under the client's retry policy (its token added when just got);
        ``check`` reads the answer. ``watch``: over the multiplexer when there is one."""
        result: _T = await self._send(call, check, watch=watch)
        return result

    async def send_as_is(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        """Make ``call`` as it is (its own headers: no token is added) through the client's
        members, attempt loop and transport; ``check`` reads the answer.

        For the requests of :class:`aio_etcd.Client` with ``api="v3"`` that are not v3
        calls (``/version``, ``api_execute``), so that that client has one session.
        """
        result: _T = await self._send_as_is(call, check, timeout=timeout, attempt_timeout=attempt_timeout)
        return result

    async def authenticate(self, stale: str | None) -> None:
        """Get a new token (once for concurrent callers); ``stale`` is the token that was refused."""
        await self._authenticate(stale)
