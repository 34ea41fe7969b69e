"""aio_etcd.v3: the asyncio client for etcd 3.x, over etcd's gRPC API or the JSON gateway of every member.

::

    from aio_etcd import v3
    from aio_etcd.v3 import txn as T

    async with v3.Client(("127.0.0.1", 2379)) as etcd:
        await etcd.put("/cfg/a", b"1")
        kv = await etcd.get("/cfg/a")

The same core, retry policy and failover as the v2 client. ``transport="auto"``
(the default) takes gRPC where the ``grpc`` extra is installed, else the
gateway, which needs no grpc and no protobuf (importing this package imports
neither). See ``docs/v3.rst``.
"""

from ..exceptions import EtcdClusterIdChanged, EtcdConnectionFailed, EtcdException, EtcdOutcomeUnknown
from ..retry import RetryPolicy
from . import txn
from .auth import Auth
from .client import Client
from .errors import (
    EtcdAuthFailed,
    EtcdCompacted,
    EtcdFutureRevision,
    EtcdInvalidArgument,
    EtcdKeyNotFound,
    EtcdLeaseLost,
    EtcdLeaseNotFound,
    EtcdLockTimeout,
    EtcdNoLeader,
    EtcdNotLeader,
    EtcdPermissionDenied,
    EtcdRequestTooLarge,
    EtcdServerError,
    EtcdSessionExpired,
    EtcdUnavailable,
    EtcdWatchCanceled,
    EtcdWatchCompacted,
)
from .lease import Lease
from .lock import Election, Lock, Term
from .results import KV, Delete, Event, LeaseGrant, LeaseInfo, Member, Put, Range, Status, TxnResult
from .watch import Watch

__all__ = [
    "KV",
    "Auth",
    "Client",
    "Delete",
    "Election",
    "EtcdAuthFailed",
    "EtcdClusterIdChanged",
    "EtcdCompacted",
    "EtcdConnectionFailed",
    "EtcdException",
    "EtcdFutureRevision",
    "EtcdInvalidArgument",
    "EtcdKeyNotFound",
    "EtcdLeaseLost",
    "EtcdLeaseNotFound",
    "EtcdLockTimeout",
    "EtcdNoLeader",
    "EtcdNotLeader",
    "EtcdOutcomeUnknown",
    "EtcdPermissionDenied",
    "EtcdRequestTooLarge",
    "EtcdServerError",
    "EtcdSessionExpired",
    "EtcdUnavailable",
    "EtcdWatchCanceled",
    "EtcdWatchCompacted",
    "Event",
    "Lease",
    "LeaseGrant",
    "LeaseInfo",
    "Lock",
    "Member",
    "Put",
    "Range",
    "RetryPolicy",
    "Status",
    "Term",
    "TxnResult",
    "Watch",
    "txn",
]
