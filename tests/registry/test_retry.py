"""The retry policy as pure decisions: no network, no real sleeping."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from relocator.config import RetryPolicy
from relocator.errors import (
    AuthError,
    HostDown,
    NotFound,
    RateLimited,
    RegistryError,
    RelocatorError,
    TransportError,
)
from relocator.registry.retry import (
    HostHealth,
    Retrier,
    backoff,
    parse_retry_after,
    reason,
    retry_after,
    temporary_status,
)

POLICY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=4.0)
HOST = "reg.example:5000"


def unavailable() -> RegistryError:
    return RegistryError(f"{HOST}: 503 Service Unavailable [GET https://{HOST}/v2/]", status=503,
                         temporary=True)


def permanent() -> TransportError:
    error = TransportError(f"{HOST}: TLS certificate not trusted")
    error.temporary = False
    return error


class Sleeps:
    """An injected sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def test_delays_grow_then_stay_at_the_cap() -> None:
    ceilings = [backoff(POLICY, n, rand=lambda: 1.0) for n in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_full_jitter_stays_within_zero_and_the_ceiling() -> None:
    rand = random.Random(7).random
    for failures in range(1, 10):
        ceiling = min(POLICY.max_delay, POLICY.base_delay * 2 ** (failures - 1))
        delays = [backoff(POLICY, failures, rand) for _ in range(200)]
        assert all(0.0 <= d < ceiling for d in delays)
        assert min(delays) < ceiling / 4 and max(delays) > ceiling * 3 / 4  # full jitter, not half
    assert backoff(POLICY, 1, rand=lambda: 0.0) == 0.0


def test_huge_failure_counts_do_not_overflow() -> None:
    assert backoff(POLICY, 10_000, rand=lambda: 1.0) == POLICY.max_delay


def test_attempts_are_counted_until_spent() -> None:
    retrier = Retrier(RetryPolicy(attempts=3, base_delay=1.0, max_delay=10.0), HOST, rand=lambda: 1.0)
    assert retrier.failed(unavailable()) == 1.0
    assert retrier.failed(unavailable()) == 2.0
    assert retrier.failed(unavailable()) is None  # the third failure was the last attempt
    assert retrier.failures == 3


def test_one_attempt_means_no_retry() -> None:
    retrier = Retrier(POLICY, HOST, attempts=1)
    assert retrier.failed(unavailable()) is None


@pytest.mark.parametrize("error", [
    NotFound("gone", status=404),
    AuthError("denied", status=401),
    RegistryError("bad digest", status=400),
    permanent(),
    RelocatorError("anything else"),
])
def test_permanent_errors_are_not_retried(error: RelocatorError) -> None:
    assert Retrier(POLICY, HOST).failed(error) is None


def test_retry_after_wins_over_backoff_and_its_cap() -> None:
    retrier = Retrier(POLICY, HOST, rand=lambda: 1.0)
    assert retrier.failed(unavailable(), retry_after=7.0) == 7.0
    assert retrier.failed(RateLimited("slow down", retry_after=3.0)) == 3.0
    assert retrier.failed(RateLimited("slow down")) == 2.0  # no header: backoff, failure 3
    assert retrier.failed(unavailable(), retry_after=0.0) == 4.0  # "0" says nothing: backoff, capped


def test_retry_after_only_for_429_and_503() -> None:
    assert retry_after(429, "2") == 2.0
    assert retry_after(503, "1.5") == 1.5
    assert retry_after(500, "2") is None
    assert retry_after(503, None) is None


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("-5") == 0.0
    for bad in ("", None, "soon", "inf", "nan"):
        assert parse_retry_after(bad) is None


def test_temporary_statuses() -> None:
    assert [s for s in (400, 401, 404, 408, 429, 500, 502, 503, 504) if temporary_status(s)] == [
        429, 500, 502, 503, 504]


def test_reason_is_short_and_carries_no_url() -> None:
    assert reason(unavailable(), HOST) == "503 Service Unavailable"
    assert reason(RegistryError("x", status=599, temporary=True), HOST) == "599"
    reset = TransportError(f"{HOST}: connection failed (ServerDisconnectedError: Server disconnected) "
                           f"[PUT https://{HOST}/v2/a/blobs/uploads/1?_state=<redacted>&digest=sha256:ab]")
    assert reason(reset, HOST) == "connection failed (ServerDisconnectedError: Server disconnected)"
    assert reason(TransportError(f"{HOST}: sha256:ab ended at 3 of 9 bytes"), HOST) == (
        "sha256:ab ended at 3 of 9 bytes")


async def test_wait_or_raise_logs_each_retry_and_raises_the_last_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="relocator.registry.retry")
    sleeps = Sleeps()
    retrier = Retrier(RetryPolicy(attempts=3, base_delay=2.0, max_delay=30.0), HOST, sleep=sleeps,
                      rand=lambda: 1.0)
    error = unavailable()
    await retrier.wait_or_raise(error)
    await retrier.wait_or_raise(error, retry_after=9.0)
    with pytest.raises(RegistryError) as info:
        await retrier.wait_or_raise(error)
    assert info.value is error
    assert sleeps.delays == [2.0, 9.0]
    assert [r.getMessage() for r in caplog.records] == [
        f"retrying {HOST} (1/2) in 2.0 s: 503 Service Unavailable",
        f"retrying {HOST} (2/2) in 9.0 s: 503 Service Unavailable",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


async def test_a_permanent_error_is_raised_without_sleeping_or_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="relocator.registry.retry")
    sleeps = Sleeps()
    with pytest.raises(NotFound):
        await Retrier(POLICY, HOST, sleep=sleeps).wait_or_raise(NotFound("gone", status=404))
    assert sleeps.delays == [] and caplog.records == []


def no_answer(host: str = HOST) -> TransportError:
    return TransportError(f"{host}: timed out waiting for data (--read-timeout) [GET https://{host}/v2/]",
                          host=host, no_answer=True)


def test_a_request_that_never_got_an_answer_takes_its_host_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="relocator.registry.retry")
    health = HostHealth(HOST)
    retrier = Retrier(RetryPolicy(attempts=3, base_delay=1.0, max_delay=10.0), HOST, health=health,
                      rand=lambda: 1.0)
    assert retrier.failed(no_answer()) == 1.0
    assert retrier.failed(no_answer()) == 2.0
    with pytest.raises(HostDown) as info:
        retrier.failed(no_answer())  # the last attempt had no answer either
    want = (f"{HOST}: not answering (timed out waiting for data (--read-timeout)); "
            "giving up on its remaining work")
    assert str(info.value) == want and info.value.host == HOST and not info.value.temporary
    with pytest.raises(HostDown) as later:
        health.check()  # every later request fails at once, with the same words
    assert str(later.value) == want
    assert [r.getMessage() for r in caplog.records] == [want]  # said once, when it went down


def test_a_host_that_answers_is_never_taken_down() -> None:
    # A 5xx is an answer; so is a body that broke off (no_answer False); so is another host's silence.
    for errors in ([unavailable()] * 3,
                   [TransportError(f"{HOST}: connection failed", host=HOST)] * 3,
                   [no_answer("other.example")] * 3,
                   [no_answer(), unavailable(), no_answer()]):  # not three in a row
        health = HostHealth(HOST)
        retrier = Retrier(RetryPolicy(attempts=3), HOST, health=health)
        assert [retrier.failed(e) is None for e in errors] == [False, False, True]
        health.check()  # does not raise
        assert health.reason is None


def test_one_try_of_a_caller_owned_loop_does_not_take_a_host_down() -> None:
    # retry=False requests use a one-attempt Retrier without health: their caller's loop counts.
    assert Retrier(POLICY, HOST, attempts=1).failed(no_answer()) is None


async def test_a_retrier_stops_at_once_when_another_found_its_host_down() -> None:
    health = HostHealth(HOST)
    sleeps = Sleeps()
    waiting = Retrier(POLICY, HOST, health=health, sleep=sleeps)
    await waiting.wait_or_raise(no_answer())
    with pytest.raises(HostDown):
        Retrier(RetryPolicy(attempts=1), HOST, health=health).failed(no_answer())
    with pytest.raises(HostDown):
        await waiting.wait_or_raise(no_answer())  # 2 of its 5 attempts, but the host is down
    assert len(sleeps.delays) == 1
