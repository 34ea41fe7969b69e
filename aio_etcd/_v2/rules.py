"""The v2 API's :class:`~aio_etcd._core.ApiRules`: what the core needs to know of v2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core import Call, MemberProbe, ReplayRule, Response
from ..exceptions import EtcdException
from .wire import leader_view, parse_machines, read_answered, replay_rule, v2_transient

__all__ = ["V2Rules"]


class V2Rules:
    """etcd v2's answers, member list (``/v2/machines``), cluster id header and probes.

    :param version_prefix: the path of the v2 API (``/v2``).
    :param headers: sent with the member-list read and the probes (the credentials).
    """

    name: str = "v2"
    #: Every v2 answer names its cluster.
    cluster_id_header: str | None = "X-Etcd-Cluster-Id"
    probe: MemberProbe | None

    def __init__(self, version_prefix: str, headers: Mapping[str, str]) -> None:
        self._prefix = version_prefix
        self._headers = dict(headers)
        self.probe = MemberProbe(self._stats_call, leader_view, self._read_call, read_answered)

    def classify(self, resp: Response) -> tuple[EtcdException, bool] | None:
        return v2_transient(resp)

    def members_call(self) -> Call:
        return Call("GET", self._prefix + "/machines", self._headers, op="member list")

    def parse_members(self, resp: Response) -> list[str]:
        return parse_machines(resp)

    def replay_rule(self, method: str, path: str, params: Mapping[str, Any]) -> ReplayRule:
        return replay_rule(method, params)

    def _stats_call(self) -> Call:
        """The request that asks a member how it is (its own statistics name its leader)."""
        return Call("GET", self._prefix + "/stats/self", self._headers, op="member statistics")

    def _read_call(self) -> Call:
        """A quorum read through the member (etcd's v2 makes it a raft proposal): a key nobody writes."""
        return Call("GET", self._prefix + "/keys/%00aio_etcd?quorum=true", self._headers, op="quorum read")
