"""Registry answers and aiohttp failures as relocator errors, in one place; URL redaction."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from relocator.errors import AuthError, NotFound, RateLimited, RegistryError, RelocatorError, TransportError
from relocator.registry.bodies import read_body
from relocator.registry.retry import retry_after, temporary_status
from relocator.registry.stalls import SpeedFloor

__all__ = ["error_from", "redact_url", "translate_errors"]

_KEEP_QUERY = {"digest", "mount", "from", "n", "last", "service", "scope", "artifactType"}
_MAX_ERROR_BODY = 64 * 1024


def redact_url(url: str) -> str:
    """The URL without userinfo and without query values that may carry state or secrets."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = "&".join(
        f"{k}={v if k in _KEEP_QUERY else '<redacted>'}"
        for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


async def error_from(
    resp: aiohttp.ClientResponse, method: str, url: str, host: str, floor: SpeedFloor
) -> RegistryError:
    """Decode the registry's JSON error body (bounded, read under ``floor``) into a typed exception;
    a body that cannot be read in time leaves the status alone to speak."""
    try:
        raw = await read_body(resp, _MAX_ERROR_BODY, floor) or b""
    except (TimeoutError, aiohttp.ClientError, TransportError):
        raw = b""
    finally:
        resp.release()
    codes, detail = _parse_error_body(raw)
    status = resp.status
    where = f"{method} {redact_url(url)}"
    text = f"{host}: {status} {resp.reason or ''}".rstrip()
    if codes:
        text += f" ({', '.join(codes)})"
    if detail:
        text += f": {detail}"
    text += f" [{where}]"
    kw: dict[str, Any] = {"codes": codes, "method": method, "url": redact_url(url)}
    if status == 429:
        return RateLimited(text, retry_after=retry_after(status, resp.headers.get("Retry-After")), **kw)
    if status in (401, 403):
        return AuthError(text, status=status, **kw)
    if status == 404:
        return NotFound(text, status=status, **kw)
    return RegistryError(text, status=status, temporary=temporary_status(status), **kw)


def _parse_error_body(raw: bytes) -> tuple[tuple[str, ...], str]:
    try:
        doc = json.loads(raw)
        errors = doc.get("errors") or []
        codes = tuple(str(e.get("code", "")) for e in errors if isinstance(e, dict))
        messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
        return codes, "; ".join(m for m in messages if m)
    except (ValueError, AttributeError):
        text = raw.decode("utf-8", "replace").strip().splitlines()
        return (), (text[0][:200] if text else "")


def _without_url(exc: BaseException) -> str:
    # str() of these names the full URL, query and all (a presigned redirect, an upload's state).
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{exc.status}, message={exc.message!r}"
    if isinstance(exc, aiohttp.InvalidURL):
        text = redact_url(str(exc.url))
        return f"{text} - {exc.description}" if exc.description else text
    return str(exc)


@contextmanager
def translate_errors(method: str, url: str, host: str, *, no_answer: bool = False) -> Iterator[None]:
    """Map aiohttp and OS errors to TransportError (its ``host`` set), in this one place.

    ``no_answer``: the code inside sends a request and returns at its response head, so a
    connection error there means the host gave no answer (TransportError.no_answer), what its
    circuit breaker counts. TLS errors, redirect loops and a body's own errors are not that.
    """
    where = f"{method} {redact_url(url)}"
    try:
        yield
    except aiohttp.ClientConnectorCertificateError as exc:
        err = TransportError(
            f"{host}: TLS certificate not trusted ({exc.certificate_error}); "
            f"pass --registry-ca-cert-path [{where}]", host=host,
        )
        err.temporary = False
        raise err from None
    except (aiohttp.ClientConnectorSSLError, aiohttp.ClientSSLError) as exc:
        err = TransportError(f"{host}: TLS handshake failed ({exc}) [{where}]", host=host)
        err.temporary = False
        err.tls_protocol = True
        raise err from None
    except aiohttp.ClientConnectorError as exc:
        # The loops put their own words in strerror ("Connect call failed ('10.0.0.1', 443)").
        # A name lookup's gaierror carries a negative EAI_* code, which os.strerror does not know
        # ("Unknown error -2"): its own strerror ("Name or service not known") is the reason.
        os_error = exc.os_error
        if isinstance(os_error, socket.gaierror):
            why = f"cannot resolve the host name: {os_error.strerror or exc}"
        else:
            why = os.strerror(os_error.errno) if os_error.errno else (os_error.strerror or str(exc))
        raise TransportError(f"{host}: cannot connect ({why}) [{where}]",
                             host=host, no_answer=no_answer) from None
    except aiohttp.ConnectionTimeoutError:
        # sock_connect: the TCP connect and the TLS handshake (Settings.connect_timeout).
        raise TransportError(f"{host}: timed out connecting (--connect-timeout) [{where}]", host=host,
                             no_answer=no_answer) from None
    except aiohttp.SocketTimeoutError:
        # sock_read: no response head, or a pause in the body, for Settings.read_timeout.
        raise TransportError(f"{host}: timed out waiting for data (--read-timeout) [{where}]",
                             host=host, no_answer=no_answer) from None
    except (aiohttp.ClientError, OSError) as exc:
        if isinstance(exc, aiohttp.ClientError) and isinstance(exc.__cause__, RelocatorError):
            # A streamed request body failed reading its own source (a source registry's 404, a
            # corrupt tar member): aiohttp reports that as this connection failing, with the body's
            # error as the cause. It is the source's error, not this host's: raise it as it was
            # (its own ``temporary`` says whether reopening the source may help).
            raise exc.__cause__ from None
        answered = isinstance(exc, aiohttp.ClientResponseError)  # too many redirects, say
        raise TransportError(
            f"{host}: connection failed ({type(exc).__name__}: {_without_url(exc)}) [{where}]", host=host,
            no_answer=no_answer and not answered,
        ) from None
    except TimeoutError:
        raise TransportError(f"{host}: timed out [{where}]", host=host, no_answer=no_answer) from None
