"""Per-request timings from aiohttp's TraceConfig: pool wait, connect, and time on the wire."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp

__all__ = ["RequestTiming", "Timings"]


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One request: seconds waiting for a pool slot, connecting, and in total."""

    method: str
    queued: float
    connecting: float
    total: float


@dataclass(slots=True)
class Timings:
    """Collects a RequestTiming for every request the session sends."""

    samples: list[RequestTiming] = field(default_factory=list)

    def trace_config(self) -> aiohttp.TraceConfig:
        """A TraceConfig to pass to the session."""
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._start)
        config.on_connection_queued_start.append(self._queued_start)
        config.on_connection_queued_end.append(self._queued_end)
        config.on_connection_create_start.append(self._create_start)
        config.on_connection_create_end.append(self._create_end)
        config.on_request_end.append(self._end)
        config.on_request_exception.append(self._end)
        return config

    def take(self) -> list[RequestTiming]:
        """The samples so far, clearing them."""
        out, self.samples = self.samples, []
        return out

    async def _start(self, _: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        ctx.started, ctx.queued, ctx.connecting = time.perf_counter(), 0.0, 0.0
        ctx.method = params.method

    async def _queued_start(self, _: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        ctx.mark = time.perf_counter()

    async def _queued_end(self, _: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        ctx.queued += time.perf_counter() - ctx.mark

    async def _create_start(self, _: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        ctx.mark = time.perf_counter()

    async def _create_end(self, _: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        ctx.connecting += time.perf_counter() - ctx.mark

    async def _end(self, _: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        if hasattr(ctx, "started"):
            self.samples.append(RequestTiming(ctx.method, ctx.queued, ctx.connecting,
                                              time.perf_counter() - ctx.started))
