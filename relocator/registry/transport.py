"""send(): auth (authorize.py), retries (the policy lives in retry.py), the per-host 429 pause,
circuit breaker and adaptive in-flight limit (throttle.py), timeouts on every phase of a request
(stalls.py), error mapping."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from relocator.auth import CredentialStore
from relocator.config import Settings
from relocator.errors import AuthError, RateLimited, RegistryError, RelocatorError, TransportError
from relocator.oci.reference import hub_api_host
from relocator.registry.authorize import Authorizer, same_origin
from relocator.registry.bodies import RequestBody, read_body
from relocator.registry.errormap import error_from, redact_url, translate_errors
from relocator.registry.hosts import HostState
from relocator.registry.realm import who
from relocator.registry.retry import HostHealth, Retrier, Sleep, retry_after
from relocator.registry.stalls import SendWatch, SpeedFloor, answer_timeout, pieces
from relocator.registry.throttle import HostLimit, Ticket

__all__ = ["Body", "HostState", "Transport"]

log = logging.getLogger(__name__)

# A body is bytes, or a factory that opens a fresh stream: a retry must reopen the source.
Body = bytes | Callable[[], AsyncIterator[bytes]] | None

_LARGE_BODY = 1 << 20
_MAX_PING_BODY = 64 * 1024


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Transport:
    """Sends registry requests with auth and retries; the only place that maps aiohttp errors."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: Settings, credentials: CredentialStore,
        *, sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.session = session
        self.sleep = sleep  # every wait of a retry or a host's pause, in seconds; tests record it
        self.settings = settings
        self.auth = Authorizer(session, settings, credentials)
        self._hosts: dict[str, HostState] = {}

    def host(self, host: str) -> HostState:
        """The capability record of ``host``."""
        state = self._hosts.get(host)
        if state is None:
            # The ceiling is the connection pool's per-host size (session.py).
            ceiling = self.settings.limits.concurrency + 4
            state = self._hosts[host] = HostState(HostHealth(host), HostLimit(host, ceiling))
        return state

    def retrier(self, host: str) -> Retrier:
        """A Retrier for an operation that owns its tries of ``host``: it trips, and stops at,
        the host's circuit breaker, retries an eased answer free up to the host limit's
        ``halvings``, and leaves a 429's Retry-After to the host's pause (waited in ``_send``)."""
        state = self.host(host)
        return Retrier(self.settings.retry, host, free_retries=state.limit.halvings,
                       health=state.health, host_pause=True, sleep=self.sleep)

    async def base_url(self, host: str) -> str:
        """``https://host`` or ``http://host``, decided once per host by pinging /v2/.

        The ping is retried; the other requests to the host wait for it, so a host that does
        not answer costs one ping's attempts, after which they all raise HostDown at once.
        """
        state = self.host(host)
        async with state.lock:
            state.health.check()
            retrier = self.retrier(host)
            while not state.base_url:
                try:
                    await self._ping(host, state)
                except RelocatorError as exc:
                    await retrier.wait_or_raise(exc)
        return state.base_url

    async def _ping(self, host: str, state: HostState) -> None:
        # 1. Try HTTPS. 2. Loopback and --registry-insecure hosts fall back to plain HTTP
        #    when the server does not speak TLS (never when a certificate is refused).
        # 3. Keep the challenge /v2/ answers so later requests authenticate up front.
        network = hub_api_host(host)
        allow_http = _is_loopback(host) or self.settings.tls.allows_plain_http(host)
        schemes = ("https", "http") if allow_http else ("https",)
        for scheme in schemes:
            url = f"{scheme}://{network}/v2/"
            try:
                with translate_errors("GET", url, host, no_answer=True):
                    async with self.session.get(url, allow_redirects=False) as resp:
                        # Drained, so the connection is reused.
                        await read_body(resp, _MAX_PING_BODY, SpeedFloor(host, self.settings))
                        header = resp.headers.get("WWW-Authenticate", "")
            except TransportError as exc:
                if scheme == "https" and allow_http and exc.tls_protocol:
                    continue
                raise
            state.base_url = f"{scheme}://{network}"
            await self.auth.meet(host, state, header)
            return

    async def url(self, host: str, path_or_url: str) -> str:
        """Resolve a path or a (possibly relative) Location against the host's base URL. Raises
        RegistryError when it is no URL at all (a registry's Location of ``http://[x``): the
        value is not echoed, as a Location may carry signed state."""
        try:
            return urljoin(await self.base_url(host) + "/", path_or_url)
        except ValueError:
            raise RegistryError(f"{host}: answered with a Location that is not a URL") from None

    async def owns(self, host: str, path_or_url: str) -> bool:
        """Whether a path or Location is on ``host``'s own origin (scheme, host and port)."""
        return same_origin(await self.url(host, path_or_url), await self.base_url(host))

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        host: str,
        path_or_url: str,
        *,
        scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        body: Body = None,
        ok: tuple[int, ...] = (200,),
        retry: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send with auth and retries; yield the unread response of an ``ok`` status. It holds one
        of the host's slots (throttle.py) until released."""
        resp, ticket, sent = await self._send(method, host, path_or_url, scopes, headers or {}, params,
                                              body, ok, retry)
        try:
            yield resp
        finally:
            resp.release()  # cancels aiohttp's writer task if the body is still going out
            await _closed(sent, self.host(host).limit, ticket)

    async def _send(
        self,
        method: str,
        host: str,
        path_or_url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str],
        params: dict[str, str] | None,
        body: Body,
        ok: tuple[int, ...],
        retry: bool,
    ) -> tuple[aiohttp.ClientResponse, Ticket, RequestBody | None]:
        url = await self.url(host, path_or_url)
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        state = self.host(host)
        own = same_origin(url, state.base_url)
        # retry=False: the caller's loop owns the attempts (and the breaker); this is one try,
        # an eased answer's included: the caller retries it (free, under its own retrier).
        retrier = self.retrier(host) if retry else Retrier(self.settings.retry, host, attempts=1,
                                                           sleep=self.sleep)
        authed_again = False
        while True:
            state.health.check()
            # The slot first, then the host's pause: a 429 may pause the host while this request
            # waits for its slot. Then the credentials, fresh for the moment the request goes.
            ticket = await state.limit.acquire()
            try:
                await self._paused(state)
                # Credentials go to the origin they were issued for and nowhere else: an upload
                # Location may name other storage. aiohttp applies the same rule to redirects.
                auth = await self.auth.header(state, scopes) if own else ""
            except BaseException:
                state.limit.release(ticket)
                raise
            req_headers = dict(headers)
            if auth:
                req_headers["Authorization"] = auth
            # A streamed body is opened afresh for each try and closed when the try ends
            # (RequestBody: aiohttp would leave it, and the source request it may hold, open).
            # Its writer task holds this request's slot: what it opens on the same host (a blob
            # copied within the registry) must not wait for a second one.
            sent = RequestBody(state.limit.lending(body())) if callable(body) else None
            try:
                resp = await self._request(method, url, host, req_headers, sent or _bytes(body))
            except BaseException as exc:
                await _closed(sent, state.limit, ticket)
                if not isinstance(exc, RelocatorError):
                    raise
                await retrier.wait_or_raise(exc)
                continue
            log.debug("%s %s -> %d", method, redact_url(url), resp.status)
            eased = state.limit.answered(ticket, resp.status)
            if resp.status in ok:
                self._warn(state, resp)
                return resp, ticket, sent
            try:
                error = await error_from(resp, method, url, host, SpeedFloor(host, self.settings))
            finally:
                await _closed(sent, state.limit, ticket)
            error.eased = eased
            # Only the registry's own origin may tell us how to authenticate: another host's
            # challenge would send our credentials to a realm of its choosing.
            answered_by_registry = same_origin(resp.url, state.base_url)
            if resp.status == 401 and answered_by_registry and not authed_again:
                header = resp.headers.get("WWW-Authenticate", "")
                if await self.auth.learn(host, state, scopes, header, sent_auth=bool(auth)):
                    authed_again = True
                    continue
            if isinstance(error, RateLimited) and error.retry_after:
                # 429 pauses this host only, not the whole run; the pause is this request's wait
                # too (the retrier's host_pause), so it waits once.
                state.paused_until = max(state.paused_until, time.monotonic() + error.retry_after)
            if isinstance(error, AuthError):
                scope_text = f" for {' '.join(scopes)}" if scopes else ""
                whom = (f"as {who(state.credential)}{scope_text}" if answered_by_registry
                        else f"answered by another host, which is never sent {host}'s credentials")
                raise AuthError(
                    f"{error} ({whom})",
                    status=error.status, codes=error.codes, method=method, url=error.url,
                )
            await retrier.wait_or_raise(error, retry_after(resp.status, resp.headers.get("Retry-After")))

    async def _paused(self, state: HostState) -> None:
        """Wait until the host's 429 pause is over, for as long as 429s answered meanwhile
        extend it (a retry's only wait for a Retry-After: Retrier ``host_pause``)."""
        until = 0.0
        while state.paused_until > until:
            until = state.paused_until
            if (pause := until - time.monotonic()) > 0:
                await self.sleep(pause)

    async def _request(self, method: str, url: str, host: str, headers: dict[str, str],
                       body: RequestBody | bytes | None) -> aiohttp.ClientResponse:
        """One try, returning at the response head: the body watched while it goes out
        (SendWatch), the head awaited for the read timeout, longer after a large body
        (answer_timeout). A failure before the head is a TransportError with ``no_answer``."""
        data: AsyncIterator[bytes] | bytes | None = body
        if isinstance(data, bytes) and len(data) > _LARGE_BODY:
            # aiohttp writes large bytes in one blocking call; slices let the watch see progress.
            headers.setdefault("Content-Length", str(len(data)))
            data = pieces(data)
        length = int(headers.get("Content-Length", "0") or "0")
        # As the session's (total=None: a multi-GB body must not meet a whole-request deadline),
        # but the head may take longer after a large body.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.settings.connect_timeout,
                                        sock_read=answer_timeout(self.settings, length))
        watch = SendWatch(host, self.settings.read_timeout)
        with translate_errors(method, url, host, no_answer=True):
            async with watch.sending():
                return await self.session.request(
                    method, url, headers=headers, allow_redirects=True, timeout=timeout,
                    data=watch.body(data) if data is not None and not isinstance(data, bytes) else data,
                )

    def _warn(self, state: HostState, resp: aiohttp.ClientResponse) -> None:
        for warning in resp.headers.getall("Warning", []):
            if warning not in state.warned:
                state.warned.add(warning)
                log.warning("registry %s says: %s", resp.url.host, warning)


def _bytes(body: Body) -> bytes | None:
    return None if callable(body) else body


async def _closed(sent: RequestBody | None, limit: HostLimit, ticket: Ticket) -> None:
    """End a try whose response is released (aiohttp's writer task cancelled): close its body,
    then give its slot back."""
    try:
        if sent is not None:
            await sent.aclose()
    finally:
        limit.release(ticket)
