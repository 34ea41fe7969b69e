"""The v2 cluster calls (``machines``, ``members``, ``leader``, stats) answered from v3.

Member ids are written in hex, as v2 writes them. ``store_stats`` has one
counter with a v3 equivalent: ``watchers``, the server's own count
(``etcd_debugging_mvcc_watcher_total`` of its ``/metrics``), which is what
:func:`aio_etcd.testing.wait_for_watchers` needs.
"""

from __future__ import annotations

import re
from typing import Any

from .._core import Call, TransportFailure
from ..exceptions import EtcdConnectionFailed, EtcdException
from ..v3 import Client as V3Client
from ..v3.results import Member

__all__ = ["leader", "machines", "members", "stats", "store_stats"]

_WATCHERS = re.compile(rb"^etcd_debugging_mvcc_watcher_total\s+([0-9.e+]+)\s*$", re.MULTILINE)


def _member(member: Member) -> dict[str, Any]:
    return {
        "id": f"{member.id:x}",
        "name": member.name,
        "peerURLs": member.peer_urls,
        "clientURLs": member.client_urls,
    }


async def machines(v3: V3Client) -> list[str]:
    """Every member's client URLs, as ``/v2/machines`` lists them."""
    return [url for member in await v3.members() for url in member.client_urls]


async def members(v3: V3Client) -> dict[str, dict[str, Any]]:
    """The members by hex id, in v2's shape."""
    return {f"{m.id:x}": _member(m) for m in await v3.members()}


async def leader(v3: V3Client) -> dict[str, Any]:
    """The leading member, in v2's shape."""
    status = await v3.status()
    if not status.leader:
        raise EtcdException(f"{v3.current_member} has no leader: {'; '.join(status.errors) or 'no reason given'}")
    for member in await v3.members():
        if member.id == status.leader:
            return _member(member)
    raise EtcdException(f"the leader {status.leader:x} is not in the member list")


async def stats(v3: V3Client) -> dict[str, Any]:
    """The answering member's ``id``, ``name``, ``state`` and leader, as ``/v2/stats/self`` has them."""
    status = await v3.status()
    name = next((m.name for m in await v3.members() if m.id == status.member_id), "")
    return {
        "id": f"{status.member_id:x}",
        "name": name,
        "state": "StateLeader" if status.leader == status.member_id else "StateFollower",
        "leaderInfo": {"leader": f"{status.leader:x}"},
    }


async def store_stats(v3: V3Client, member: str) -> dict[str, Any]:
    """``{"watchers": n}``: the watchers of ``member`` (from its ``/metrics``, asked through
    ``v3``, a client that sends HTTP: on gRPC the backend's gateway client)."""
    url = member + "/metrics"
    try:
        call = Call("GET", "/metrics", {}, op="store stats")
        session = v3.session
        resp = await session.cluster.ask(session.transport, member, call, v3.retry.attempt_timeout * 2)
    except TransportFailure as failure:
        raise EtcdConnectionFailed(f"store stats: {failure}", cause=failure.cause) from failure.cause
    found = _WATCHERS.search(resp.body) if resp.status == 200 else None
    if found is None:
        raise EtcdException(f"{url} has no watcher count: {resp.describe()}")
    return {"watchers": int(float(found.group(1)))}
