"""The keys backend of ``Client(api="v3")``: the v2 calls on a v3 store, through one v3 client.

The client's whole session is the :class:`aio_etcd.v3.Client` built here from
the client's options: its member list, transport and attempt loop carry the
keys calls (:class:`~aio_etcd.v2on3._keys.KeysOnV3`), the watches
(:mod:`aio_etcd.v2on3._watch`), the cluster calls
(:mod:`aio_etcd.v2on3._cluster`) and the requests the client makes as they are
(``/version``, ``api_execute``).

On the gRPC transport (``v3_transport="grpc"``) the requests made as they are
(``/version``, ``/metrics``, ``api_execute``) are HTTP requests, which gRPC
does not carry: they go through a gateway client of the same members and
options (:meth:`StoreKeys.http`, made at the first such request), starting at
the member the gRPC calls go to; etcd serves both on its client port.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._core import Call, LineStream, NotEtcd, Response
from .._keypath import v2_key
from .._v2.keys import not_v2_message, read_query, version_answer
from ..exceptions import EtcdEventIndexCleared, EtcdException
from ..result import EtcdResult
from ..v3 import Client as V3Client
from ..watch import Watches
from . import _cluster
from ._keys import KeysOnV3
from ._watch import changes, next_change

if TYPE_CHECKING:
    from .._backend import Options
    from .._lockqueue import LockQueue

__all__ = ["StoreKeys"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def v3_client(options: Options, transport: str | None = None) -> V3Client:
    """The v3 client of the client's options (the same members, TLS, credentials, retries).

    :param transport: ``"gateway"`` or ``"grpc"`` (default: the options' ``v3_transport``);
        the options' HTTP transport, when they have one, is used in any case (the
        client refuses it with ``v3_transport="grpc"``).
    """
    members = [] if options.srv_domain is not None else list(options.seeds)
    return V3Client(
        *members,
        protocol=options.protocol,
        ca_cert=options.ca_cert,
        cert=options.cert,
        ssl_verify=options.ssl_verify,
        ssl=options.ssl,
        username=options.username,
        password=options.password,
        expected_cluster_id=options.expected_cluster_id,
        read_timeout=options.read_timeout,
        retry=options.retry,
        allow_reconnect=options.allow_reconnect,
        use_proxies=options.use_proxies,
        per_member=options.per_member,
        srv_domain=options.srv_domain,
        srv_nameservers=options.srv_nameservers,
        transport=options.transport if options.transport is not None else transport or options.v3_transport,
        observer=options.observer,
    )


class StoreKeys:
    """The v2 keys and cluster API on a v3 store (see :mod:`aio_etcd.v2on3`).

    :param options: the client's options, checked.
    """

    def __init__(self, options: Options) -> None:
        self._options = options
        self._prefix = options.version_prefix
        self._headers = options.headers
        #: The v2 keys calls in v3 transactions (package-internal: tests look at its leases).
        self.store = KeysOnV3(v3_client(options), options.v3_prefix)
        self._v3 = self.store.v3
        self._side: V3Client | None = None
        self._watches = Watches()

    @property
    def http(self) -> V3Client:
        """The client of the HTTP requests made as they are (``/version``, ``/metrics``,
        ``api_execute``): the v3 client itself on the gateway; on gRPC, which carries none
        of them, a gateway client of the same members and options, made at the first such
        request, starting at the member the gRPC calls go to then."""
        if self._v3.transport != "grpc":
            return self._v3
        if self._side is None:
            options = self._options
            known = self._v3.members_known
            if known:
                first = self._v3.current_member
                seeds = (first, *(m for m in known if m != first)) if options.allow_reconnect else (first,)
                options = dataclasses.replace(options, seeds=seeds, srv_domain=None)
            self._side = v3_client(options, "gateway")
        return self._side

    # -- what the client shows -----------------------------------------------------------

    @property
    def api(self) -> str:
        return "v3"

    @property
    def current_member(self) -> str:
        return self._v3.current_member

    @property
    def cluster_id(self) -> str | None:
        found = self._v3.cluster_id
        return None if found is None else f"{found:x}"

    @property
    def members_known(self) -> list[str]:
        return self._v3.members_known

    @property
    def v3_client(self) -> V3Client:
        return self._v3

    async def close(self) -> None:
        self._watches.close()
        await self.store.close()
        await self._v3.close()
        if self._side is not None:
            await self._side.close()

    # -- requests as they are ------------------------------------------------------------

    async def send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        try:
            # The gateway's rules read the cluster id from v3 bodies only
            # (GatewayRules.cluster_id_header is None): a v2 answer through this
            # one session (api_execute on a server with both APIs) is not
            # compared with it, in either form (hex in a v2 header, decimal in v3).
            return await self.http.session.send_as_is(call, check, timeout=timeout, attempt_timeout=attempt_timeout)
        except NotEtcd as exc:
            raise EtcdException(await self.explain(exc)) from None

    async def explain(self, exc: NotEtcd) -> str:
        return await not_v2_message(exc, self._prefix, self._version_past_send)

    async def _version_past_send(self) -> dict[str, Any]:
        return await self.http.session.send_as_is(Call("GET", "/version", self._headers, op="version"), version_answer)

    async def sync_members(self) -> None:
        await self._v3.sync_members()

    # -- keys ----------------------------------------------------------------------------

    async def read(
        self, key: str, *, recursive: bool | None, sorted: bool | None, quorum: bool | None, timeout: float | None
    ) -> EtcdResult:
        return await self.store.read(key, recursive=recursive, quorum=quorum, timeout=timeout)

    async def write(
        self,
        key: str,
        value: Any,
        *,
        ttl: int | None,
        dir: bool,
        append: bool,
        prevValue: Any,  # noqa: N803 - etcd's spelling
        prevIndex: int | None,  # noqa: N803
        prevExist: bool | None,  # noqa: N803
        refresh: bool,
        noValueOnSuccess: bool,  # noqa: N803
        timeout: float | None,
        attempt_timeout: float | None,
    ) -> EtcdResult:
        return await self.store.write(
            key,
            value,
            ttl=None if ttl is None else int(ttl),
            dir=dir,
            append=append,
            prevValue=prevValue,
            prevIndex=prevIndex,
            prevExist=prevExist,
            refresh=refresh,
            noValueOnSuccess=noValueOnSuccess,
            timeout=timeout,
        )

    async def delete(
        self,
        key: str,
        *,
        recursive: bool | None,
        dir: bool | None,
        prevValue: Any,  # noqa: N803 - etcd's spelling
        prevIndex: int | None,  # noqa: N803
        timeout: float | None,
    ) -> EtcdResult:
        return await self.store.delete(
            key, recursive=recursive, dir=dir, prevValue=prevValue, prevIndex=prevIndex, timeout=timeout
        )

    # -- watches -------------------------------------------------------------------------

    async def wait(
        self,
        key: str,
        *,
        index: int | None,
        recursive: bool | None,
        sorted: bool | None = None,
        quorum: bool | None = None,
        timeout: float | None = None,
    ) -> EtcdResult:
        name = v2_key(key)
        asked = (name, tuple(read_query(recursive, sorted, quorum).items()), index)
        fetch = functools.partial(next_change, self.store, name, index, bool(recursive))
        return await self._watches.wait(asked, key, fetch, timeout)

    async def follow(
        self, key: str, index: int | None, recursive: bool | None
    ) -> AsyncGenerator[tuple[EtcdResult, int], None]:
        """One v3 watch for as long as this runs (a watch per event would start in the past
        each time, which etcd catches up only every 100 ms); when its history was
        compacted, the key is read again and a new v3 watch follows from that read."""
        name = v2_key(key)
        while True:
            try:
                async with contextlib.aclosing(changes(self.store, name, index, bool(recursive))) as stream:
                    async for event in stream:
                        index = (event.modifiedIndex or 0) + 1
                        yield event, index
            except EtcdEventIndexCleared:
                log.info("events of %s since index %s are gone; reading it again", key, index)
                snapshot = await self.read(key, recursive=recursive, sorted=None, quorum=None, timeout=None)
                index = (snapshot.etcd_index or 0) + 1
                yield snapshot, index

    async def open_stream(self, key: str, *, recursive: bool) -> tuple[LineStream, int]:
        raise EtcdException("a v2 watch stream has no v3 form (api='v3'); follow() and watch_iter() follow a key")

    # -- the cluster ---------------------------------------------------------------------

    async def versions(self) -> dict[str, str]:
        return dict(await self.send(Call("GET", "/version", self._headers), version_answer))

    async def machines(self) -> list[str]:
        return await _cluster.machines(self._v3)

    async def members(self) -> dict[str, dict[str, Any]]:
        return await _cluster.members(self._v3)

    async def leader(self) -> dict[str, Any]:
        return await _cluster.leader(self._v3)

    async def stats(self) -> dict[str, Any]:
        return await _cluster.stats(self._v3)

    async def leader_stats(self) -> dict[str, Any]:
        raise EtcdException("leader_stats() has no v3 form (api='v3'); v3.Client.status() names the leader")

    async def store_stats(self) -> dict[str, Any]:
        return await _cluster.store_stats(self.http, self._v3.current_member)

    def check_v2_auth(self) -> None:
        raise EtcdException(
            "v2 users and roles have no v3 form: this client has api='v3' (v3's users and roles are "
            "client.v3_client.auth, an aio_etcd.v3.auth.Auth)"
        )

    def lock_queue(self, name: str, keys_queue: LockQueue) -> LockQueue:
        """etcd's own lock layout (``<name>/<lease id>``), shared with ``etcdctl lock`` and the v3
        client's :meth:`~aio_etcd.v3.Client.lock`, not the v2 append queue."""
        return self.store.lock_queue(name)
