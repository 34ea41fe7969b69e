"""The keys backend under :class:`aio_etcd.Client`, and the one place that chooses it.

:class:`~aio_etcd.Client` is a facade: it holds the options, checks the
arguments of each call, and hands the call to one :class:`KeysBackend`,
chosen once when the client is built (:func:`choose`):

- ``api="v2"``: :class:`aio_etcd._v2.keys.HttpKeys`, etcd's v2 API over HTTP;
- ``api="v3"``: :class:`aio_etcd.v2on3._backend.StoreKeys`, the same calls on
  a v3 store, through one :class:`aio_etcd.v3.Client` (loaded only then);
- ``api="auto"``: :class:`AutoKeys`, which asks the server at the first keys
  call and from then on is one of the two.

What one backend cannot serve (``leader_stats`` and v2 users and roles on a
v3 store) it refuses itself, with the error the client has always raised: no
module above this one asks which API it talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._http import Response, Transport
from ._keypath import check_prefix
from ._v2.keys import HttpKeys, as_is
from .cluster import Call, NotEtcd
from .result import EtcdResult
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .v3 import Client as V3Client

__all__ = ["APIS", "AutoKeys", "KeysBackend", "Options", "choose"]

_T = TypeVar("_T")

#: The values of ``Client(api=...)``.
APIS = ("v2", "v3", "auto")


@dataclass(frozen=True)
class Options:
    """What a backend needs of the client's options, checked and resolved once by the client."""

    #: The member URLs the client was given (empty with SRV discovery).
    seeds: tuple[str, ...]
    protocol: str
    srv_domain: str | None
    srv_nameservers: Sequence[str] | None
    #: The path of the v2 API (``/v2``; ``""`` for none).
    version_prefix: str
    read_timeout: float | None
    retry: RetryPolicy
    allow_redirect: bool
    allow_reconnect: bool
    use_proxies: bool
    expected_cluster_id: str | None
    per_member: int
    username: str | None
    password: str | None
    #: The headers of every v2 request (HTTP Basic credentials).
    headers: dict[str, str]
    ca_cert: str | None
    cert: str | tuple[str, str] | None
    ssl_verify: bool
    ssl: SSLContext | None
    transport: Transport | None
    #: Where the key space lives in a v3 store (``v3_prefix=``).
    v3_prefix: str

    @property
    def deadline(self) -> float | None:
        """The default deadline of a call: the retry policy's, else ``read_timeout``."""
        return self.retry.deadline if self.retry.deadline is not None else self.read_timeout

    @property
    def keys_path(self) -> str:
        """The path of the v2 keys API (``/v2/keys``)."""
        return self.version_prefix + "/keys"


class KeysBackend(Protocol):
    """What :class:`aio_etcd.Client` asks of the API under it.

    Keys and watches take and give what the v2 keys API does
    (:class:`~aio_etcd.EtcdResult`, etcd's exceptions), whatever the backend
    talks to. The arguments are the client's, already checked.
    """

    @property
    def api(self) -> str:
        """``"v2"`` or ``"v3"``; ``"auto"`` while an auto backend has not decided."""

    @property
    def current_member(self) -> str:
        """The URL of the member requests go to first."""

    @property
    def cluster_id(self) -> str | None:
        """The cluster's id in hex (``None`` until an answer named it)."""

    @property
    def members_known(self) -> list[str]:
        """The member URLs known now."""

    @property
    def v3_client(self) -> V3Client | None:
        """The :class:`aio_etcd.v3.Client` the calls go through (``None`` on the v2 API)."""

    async def close(self) -> None:
        """Close the connections; pending watches end with an :class:`~aio_etcd.EtcdException`."""

    async def send(
        self,
        call: Call,
        check: Callable[[Response], _T],
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> _T:
        """Make ``call`` (a request of etcd's HTTP API, as it is) through this backend's members
        and attempt loop; ``check`` reads the answer. An answer that is not etcd's raises an
        :class:`~aio_etcd.EtcdException` that says why (a bare 404: where the v2 API went)."""

    async def explain(self, exc: NotEtcd) -> str:
        """The message for an answer that is not etcd's (a bare 404: where the v2 API went)."""

    async def sync_members(self) -> None:
        """Learn the member list now (see :meth:`aio_etcd.Client.sync_members`)."""

    # -- keys and watches --------------------------------------------------------------

    async def read(
        self, key: str, *, recursive: bool | None, sorted: bool | None, quorum: bool | None, timeout: float | None
    ) -> EtcdResult:
        """A key or a directory (``GET``)."""

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
        """A write (``PUT``; ``POST`` with ``append``)."""

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
        """A delete of a key or a directory."""

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
        """The next change of ``key`` at or after ``index`` (shared by callers asking the same)."""

    def follow(
        self, key: str, index: int | None, recursive: bool | None
    ) -> AsyncGenerator[tuple[EtcdResult, int], None]:
        """Every change of ``key`` from ``index`` on, each with the index to continue from; a
        read of the key (action ``get``) stands in for changes etcd no longer holds."""

    # -- the cluster -------------------------------------------------------------------

    async def versions(self) -> dict[str, str]:
        """``/version``."""

    async def machines(self) -> list[str]:
        """The members' client URLs."""

    async def members(self) -> dict[str, dict[str, Any]]:
        """The members by id, in v2's shape."""

    async def leader(self) -> dict[str, Any]:
        """The leading member, in v2's shape."""

    async def stats(self) -> dict[str, Any]:
        """The answering member's own statistics."""

    async def leader_stats(self) -> dict[str, Any]:
        """The leader's view of its followers (v2 only: a v3 store raises)."""

    async def store_stats(self) -> dict[str, Any]:
        """Counters of the key store."""

    def check_v2_auth(self) -> None:
        """Raise :class:`~aio_etcd.EtcdException` where v2 users and roles cannot be served."""


def choose(api: str, options: Options) -> KeysBackend:
    """The backend of ``Client(api=api)``: the one place that looks at ``api``. No I/O."""
    if api not in APIS:
        raise ValueError(f"api is 'v2', 'v3' or 'auto', not {api!r}")
    check_prefix(options.v3_prefix)  # a bad prefix is refused now, not at the first call
    if api == "v3":
        return on_v3_store(options)
    if api == "auto":
        return AutoKeys(options)
    return HttpKeys(options)


def on_v3_store(options: Options) -> KeysBackend:
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
                    self._chosen = on_v3_store(self._options) if await self._serves_only_v3() else self._http
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


if TYPE_CHECKING:  # each backend is a KeysBackend: checked here, where all three are known
    from .v2on3._backend import StoreKeys

    def _all_are_backends(http: HttpKeys, store: StoreKeys, auto: AutoKeys) -> list[KeysBackend]:
        return [http, store, auto]
