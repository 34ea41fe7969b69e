"""The keys backend under :class:`aio_etcd.Client`: what it must do, and the options it is built from.

:class:`~aio_etcd.Client` is a facade: it holds the options, checks the
arguments of each call, and hands the call to one :class:`KeysBackend`,
chosen once when the client is built (:func:`aio_etcd._choose.choose`):

- ``api="v2"``: :class:`aio_etcd._v2.keys.HttpKeys`, etcd's v2 API over HTTP;
- ``api="v3"``: :class:`aio_etcd.v2on3._backend.StoreKeys`, the same calls on
  a v3 store, through one :class:`aio_etcd.v3.Client` (loaded only then), on
  the gateway or gRPC (``Options.v3_transport``);
- ``api="auto"``: :class:`aio_etcd._choose.AutoKeys`, which asks the server
  at the first keys call and from then on is one of the two.

What one backend cannot serve (``leader_stats`` and v2 users and roles on a
v3 store) it refuses itself, with the error the client has always raised;
where it has its own way (a lock's queue: etcd's lock layout on a v3 store)
it says so (:meth:`KeysBackend.lock_queue`): no module above this one asks
which API it talks to.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from ssl import SSLContext
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._core import Call, LineStream, NotEtcd, Observer, Response, RetryPolicy, Transport
from ._lockqueue import LockQueue
from .result import EtcdResult

if TYPE_CHECKING:
    from .v3 import Client as V3Client

__all__ = ["KeysBackend", "Options"]

_T = TypeVar("_T")


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
    #: Told of every exchange with a member, by whichever backend makes it.
    observer: Observer | None = None
    #: How a v3 store is reached (``v3_transport=``): ``"auto"``, ``"gateway"`` or ``"grpc"``.
    v3_transport: str = "auto"

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

    async def open_stream(self, key: str, *, recursive: bool) -> tuple[LineStream, int]:
        """A v2 watch stream of ``key`` (``stream=true``) and the ``X-Etcd-Index`` it starts
        after, for :class:`aio_etcd._v2.follow.Changes` (the migrator's follower of a v2
        store; a v3 store has no such stream and raises)."""

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

    # -- recipes -----------------------------------------------------------------------

    def lock_queue(self, name: str, keys_queue: LockQueue) -> LockQueue:
        """Where the keys of an :class:`aio_etcd.Lock` named ``name`` live (no I/O).

        :param keys_queue: the lock's queue on the v2 keys API
            (:class:`aio_etcd.lock.AppendQueue`, keys appended under
            ``lock_prefix``): the backend returns it, or its own lock layout
            (on a v3 store etcd's, shared with ``etcdctl lock``).
        """
