"""The people of the scale test: pages following the centre over ``/ws`` and agents who take their calls.

A :class:`Panel` is one signed-in page's websocket. It keeps every event it is sent, with its id; when its
process dies it comes back on another live process with ``?after=<last id it saw>``, as the page's script does,
so the checks can prove the replay-then-live guarantee across processes (no loss, no repeat, id order).

An :class:`AgentBot` plays one agent: their phone (a ``SimAgent`` on both simulated Asterisk servers) answers
by itself; when the phone hangs up (the simulator says the agent's channel is gone) the agent does after-call
work for a while and presses 就绪 (ready) on the panel, as a person would. Nothing else sets an agent free: a
seat held by a killed process must be released by the centre itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from itsdangerous import TimestampSigner
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from callcenter.sim.clock import ScaledClock

WAIT = 20.0  # real seconds any one HTTP exchange or websocket opening may take
SESSION_COOKIE = "callcenter_session"  # callcenter.web.app's SessionMiddleware
READY_TRIES = 40  # an agent presses ready at most this often after one call (refused while the seat is busy)


async def sign_in(http: httpx.AsyncClient, base: str, name: str, password: str) -> str:
    """Sign in through the form; returns the CSRF token (the session cookie works on every process: one
    shared secret)."""
    token = _csrf((await http.get(f"{base}/login")).text)
    r = await http.post(f"{base}/login", data={"name": name, "password": password, "csrf_token": token})
    assert r.status_code == 303, f"{name} could not sign in: {r.status_code} {r.text[:300]}"
    return _csrf((await http.get(base + r.headers["location"])).text)


def signed_session(http: httpx.AsyncClient, secret: str, user_id: int, role: str) -> str:
    """The session the sign-in form sets (user, role, CSRF token), signed with the centre's secret as the
    session middleware signs it; returns the CSRF token. Forty argon2 sign-ins would cost the loaded test machine
    more than half a minute (slow on purpose); the form itself is exercised by the supervisor's and one agent's."""
    csrf = secrets.token_urlsafe(32)
    payload = base64.b64encode(json.dumps({"user_id": user_id, "role": role, "csrf": csrf}).encode())
    http.cookies.set(SESSION_COOKIE, TimestampSigner(secret).sign(payload).decode())
    return csrf


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@dataclass
class Panel:
    """One page's websocket: every event it was sent, and every (re)connection it made."""

    name: str
    http: httpx.AsyncClient
    pick: Callable[[str | None], str]  # the process URL to (re)connect to, given the one that just failed
    events: list[dict[str, Any]] = field(default_factory=list)
    connections: list[tuple[str, int]] = field(default_factory=list)  # (process URL, after)
    last: int = 0
    on_event: Callable[[dict[str, Any]], None] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, start_url: str) -> None:
        """Follow the centre until cancelled; on a lost process, resume on another one."""
        url: str | None = start_url
        while True:
            assert url is not None
            cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
            ws_url = url.replace("http://", "ws://") + f"/ws?after={self.last}"
            self.connections.append((url, self.last))
            try:
                async with connect(ws_url, additional_headers={"Cookie": cookie}, open_timeout=WAIT,
                                   max_queue=None, ping_interval=None, compression=None) as ws:
                    self.connected.set()
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("kind") != "event":
                            continue
                        self.events.append(message)
                        self.last = max(self.last, int(message["id"]))
                        if self.on_event is not None:
                            self.on_event(message)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass
            url = self.pick(url)


@dataclass
class AgentBot:
    """One agent: signed in, ready, and back to ready after each call's wrap-up."""

    name: str
    work_number: str
    http: httpx.AsyncClient
    csrf: str
    clock: ScaledClock
    wrap_up: float  # simulated seconds of after-call work
    pick: Callable[[], str]  # a live process URL for the panel's buttons
    readies: int = 0
    refusals: list[str] = field(default_factory=list)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        return f"PJSIP/{self.work_number}"

    async def set_state(self, state: str, url: str | None = None) -> httpx.Response:
        return await self.http.post(f"{url or self.pick()}/api/agent/state", json={"state": state},
                                    headers={"X-CSRF-Token": self.csrf}, timeout=WAIT)

    def phone_hung_up(self) -> None:
        """The agent's phone is on the hook again: after-call work, then ready (simulated seconds)."""
        task = asyncio.create_task(self._back_to_ready())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _back_to_ready(self) -> None:
        for _ in range(READY_TRIES):
            await self.clock.sleep(self.wrap_up)
            with contextlib.suppress(httpx.TransportError):  # the process just died: the next try goes elsewhere
                r = await self.set_state("ready")
                if r.status_code == 200:
                    self.readies += 1
                    return
                self.refusals.append(f"{r.status_code} {r.text[:200]}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
