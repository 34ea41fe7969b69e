"""The retry policy, and the one table of what is safe to send twice.

A call to etcd is made of *attempts*. Each attempt goes to one member and is
bounded by :attr:`RetryPolicy.attempt_timeout`; the whole call is bounded by
its *deadline* (the client's ``read_timeout``, or the call's ``timeout=``).
Between two passes over the members the client waits an exponential backoff
with jitter. Whether a failed attempt may be followed by another depends on
whether the request is safe to repeat: every request carries a
:class:`ReplayRule`, and for the v2 keys API the rule comes from this table
(:func:`replay_rule`):

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

The policy and the rule live in the core (:mod:`aio_etcd._core.policy`), v2's
table in :mod:`aio_etcd._v2.wire`; this module keeps their public names.
"""

from __future__ import annotations

from ._core.policy import GUARDED, SAFE, UNSAFE, ReplayRule, RetryPolicy
from ._v2.wire import not_applied, replay_rule, transient

__all__ = ["GUARDED", "SAFE", "UNSAFE", "ReplayRule", "RetryPolicy", "not_applied", "replay_rule", "transient"]
