"""The watch kept over a request that must not be sent again while it waits for its member.

See :class:`Vigil`. The member is asked through the core
(:class:`MemberQuestions`: :meth:`~aio_etcd._core.attempts.Cluster.ask_member`
and :meth:`~aio_etcd._core.attempts.Cluster.read_through`), so the observer
sees every probe.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from .transport import Transport, uncancel

__all__ = ["MemberQuestions", "Vigil", "Vigils"]


class MemberQuestions(Protocol):
    """What a vigil asks of the core about one member."""

    async def ask_member(self, transport: Transport, base: str, timeout: float, attempt: int = 1) -> tuple[str, Any]:
        """``("alive", view)``, ``("leaderless", None)`` or ``("gone", None)``."""
        ...

    async def read_through(self, transport: Transport, base: str, timeout: float, attempt: int = 1) -> bool:
        """Whether a linearizable read through ``base`` was answered."""
        ...


class Vigil:
    """Watches the member of an attempt that must not be sent again, while the attempt waits.

    A request that may not be repeated is never abandoned just because it is
    slow: a member that is alive answers it in the end (a follower holds a
    proposal through a leader election). Once the attempt has run
    :attr:`~aio_etcd.RetryPolicy.attempt_timeout`, the member is asked
    (the API's :class:`~aio_etcd._core.rules.MemberProbe`) every half ``attempt_timeout`` whether it still
    answers; the attempt is abandoned, by cancelling the task that waits for
    it, when it did not answer twice in a row, when it follows a new leader
    and answers a linearizable read through it (the outcome stays unknown:
    the request may still be applied later), or, for a ``guarded`` request
    (one whose late arrival is harmless), as soon as it does not answer or has
    no leader. An abandoned attempt is never sent again by the core. One
    :class:`Vigils` timer looks after every vigil of a core: a timer per
    request costs noticeably more CPU under concurrency.
    """

    __slots__ = (
        "_cluster", "_transport", "_base", "_task", "_per", "_guarded", "_attempt", "due", "_prober", "abandoned",
    )

    def __init__(
        self,
        cluster: MemberQuestions,
        transport: Transport,
        base: str,
        per: float,
        guarded: bool,
        now: float,
        attempt: int,
    ) -> None:
        self._cluster = cluster
        self._transport = transport
        self._base = base
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._per = per
        self._guarded = guarded
        self._attempt = attempt
        self._prober: asyncio.Task[None] | None = None
        #: The loop time from which the member is probed.
        self.due = now + per / 2
        #: Set when the vigil gave up on the member and cancelled the attempt.
        self.abandoned = ""

    def start(self) -> None:
        self._prober = self._task.get_loop().create_task(self._watch())

    async def _watch(self) -> None:
        misses = 0
        first: Any = None
        cluster, transport, base, per, attempt = self._cluster, self._transport, self._base, self._per, self._attempt
        while True:
            verdict, view = await cluster.ask_member(transport, base, per, attempt)
            if verdict == "gone":
                misses += 1
                if self._guarded or misses >= 2:
                    return self._abandon(f"{base} no longer answers")
            else:
                misses = 0
                moved = first is not None and view != first
                if self._guarded and (verdict == "leaderless" or moved):
                    return self._abandon(f"{base} lost its leader")
                if moved and await cluster.read_through(transport, base, per, attempt):
                    # A new leader took over after the request reached the
                    # member, and the member serves reads through it. The
                    # request may still be applied: not only from the old
                    # leader's log, but from wherever it waits unproposed
                    # (the member's own queues under load, or a proposal
                    # forwarded to the old leader, which forwards it again to
                    # the new one when it comes back: raft proposals carry no
                    # term). So it is never sent again from here (issue 20's
                    # robustness run saw such a copy applied a second after its
                    # resend was acknowledged); waiting on would only last
                    # until etcd's own request timeout, with the same outcome.
                    return self._abandon(f"{base} follows a new leader; it may still apply the request")
                if first is None:
                    first = view
            await asyncio.sleep(per / 2)

    def _abandon(self, why: str) -> None:
        self.abandoned = why
        self._task.cancel()

    def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()

    def taken_back(self) -> bool:
        """Whether the task's cancellation was this vigil's (and is now taken back)."""
        return bool(self.abandoned) and uncancel(self._task)


class Vigils:
    """Starts the probing of each :class:`Vigil` when it is due, with one timer for all."""

    __slots__ = ("_waiting", "_ticking")

    TICK = 0.1

    def __init__(self) -> None:
        self._waiting: set[Vigil] = set()
        self._ticking = False

    def add(self, vigil: Vigil, loop: asyncio.AbstractEventLoop) -> None:
        self._waiting.add(vigil)
        if not self._ticking:
            self._ticking = True
            loop.call_later(self.TICK, self._tick, loop)

    def discard(self, vigil: Vigil) -> None:
        self._waiting.discard(vigil)
        vigil.stop()

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for vigil in [v for v in self._waiting if v.due <= now]:
            self._waiting.discard(vigil)
            vigil.start()
        if self._waiting:
            loop.call_later(self.TICK, self._tick, loop)
        else:
            self._ticking = False
