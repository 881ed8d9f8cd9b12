"""One run of the scale scenario: the centre started, agents signed in, pages following, the calls placed (and
optionally one process killed half-way), everything ended, and what the checks need gathered in a
:class:`RunResult`. Every wait is bounded in real time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from scale_centre import ARI_APP, PASSWORD, SECRET_KEY, Centre, ServeProcess, agent_names
from scale_checks import read_timeline
from scale_panels import WAIT, AgentBot, Panel, sign_in, signed_session
from scale_traffic import PlannedCall, place_calls, plan_calls, wait_all_ended

from callcenter.calls.timeline import TimelineEvent
from callcenter.sim.ari import SimChannel

SPAN = 120.0  # simulated seconds over which the calls arrive (the "300 calls over 2 minutes")
WRAP_UP = 3.0  # simulated seconds of after-call work before an agent presses ready again
DRAIN_LIMIT = 12.0  # real seconds for the pages to catch up with the database once the calls are over
# Agents whose page follows the websocket, per process (the others only press the panel's buttons): every page
# wakes for every event of the centre, and sixty of them cost the serve processes more than the calls did.
PANELS_PER_PROCESS = 5
ADOPT_LIMIT = 5.0  # real seconds from kill -9 to another process holding a call of the dead one (issue 17)


@dataclass
class RunResult:
    centre: Centre
    placed: dict[str, tuple[PlannedCall, SimChannel]]
    still_up: list[str]
    events: list[TimelineEvent]
    supervisors: list[Panel]
    agents: dict[str, Panel]
    bots: dict[str, AgentBot]
    states: dict[str, str]  # agent → seat state read from a live process once every call was over
    logs: dict[str, list[dict[str, Any]]]
    exit_codes: dict[str, int | None]
    wall: dict[str, float] = field(default_factory=dict)
    killed: ServeProcess | None = None
    kill_id: int = 0  # the largest event id once the killed process was gone
    kill_sim_time: float = 0.0
    adopted: dict[str, float] = field(default_factory=dict)  # call id → real seconds from the kill to its
    # first event written after it, for the dead process's calls still up at the kill
    first_seen: dict[int, float] = field(default_factory=dict)  # event id → monotonic time a page first had it
    killed_wall: datetime | None = None  # UTC time of the kill -9
    live_at_kill: list[str] = field(default_factory=list)  # the killed process's calls whose callers were on
    stop_at: str = ""  # UTC ISO time the processes were told to stop (log lines after it are the shutdown's)


def _picker(centre: Centre) -> Callable[[str | None], str]:
    """The next live process URL after ``failed`` (the same one while it lives)."""
    def pick(failed: str | None) -> str:
        live = centre.live()
        assert live, "no serve process is left"
        urls = [p.url for p in live]
        if failed in urls:
            return failed  # type: ignore[return-value]
        return urls[0]
    return pick


async def run_scale(centre: Centre, *, calls: int, agents: int, plan: dict[str, tuple[str, ...]],
                    kill: str | None = None) -> RunResult:
    """Start the centre on ``plan`` (process name → Asterisk servers it serves), place ``calls`` calls, kill -9
    the process that serves server ``kill`` (if any) once half of them were placed, and gather the results."""
    wall: dict[str, float] = {}
    t0, cpu0 = time.monotonic(), time.process_time()
    centre.agents = agent_names(agents)
    ids = await asyncio.to_thread(centre.create_accounts)
    await centre.start_asterisks()
    centre.plan(plan)
    await centre.start_processes()
    wall["started"] = time.monotonic() - t0
    pick = _picker(centre)
    first_seen: dict[int, float] = {}

    def seen(message: dict[str, Any]) -> None:
        first_seen.setdefault(int(message["id"]), time.monotonic())

    clients: list[httpx.AsyncClient] = []
    supervisors: list[Panel] = []
    agent_panels: dict[str, Panel] = {}
    bots: dict[str, AgentBot] = {}
    tasks: list[asyncio.Task[Any]] = []
    result: RunResult | None = None
    try:
        boss = httpx.AsyncClient(timeout=WAIT)
        clients.append(boss)
        await sign_in(boss, centre.processes[0].url, "boss", PASSWORD)
        signed: dict[str, tuple[httpx.AsyncClient, str]] = {}
        for i, (name, _number) in enumerate(centre.agents):
            http = httpx.AsyncClient(timeout=WAIT)
            clients.append(http)
            url = centre.processes[i % len(centre.processes)].url
            signed[name] = (http, await sign_in(http, url, name, PASSWORD) if i == 0
                            else signed_session(http, SECRET_KEY, ids[name], "agent"))
        for proc in centre.processes:
            panel = Panel(f"supervisor@{proc.name}", boss, pick, on_event=seen)
            supervisors.append(panel)
            tasks.append(asyncio.create_task(panel.run(proc.url), name=panel.name))
        procs = itertools.cycle(centre.processes)
        for i, (name, number) in enumerate(centre.agents):
            proc = next(procs)
            http, csrf = signed[name]
            # The buttons go to the process of the agent's page (another one when it dies).
            bots[name] = AgentBot(name, number, http, csrf, centre.clock, WRAP_UP,
                                  lambda proc=proc: pick(proc.url))  # type: ignore[misc]
            if i >= PANELS_PER_PROCESS * len(centre.processes):
                continue
            panel = Panel(f"{name}@{proc.name}", http, pick)
            agent_panels[name] = panel
            tasks.append(asyncio.create_task(panel.run(proc.url), name=panel.name))
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*(p.connected.wait() for p in [*supervisors, *agent_panels.values()]))
        for bot in bots.values():
            r = await bot.set_state("ready")
            assert r.status_code == 200, f"{bot.name} could not say ready: {r.status_code} {r.text[:200]}"
        by_endpoint = {bot.endpoint: bot for bot in bots.values()}
        for sim in centre.sims.values():
            sim.add_observer(_phone_watch(sim, by_endpoint))
        wall["signed_in"] = time.monotonic() - t0

        planned = plan_calls(calls, SPAN, tuple(centre.sims))
        placed: dict[str, tuple[PlannedCall, SimChannel]] = {}
        half = asyncio.Event()
        traffic = asyncio.create_task(place_calls(planned, centre.sims, centre.clock, ARI_APP, placed,
                                                  lambda: half.set() if len(placed) >= calls // 2 else None))
        killed, kill_id, kill_sim, adopted, killed_wall = None, 0, 0.0, {}, None
        live_then: list[str] = []
        if kill is not None:
            async with asyncio.timeout(centre.clock.real(SPAN) + 30):
                await half.wait()
            killed = centre.holder_of(kill)
            live_then = [cid for cid, (call, chan) in placed.items() if call.server == kill and chan.ended_t is None]
            kill_sim = centre.clock.time()
            killed_wall = datetime.now(UTC)
            await killed.kill()
            kill_id = max((e.id or 0 for e in await asyncio.to_thread(read_timeline, centre.db_url)), default=0)
            wall["killed"] = time.monotonic() - t0
        async with asyncio.timeout(centre.clock.real(SPAN) + 60):
            await traffic
        # The last callers end within a minute of call time (a silent call is released after R-15's windows).
        still_up = await wait_all_ended(placed, centre.sims, centre.clock.real(60.0) + 10)
        wall["calls_over"] = time.monotonic() - t0
        # The last ready presses and lease expiries, then what every page must have.
        events = await _settled(centre, supervisors)
        if killed is not None:
            adopted = _adoption(events, live_then, kill_id, first_seen, killed.killed_at or 0.0)
        await _agents_caught_up(agent_panels, events)
        wall["drained"] = time.monotonic() - t0
        states = await asyncio.to_thread(centre.seat_states)
        for proc in centre.live():
            wall[f"cpu {proc.name}"] = proc.cpu_seconds()
        wall["cpu test"] = time.process_time() - cpu0
        stop_at = datetime.now(UTC).isoformat()
        result = RunResult(centre, placed, still_up, events, supervisors, agent_panels, bots, states, {}, {}, wall,
                           killed, kill_id, kill_sim, adopted, first_seen, killed_wall, live_then, stop_at)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for bot in bots.values():
            await bot.close()
        for client in clients:
            await client.aclose()
        codes = await centre.close()
    assert result is not None
    result.exit_codes = codes
    result.logs = {p.name: p.events() for p in centre.processes}
    # Kept beside the logs for whoever reads a failure (the database is dropped with the test).
    with (centre.root / "timeline.jsonl").open("w", encoding="utf-8") as out:
        for event in result.events:
            out.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
    result.wall["total"] = time.monotonic() - t0
    return result


def _phone_watch(sim: Any, bots: dict[str, AgentBot]) -> Callable[[str, dict[str, Any]], None]:
    """The simulator tells each agent when their phone hangs up (their channel is destroyed)."""
    def observe(kind: str, message: dict[str, Any]) -> None:
        if kind != "event" or message.get("type") != "ChannelDestroyed":
            return
        chan = sim.channels.get(str(message.get("channel", {}).get("id", "")))
        if chan is not None and chan.agent is not None and chan.agent.endpoint in bots:
            bots[chan.agent.endpoint].phone_hung_up()
    return observe


async def _settled(centre: Centre, supervisors: list[Panel]) -> list[TimelineEvent]:
    """The timeline once it stopped growing and every live supervisor page has all of it (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_LIMIT
    events = await asyncio.to_thread(read_timeline, centre.db_url)
    while loop.time() < deadline:
        await asyncio.sleep(centre.clock.real(WRAP_UP) + 0.5)  # lets late events land; the checks decide
        again = await asyncio.to_thread(read_timeline, centre.db_url)
        top = max((e.id or 0 for e in again), default=0)
        if len(again) == len(events) and all(p.last >= top for p in supervisors if _alive_panel(centre, p)):
            return again
        events = again
    return events


def _alive_panel(centre: Centre, panel: Panel) -> bool:
    return any(p.url == panel.connections[-1][0] for p in centre.live())


async def _agents_caught_up(panels: dict[str, Panel], events: list[TimelineEvent]) -> bool:
    """Wait (bounded) until each agent page has every event of its calls up to the timeline's end."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5.0):
            top = max((e.id or 0 for e in events), default=0)
            calls_of: dict[str, set[str]] = {}
            for e in events:
                if e.type == "agent.ringing":
                    calls_of.setdefault(str(e.data.get("agent")), set()).add(e.call_id)
            last_of_call: dict[str, int] = {}
            for e in events:
                last_of_call[e.call_id] = e.id or 0
            while True:
                behind = [name for name, p in panels.items()
                          if calls_of.get(name) and p.last < min(top, max(last_of_call[c] for c in calls_of[name]))]
                if not behind:
                    return True
                await asyncio.sleep(0.1)  # the pages' own sockets fill these; bounded above
    return False


def _adoption(events: list[TimelineEvent], live_then: list[str], kill_id: int, first_seen: dict[int, float],
              killed_at: float) -> dict[str, float]:
    after: dict[str, float] = {}
    for e in events:
        if e.call_id in live_then and (e.id or 0) > kill_id and e.call_id not in after and e.id in first_seen:
            after[e.call_id] = first_seen[e.id] - killed_at  # type: ignore[index]
    return after


async def _states(bots: dict[str, AgentBot]) -> dict[str, str]:
    states = {}
    for name, bot in bots.items():
        with contextlib.suppress(httpx.TransportError):
            r = await bot.http.get(f"{bot.pick()}/api/agent/panel", timeout=WAIT)
            states[name] = r.json()["agent"]["state"] if r.status_code == 200 else f"HTTP {r.status_code}"
    return states


def logs_of(root: Path) -> dict[str, str]:
    return {p.stem: p.read_text(errors="replace") for p in root.glob("*.log")}
