"""The errors of etcd v3, as the JSON gateway reports them.

The gateway answers a failed call with the gRPC status of the call: HTTP
status, ``code`` and ``message`` (grpc-gateway v1, etcd 3.5, also repeats the
message as ``error``; v2, etcd 3.6 and Debian's 3.5.30, does not). A stream
ends with one ``{"error": {...}}`` line that carries the code as ``code`` or
``grpc_code``. Only the code and the message are read, so both generations map
to the same classes::

    EtcdException
    ├── EtcdServerError              .code, .grpc_message: any error etcd answered
    │   ├── EtcdInvalidArgument      3   (malformed request, too many operations...)
    │   │   ├── EtcdRequestTooLarge  3   "request is too large" (also 8 past 2 MiB)
    │   │   └── EtcdKeyNotFound      3   "key not found" (put with ignore_value)
    │   ├── EtcdAuthFailed           3   "authentication failed", 16 invalid token
    │   ├── EtcdPermissionDenied     7
    │   ├── EtcdLeaseNotFound        5   "requested lease not found"
    │   ├── EtcdCompacted            11  "required revision has been compacted"
    │   ├── EtcdFutureRevision       11  "required revision is a future revision"
    │   ├── EtcdUnavailable          14  (also 4 and "context deadline exceeded")
    │   │   └── EtcdNoLeader         14  "etcdserver: no leader"
    │   ├── EtcdSessionExpired       2   "session is expired" (lock, campaign)
    │   └── EtcdNotLeader            2   "election: not leader"
    ├── EtcdWatchCanceled            .reason: the server canceled a watch
    ├── EtcdLockTimeout (TimeoutError)   no lock within lock(timeout=)
    ├── EtcdLeaseLost                a held lock or term whose lease was lost
    └── EtcdConnectionFailed         no member answered (aio_etcd's own)
        └── EtcdOutcomeUnknown       a write may or may not have been applied

``EtcdCompacted`` raised by a watch is also an ``EtcdWatchCanceled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..exceptions import EtcdConnectionFailed, EtcdException, EtcdOutcomeUnknown

__all__ = [
    "EtcdAuthFailed",
    "EtcdCompacted",
    "EtcdConnectionFailed",
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
    "error_from",
]

#: gRPC code names, for messages.
CODE_NAMES = {
    1: "Canceled",
    2: "Unknown",
    3: "InvalidArgument",
    4: "DeadlineExceeded",
    5: "NotFound",
    6: "AlreadyExists",
    7: "PermissionDenied",
    8: "ResourceExhausted",
    9: "FailedPrecondition",
    10: "Aborted",
    11: "OutOfRange",
    12: "Unimplemented",
    13: "Internal",
    14: "Unavailable",
    16: "Unauthenticated",
}


class EtcdServerError(EtcdException):
    """An error etcd answered: its gRPC ``code`` and ``grpc_message``.

    Every class of this tree can be built from a message alone (to raise in
    tests of your own code): ``code`` then is the class's usual gRPC code and
    ``grpc_message`` the message.
    """

    #: The gRPC code a class stands for when none is given.
    default_code = 2

    def __init__(
        self, message: str = "", code: int | None = None, grpc_message: str | None = None, status: int | None = None
    ) -> None:
        if code is None:
            code = self.default_code
        if grpc_message is None:
            grpc_message = message
        super().__init__(message, {"code": code, "message": grpc_message})
        #: The gRPC status code.
        self.code = code
        #: etcd's own words (``"etcdserver: ..."``).
        self.grpc_message = grpc_message
        #: The HTTP status of the answer (``None`` on a stream's error line).
        self.status = status


class EtcdInvalidArgument(EtcdServerError):
    """The request was refused as malformed or impossible (code 3)."""

    default_code = 3


class EtcdRequestTooLarge(EtcdInvalidArgument):
    """The request is larger than etcd accepts (``--max-request-bytes``, 1.5 MiB by default)."""


class EtcdKeyNotFound(EtcdInvalidArgument):
    """A put with ``ignore_value``/``ignore_lease`` named a key that does not exist."""


class EtcdAuthFailed(EtcdServerError):
    """Wrong user name or password, or a token etcd does not accept."""

    default_code = 16


class EtcdPermissionDenied(EtcdServerError):
    """The user's roles do not allow the call (code 7)."""

    default_code = 7


class EtcdLeaseNotFound(EtcdServerError):
    """The lease does not exist (revoked, or expired)."""

    default_code = 5


class EtcdCompacted(EtcdServerError):
    """The revision asked for was compacted away; :attr:`compact_revision` is the oldest one kept."""

    default_code = 11

    def __init__(
        self,
        message: str = "",
        code: int | None = None,
        grpc_message: str | None = None,
        status: int | None = None,
        compact_revision: int = 0,
    ) -> None:
        super().__init__(message, code, grpc_message, status)
        #: The oldest revision still available (0 when etcd did not say).
        self.compact_revision = compact_revision


class EtcdFutureRevision(EtcdServerError):
    """The revision asked for is newer than the store's."""

    default_code = 11


class EtcdUnavailable(EtcdServerError):
    """The member could not serve the call now (no quorum, timed out, overloaded)."""

    default_code = 14


class EtcdNoLeader(EtcdUnavailable):
    """The member has no leader: it is cut off from the cluster's quorum."""


class EtcdSessionExpired(EtcdServerError):
    """The lease of a lock or campaign ran out while it waited."""


class EtcdNotLeader(EtcdServerError):
    """A proclaim or resign for a term that is no longer the leader."""


class EtcdWatchCanceled(EtcdException):
    """The server canceled a watch; :attr:`reason` holds its words."""

    def __init__(self, message: str = "", reason: str = "") -> None:
        super().__init__(message)
        #: The server's ``cancel_reason`` (may be empty).
        self.reason = reason


class EtcdWatchCompacted(EtcdCompacted, EtcdWatchCanceled):
    """A watch asked to start below the compacted revision."""

    def __init__(self, message: str = "", compact_revision: int = 0) -> None:
        EtcdCompacted.__init__(self, message, 11, "mvcc: required revision has been compacted", None, compact_revision)
        self.reason = "compacted"


class EtcdLockTimeout(EtcdException, TimeoutError):
    """The lock (or the election) was not won within the ``timeout`` given."""


class EtcdLeaseLost(EtcdException):
    """A held lock or an elected term lost its lease: others may have taken over."""


# Words in etcd's messages that pick a class more precise than the code's.
_BY_WORDS: tuple[tuple[str, type[EtcdServerError]], ...] = (
    ("request is too large", EtcdRequestTooLarge),
    ("message larger than max", EtcdRequestTooLarge),
    ("required revision has been compacted", EtcdCompacted),
    ("required revision is a future revision", EtcdFutureRevision),
    ("requested lease not found", EtcdLeaseNotFound),
    ("authentication failed", EtcdAuthFailed),
    ("invalid auth token", EtcdAuthFailed),
    ("revision of auth store is old", EtcdAuthFailed),
    ("user name is empty", EtcdAuthFailed),
    ("permission denied", EtcdPermissionDenied),
    ("etcdserver: no leader", EtcdNoLeader),  # not the election's "election: no leader"
    ("session is expired", EtcdSessionExpired),
    ("election: not leader", EtcdNotLeader),
    ("key not found", EtcdKeyNotFound),
    ("context deadline exceeded", EtcdUnavailable),
    ("too many requests", EtcdUnavailable),
)
_BY_CODE: dict[int, type[EtcdServerError]] = {
    3: EtcdInvalidArgument,
    4: EtcdUnavailable,
    5: EtcdLeaseNotFound,
    7: EtcdPermissionDenied,
    14: EtcdUnavailable,
    16: EtcdAuthFailed,
}


#: Words of a watch's ``cancel_reason`` that a new token may cure: etcd 3.5 cancels a
#: watch whose token went stale as "permission denied", 3.6 and 3.7 as
#: "code = Unauthenticated desc = etcdserver: invalid auth token".
_TOKEN_REFUSALS = ("permission denied", "invalid auth token", "code = Unauthenticated", "auth store is old")


def token_refused(reason: str) -> bool:
    """Whether a watch canceled for ``reason`` may pass with a renewed token."""
    return any(words in reason for words in _TOKEN_REFUSALS)


def error_from(body: Mapping[str, Any], status: int | None, where: str) -> EtcdServerError | None:
    """The exception an error body stands for, ``None`` when it is not a gRPC error.

    :param body: an unary error body, or the ``error`` object of a stream line.
    :param where: what failed, for the message (``"put '/a' at http://..."``).
    """
    code = body.get("code", body.get("grpc_code"))
    message = body.get("message")
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
        return None
    cls = _BY_CODE.get(code, EtcdServerError)
    lowered = message.lower()
    for words, candidate in _BY_WORDS:
        if words in lowered:
            cls = candidate
            break
    name = CODE_NAMES.get(code, str(code))
    return cls(f"{where}: {message} (gRPC {name})", code, message, status)


#: Failures worth an attempt at another member, with whether they certainly
#: were not applied (the member refused before proposing).
TRANSIENT_CODES = frozenset({4, 14})

#: etcd's messages of the errors it answers as Unavailable (14), as they begin. Its Lock
#: and Election services pass them on from their own client as Unknown (2): a lock
#: waiting in its queue while the leader changes is answered "etcdserver: leader changed"
#: (gRPC Unknown), after its key may have been written.
UNAVAILABLE_MESSAGES = (
    "etcdserver: leader changed",
    "etcdserver: not leader",
    "etcdserver: server stopped",
    "etcdserver: request timed out",
    "etcdserver: unhealthy cluster",
)


def is_transient(exc: EtcdServerError) -> tuple[bool, bool]:
    """``(worth another attempt, certainly not applied)`` for an error etcd answered."""
    words = exc.grpc_message.lower()
    if "too many requests" in words or "etcdserver: no leader" in words:
        return True, True
    if exc.code in TRANSIENT_CODES or "context deadline exceeded" in words or words.startswith(UNAVAILABLE_MESSAGES):
        return True, False
    if "bad certificate" in words:  # the gateway's own TLS to etcd: this member is misconfigured
        return True, True
    return False, False
