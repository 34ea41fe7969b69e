"""The one place that looks at ``Client(api=...)``: :func:`choose` builds the keys backend.

See :mod:`aio_etcd._backend` for what a backend is; ``api="auto"`` is
:class:`AutoKeys` here, which asks the server once and then is one of the two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._backend import KeysBackend, Options
from ._core import Call, LineStream, NotEtcd, Response
from ._keypath import check_prefix
from ._lockqueue import Entry, LockQueue
from ._v2.keys import HttpKeys, as_is
from .result import EtcdResult

if TYPE_CHECKING:
    from .v3 import Client as V3Client

__all__ = ["APIS", "AutoKeys", "DecidingQueue", "choose"]

_T = TypeVar("_T")

#: The values of ``Client(api=...)``.
APIS = ("v2", "v3", "auto")


def choose(api: str, options: Options) -> KeysBackend:
    """The backend of ``Client(api=api)``: the one place that looks at ``api``. No I/O."""
    if api not in APIS:
        raise ValueError(f"api is 'v2', 'v3' or 'auto', not {api!r}")
    check_prefix(options.v3_prefix)  # a bad prefix is refused now, not at the first call
    if api == "v3":
        return store_backend(options)
    if api == "auto":
        return AutoKeys(options)
    return HttpKeys(options)


def store_backend(options: Options) -> KeysBackend:
    """The v2 keys API on a v3 store (:mod:`aio_etcd.v2on3` and the v3 client are loaded here)."""
    from .v2on3._backend import StoreKeys

    return StoreKeys(options)


class AutoKeys:
    """``api="auto"``: the v2 API where the server serves it, else its v3 store.

    The first call that needs the keys (or the cluster calls) asks the server
    once and from then on goes to the backend chosen. Until then, and for the
    requests that do not decide (``send``, ``versions``), the v2 API over HTTP
    answers: it is also what asks.
    """

    def __init__(self, options: Options) -> None:
        self._options = options
        self._http = HttpKeys(options)
        self._chosen: KeysBackend | None = None
        self._deciding: asyncio.Lock | None = None

    @property
    def _now(self) -> KeysBackend:
        return self._http if self._chosen is None else self._chosen

    async def _decide(self) -> KeysBackend:
        if self._chosen is None:
            if self._deciding is None:
                self._deciding = asyncio.Lock()
            async with self._deciding:
                if self._chosen is None:
                    self._chosen = store_backend(self._options) if await self._serves_only_v3() else self._http
        return self._chosen

    async def _serves_only_v3(self) -> bool:
        """Whether the server has no v2 API: etcd 3.6 and later, or 3.4/3.5 without ``--enable-v2``."""
        server = str((await self._http.versions()).get("etcdserver", ""))
        parts = server.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit() and (int(parts[0]), int(parts[1])) >= (3, 6):
            return True
        probe = Call("GET", self._options.keys_path + "/", dict(self._options.headers))
        answer = await self._http.send(probe, as_is)
        return answer.status == 404 and (answer.json_object() or {}).get("errorCode") is None

    @property
    def api(self) -> str:
        return "auto" if self._chosen is None else self._chosen.api

    @property
    def current_member(self) -> str:
        return self._now.current_member

    @property
    def cluster_id(self) -> str | None:
        return self._now.cluster_id

    @property
    def members_known(self) -> list[str]:
        return self._now.members_known

    @property
    def v3_client(self) -> V3Client | None:
        return self._now.v3_client

    async def close(self) -> None:
        if self._chosen is not None and self._chosen is not self._http:
            await self._chosen.close()
        await self._http.close()

    async def send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        return await self._now.send(call, check, timeout=timeout, attempt_timeout=attempt_timeout)

    async def explain(self, exc: NotEtcd) -> str:
        return await self._now.explain(exc)

    async def sync_members(self) -> None:
        await (await self._decide()).sync_members()

    async def read(
        self, key: str, *, recursive: bool | None, sorted: bool | None, quorum: bool | None, timeout: float | None
    ) -> EtcdResult:
        backend = await self._decide()
        return await backend.read(key, recursive=recursive, sorted=sorted, quorum=quorum, timeout=timeout)

    async def write(self, key: str, value: Any, **options: Any) -> EtcdResult:
        return await (await self._decide()).write(key, value, **options)

    async def delete(self, key: str, **options: Any) -> EtcdResult:
        return await (await self._decide()).delete(key, **options)

    async def wait(self, key: str, **options: Any) -> EtcdResult:
        return await (await self._decide()).wait(key, **options)

    async def follow(
        self, key: str, index: int | None, recursive: bool | None
    ) -> AsyncGenerator[tuple[EtcdResult, int], None]:
        backend = await self._decide()
        async with contextlib.aclosing(backend.follow(key, index, recursive)) as changes:
            async for change in changes:
                yield change

    async def open_stream(self, key: str, *, recursive: bool) -> tuple[LineStream, int]:
        return await (await self._decide()).open_stream(key, recursive=recursive)

    async def versions(self) -> dict[str, str]:
        return await self._now.versions()

    async def machines(self) -> list[str]:
        return await (await self._decide()).machines()

    async def members(self) -> dict[str, dict[str, Any]]:
        return await (await self._decide()).members()

    async def leader(self) -> dict[str, Any]:
        return await (await self._decide()).leader()

    async def stats(self) -> dict[str, Any]:
        return await (await self._decide()).stats()

    async def leader_stats(self) -> dict[str, Any]:
        return await (await self._decide()).leader_stats()

    async def store_stats(self) -> dict[str, Any]:
        return await (await self._decide()).store_stats()

    def check_v2_auth(self) -> None:
        self._now.check_v2_auth()

    def lock_queue(self, name: str, keys_queue: LockQueue) -> LockQueue:
        return DecidingQueue(self, name, keys_queue)

    async def decided(self) -> KeysBackend:
        """The backend chosen (asking the server if nobody did yet)."""
        return await self._decide()


class DecidingQueue:
    """A lock's queue with ``api="auto"``: the chosen backend's, asked for at the first request.

    Until then :attr:`path` is the v2 queue's (the one the lock would have on the v2 API).
    """

    def __init__(self, auto: AutoKeys, name: str, keys_queue: LockQueue) -> None:
        self._auto = auto
        self._name = name
        self._keys_queue = keys_queue
        self._chosen: LockQueue | None = None

    @property
    def path(self) -> str:
        return (self._chosen or self._keys_queue).path

    async def _queue(self) -> LockQueue:
        if self._chosen is None:
            backend = await self._auto.decided()
            if self._chosen is None:  # one queue per lock, even if two requests decided at once
                self._chosen = backend.lock_queue(self._name, self._keys_queue)
        return self._chosen

    async def entries(self, quorum: bool | None = None) -> tuple[list[Entry], int]:
        return await (await self._queue()).entries(quorum)

    async def append(self, uuid: str, ttl: int | None) -> Entry:
        return await (await self._queue()).append(uuid, ttl)

    def adopt(self, entry: Entry) -> None:
        # Adopting follows a read of the queue, which decided.
        assert self._chosen is not None, "adopt() before the queue was read"
        self._chosen.adopt(entry)

    async def write_ttl(self, key: str, uuid: str, ttl: int | None) -> None:
        await (await self._queue()).write_ttl(key, uuid, ttl)

    async def refresh(self, key: str, uuid: str, ttl: int, expires_at: float) -> float | None:
        return await (await self._queue()).refresh(key, uuid, ttl, expires_at)

    async def delete(self, key: str, uuid: str) -> None:
        await (await self._queue()).delete(key, uuid)

    async def gone(self, key: str, index: int) -> None:
        await (await self._queue()).gone(key, index)

    async def changed(self, key: str, index: int) -> None:
        await (await self._queue()).changed(key, index)


if TYPE_CHECKING:  # each backend is a KeysBackend: checked here, where all three are known
    from .v2on3._backend import StoreKeys

    def _all_are_backends(http: HttpKeys, store: StoreKeys, auto: AutoKeys) -> list[KeysBackend]:
        return [http, store, auto]

    def _all_are_queues(deciding: DecidingQueue) -> list[LockQueue]:
        return [deciding]
