"""The ARI connection: one events websocket, REST over it on Asterisk that supports it, HTTP otherwise.

Why the order of things matters (docs/design.md "Asterisk facts"): ``Stasis(app)`` fails a call when no websocket
for ``app`` is connected, so :meth:`AriClient.run` connects the websocket first and only then reports the
client ready. REST requests travel over that same websocket (``RESTRequest`` → ``RESTResponse``, uri relative
to /ari/) when ``GET /asterisk/info`` reports a version that has it (20.14+, 21.9+, 22.4+, 23+:
docs.asterisk.org "ARI REST over WebSocket"), else over HTTP with basic auth (httpx).

When the websocket drops (network, ARI reload, Asterisk restart) the client reconnects with exponential
backoff and calls ``on_connected(reconnected=True)`` so the service can reconcile its calls with
``GET /channels`` and ``GET /bridges``. Requests in flight on the lost websocket fail with
:class:`AriConnectionLost` (they may have run: the caller decides, never a blind retry that could play a prompt
twice); requests made while no websocket is up go over HTTP, retried until ``request_timeout``.

The transport is pluggable (docs/design.md, Habits, like ``httpx.MockTransport``): ``link_factory`` returns any object
with the ``send``/``recv``/``close`` coroutines of a ``websockets`` client connection — a real socket in
production and end-to-end tests, :class:`callcenter.sim.ari.LocalLink` in unit tests.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import json
import random
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx
import websockets

from callcenter.logs import get_logger
from callcenter.telephony.ari.errors import AriConnectionLost, AriRequestError, AriUnavailable

log = get_logger(__name__)

Json = dict[str, Any]


class Link(Protocol):
    """A text-frame duplex: the subset of ``websockets.asyncio.client.ClientConnection`` the client uses."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...


LinkFactory = Callable[[], Awaitable[Link]]
EventHandler = Callable[[Json], None]
ConnectedHandler = Callable[[bool], Awaitable[None]]

# Versions whose ARI accepts REST requests over the events websocket (asterisk.org, "ARI REST Requests over
# Websocket": 20.14.0, 21.9.0 and 22.4.0; every later major has it).
_REST_OVER_WS_SINCE = {20: (20, 14), 21: (21, 9), 22: (22, 4)}
_VERSION = re.compile(r"(\d+)\.(\d+)")
# One encoder for every frame: json.dumps with any non-default option builds a new JSONEncoder per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode


def supports_rest_over_websocket(version: str) -> bool:
    """True for an Asterisk version string (``22.10.1``, ``certified-20.7-cert5``) that has REST over ws."""
    m = _VERSION.search(version)
    if not m:
        return False
    major, minor = int(m.group(1)), int(m.group(2))
    if major > 22:
        return True
    since = _REST_OVER_WS_SINCE.get(major)
    return since is not None and (major, minor) >= since


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``first`` doubling up to ``cap`` seconds, with ±``jitter`` so a fleet spreads out."""

    first: float = 0.1
    cap: float = 5.0
    jitter: float = 0.2

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay * (1 + random.uniform(-self.jitter, self.jitter))
            delay = min(self.cap, delay * 2)


class AriClient:
    """One Stasis application's connection to Asterisk."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        app: str,
        *,
        link_factory: LinkFactory | None = None,
        http: httpx.AsyncClient | None = None,
        use_http: bool = True,
        rest_over_websocket: bool | None = None,
        backoff: Backoff | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.app = app
        self._auth = (username, password)
        self._link_factory = link_factory or self._connect_websocket
        self._http = http if http is not None else (httpx.AsyncClient(auth=self._auth) if use_http else None)
        self._own_http = http is None and use_http
        self._forced_mode = rest_over_websocket
        self.rest_over_websocket = rest_over_websocket
        self.backoff = backoff or Backoff()
        self.request_timeout = request_timeout
        self.on_event: EventHandler = lambda _event: None
        self.on_connected: ConnectedHandler | None = None
        self.asterisk_version: str | None = None
        self.connections = 0
        # When the websocket last came up and last went down (the health board, R-119); wall-clock UTC.
        self.connected_at: datetime | None = None
        self.lost_at: datetime | None = None
        self._link: Link | None = None
        self._connected = asyncio.Event()
        self._pending: dict[str, asyncio.Future[Json]] = {}
        # Request deadlines in send order (all share request_timeout, so the first is the nearest): one
        # watchdog timer for all of them instead of a timeout context and a timer per request.
        self._deadlines: collections.deque[tuple[float, str]] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._ids = itertools.count(1)
        self._closing = False

    # ------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        return self._link is not None

    async def _connect_websocket(self) -> Link:
        ws_url = re.sub(r"^http", "ws", self.url) + "/events?" + urlencode({"app": self.app, "subscribeAll": "false"})
        token = base64.b64encode(f"{self._auth[0]}:{self._auth[1]}".encode()).decode()
        # compression=None: Asterisk's websocket server has no permessage-deflate; offering it costs CPU for nothing.
        return await websockets.connect(
            ws_url, additional_headers={"Authorization": f"Basic {token}"}, ping_interval=20, max_size=2**22,
            compression=None,
        )

    async def wait_connected(self) -> None:
        """Return once the websocket is up and the REST mode known (wrap in ``asyncio.timeout``)."""
        await self._connected.wait()

    async def run(self) -> None:
        """Connect, read events until the websocket drops, reconnect with backoff; forever (cancel to stop)."""
        delays = self.backoff.delays()
        if self._own_http and (self._http is None or self._http.is_closed):
            # Run again after an earlier run ended (a process that lost a server's lock and took it back).
            self._http = httpx.AsyncClient(auth=self._auth)
        try:
            while not self._closing:
                try:
                    link = await self._link_factory()
                except (OSError, websockets.exceptions.WebSocketException, ConnectionError) as exc:
                    delay = next(delays)
                    log.warning("ari websocket connect failed", app=self.app, error=str(exc), retry_in=round(delay, 2))
                    await asyncio.sleep(delay)
                    continue
                if await self._serve(link):
                    delays = self.backoff.delays()
                else:
                    await asyncio.sleep(next(delays))
        finally:
            await self._teardown()

    async def _serve(self, link: Link) -> bool:
        """Use one websocket until it drops; False when it dropped before the client was ready."""
        self._link = link
        ready = False
        reconnected = self.connections > 0
        self.connections += 1
        reader = asyncio.create_task(self._read(link))
        try:
            await self._learn_version()
            self._connected.set()
            self.connected_at = datetime.now(UTC)
            ready = True
            log.info("ari websocket connected", app=self.app, reconnected=reconnected,
                     rest_over_websocket=self.rest_over_websocket, version=self.asterisk_version)
            if self.on_connected is not None:
                await self.on_connected(reconnected)
            await reader
        except (AriUnavailable, AriConnectionLost, AriRequestError) as exc:
            log.warning("ari connection setup failed", app=self.app, error=str(exc))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self._lost(link)
        return ready

    async def _learn_version(self) -> None:
        """Ask ``GET /asterisk/info`` (over HTTP when there is an HTTP side) on every connect: the Asterisk
        that comes back after a restart may be another version."""
        if self._http is None:
            # No HTTP side (in-process link): the peer is the simulator speaking REST over the websocket.
            self.rest_over_websocket = True
        info = await self.request("GET", "asterisk/info", {"only": "system"}, via_http=self._http is not None)
        self.asterisk_version = str((info or {}).get("system", {}).get("version", ""))
        if self._forced_mode is not None:
            self.rest_over_websocket = self._forced_mode
        elif self._http is not None:
            self.rest_over_websocket = supports_rest_over_websocket(self.asterisk_version)

    async def _read(self, link: Link) -> None:
        while True:
            try:
                text = await link.recv()
            except (ConnectionError, websockets.exceptions.ConnectionClosed):
                return
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                log.warning("ari sent a frame that is not JSON", app=self.app)
                continue
            if not isinstance(message, dict):
                continue
            if message.get("type") == "RESTResponse":
                future = self._pending.pop(str(message.get("request_id")), None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            try:
                self.on_event(message)
            except Exception:  # one bad handler must not kill the connection of every call
                log.exception("ari event handler failed", event=message.get("type"))

    def _lost(self, link: Link) -> None:
        if self._link is link:
            self._link = None
            self._connected.clear()
            self.lost_at = datetime.now(UTC)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AriConnectionLost("the ARI websocket closed before the response arrived"))
        self._pending.clear()
        if not self._closing:
            log.warning("ari websocket lost", app=self.app)

    async def drop(self) -> None:
        """Close the current websocket (tests, and a deliberate failover); :meth:`run` reconnects."""
        if self._link is not None:
            with contextlib.suppress(Exception):
                await self._link.close()

    async def close(self) -> None:
        self._closing = True
        await self._teardown()

    async def _teardown(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._deadlines.clear()
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await link.close()
        if self._own_http and self._http is not None:
            await self._http.aclose()

    # ------------------------------------------------------------------ REST

    async def request(
        self,
        method: str,
        uri: str,
        query: Mapping[str, Any] | None = None,
        body: Json | None = None,
        *,
        via_http: bool = False,
    ) -> Any:
        """One ARI REST request; ``uri`` is relative to /ari (``channels/<id>/answer``). Returns the decoded
        JSON body (None for 204); raises :class:`AriRequestError` for an error status."""
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        link = self._link
        if link is not None and self.rest_over_websocket and not via_http:
            return await self._request_ws(link, method, uri, params, body)
        return await self._request_http(method, uri, params, body)

    async def _request_ws(self, link: Link, method: str, uri: str, params: dict[str, str], body: Json | None) -> Any:
        request_id = f"r{next(self._ids)}"
        frame: Json = {"type": "RESTRequest", "transaction_id": request_id, "request_id": request_id,
                       "method": method, "uri": uri}
        if params:
            frame["query_strings"] = [{"name": k, "value": v} for k, v in params.items()]
        if body is not None:
            frame["content_type"] = "application/json"
            frame["message_body"] = _encode(body)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Json] = loop.create_future()
        self._pending[request_id] = future
        self._deadlines.append((loop.time() + self.request_timeout, request_id))
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._deadlines[0][0], self._expire_requests)
        try:
            await link.send(_encode(frame))
        except (ConnectionError, websockets.exceptions.ConnectionClosed) as exc:
            self._pending.pop(request_id, None)
            raise AriConnectionLost(f"ARI {method} {uri}: websocket closed while sending") from exc
        try:
            response = await future
        except _NoResponse:
            raise AriUnavailable(f"ARI {method} {uri}: no RESTResponse within {self.request_timeout:g} s") from None
        status = int(response.get("status_code", 0))
        text = response.get("message_body") or ""
        payload = json.loads(text) if text else None
        if status >= 400:
            message = payload.get("message", "") if isinstance(payload, dict) else str(response.get("reason_phrase"))
            raise AriRequestError(method, uri, status, message)
        return payload

    def _expire_requests(self) -> None:
        """The watchdog: fail every request still unanswered at its deadline, then wait for the next one."""
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, request_id = deadlines.popleft()
            future = self._pending.pop(request_id, None)  # answered ones are gone from _pending already
            if future is not None and not future.done():
                future.set_exception(_NoResponse())
        if deadlines:
            self._watchdog = loop.call_at(deadlines[0][0], self._expire_requests)

    async def _request_http(self, method: str, uri: str, params: dict[str, str], body: Json | None) -> Any:
        if self._http is None:
            await self._wait_for_link(method, uri)
            assert self._link is not None
            return await self._request_ws(self._link, method, uri, params, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        delays = self.backoff.delays()
        while True:
            try:
                response = await self._http.request(method, f"{self.url}/{uri}", params=params, json=body,
                                                    timeout=self.request_timeout)
            except httpx.TransportError as exc:
                error: str = str(exc) or type(exc).__name__
            else:
                if response.status_code != 503:
                    return _decode_http(method, uri, response)
                error = "503 Service Unavailable"
            delay = next(delays)
            if loop.time() + delay > deadline:
                raise AriUnavailable(f"ARI {method} {uri}: Asterisk unreachable ({error})")
            await asyncio.sleep(delay)

    async def _wait_for_link(self, method: str, uri: str) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), self.request_timeout)
        except TimeoutError:
            raise AriUnavailable(f"ARI {method} {uri}: no websocket within {self.request_timeout:g} s") from None


class _NoResponse(Exception):
    """A websocket request's deadline passed (the watchdog's signal to the waiting request)."""


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _decode_http(method: str, uri: str, response: httpx.Response) -> Any:
    payload = response.json() if response.content else None
    if response.status_code >= 400:
        message = payload.get("message", "") if isinstance(payload, dict) else response.reason_phrase
        raise AriRequestError(method, uri, response.status_code, message)
    return payload


_PLAIN_SEGMENT = re.compile(r"^[A-Za-z0-9_.~-]+$")


def path_id(value: str) -> str:
    """A channel, bridge or playback id as one URI path segment (Asterisk ids are plain: no quoting cost)."""
    return value if _PLAIN_SEGMENT.match(value) else quote(value, safe="")
