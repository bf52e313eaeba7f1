"""SIGINT and SIGTERM alike: the running command is cancelled, winds down, and says what finished.

The copying commands let writes under way settle (engine.scheduler.SETTLE_SECONDS) and print the
summary; ``cli`` then exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Interrupted", "until_signalled"]

T = TypeVar("T")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The run stopped on a signal; ``signum`` is the first one received."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


async def until_signalled(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``; SIGINT and SIGTERM both cancel it, and Interrupted is raised once it has
    wound down (the copying commands let writes under way settle and print what finished).

    A second signal cancels again, cutting the wind-down short, and gives the signals back
    their defaults: a third one stops the process outright.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        if len(received) > 1:
            _restore(loop)
        task.cancel()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await coro
    except asyncio.CancelledError:
        if not received:
            raise
        raise Interrupted(received[0]) from None
    finally:
        _restore(loop)


def _restore(loop: asyncio.AbstractEventLoop) -> None:
    for signum in _STOP_SIGNALS:
        loop.remove_signal_handler(signum)
