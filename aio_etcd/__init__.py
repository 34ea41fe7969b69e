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
    EtcdRootReadOnly,
    EtcdValueError,
    EtcdWatcherCleared,
    EtcdWatchTimedOut,
    StopWatching,
)
from .lock import Lock
from .result import EtcdResult

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
    "EtcdResult",
    "EtcdRootReadOnly",
    "EtcdValueError",
    "EtcdWatchTimedOut",
    "EtcdWatcherCleared",
    "Lock",
    "StopWatching",
    "__version__",
]
