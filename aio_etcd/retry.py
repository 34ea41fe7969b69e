"""The retry policy, and the one table of what is safe to send twice.

A call to etcd is made of *attempts*. Each attempt goes to one member and is
bounded by :attr:`RetryPolicy.attempt_timeout`; the whole call is bounded by
its *deadline* (the client's ``read_timeout``, or the call's ``timeout=``).
Between two passes over the members the client waits an exponential backoff
with jitter. Whether a failed attempt may be followed by another depends on
whether the request is safe to repeat, which is decided here and only here:

==============================================  ==============================
request                                         sent again after an attempt
                                                that may have reached a member?
==============================================  ==============================
``GET`` (reads, watches, cluster information)   yes
``PUT`` with ``refresh=true`` (keep-alives)     yes [1]_
any other ``PUT``, ``POST`` or ``DELETE``        no [2]_
anything else through ``api_execute``           only if marked safe
==============================================  ==============================

.. [1] A refresh changes nothing but the TTL of the key it names, and only
   while that key exists: repeating it is doing it once.
.. [2] Not even a plain write of a value. Writing the same value twice is
   not harmless: the first attempt may be held by a member that is paused or
   cut off from its peers, and applied when it comes back, after writes that
   other clients made meanwhile, which it would undo (a lost update). On
   etcd's v3 store (``api="v3"``) the v2 calls are transactions that carry a
   guard a late attempt cannot pass, so there plain writes and deletes are
   repeated safely (:mod:`aio_etcd.v2on3`).

A request that is not safe to repeat is still sent to the next member when
the first one certainly did not get it (the connection was refused), or when
etcd answered that it dropped the proposal. When it may have reached its
member, it is not abandoned because it is slow: the client keeps waiting for
that member's answer as long as the member answers a status request (a
follower holds a write through a leader election), up to the call's
deadline, and raises :class:`~aio_etcd.EtcdOutcomeUnknown` only when the
member stopped answering, the connection broke, or etcd answered that the
request timed out.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["RetryPolicy", "replay_rule"]


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


SAFE = ReplayRule(True)
UNSAFE = ReplayRule(False)
GUARDED = ReplayRule(False, guarded=True)


def replay_rule(method: str, params: Mapping[str, Any]) -> ReplayRule:
    """The :class:`ReplayRule` of a request to the keys API (the table above).

    :param params: the form of a ``PUT``/``POST``, the query of a ``GET``/``DELETE``.
    """
    if method in ("GET", "HEAD"):
        return SAFE
    if method == "PUT" and params.get("refresh") == "true" and params.get("prevExist") != "false":
        return SAFE  # a refresh changes nothing but the TTL: doing it twice is doing it once
    return UNSAFE


#: The words etcd puts in the ``cause`` of a 300 error that comes from
#: applying a request to the store (a deterministic refusal, not a hiccup).
_STORE_ERROR = "nodePath "
#: Causes of 5xx answers that mean the proposal never entered the raft log.
_NOT_APPLIED = ("proposal dropped", "during rolling upgrades")


def transient(status: int, payload: Mapping[str, Any] | None, body: bytes) -> bool:
    """Whether an error answer is worth another attempt (elsewhere or later).

    5xx answers are (etcd answers 500 with errorCode 300 when a proposal timed
    out or was dropped, 301 during an election), except a 300 whose cause is a
    store refusal that every member would repeat. etcd's "during rolling
    upgrades" refusal is transient whatever its status.
    """
    if status < 500:
        return b"during rolling upgrades" in body
    if payload is not None and payload.get("errorCode") == 300:
        return not str(payload.get("cause") or "").startswith(_STORE_ERROR)
    return True


def not_applied(payload: Mapping[str, Any] | None) -> bool:
    """Whether a transient error answer says the request certainly was not applied."""
    if payload is None:
        return False
    if payload.get("errorCode") == 301:
        return True
    text = f"{payload.get('message') or ''} {payload.get('cause') or ''}"
    return any(words in text for words in _NOT_APPLIED)
