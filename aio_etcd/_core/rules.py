"""What an API tells the core: :class:`ApiRules`, the one object each API hands it.

The core knows members, attempts, deadlines and replay rules, not what an
answer means. Each API (v2 over HTTP: :class:`aio_etcd._v2.rules.V2Rules`;
the v3 JSON gateway: :class:`aio_etcd.v3._gateway.GatewayRules`) implements
:class:`ApiRules` to say:

- how to classify an error answer: the caller's to see, or transient (worth
  another attempt), and then whether it certainly was not applied;
- where the member list comes from (the request and how to read its answer);
- where the cluster id is (a header of every answer, or the API's own
  check reads it from the body and calls
  :meth:`~aio_etcd._core.members.Members.guard_cluster_id`);
- how to ask one member about itself (:class:`MemberProbe`), for requests
  that wait on that member;
- what may be sent again (:meth:`ApiRules.replay_rule`: the API's table,
  which marks each :class:`~aio_etcd._core.attempts.Call` it builds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..exceptions import EtcdException
from .call import Call
from .policy import ReplayRule
from .transport import Response

__all__ = ["ApiRules", "Classifier", "MemberProbe"]

#: What the core asks of an error answer (status 400 and above): ``None``
#: when it is the caller's to see, else the error and whether the request
#: certainly was not applied (so even an unsafe request may go on).
Classifier = Callable[[Response], "tuple[EtcdException, bool] | None"]


class MemberProbe:
    """How an API asks one member about itself, for requests that wait on that member.

    :param status: makes the request that asks the member how it is.
    :param view: what a status answer says of the member's leader: a value
        that changes whenever the member follows a new leader (its id and
        term, say), ``None`` when it has no leader.
    :param settle: makes a linearizable read through the member: once it is
        answered after a new leader took over, the member serves the new
        leader, and an attempt held there is given up as of unknown outcome
        (it is not sent again: see :class:`~aio_etcd._core.vigils.Vigil`).
    :param settled: whether an answer to ``settle`` is the read's own (not a
        refusal made before the read, such as a permission error).
    """

    __slots__ = ("status", "view", "settle", "settled")

    def __init__(
        self,
        status: Callable[[], Call],
        view: Callable[[Response], Any],
        settle: Callable[[], Call],
        settled: Callable[[Response], bool],
    ) -> None:
        self.status = status
        self.view = view
        self.settle = settle
        self.settled = settled


class ApiRules(Protocol):
    """The rules of one API, as the core reads them (see the module)."""

    #: The API's name in messages (``"v2"``, ``"v3"``).
    name: str
    #: The response header that names the cluster on every answer (the core
    #: learns and guards it), or ``None`` when the API's check does that.
    cluster_id_header: str | None
    #: How to ask one member about itself (``None``: a request that must not
    #: be repeated waits for its member until the call's deadline).
    probe: MemberProbe | None

    def classify(self, resp: Response) -> tuple[EtcdException, bool] | None:
        """A :data:`Classifier`: is this error answer transient, and was it certainly not applied?"""
        ...

    def members_call(self) -> Call:
        """The request that lists the cluster's members."""
        ...

    def parse_members(self, resp: Response) -> list[str]:
        """The member URLs of an answer to :meth:`members_call` (raises ``NotEtcd`` when it is not one)."""
        ...

    def replay_rule(self, method: str, path: str, params: Mapping[str, Any]) -> ReplayRule:
        """Whether a request may be sent again after an attempt that may have reached a member.

        :param params: what the request carries (a v2 form or query, a v3 request body).
        """
        ...
