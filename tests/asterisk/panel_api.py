"""The panel's HTTP API as the real-Asterisk tests drive it: an account signed in, a call found on the wallboard."""

from __future__ import annotations

import re
import time

import httpx

from tests.asterisk.conftest import AGENT_PASSWORD

_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def signed_in(web: str, name: str, timeout: float = 30.0) -> tuple[httpx.Client, str]:
    """A client signed in as ``name`` and the CSRF token its posts carry."""
    client = httpx.Client(base_url=web, timeout=timeout, follow_redirects=True)
    token = _CSRF.search(client.get("/login").text)
    assert token, "no CSRF token on /login"
    r = client.post("/login", data={"name": name, "password": AGENT_PASSWORD, "csrf_token": token.group(1)})
    session = _CSRF.search(r.text)
    assert session, f"{name} could not sign in: {r.status_code}"
    return client, session.group(1)


def monitorable_call(client: httpx.Client, timeout: float = 40.0) -> str:
    """The newest call on the wallboard with an agent on the line (a supervisor's client)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = [c for c in client.get("/api/wallboard").json()["live_calls"] if c["monitorable"]]
        if calls:
            return str(calls[-1]["call_id"])
        time.sleep(0.2)
    raise AssertionError("no call with an agent on the line appeared on the wallboard")
