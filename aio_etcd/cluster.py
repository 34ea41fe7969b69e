"""The names this module had before the core moved to :mod:`aio_etcd._core` (kept for compatibility).

The attempt loop is :mod:`aio_etcd._core.attempts`, the member list
:mod:`aio_etcd._core.members`, the v2 rules :mod:`aio_etcd._v2.wire`.
:class:`NotEtcd` here is the v2 one (its message names the v2 API).
"""

from __future__ import annotations

from ._core.attempts import Call, Cluster
from ._core.members import member_url
from ._core.rules import Classifier, MemberProbe
from ._v2.wire import NotEtcd, etcd_error, parse_machines, v2_transient

__all__ = [
    "Call",
    "Classifier",
    "Cluster",
    "MemberProbe",
    "NotEtcd",
    "etcd_error",
    "member_url",
    "parse_machines",
    "v2_transient",
]
