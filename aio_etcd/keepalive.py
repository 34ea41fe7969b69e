"""Keeping TTL keys alive: :meth:`Client.keep_alive <aio_etcd.Client.keep_alive>` and the lock's keep-alive.

A key written with a TTL expires at its last refresh plus the TTL. During a
leader election (1-2 s on etcd's default timing) a refresh may get no answer,
so a key with a short TTL has little slack: each refresh is made of short
attempts (:attr:`RetryPolicy.keepalive_attempt_timeout
<aio_etcd.RetryPolicy.keepalive_attempt_timeout>`), repeated on any member
until one gets through or the TTL has run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._lockqueue import TTLRanOut
from .exceptions import EtcdCompareFailed, EtcdException, EtcdKeyNotFound

if TYPE_CHECKING:
    from .client import Client

__all__ = ["KeepAlive", "Refresher", "TTLRanOut"]

log = logging.getLogger(__name__)


def check_ttl(value: object, name: str = "ttl") -> int:
    """``value`` if it is a whole number of seconds of at least 1; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of seconds >= 1, not {value!r}")
    return value


class Refresher:
    """Refreshes one key's TTL and knows the earliest moment etcd may expire it.

    :param expires_at: the loop time at which the key may expire: when the
        write that last set its TTL was sent, plus the TTL.
    :param prev_value: refresh only while the key holds this value (a lock's uuid).
    """

    def __init__(
        self, client: Client, key: str, ttl: int, expires_at: float, *, prev_value: str | None = None
    ) -> None:
        self.client = client
        self.key = key
        self.ttl = ttl
        self.expires_at = expires_at
        self.prev_value = prev_value

    async def refresh(self) -> bool:
        """Refresh the TTL: ``True`` once done, ``False`` when the key is gone (or not ours).

        Failed attempts are repeated until the TTL runs out.

        :raises TTLRanOut: no refresh got through in time (or the client was closed).
        """
        loop = asyncio.get_running_loop()
        attempt_timeout = self.client.retry.keepalive_attempt_timeout
        while True:
            sent = loop.time()
            left = self.expires_at - sent
            if left <= 0 or self.client.closed:
                raise TTLRanOut(f"no refresh of {self.key} got through before its TTL ran out")
            try:
                await self.client.write(
                    self.key,
                    None,
                    ttl=self.ttl,
                    refresh=True,
                    prevExist=None if self.prev_value is not None else True,
                    prevValue=self.prev_value,
                    timeout=left,
                    attempt_timeout=attempt_timeout,
                )
            except (EtcdKeyNotFound, EtcdCompareFailed):
                return False
            except EtcdException as exc:
                if self.client.closed:
                    continue
                log.warning("refresh of %s failed, %.1fs of TTL left: %s", self.key, self.expires_at - loop.time(), exc)
                await asyncio.sleep(min(attempt_timeout, max(0.0, self.expires_at - loop.time())))
                continue
            self.expires_at = sent + self.ttl
            return True


class KeepAlive:
    """An ``async with`` block that holds a key with a TTL; see :meth:`Client.keep_alive <aio_etcd.Client.keep_alive>`.

    Entering writes ``value`` to ``key`` with ``ttl`` (a plain write). While
    the block runs, a background task refreshes the TTL every ``interval``
    seconds (``refresh=true``, ``prevExist=true``, which wakes no watcher).
    Each refresh is retried with short attempts until the TTL runs out. If
    the key is found gone (expired or deleted), it is written again with
    ``value`` and :attr:`recreated` counts it. Leaving the block deletes the
    key (an unconditional delete), unless ``keep=True``.

    :attr:`lost` is set when a refresh could not be made before the TTL ran
    out or the key was found gone: there was a moment when others could see
    the key missing. It stays set (clear it to watch for the next loss).
    Closing the client stops the refreshes (and sets :attr:`lost`).
    """

    def __init__(
        self, client: Client, key: str, value: Any, ttl: int, *, interval: float | None = None, keep: bool = False
    ) -> None:
        check_ttl(ttl)
        if value is None:
            raise ValueError("keep_alive needs a value to write (and to write again if the key vanishes)")
        if interval is not None and not 0 < interval < ttl:
            raise ValueError(f"interval must be more than 0 and less than ttl ({ttl}), not {interval}")
        self.client = client
        self.key = key
        self.value = str(value)
        self.ttl = ttl
        self.interval = interval if interval is not None else ttl / 3
        self.keep = keep
        #: Set when the key was found gone, or no refresh got through before the TTL ran out.
        self.lost = asyncio.Event()
        #: How many times the key was written again after it vanished.
        self.recreated = 0
        #: How many refreshes got through.
        self.refreshes = 0
        self._refresher: Refresher | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> KeepAlive:
        if self._task is not None:
            raise RuntimeError(f"{self!r} is already in use")
        self._refresher = Refresher(self.client, self.key, self.ttl, 0.0)
        await self._write()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.keep:
            return
        try:
            await asyncio.shield(self._delete())
        except EtcdException as error:
            if exc_type is not None:
                log.warning("could not delete %s after the block (it expires with its TTL): %s", self.key, error)
            else:
                raise

    async def _delete(self) -> None:
        with contextlib.suppress(EtcdKeyNotFound):
            await self.client.delete(self.key)

    async def _write(self) -> None:
        assert self._refresher is not None
        sent = asyncio.get_running_loop().time()
        await self.client.write(self.key, self.value, ttl=self.ttl)
        self._refresher.expires_at = sent + self.ttl

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        refresher = self._refresher
        assert refresher is not None
        missing = False
        while not self.client.closed:
            if missing:
                try:
                    await self._write()
                except EtcdException as exc:
                    log.warning("keep-alive of %s: could not write it again: %s", self.key, exc)
                    await asyncio.sleep(self.client.retry.keepalive_attempt_timeout)
                    continue
                self.recreated += 1
                missing = False
            due = refresher.expires_at - self.ttl + self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                alive = await refresher.refresh()
            except TTLRanOut:
                if self.client.closed:
                    break
                log.warning("keep-alive of %s: no refresh got through before its TTL ran out", self.key)
                alive = False
            if alive:
                self.refreshes += 1
                continue
            log.warning("keep-alive of %s: the key may be gone; writing it again", self.key)
            self.lost.set()
            missing = True
        self.lost.set()  # the client was closed: nothing keeps the key alive any more

    def __repr__(self) -> str:
        state = "lost once" if self.lost.is_set() else "alive"
        return f"<aio_etcd.KeepAlive {self.key} ttl={self.ttl} {state} recreated={self.recreated}>"
