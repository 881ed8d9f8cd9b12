"""The health board of a running ``callcenter serve`` (web app, FastAGI, ARI app on the ARI simulator): green
when everything is, red when the ARI websocket is cut or the recordings disk is below its floor, and what the
page, ``/api/health``, ``/readyz`` and ``callcenter health`` say about it (R-119)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from callcenter.calls.agents import AgentState
from callcenter.cli import main as cli_main
from callcenter.cli.serve import Service, start_service
from callcenter.config import Settings
from callcenter.health.secret import HEADER, health_token
from callcenter.sim.ari import AriSimulator
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.ari import AriClient, Backoff

JOBS = ("overdue-orders", "recordings-sweeper")


@contextlib.asynccontextmanager
async def serving(settings: Settings, *, min_free_bytes: int = 1) -> AsyncIterator[tuple[Service, AriServer]]:
    """The service with FastAGI and ARI (the simulator as its Asterisk) on free loopback ports."""
    sim = AriSimulator(clock=ScaledClock(0.05), username=settings.telephony.ari_username,
                       password=settings.telephony.ari_password)
    server = await AriServer(sim).start()
    t = replace(settings.telephony, ari_url=server.ari_url, agi_port=0)
    settings = replace(settings, telephony=t, web=replace(settings.web, port=0),
                       recordings=replace(settings.recordings, min_free_bytes=min_free_bytes))
    client = AriClient(t.ari_url, t.ari_username, t.ari_password, t.ari_app,
                       backoff=Backoff(first=0.01, cap=0.05, jitter=0.0), request_timeout=3.0)
    service = await start_service(settings, agi=True, ari=True, ari_client=client, reports=False)
    try:
        await service.pool.set_state("agent1", AgentState.READY)
        await until(lambda: all(service.health.registry.jobs[j].runs for j in JOBS)
                    and service.health.agi.server is not None)
        yield service, server
    finally:
        await service.stop()
        await server.stop()


async def until(condition: Any, seconds: float = 10.0) -> None:
    """Wait for a state reached by other tasks (worker threads, sockets); fails after ``seconds``."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached within {seconds} s")


async def board(service: Service) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{service.url}/api/health",
                           headers={HEADER: health_token(service.settings.web.secret_key)})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def readyz(service: Service) -> int:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{service.url}/readyz")
    assert r.text in ("ready", "not ready")  # nothing more is revealed
    return r.status_code


def statuses(state: dict[str, Any]) -> dict[str, str]:
    return {c["name"].split(" (")[0] if c["name"].startswith("ARI") else c["name"]: c["status"]
            for c in state["components"]}


async def health_cli(service: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                     *extra: str) -> tuple[int, str]:
    """``callcenter health`` as the operator runs it (its own process's settings from the environment)."""
    s = service.settings
    for key, value in {"DATABASE__URL": s.database.url, "RECORDINGS__ROOT": str(s.recordings.root),
                       "RECORDINGS__MIN_FREE_BYTES": str(s.recordings.min_free_bytes),
                       "WEB__SECRET_KEY": s.web.secret_key, "WEB__PORT": str(service.web_port)}.items():
        monkeypatch.setenv(f"CALLCENTER_{key}", value)
    capsys.readouterr()
    code = await asyncio.to_thread(cli_main, ["health", *extra])  # the service answers on this loop meanwhile
    return code, capsys.readouterr().out


async def test_everything_green_is_ready_and_exits_0(web_settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(web_settings) as (service, _server):
        state = await board(service)
        assert state["status"] == "green" and state["ready"], state
        names = statuses(state)
        assert {"ARI 127.0.0.1:" + str(_server.port), "FastAGI", "坐席 agent seats", "录音存储 recordings disk",
                "通话时间线 timeline flusher", "数据库 database", "工单超时升级 overdue-orders",
                "录音保留清理 recordings-sweeper", "每日自检 self-check"} <= set(names) | {
                    n.split(" (")[0] for n in names}
        agi = next(c for c in state["components"] if c["name"] == "FastAGI")
        assert agi["detail"]["port"] == service.health.agi.server.port and agi["detail"]["active"] == 0
        assert await readyz(service) == 200
        code, out = await health_cli(service, monkeypatch, capsys, "--json")
        assert code == 0
        shown = json.loads(out)
        assert shown["status"] == "green" and shown["source"] == "service"
        code, out = await health_cli(service, monkeypatch, capsys)
        assert code == 0 and out.splitlines()[0].startswith("health: green 正常 · ready for calls · service at")
        assert "FastAGI" in out and f"port {service.health.agi.server.port}" in out


async def test_a_cut_ari_websocket_is_red_not_ready_and_exits_1(web_settings: Settings,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(web_settings) as (service, server):
        await server.stop()  # Asterisk is gone: the websocket drops and reconnecting is refused
        await until(lambda: not service.ari.client.connected)
        state = await board(service)
        ari = next(c for c in state["components"] if c["name"].startswith("ARI "))
        assert ari["status"] == "red" and ari["reason"].startswith("events websocket down (since ")
        assert ari["detail"]["lost_at"] is not None and ari["detail"]["connected_at"] is not None
        assert state["status"] == "red" and not state["ready"]
        assert await readyz(service) == 503
        code, out = await health_cli(service, monkeypatch, capsys)
        assert code == 1 and "NOT ready for calls" in out.splitlines()[0]
        assert any(line.startswith("red") and "ARI" in line for line in out.splitlines())


async def test_the_disk_below_its_floor_is_red_and_exits_1_but_calls_are_still_taken(
        web_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    free = shutil.disk_usage(web_settings.recordings.root.parent).free
    async with serving(web_settings, min_free_bytes=free + (1 << 40)) as (service, _server):
        state = await board(service)
        disk = next(c for c in state["components"] if c["name"] == "录音存储 recordings disk")
        assert disk["status"] == "red" and "new recordings are refused" in disk["reason"]
        assert state["status"] == "red" and state["ready"]  # the calls go on; the recordings are refused
        assert await readyz(service) == 200
        code, out = await health_cli(service, monkeypatch, capsys, "--json")
        assert code == 1 and json.loads(out)["status"] == "red"


async def test_health_and_ready_probes_say_nothing_more(web_settings: Settings) -> None:
    async with serving(web_settings) as (service, _server), httpx.AsyncClient() as http:
        alive = await http.get(f"{service.url}/healthz")
        assert alive.status_code == 200 and alive.text == "ok"
        # Without a sign-in or the operator's token the details stay closed.
        assert (await http.get(f"{service.url}/api/health")).status_code == 401
        wrong = await http.get(f"{service.url}/api/health", headers={HEADER: "0" * 64})
        assert wrong.status_code == 403 and "components" not in wrong.text


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


@pytest.mark.parametrize("database", ["ok", "unreachable"])
def test_without_the_service_the_cli_checks_database_and_disk_itself(
        web_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        database: str) -> None:
    url = web_settings.database.url if database == "ok" else "postgresql+psycopg://callcenter:x@127.0.0.1:1/gone"
    for key, value in {"DATABASE__URL": url, "RECORDINGS__ROOT": str(web_settings.recordings.root),
                       "RECORDINGS__MIN_FREE_BYTES": "1", "WEB__SECRET_KEY": web_settings.web.secret_key,
                       "WEB__PORT": str(_closed_port())}.items():
        monkeypatch.setenv(f"CALLCENTER_{key}", value)
    assert cli_main(["health", "--json"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "local" and not shown["ready"]
    found = {c["name"]: c for c in shown["components"]}
    assert found["服务进程 callcenter serve"]["reason"].startswith("callcenter serve does not answer at http://127.0.0.1:")
    assert found["录音存储 recordings disk"]["status"] == "green"
    assert found["数据库 database"]["status"] == ("green" if database == "ok" else "red")


def test_a_bad_timeout_or_a_wrong_key_is_one_line_and_exit_2(web_settings: Settings,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["health", "--timeout", "0"]) == 2
    assert capsys.readouterr().err == "callcenter: error: --timeout: must be positive\n"


async def test_a_service_with_another_key_refuses_the_cli_in_one_line(web_settings: Settings,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(web_settings) as (service, _server):
        monkeypatch.setenv("CALLCENTER_WEB__SECRET_KEY", "another-key-" + "y" * 32)
        monkeypatch.setenv("CALLCENTER_WEB__PORT", str(service.web_port))
        code = await asyncio.to_thread(cli_main, ["health"])
        err = capsys.readouterr().err.splitlines()[-1]  # the service's own log lines come before it
        assert code == 2
        assert err.startswith(f"callcenter: error: the service at http://127.0.0.1:{service.web_port} refused the "
                              "health token")
