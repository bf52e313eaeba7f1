"""registry.errormap: what a failed connection says, for the failures a loopback test cannot cause."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from relocator.errors import TransportError
from relocator.registry.errormap import translate_errors

KEY = ConnectionKey("registry.example", 443, True, True, None, None, None, None)


def test_a_name_that_does_not_resolve_says_so() -> None:
    # A gaierror's errno is a negative EAI_* code: os.strerror(-2) made it "cannot connect (Unknown
    # error -2)", the first thing an offline user saw for docker.io. aiohttp's own exception is
    # raised as its resolver raises it, so no lookup leaves the machine.
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with pytest.raises(TransportError) as caught, translate_errors(
            "GET", "https://registry.example/v2/", "registry.example"):
        raise aiohttp.ClientConnectorDNSError(KEY, lookup)  # type: ignore[arg-type]
    assert str(caught.value) == ("registry.example: cannot connect (cannot resolve the host name: Name or "
                                 "service not known) [GET https://registry.example/v2/]")


def test_a_refused_connection_keeps_its_reason() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    with pytest.raises(TransportError) as caught, translate_errors("GET", "http://127.0.0.1:1/v2/",
                                                                     "127.0.0.1:1"):
        raise aiohttp.ClientConnectorError(KEY, refused)  # type: ignore[arg-type]
    assert str(caught.value) == "127.0.0.1:1: cannot connect (Connection refused) [GET http://127.0.0.1:1/v2/]"
