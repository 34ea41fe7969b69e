"""aio_etcd: an asyncio client for the etcd v2 API.

Use it as ``import aio_etcd as etcd``; see :class:`Client`.
"""

from .client import Client
from .exceptions import (
    EtcdAlreadyExist,
    EtcdClusterIdChanged,
    EtcdCompareFailed,
    EtcdConnectionFailed,
    EtcdDirNotEmpty,
    EtcdError,
    EtcdEventIndexCleared,
    EtcdException,
    EtcdInsufficientPermissions,
    EtcdKeyError,
    EtcdKeyNotFound,
    EtcdLeaderElectionInProgress,
    EtcdLockExpired,
    EtcdNotDir,
    EtcdNotFile,
    EtcdOutcomeUnknown,
    EtcdRootReadOnly,
    EtcdValueError,
    EtcdWatcherCleared,
    EtcdWatchTimedOut,
    StopWatching,
)
from .lock import Lock
from .result import EtcdResult
from .retry import RetryPolicy

__version__ = "0.5.0"

__all__ = [
    "Client",
    "EtcdAlreadyExist",
    "EtcdClusterIdChanged",
    "EtcdCompareFailed",
    "EtcdConnectionFailed",
    "EtcdDirNotEmpty",
    "EtcdError",
    "EtcdEventIndexCleared",
    "EtcdException",
    "EtcdInsufficientPermissions",
    "EtcdKeyError",
    "EtcdKeyNotFound",
    "EtcdLeaderElectionInProgress",
    "EtcdLockExpired",
    "EtcdNotDir",
    "EtcdNotFile",
    "EtcdOutcomeUnknown",
    "EtcdResult",
    "EtcdRootReadOnly",
    "EtcdValueError",
    "EtcdWatchTimedOut",
    "EtcdWatcherCleared",
    "Lock",
    "RetryPolicy",
    "StopWatching",
    "__version__",
]
