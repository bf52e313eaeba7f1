"""The one retry policy of the registry client: what is temporary, how long to wait, when to stop.

Pure decisions plus two small stateful records. The transport (requests), the blob download
(resume with ``Range``) and the upload ladder (recover the session's offset) each keep only their
own recovery step and ask a ``Retrier`` whether and when to try again. A ``HostHealth`` per host
is the circuit breaker: once a request has had no answer at all from a host on every attempt,
the host is down for the rest of the run and each later request to it fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from relocator.config import RetryPolicy
from relocator.errors import HostDown, RateLimited, RegistryError, RelocatorError, TransportError

__all__ = ["HostHealth", "Retrier", "Sleep", "backoff", "parse_retry_after", "reason", "retry_after",
           "temporary_status"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]  # asyncio.sleep, or a test's recorder: seconds

# 2**64 times any sane base delay is far past any cap; a larger exponent only risks OverflowError.
_MAX_EXPONENT = 64


def temporary_status(status: int) -> bool:
    """Whether an HTTP status is worth another try: 429 and every 5xx (DESIGN: Registry client)."""
    return status == 429 or status >= 500


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (>= 0) from delay-seconds or an HTTP date; None if absent or bad.

    ``now`` is the Unix time a date is measured from (default: the clock). RFC 9110 section 10.2.3.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when: float = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def retry_after(status: int, value: str | None) -> float | None:
    """Seconds a 429 or 503 answer asks us to wait; None for other statuses or no usable header."""
    return parse_retry_after(value) if status in (429, 503) else None


def backoff(policy: RetryPolicy, failures: int, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter delay in seconds after ``failures`` (>= 1) failures.

    Uniform in ``[0, min(max_delay, base_delay * 2 ** (failures - 1)))``; ``rand`` returns [0, 1).
    """
    exponent = min(max(failures - 1, 0), _MAX_EXPONENT)
    return min(policy.max_delay, policy.base_delay * 2.0**exponent) * rand()


def reason(error: RelocatorError, host: str) -> str:
    """A short, secret-free text for a log line: ``503 Service Unavailable`` or the connection error.

    Error messages built in errormap read ``HOST: TEXT [METHOD REDACTED-URL]``; the host and the
    bracketed request are dropped, so no URL, and no query, reaches the line.
    """
    if isinstance(error, RegistryError) and error.status:
        try:
            return f"{error.status} {HTTPStatus(error.status).phrase}"
        except ValueError:
            return str(error.status)
    text = str(error).removeprefix(f"{host}: ")
    head, bracket, tail = text.rpartition(" [")
    return head if bracket and tail.endswith("]") else text


def _eased(error: RelocatorError) -> bool:
    return isinstance(error, RegistryError) and error.eased and error.temporary


class HostHealth:
    """One host's circuit breaker: up until an operation has had no answer on every attempt, then
    down for the rest of the run (a run is minutes long: nothing waits to probe it again).

    Only requests that got no answer at all count (``TransportError.no_answer``: refused, reset or
    timed out before the response head). An HTTP error, even a 5xx, is an answer; so is a body
    that broke off or trickled, which its own operation retries: the host is still talking.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.reason: str | None = None  # why the host is down; None while it is up

    def check(self) -> None:
        """Raise HostDown if the host is down."""
        if self.reason is not None:
            raise HostDown(self._text(self.reason), host=self.host)

    def trip(self, error: RelocatorError) -> HostDown:
        """Mark the host down because of ``error`` (logged once, as a WARNING); the HostDown to raise."""
        if self.reason is None:
            self.reason = reason(error, self.host)
            log.warning("%s", self._text(self.reason))
        return HostDown(self._text(self.reason), host=self.host)

    def _text(self, why: str) -> str:
        return f"{self.host}: not answering ({why}); giving up on its remaining work"


class Retrier:
    """One operation's tries under the run's ``RetryPolicy``, counting its failures.

    ``attempts`` overrides ``policy.attempts`` (1 means: never retry). ``free_retries``: how many
    eased answers (``RegistryError.eased``: the host's in-flight limit was lowered under the
    flight that drew them) are retried without spending an attempt; later ones spend one like any
    failure. With ``health``, the retrier is the operation that owns the host's attempts: when
    every one of them got no answer from ``host`` it trips the breaker, and once the host is down
    it stops at once. ``host_pause``: a ``RateLimited`` error's Retry-After paused the host (the
    transport does, and waits it out before sending each request to it), so ``wait`` logs that
    retry but does not sleep it a second time. ``sleep`` and ``rand`` are injectable so tests
    need not wait.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        host: str,
        *,
        attempts: int | None = None,
        free_retries: int = 0,
        health: HostHealth | None = None,
        host_pause: bool = False,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.host = host
        self.attempts = policy.attempts if attempts is None else attempts
        self.free_retries = free_retries
        self.health = health
        self.host_pause = host_pause
        self.failures = 0
        self.freed = 0  # eased failures retried without spending an attempt
        self._free = False  # whether the last failure was one of them
        self._unanswered = 0  # consecutive failures that got no answer from host
        self._sleep = sleep
        self._rand = rand

    def failed(self, error: RelocatorError, retry_after: float | None = None) -> float | None:
        """Count one failure; the seconds to wait before the next try, or None to give up.

        None when ``error`` is not temporary or the attempts are spent. A positive ``retry_after``
        (or a ``RateLimited`` error's own) is used as given, uncapped; otherwise ``backoff``.
        Raises HostDown instead when the host is down, or this failure takes it down.
        """
        self.failures += 1
        no_answer = isinstance(error, TransportError) and error.no_answer and error.host == self.host
        self._unanswered = self._unanswered + 1 if no_answer else 0
        if self.health is not None and no_answer:
            self.health.check()  # another operation found it down meanwhile
            if self._unanswered >= self.attempts:
                raise self.health.trip(error) from None
        self._free = _eased(error) and self.freed < self.free_retries
        if self._free:
            # The host's limit was cut for (or since) this answer: the next try goes out at the
            # lower limit, so it spends no attempt; each such try backs off a step further.
            self.failures -= 1
            self.freed += 1
        elif not error.temporary or self.failures >= self.attempts:
            return None
        if retry_after is None and isinstance(error, RateLimited):
            retry_after = error.retry_after
        if retry_after:
            return retry_after
        return backoff(self.policy, self.failures + self.freed, self._rand)

    async def wait(self, delay: float, error: RelocatorError) -> None:
        """Log one WARNING line (host, retry number of the retries there may be, delay, reason),
        then sleep ``delay`` seconds: ``retrying HOST (1/4) in 0.4 s: 503 Service Unavailable``.
        With ``host_pause``, a ``RateLimited`` error's Retry-After is not slept here: the host's
        pause holds the next request to it as long."""
        if self._free:
            log.warning("retrying %s at its lowered limit in %.1f s: %s", self.host, delay,
                        reason(error, self.host))
        else:
            log.warning(
                "retrying %s (%d/%d) in %.1f s: %s",
                self.host, self.failures, self.attempts - 1, delay, reason(error, self.host),
            )
        if self.host_pause and isinstance(error, RateLimited) and error.retry_after:
            return
        await self._sleep(delay)

    async def wait_or_raise(self, error: RelocatorError, retry_after: float | None = None) -> None:
        """``failed`` then ``wait``; raises ``error`` itself when there is no next try (HostDown
        when the host is down)."""
        delay = self.failed(error, retry_after)
        if delay is None:
            raise error
        await self.wait(delay, error)
