"""Peers that stop moving bytes: a floor under a body's speed, a watch on a request body, and how
long the answer to a large upload may take.

aiohttp's ``sock_read`` (Settings.read_timeout) catches a pause: no byte for that long, be it the
response head or a gap in a body. It misses two stalls a registry can cause:

- a trickle: a body at 1 byte/s resets ``sock_read`` every second and would run for weeks;
- a request body the peer stops taking: ``sock_read`` only starts once the body is sent, so a
  link that drops every packet mid-upload would hold the request for as long as TCP retransmits.

``SpeedFloor`` and ``SendWatch`` fill those gaps with curl's rule (CURLOPT_LOW_SPEED_LIMIT and
CURLOPT_LOW_SPEED_TIME; git's ``http.lowSpeedLimit`` and ``http.lowSpeedTime``): a transfer slower
than a floor for a whole window fails. The window is the read timeout, so one flag bounds every
kind of silence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager

from relocator.config import Settings
from relocator.errors import TransportError

__all__ = ["SendWatch", "SpeedFloor", "answer_timeout", "pieces"]

# A registry may re-read a whole blob before it answers the PUT that commits it (distribution
# re-hashes it when it kept no hash state, registry/storage/blobwriter.go validateBlob, then moves
# it: a copy on S3), and a proxy that buffers request bodies (nginx's proxy_request_buffering)
# starts forwarding only once it has them all. Either moves bytes at disk or LAN speed: we wait
# for the answer as if it went at no less than this many bytes/s, on top of the read timeout.
_COMMIT_SPEED = 10 * 1000 * 1000
_PIECE = 256 * 1024


def answer_timeout(settings: Settings, body_size: int) -> float:
    """Seconds to wait for the head of the answer to a request that sent ``body_size`` bytes:
    the read timeout, plus the time to re-read the body at 10 MB/s (see _COMMIT_SPEED)."""
    return settings.read_timeout + body_size / _COMMIT_SPEED


def pieces(data: bytes) -> AsyncIterator[bytes]:
    """``data`` in 256 KiB slices, so a SendWatch sees each one taken (the caller sets the
    Content-Length: aiohttp would send an iterator chunked)."""

    async def gen() -> AsyncGenerator[bytes, None]:
        view = memoryview(data)
        for start in range(0, len(data), _PIECE):
            yield bytes(view[start:start + _PIECE])

    return gen()


class SpeedFloor:
    """Fails a body read slower than ``settings.min_speed`` bytes/s over a whole window of
    ``settings.read_timeout`` seconds. Create it when the body starts; call ``moved`` per chunk.

    A pause is ``sock_read``'s to catch; this catches the trickle. ``clock`` is injectable.
    """

    def __init__(self, host: str, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.min_speed = settings.min_speed
        self.window = settings.read_timeout
        self._clock = clock
        self._start = clock()
        self._moved = 0

    def moved(self, n: int) -> None:
        """Count ``n`` bytes; raises TransportError (temporary: a new connection may do better)
        when a window closes below the floor."""
        self._moved += n
        now = self._clock()
        elapsed = now - self._start
        if elapsed < self.window:
            return
        if self._moved < self.min_speed * elapsed:
            raise TransportError(
                f"{self.host}: too slow ({self._moved} bytes in {elapsed:.0f} s, under "
                f"{self.min_speed} bytes/s; --read-timeout)", host=self.host)
        self._start, self._moved = now, 0


class SendWatch:
    """Fails a request whose body the peer stops taking for ``seconds``.

    A deadline is armed while aiohttp writes each chunk of the body (it waits there until the
    peer's TCP window takes it) and disarmed while the next chunk is read from its source, which
    has guards of its own: a slow source is never blamed on this host. Wrap the body with
    ``body`` and the request with ``sending``.
    """

    def __init__(self, host: str, seconds: float) -> None:
        self.host = host
        self.seconds = seconds
        self._timeout: asyncio.Timeout | None = None

    @asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        """Around the request: raises TransportError (``no_answer``) when a chunk of the body was
        not taken in time. Other errors, aiohttp's own timeouts included, pass through."""
        try:
            async with asyncio.timeout(None) as timeout:
                self._timeout = timeout
                try:
                    yield
                finally:
                    self._timeout = None
        except TimeoutError:
            if not timeout.expired():
                raise
            raise TransportError(f"{self.host}: stopped taking the request body (nothing taken for "
                                 f"{self.seconds:g} s; --read-timeout)", host=self.host,
                                 no_answer=True) from None

    async def body(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        """``chunks``, each with the deadline armed while aiohttp writes it."""
        loop = asyncio.get_running_loop()
        try:
            async for chunk in chunks:
                self._arm(loop.time() + self.seconds)
                yield chunk
                self._arm(None)
        finally:
            self._arm(None)
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    def _arm(self, when: float | None) -> None:
        timeout = self._timeout
        if timeout is not None and not timeout.expired():
            timeout.reschedule(when)
