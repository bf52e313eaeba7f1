"""Pure parsing of WWW-Authenticate challenges and building of token scopes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Challenge", "parse_challenge", "repository_scope"]

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One auth challenge: ``Basic`` or ``Bearer`` with its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def realm(self) -> str:
        """Where to get a token (Bearer) or the realm's name (Basic)."""
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        """The ``service`` a token is requested for."""
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        """The scope the registry asked for, if it said."""
        return self.params.get("scope", "")


def parse_challenge(header: str) -> Challenge | None:
    """Parse a WWW-Authenticate header; None if it names no scheme we speak."""
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return Challenge(scheme, MappingProxyType(params))


def repository_scope(path: str, actions: tuple[str, ...]) -> str:
    """``repository:PATH:pull,push`` with actions in a stable order."""
    order = ("pull", "push", "delete", "*")
    ordered = sorted(set(actions), key=lambda a: order.index(a) if a in order else len(order))
    return f"repository:{path}:{','.join(ordered)}"
