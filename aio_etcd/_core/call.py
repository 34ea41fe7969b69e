"""A request as an API means it (:class:`Call`), and the answer that is not the API's (:class:`NotEtcd`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..exceptions import EtcdException
from .policy import SAFE, ReplayRule
from .transport import Response, TransportFailure

__all__ = ["Call", "NotEtcd"]


class NotEtcd(EtcdException):
    """What answered is not a member of the API the check expects (raised by the checks of answers).

    The loop moves on to the next member; when every member answered so, it
    raises this, and the client turns it into a plain
    :class:`~aio_etcd.EtcdException` with this message.
    """

    def __init__(self, resp: Response, what: str, api: str = "") -> None:
        member = f"an etcd {api} member" if api else "an etcd member"
        super().__init__(f"{resp.url} did not answer as {member} ({what}): {resp.describe()}")
        self.response = resp


class Call:
    """One request as the client means it: what to send, and how it may be retried.

    :param op: what the call is, for error messages (``"read"``, ``"write"``).
    :param key: the key it is about, for error messages.
    :param resume: for watches: told of each failure, it may rewrite
        :attr:`path` so that the next member starts where this one stopped.
    :param lines: the answer is a stream of lines (v3 watches, observes):
        the attempt ends with the first line, and the result holds the
        open :class:`~aio_etcd._core.transport.LineStream`.
    :param head_only: with ``lines``, the attempt ends with the answer's
        head, not its first line (a v2 stream, silent until a change).
    """

    __slots__ = ("method", "path", "body", "headers", "rule", "stream", "op", "key", "resume", "lines", "head_only")

    def __init__(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        body: bytes | None = None,
        rule: ReplayRule = SAFE,
        stream: bool = False,
        op: str = "",
        key: str | bytes | None = None,
        resume: Callable[[TransportFailure], None] | None = None,
        lines: bool = False,
        head_only: bool = False,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.rule = rule
        self.stream = stream
        self.op = op
        self.key = key
        self.resume = resume
        self.lines = lines
        self.head_only = head_only

    def __str__(self) -> str:
        what = self.op or f"{self.method} {self.path.split('?', 1)[0]}"
        key = self.key
        if isinstance(key, bytes):  # a v3 key: shown as text where it is text
            key = key.decode("utf-8", "backslashreplace")
        return what if key is None else f"{what} {key!r}"
