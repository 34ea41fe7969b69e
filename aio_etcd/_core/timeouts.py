"""A time limit on one awaitable that never loses a cancellation of its caller.

:func:`asyncio.wait_for` before Python 3.12 returns the result of what it
waits for when that completes at the same moment as the caller is cancelled:
the cancellation is lost (CPython gh-86296), and a task that was told to stop
goes on, a watch that was being opened waits for its next event, a lock
waiter holds the lock. The library uses :func:`within` instead, everywhere.

On Python 3.11 and later it is :func:`asyncio.timeout` around the await
(what ``wait_for`` itself became in 3.12): the awaitable runs in the caller's
task, a cancellation reaches it where it waits, and the timeout tells its own
cancellation from others by the task's count of them. Python 3.10 has neither,
so there the awaitable runs in a task of its own, which the caller's
cancellation or the limit stops; a result that arrives anyway when the caller
was cancelled is handed to ``discard`` (a connection is closed) and the
cancellation is raised.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["quarter_up", "within"]

T = TypeVar("T")


def quarter_up(seconds: float) -> float:
    """``seconds`` rounded up to a quarter second: a time limit the transports see few of
    (they keep one timer or timeout object per distinct limit)."""
    return math.ceil(seconds * 4) / 4


async def within(aw: Awaitable[T], timeout: float | None, *, discard: Callable[[T], object] | None = None) -> T:
    """``await aw``, with a limit of ``timeout`` seconds (``None`` or infinite: none).

    :raises asyncio.TimeoutError: the limit ran out first (``aw`` was cancelled and has ended).
    :raises asyncio.CancelledError: the caller was cancelled, even when ``aw``
        completed at the same moment (then its result went to ``discard``, if
        given; ``discard`` may return an awaitable, which is awaited).
    """
    if timeout is None or math.isinf(timeout):
        return await aw
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(max(timeout, 0.0)):
            return await aw
    return await _within_task(aw, timeout, discard)  # pragma: no cover  # Python 3.10


async def _within_task(aw: Awaitable[T], timeout: float, discard: Callable[[T], object] | None) -> T:
    """:func:`within` for Python 3.10: ``aw`` in a task of its own (tested on every version)."""
    loop = asyncio.get_running_loop()
    inner = asyncio.ensure_future(aw)
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not woken.done():
            woken.set_result(None)

    inner.add_done_callback(wake)
    timer = loop.call_later(max(timeout, 0.0), wake)
    try:
        await woken
    except asyncio.CancelledError:
        await _end(inner, discard)
        raise
    finally:
        timer.cancel()
        inner.remove_done_callback(wake)
    if inner.done():
        return inner.result()
    # The limit ran out: stop the awaitable. If it completes all the same, its result stands.
    inner.cancel()
    cancelled = await _settle(inner)
    if cancelled:  # the caller too was cancelled meanwhile
        await _throw_away(inner, discard)
        raise asyncio.CancelledError
    if inner.cancelled():
        raise asyncio.TimeoutError
    return inner.result()


async def _end(inner: asyncio.Future[T], discard: Callable[[T], object] | None) -> None:
    """The caller is cancelled: stop ``inner``, wait until it ended, and throw its result away."""
    inner.cancel()
    await _settle(inner)
    await _throw_away(inner, discard)


async def _settle(inner: asyncio.Future[Any]) -> bool:
    """Wait until ``inner`` has ended, whatever cancels the caller meanwhile; whether something did."""
    cancelled = False
    while not inner.done():
        try:
            await asyncio.wait((inner,))
        except asyncio.CancelledError:
            cancelled = True
            inner.cancel()
    return cancelled


async def _throw_away(inner: asyncio.Future[T], discard: Callable[[T], object] | None) -> None:
    if inner.cancelled():
        return
    if inner.exception() is not None:  # retrieved: the caller was cancelled, that is what it hears
        return
    if discard is not None:
        closing = discard(inner.result())
        if inspect.isawaitable(closing):
            await closing
