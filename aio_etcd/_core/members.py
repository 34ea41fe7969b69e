"""The members a client may talk to: the list, the pinned member, the cluster id, the slots.

- Members are tried in turn, starting with the pinned one (the last that
  answered). The member that answers becomes pinned.
- With failover on (and ``use_proxies`` off), the member list is learned
  (from the request the API's rules name) after the first answer and after
  every failover, so members the caller did not list are used too. Until a
  list has been read once, a call that got its answer waits for the list
  (within its deadline) before it returns: a client given one member can fail
  over from its first call on. Later reads of the list run in the background;
  one that failed is tried again on an answer at least
  :attr:`Members.RELIST_AFTER` seconds later.
- At most ``per_member`` ordinary requests are under way per origin; more
  wait their turn in order of arrival (:class:`Slots`). Streams are not
  counted: they may wait for hours.
- The cluster id is learned from the first answer that names one, and every
  later answer must name the same (:meth:`Members.guard_cluster_id`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from ..exceptions import EtcdClusterIdChanged

__all__ = ["Members", "SlotTimeout", "Slots", "member_url", "origin"]

log = logging.getLogger(__name__)

#: Reads the member list (one call through the attempt loop).
Lister = Callable[[], Awaitable[list[str]]]


class Slots:
    """A first-come-first-served limit on the requests under way to one origin.

    A freed slot goes straight to the longest waiting request, so a newcomer
    never overtakes it. ``free`` is above zero only while nobody waits.
    While anybody waits, one timer looks every tenth of a second for waiters
    past their deadline, so waiting costs no timer of its own.
    """

    __slots__ = ("free", "waiters", "_sweeping")

    #: Seconds between two looks for waiters past their deadline.
    SWEEP = 0.1

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: collections.deque[tuple[asyncio.Future[None], float | None]] = collections.deque()
        self._sweeping = False

    async def wait(self, end: float | None = None) -> None:
        """Wait for a slot handed over by :meth:`release`.

        :param end: the loop time to give up at (at most :attr:`SWEEP` later).
        :raises SlotTimeout: no slot came by then.
        """
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self.waiters.append((turn, end))
        if end is not None and not self._sweeping:
            self._sweeping = True
            loop.call_later(self.SWEEP, self._sweep, loop)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.release()  # handed over just as we were cancelled: pass it on
            raise

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        waiting = False
        for turn, end in self.waiters:
            if turn.done():
                continue
            if end is not None and end <= now:
                turn.set_exception(SlotTimeout())
            else:
                waiting = waiting or end is not None
        self._sweeping = waiting
        if waiting:
            loop.call_later(self.SWEEP, self._sweep, loop)

    def release(self) -> None:
        """Give the slot to the first live waiter, or free it."""
        waiters = self.waiters
        while waiters:
            turn = waiters.popleft()[0]
            if not turn.done():  # cancelled and expired waiters are skipped
                turn.set_result(None)
                return
        self.free += 1


class SlotTimeout(Exception):
    """No slot came free in time."""


def member_url(protocol: str, host: str, port: int) -> str:
    """``protocol://host:port``, with IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{protocol}://{host}:{port}"


def origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


class Members:
    """The member list of one cluster, the member pinned, the cluster id, and the slots per origin.

    :param members: base URLs (``http://host:port``), the first is tried first.
    :param allow_reconnect: move to the next member when one fails.
    :param expected_cluster_id: refuse answers from another cluster; when
        ``None`` the id of the first answer is learned and guarded from then on.
    :param use_proxies: never add member URLs the cluster advertises.
    :param per_member: how many ordinary requests may be under way per origin
        at once; more wait their turn, first come first served.
    """

    def __init__(
        self,
        members: Sequence[str],
        *,
        allow_reconnect: bool,
        expected_cluster_id: str | None,
        use_proxies: bool = False,
        per_member: int = 10,
    ) -> None:
        if not members:
            raise ValueError("a cluster needs at least one member")
        self.seeds: list[str] = list(members)
        self.members: list[str] = list(members)
        self.allow_reconnect = allow_reconnect
        self.use_proxies = use_proxies
        self.cluster_id = expected_cluster_id
        self.per_member = per_member
        self._pinned = 0
        self._learned = False
        self._listed = False  # a member list was read since the members were last set
        self._relist: asyncio.TimerHandle | None = None
        self._slots: dict[str, Slots] = {}
        self._refresh: asyncio.Task[None] | None = None

    #: Seconds after a failed read of the member list before an answer triggers another.
    RELIST_AFTER = 5.0

    @property
    def current(self) -> str:
        """The base URL of the member requests go to first."""
        return self.members[self._pinned]

    def set_members(self, members: Sequence[str]) -> None:
        """Replace the member list (discovery), keeping the pinned member if it is still there."""
        if not members:
            raise ValueError("a cluster needs at least one member")
        current = self.current
        self.seeds = list(members)
        self.members = list(members)
        self._pinned = self.members.index(current) if current in self.members else 0
        self._learned = self._listed = False

    def avoid(self, base: str) -> None:
        """Stop preferring ``base`` (a member a stream found dead or frozen): pin the next one."""
        if self.allow_reconnect and self.current == base and len(self.members) > 1:
            self._pinned = (self._pinned + 1) % len(self.members)

    def _pin(self, base: str) -> None:
        with contextlib.suppress(ValueError):  # the list changed while the request ran
            self._pinned = self.members.index(base)

    async def close(self) -> None:
        """Stop the background member-list refresh, if one runs."""
        if self._relist is not None:
            self._relist.cancel()
            self._relist = None
        task, self._refresh = self._refresh, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def slots_for(self, origin: str) -> Slots:
        """The slots of ``origin`` (made on first use)."""
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = Slots(self.per_member)
        return slots

    # -- learning the member list -----------------------------------------------------------

    async def answered(self, base: str, moved: bool, end: float | None, lister: Lister) -> None:
        """``base`` answered as etcd: pin it, and learn the member list if it is time to.

        While no list was read yet, wait for the first read (at most until the
        call's ``end``), so the caller can fail over from then on.
        """
        if base != self.members[self._pinned]:
            self._pin(base)
        if not self.allow_reconnect or self.use_proxies:
            self._learned = True  # nothing to learn
            return
        if moved or not self._learned:
            self._learned = True
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.get_running_loop().create_task(self._refresh_members(lister))
        task = self._refresh
        if self._listed or task is None or task.done() or task is asyncio.current_task():
            return
        left = None if end is None else end - asyncio.get_running_loop().time()
        if left is None or left > 0:
            await asyncio.wait((task,), timeout=left)  # never cancels the read; it logs its own failure

    async def learn(self, lister: Lister) -> None:
        """Learn the member list now (or wait for the background refresh under way)."""
        if self._refresh is None or self._refresh.done():
            self._learned = True
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_members(lister))
        await asyncio.shield(self._refresh)

    async def _refresh_members(self, lister: Lister) -> None:
        """Learn members the caller did not list (in the background; failures are logged)."""
        try:
            advertised = await lister()
        except Exception as exc:  # never an error in anybody's call: the list stays as it was
            log.debug("could not refresh the member list: %s", exc)
            if not self._listed:  # an answer a little later tries again
                self._relist = asyncio.get_running_loop().call_later(self.RELIST_AFTER, self._forget_learning)
            return
        self._listed = True
        merged = self.seeds + [url for url in advertised if url not in self.seeds]
        if merged != self.members:
            log.info("etcd members now %s", merged)
            current = self.current
            self.members = merged
            self._pin(current)

    def _forget_learning(self) -> None:
        self._relist = None
        if not self._listed:
            self._learned = False

    def guard_cluster_id(self, seen: str, url: str) -> None:
        """Learn the cluster id ``seen`` in an answer from ``url``, or refuse it if it is another one."""
        if self.cluster_id is None:
            self.cluster_id = seen
        elif seen != self.cluster_id:
            raise EtcdClusterIdChanged(
                f"{url} belongs to cluster {seen}, the client talks to cluster {self.cluster_id}"
            )
