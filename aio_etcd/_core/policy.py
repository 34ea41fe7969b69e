"""How a call is retried (:class:`RetryPolicy`), and the one mark of what may be sent twice (:class:`ReplayRule`).

Every request the core sends carries a :class:`ReplayRule`, chosen by the API
that built it from its own table (v2's is :func:`aio_etcd.retry.replay_rule`,
the v3 gateway's :func:`aio_etcd.v3._gateway.replay_rule`). The attempt loop
reads nothing else to decide whether a request may be sent again after an
attempt that may have reached a member (see :mod:`aio_etcd._core.attempts`).
"""

from __future__ import annotations

import dataclasses
import random

__all__ = ["GUARDED", "SAFE", "UNSAFE", "ReplayRule", "RetryPolicy"]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How a client retries: pass one as ``Client(retry=RetryPolicy(...))``.

    The defaults ride out a leader election of a cluster on etcd's default
    timing (100 ms heartbeat, 1 s election timeout): etcd holds a proposal
    that was on its way to a dead leader for 7 s before it answers, and an
    attempt gives up long before that and goes to the next member.

    :param attempts: the most attempts one call makes (``None``: as many as
        its deadline allows).
    :param attempt_timeout: seconds one attempt may take before the next one
        is made (an attempt never outlives the call's deadline).
    :param keepalive_attempt_timeout: the same for the refreshes of
        :meth:`Client.keep_alive <aio_etcd.Client.keep_alive>` and of a held
        :class:`~aio_etcd.Lock`: a TTL key has little slack, so these are short
        and are repeated until the TTL runs out.
    :param backoff: seconds to wait after the first pass over the members
        failed; doubled after each further pass.
    :param backoff_cap: the longest wait between two passes.
    :param jitter: the share of each wait that is random (``0.5``: between half
        the wait and the whole wait), so clients do not retry in step.
    :param deadline: seconds a whole call may take; ``None`` (the default)
        uses the client's ``read_timeout``. A call's own ``timeout=`` wins over both.
    """

    attempts: int | None = 10
    attempt_timeout: float = 1.0
    keepalive_attempt_timeout: float = 0.3
    backoff: float = 0.05
    backoff_cap: float = 1.0
    jitter: float = 0.5
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"attempts must be at least 1 (or None), not {self.attempts}")
        for name in ("attempt_timeout", "keepalive_attempt_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.backoff < 0 or self.backoff_cap < 0:
            raise ValueError("backoff and backoff_cap must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {self.jitter}")
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError(f"deadline must be positive (or None), not {self.deadline}")

    def pause(self, passes: int) -> float:
        """Seconds to wait after ``passes`` (1, 2, ...) failed passes over the members."""
        wait: float = min(self.backoff * 2.0 ** (passes - 1), self.backoff_cap)
        return wait * (1 - self.jitter * random.random())


class ReplayRule:
    """Whether a request may be sent again after an attempt that may have reached a member.

    :param safe: it may (reads, and writes that doing twice is doing once).
    :param guarded: it may not, but its caller settles an unknown outcome
        itself (a v3 transaction that a late arrival cannot pass): the
        attempt is given up as soon as its member stops answering or has no
        leader, and the caller is told with
        :class:`~aio_etcd.EtcdOutcomeUnknown`.
    """

    __slots__ = ("safe", "guarded")

    def __init__(self, safe: bool, *, guarded: bool = False) -> None:
        self.safe = safe
        self.guarded = guarded

    def __repr__(self) -> str:
        return f"<ReplayRule safe={self.safe} guarded={self.guarded}>"


#: Reads, and writes that doing twice is doing once.
SAFE = ReplayRule(True)
#: Never sent again once it may have reached a member.
UNSAFE = ReplayRule(False)
#: Not sent again, and given up early: its caller settles an unknown outcome.
GUARDED = ReplayRule(False, guarded=True)
