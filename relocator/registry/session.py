"""The run's one aiohttp ClientSession, configured for multi-GB streams."""

from __future__ import annotations

import ssl

import aiohttp

from relocator.config import Settings, TLSSettings
from relocator.errors import InputError

__all__ = ["make_ssl_context", "open_session"]


def make_ssl_context(tls: TLSSettings) -> ssl.SSLContext | bool:
    """System roots plus the given CA files, or False when verification is off."""
    if not tls.verify:
        return False
    ctx = ssl.create_default_context()
    for path in tls.ca_cert_paths:
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot load CA certificate {path}: {exc}") from None
    return ctx


def open_session(
    settings: Settings, trace_configs: list[aiohttp.TraceConfig] | None = None
) -> aiohttp.ClientSession:
    """A session whose pool, timeouts and decoding suit blob streaming."""
    connector = aiohttp.TCPConnector(
        # Per-host pools are what bounds a registry; the total only guards file handles.
        limit=max(100, settings.limits.concurrency * 4),
        limit_per_host=settings.limits.concurrency + 4,
        ssl=make_ssl_context(settings.tls),
        enable_cleanup_closed=True,
    )
    # total=None: a multi-GB layer must not hit a whole-request deadline.
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,  # blob bytes must stay exactly as stored
        headers={"User-Agent": settings.user_agent},
        trace_configs=trace_configs,
        skip_auto_headers=("Content-Type",),
    )
