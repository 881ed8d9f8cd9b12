"""Several web processes on one PostgreSQL see the whole centre: a call written by one reaches the other's
websocket clients, agent panel and wallboard figures, live (calls.fanout); two real ``callcenter serve``
processes too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.cli.serve import serve_web
from callcenter.config import Settings
from callcenter.web.app import create_app
from callcenter.web.context import WebContext
from callcenter.web.users import add_user

PASSWORD = "correct-horse-1"
WAIT = 20.0  # seconds any one wait may take before the test fails


def _accounts(url: str) -> None:
    add_user(url, "boss", "supervisor", PASSWORD)
    add_user(url, "agent1", "agent", PASSWORD, work_number="8001")


async def sign_in(http: httpx.AsyncClient, base: str, name: str) -> str:
    """Sign in through the form; returns the CSRF token of the signed-in page."""
    token = _csrf((await http.get(f"{base}/login")).text)
    r = await http.post(f"{base}/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return _csrf((await http.get(base + r.headers["location"])).text)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, "no CSRF token"
    return match.group(1)


@contextlib.asynccontextmanager
async def socket_of(http: httpx.AsyncClient, base: str, after: int = 0) -> AsyncIterator[ClientConnection]:
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    url = base.replace("http://", "ws://") + f"/ws?after={after}"
    async with connect(url, additional_headers={"Cookie": cookie}, open_timeout=WAIT) as ws:
        yield ws


async def events_until(ws: ClientConnection, wanted: int) -> list[dict[str, Any]]:
    """The events the socket sends until ``wanted`` of them arrived (the ``live`` marker is skipped)."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while len(got) < wanted:
            message = json.loads(await ws.recv())
            if message["kind"] == "event":
                got.append(message)
    return got


def _call(timeline: Timeline, call_id: str, at: datetime) -> None:
    timeline.append(call_id, ev.CALL_OFFERED, {"caller": "13800138000", "group": "default"}, at=at)
    timeline.append(call_id, ev.QUEUE_ENTERED, {"group": "default"}, at=at, offset=1)
    timeline.append(call_id, ev.AGENT_RINGING, {"agent": "agent1", "ring": 1}, at=at, offset=1)
    timeline.append(call_id, ev.AGENT_ANSWERED, {"agent": "agent1", "rings": 1}, at=at, offset=4)


async def test_a_call_written_by_process_a_reaches_b_s_socket_panel_and_wallboard(
    web_settings: Settings, pg_url: str
) -> None:
    _accounts(pg_url)
    settings = replace(web_settings, database=replace(web_settings.database, url=pg_url))
    a = Timeline(pg_url)
    b = WebContext(settings, Timeline(pg_url))
    server, task, port = await serve_web(create_app(b), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as boss, httpx.AsyncClient() as agent:
            await sign_in(boss, base, "boss")
            await sign_in(agent, base, "agent1")
            before = (await boss.get(f"{base}/api/wallboard")).json()
            async with socket_of(boss, base) as boss_ws, socket_of(agent, base) as agent_ws:
                _call(a, "from-a", datetime.now(UTC) - timedelta(seconds=5))
                await a.flush()
                seen = await events_until(boss_ws, 4)
                # The agent's own call, though process A took it: from the moment it rang their seat.
                mine = await events_until(agent_ws, 2)
            assert [m["type"] for m in seen] == [ev.CALL_OFFERED, ev.QUEUE_ENTERED, ev.AGENT_RINGING,
                                                 ev.AGENT_ANSWERED]
            ids = [m["id"] for m in seen]
            assert ids == sorted(set(ids)) and [m["id"] for m in mine] == ids[2:]
            panel = (await agent.get(f"{base}/api/agent/panel")).json()
            board = (await boss.get(f"{base}/api/wallboard")).json()
            health = (await boss.get(f"{base}/api/health")).json()
            # A page that comes back with its last id gets the next event, written by A, and nothing before.
            async with socket_of(boss, base, after=ids[-1]) as again:
                a.append("from-a", ev.HANGUP, {"by": "caller", "disposition": "normal"}, offset=30)
                await a.flush()
                (hangup,) = await events_until(again, 1)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)
    assert hangup["type"] == ev.HANGUP and hangup["id"] > ids[-1]
    assert json.dumps(panel, ensure_ascii=False).count("from-a") >= 1
    assert board["calls_in_progress"] == before["calls_in_progress"] + 1
    assert board["calls_offered"] == before["calls_offered"] + 1
    (feed,) = [c for c in health["components"] if "centre feed" in c["name"]]
    assert feed["status"] == "green" and feed["detail"]["delivered"] >= ids[-1]


def _serve_env(settings: Settings, tmp: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    return env | {
        "CALLCENTER_DATABASE__URL": url,
        "CALLCENTER_WEB__SECRET_KEY": settings.web.secret_key,
        "CALLCENTER_WEB__SECRET_FILE": str(tmp / "web-secret"),
        "CALLCENTER_RECORDINGS__ROOT": str(tmp / "recordings"),
        "CALLCENTER_METRICS__REPORTS_DIRECTORY": str(tmp / "reports"),
        "CALLCENTER_SCRIPTS__RENDERED_AUDIO_DIRECTORY": str(settings.scripts.rendered_audio_directory),
        "CALLCENTER_SERVICE__LOG_LEVEL": "warning",
    }


@contextlib.asynccontextmanager
async def serve_process(env: dict[str, str]) -> AsyncIterator[str]:
    """A real ``callcenter serve --no-agi`` on a free port; yields its web address, stops it with SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "serve", "--no-agi", "--host", "127.0.0.1", "--port", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        output: list[str] = []
        async with asyncio.timeout(60):
            while not (found := re.search(r"web pages at (http://\S+)", "".join(output))):
                line = (await proc.stdout.readline()).decode()
                assert line, "serve stopped while starting:\n" + "".join(output)
                output.append(line)
        yield found.group(1)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.communicate(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_two_serve_processes_a_work_order_opened_on_a_reaches_a_page_signed_in_on_b(
    web_settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    _accounts(pg_url)
    env = _serve_env(web_settings, tmp_path, pg_url)
    writer = Timeline(pg_url)  # the telephony side: a call answered by agent1
    async with serve_process(env) as a, serve_process(env) as b, \
            httpx.AsyncClient() as agent, httpx.AsyncClient() as boss:
        token = await sign_in(agent, a, "agent1")
        await sign_in(boss, b, "boss")
        async with socket_of(boss, b) as ws, socket_of(agent, a) as agent_ws:
            _call(writer, "two-processes", datetime.now(UTC) - timedelta(seconds=5))
            await writer.flush()
            assert len(await events_until(ws, 4)) == 4
            # Process A learned of the call from the same stream (its board, fed before its sockets send,
            # lets agent1 open an order for it) …
            assert [m["type"] for m in await events_until(agent_ws, 2)] == [ev.AGENT_RINGING, ev.AGENT_ANSWERED]
            assert "two-processes" in (await agent.get(f"{a}/api/agent/panel")).text
            r = await agent.post(f"{a}/api/workorders", headers={"X-CSRF-Token": token},
                                 json={"call_id": "two-processes", "category": "complaint", "summary": "水费多收"})
            assert r.status_code == 201, r.text
            # … and the order's timeline event, written by process A, reaches the page on process B.
            (created,) = await events_until(ws, 1)
    assert created["type"] == ev.WORK_ORDER_CREATED and created["call_id"] == "two-processes"
    assert created["data"]["number"] == r.json()["number"]
