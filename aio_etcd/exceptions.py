"""The exceptions aio_etcd raises.

Every error that leaves the public API is an :class:`EtcdException`. The class
names and the error codes are python-etcd's, so existing ``except`` clauses keep
working::

    EtcdException                      .payload: errorCode, message, cause, index
    ├── EtcdKeyError
    │   ├── EtcdKeyNotFound            100
    │   ├── EtcdNotFile                102
    │   ├── EtcdNotDir                 104
    │   ├── EtcdAlreadyExist           105
    │   └── EtcdRootReadOnly           107
    ├── EtcdValueError (ValueError)    200-212 (form errors)
    │   ├── EtcdCompareFailed          101
    │   └── EtcdDirNotEmpty            108
    ├── EtcdInsufficientPermissions    110
    ├── EtcdLeaderElectionInProgress   301
    ├── EtcdWatcherCleared             400
    ├── EtcdEventIndexCleared          401
    ├── EtcdConnectionFailed           .cause: the transport error (or the etcd error)
    │   ├── EtcdOutcomeUnknown         a change that may or may not have been applied
    │   └── EtcdWatchTimedOut
    ├── EtcdClusterIdChanged
    └── EtcdLockExpired

:class:`StopWatching` is not an error: a callback of
:meth:`aio_etcd.Client.eternal_watch` raises it to end the watch.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

__all__ = [
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
    "EtcdRootReadOnly",
    "EtcdValueError",
    "EtcdWatchTimedOut",
    "EtcdWatcherCleared",
    "StopWatching",
]


class EtcdException(Exception):
    """Root of every aio_etcd error.

    :param message: what went wrong, in words.
    :param payload: the error body etcd sent (``errorCode``, ``message``,
        ``cause``, ``index``), when there was one.
    """

    def __init__(self, message: str | None = None, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        #: The error body etcd sent, or ``None`` for errors raised by the client itself.
        self.payload: dict[str, Any] | None = payload

    @property
    def error_code(self) -> int | None:
        """etcd's ``errorCode``, when the server sent one."""
        code = (self.payload or {}).get("errorCode")
        return code if isinstance(code, int) else None

    @property
    def index(self) -> int | None:
        """etcd's index at the time of the error, when the server sent one."""
        index = (self.payload or {}).get("index")
        return index if isinstance(index, int) else None


class EtcdKeyError(EtcdException):
    """A problem with the key itself (missing, wrong kind, already there)."""


class EtcdKeyNotFound(EtcdKeyError):
    """errorCode 100: the key does not exist."""


class EtcdNotFile(EtcdKeyError):
    """errorCode 102: the operation needs a key, the node is a directory."""


class EtcdNotDir(EtcdKeyError):
    """errorCode 104: the operation needs a directory, the node is a key."""


class EtcdAlreadyExist(EtcdKeyError):
    """errorCode 105: the key already exists (``prevExist=False``, ``dir=True``)."""


class EtcdRootReadOnly(EtcdKeyError):
    """errorCode 107: the root directory cannot be changed."""


class EtcdValueError(EtcdException, ValueError):
    """A request etcd refused as invalid (errorCodes 200-212); also a ``ValueError``."""


class EtcdCompareFailed(EtcdValueError):
    """errorCode 101: ``prevValue`` or ``prevIndex`` did not match."""


class EtcdDirNotEmpty(EtcdValueError):
    """errorCode 108: the directory is not empty (delete it with ``recursive=True``)."""


class EtcdInsufficientPermissions(EtcdException):
    """errorCode 110: the credentials do not allow this operation."""


class EtcdLeaderElectionInProgress(EtcdException):
    """errorCode 301: the cluster is electing a leader; try again shortly."""


class EtcdWatcherCleared(EtcdException):
    """errorCode 400: the server dropped the watcher (for example on recovery)."""


class EtcdEventIndexCleared(EtcdException):
    """errorCode 401: the watch index is older than the 1000 events etcd keeps.

    Read the key again and watch from the response's ``etcd_index + 1``.
    """


class EtcdConnectionFailed(EtcdException):
    """The server could not be reached, or the exchange broke off.

    :param cause: the transport error behind it (also set as ``__cause__``).
    """

    def __init__(
        self,
        message: str | None = None,
        payload: dict[str, Any] | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, payload)
        #: The underlying transport exception, or ``None``.
        self.cause: BaseException | None = cause


class EtcdOutcomeUnknown(EtcdConnectionFailed):
    """A change that is not safe to repeat may or may not have been applied.

    Raised for writes, deletes, appends, compare-and-swaps and directory
    creation when the request may have reached a member but no answer came
    back: the connection broke, the member stopped answering while the client
    waited, or etcd itself answered that the proposal timed out. Sending it
    again could apply it twice, or let the first copy land later over newer
    writes, so the client does not. ``cause`` holds the failure behind it and
    ``member`` the member that had the request.

    Unless :attr:`settled` is true, the change may still be applied later,
    seconds after this was raised, by a member that was paused or cut off
    from its peers when it comes back: a read now does not tell what happened.
    See "When the outcome is unknown" in ``docs/errors.rst`` for what does.

    With ``api="v3"`` the client settles the outcome itself (it makes sure no
    earlier copy of the change can still land, and repeats it when it surely
    was not applied); it raises this, with :attr:`settled` true, only when it
    cannot tell whether the change was applied before it was settled.
    """

    #: The member that had the request (its base URL), where known.
    member: str | None = None
    #: True when the change can no longer be applied later: it was applied
    #: (at most once) before the client raised this, or never will be.
    settled: bool = False


class EtcdWatchTimedOut(EtcdConnectionFailed):
    """A watch given ``timeout=`` saw no change in that time."""


class EtcdClusterIdChanged(EtcdException):
    """The server belongs to another cluster than the one the client talks to."""


class EtcdLockExpired(EtcdException):
    """The lock's key vanished (TTL ran out, or it was deleted) before release."""


class StopWatching(Exception):
    """Raise from an :meth:`~aio_etcd.Client.eternal_watch` callback to end the watch."""


class EtcdError:
    """Maps etcd error payloads to exception classes.

    ``error_exceptions`` is the errorCode table; :meth:`handle` raises from it.
    """

    error_exceptions: ClassVar[dict[int, type[EtcdException]]] = {
        100: EtcdKeyNotFound,
        101: EtcdCompareFailed,
        102: EtcdNotFile,
        103: EtcdException,
        104: EtcdNotDir,
        105: EtcdAlreadyExist,
        106: EtcdException,
        107: EtcdRootReadOnly,
        108: EtcdDirNotEmpty,
        109: EtcdException,
        110: EtcdInsufficientPermissions,
        **{code: EtcdValueError for code in range(200, 213)},
        300: EtcdException,
        301: EtcdLeaderElectionInProgress,
        400: EtcdWatcherCleared,
        401: EtcdEventIndexCleared,
        500: EtcdException,
    }

    #: HTTP statuses that stand for an errorCode when the body has none.
    status_codes: ClassVar[dict[int, int]] = {404: 100, 401: 110}

    @classmethod
    def exception_for(cls, payload: dict[str, Any], status: int | None = None) -> EtcdException:
        """Build (without raising) the exception that ``payload`` stands for."""
        code = payload.get("errorCode")
        if not isinstance(code, int) and status is not None:
            code = cls.status_codes.get(status)
            if code is not None:
                payload = {**payload, "errorCode": code}
        exc_class = cls.error_exceptions.get(code, EtcdException) if isinstance(code, int) else EtcdException
        message = payload.get("message") or f"etcd error (HTTP {status})"
        cause = payload.get("cause")
        text = f"{message} : {cause}" if cause else str(message)
        if isinstance(code, int):
            text = f"[{code}] {text}"
        return exc_class(text, payload)

    @classmethod
    def handle(cls, payload: dict[str, Any], status: int | None = None) -> NoReturn:
        """Raise the exception that etcd's error ``payload`` stands for.

        :param payload: etcd's error body (``errorCode``, ``message``, ``cause``, ``index``).
        :param status: the HTTP status, used when the body has no ``errorCode``
            (404 means 100, 401 means 110).
        """
        raise cls.exception_for(payload, status)
