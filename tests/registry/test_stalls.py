"""Peers that stop moving bytes: the speed floor, the watch on a request body, the answer's allowance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from relocator.config import RetryPolicy, Settings
from relocator.errors import HostDown, TransportError
from relocator.oci import Descriptor, Digest, Repository
from relocator.registry import RegistryClient
from relocator.registry.stalls import SpeedFloor, answer_timeout
from tests.conftest import settings_for
from tests.faults import DeafServer
from tests.images import sha256
from tests.registry.test_client import opener_for

HOST = "reg.example:5000"
SETTINGS = Settings(read_timeout=10.0, min_speed=100)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_trickle_fails_once_a_whole_window_went_below_the_floor() -> None:
    clock = Clock()
    floor = SpeedFloor(HOST, SETTINGS, clock)
    for _ in range(9):  # 1 byte/s: not a pause, so sock_read never fires
        clock.now += 1
        floor.moved(1)
    clock.now += 1
    with pytest.raises(TransportError) as info:
        floor.moved(1)
    error = info.value
    assert str(error) == f"{HOST}: too slow (10 bytes in 10 s, under 100 bytes/s; --read-timeout)"
    assert error.temporary and error.host == HOST and not error.no_answer  # the host did answer


def test_a_body_at_or_above_the_floor_never_fails() -> None:
    clock = Clock()
    floor = SpeedFloor(HOST, SETTINGS, clock)
    for _ in range(100):  # 100 windows of exactly the floor
        clock.now += 1
        floor.moved(100)
    clock.now += 9  # a pause under the window (sock_read's to judge), then a burst
    floor.moved(5000)
    clock.now += 5
    floor.moved(1)  # the window that closes here averaged 5001 bytes over 14 s: fine


def test_the_answer_to_a_large_body_may_take_longer() -> None:
    assert answer_timeout(Settings(read_timeout=30.0), 0) == 30.0
    assert answer_timeout(Settings(read_timeout=30.0), 5 * 10**9) == 530.0  # 5 GB re-read at 10 MB/s


async def test_a_registry_that_stops_taking_an_upload_is_given_up_on(
        make_client: Callable[..., RegistryClient]) -> None:
    data = bytes(32 * 1024 * 1024)  # more than the loopback socket buffers hold
    desc = Descriptor("application/octet-stream", Digest.parse(sha256(data)), len(data))
    server = await DeafServer().start()
    try:
        settings = settings_for(read_timeout=1.0, retry=RetryPolicy(attempts=2, base_delay=0.01))
        with pytest.raises(HostDown) as info:
            await make_client(settings=settings).push_blob(Repository(server.host, "f/up"), desc,
                                                           opener_for(data))
    finally:
        await server.stop()
    assert str(info.value) == (f"{server.host}: not answering (stopped taking the request body (nothing "
                               "taken for 1 s; --read-timeout)); giving up on its remaining work")
    assert server.unread == 2  # each attempt's PUT, cut off once it stopped moving
