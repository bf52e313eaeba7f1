"""HostState: what a run learns about one registry host, kept in one place (DESIGN: "one per-host
capability record"), so each quirk's handling lives beside the others."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from relocator.auth import Challenge, Credential
from relocator.registry.retry import HostHealth
from relocator.registry.throttle import HostLimit

__all__ = ["HostState"]


@dataclass(slots=True)
class HostState:
    """What this run has learned about one registry host: the per-host capability record."""

    health: HostHealth
    limit: HostLimit  # requests in flight, lowered while the host throttles
    base_url: str = ""
    challenge: Challenge | None = None
    credential: Credential | None = None
    paused_until: float = 0.0
    mount_works: bool | None = None
    chunk_min: int = 0
    # Referrers (distribution-spec 1.1): whether GET /referrers/ is served (None: not asked yet),
    # and whether the last manifest PUT with a subject was answered with OCI-Subject.
    referrers_api: bool | None = None
    subject_acknowledged: bool | None = None
    referrers_probe: asyncio.Lock = field(default_factory=asyncio.Lock)  # the first lookup goes alone
    warned: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
