"""``callcenter demo``: the whole product on one machine, with a simulated Asterisk and live calls.

The service runs on the embedded default (SQLite and a recordings folder, under ``web.demo_directory``: the
data folder's ``var/demo…``, so the demo never touches a real deployment's data; each run starts empty) with
the ARI simulator (:mod:`callcenter.sim.ari`) as its Asterisk, creates the demo accounts, prints their sign-ins
and the URL, and keeps a realistic mix of calls flowing until Ctrl-C (or ``--calls``/``--minutes``): callers
who speak, silent callers (R-15), dialect callers (R-19..R-21), noisy lines (R-18), low voices (R-17), agents who do
not answer (R-02 overflow), hold and resume (R-38), complaints that become work orders (R-36), and callers
who give up while it rings; beside them a small callback campaign (回访, :mod:`callcenter.cli.demo_callbacks`).
The simulated agents use the same call control and work-order path as the panel's buttons.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.config import Settings
from callcenter.errors import CallcenterError
from callcenter.logs import get_logger

log = get_logger(__name__)

# Inside web.demo_directory:
DEMO_DB, DEMO_RECORDINGS, DEMO_REPORTS = "demo.sqlite3", "demo-recordings", "demo-reports"
# (name, role, work number, password, answers during ring n: None = never picks up, confidential grant)
DEMO_ACCOUNTS: tuple[tuple[str, str, str, str, int | None, bool], ...] = (
    ("agent1", "agent", "8001", "demo-agent1", 2, False),
    ("agent2", "agent", "8002", "demo-agent2", 1, False),
    ("agent3", "agent", "8003", "demo-agent3", 3, False),
    ("agent4", "agent", "8004", "demo-agent4", None, False),
    ("qa1", "qa", "", "demo-qa1", None, False),
    ("qa2", "qa", "", "demo-qa2", None, True),
    ("boss", "supervisor", "", "demo-boss", None, False),
)
SURNAMES = "王李张刘陈杨黄赵吴周"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="the service with a simulated Asterisk and live calls (Ctrl-C stops it)")
    p.add_argument("--port", type=int, help="web port (default: web.port)")
    p.add_argument("--calls", type=int, default=0, help="stop after this many calls (default: until Ctrl-C)")
    p.add_argument("--minutes", type=float, default=0.0, help="stop after this many minutes")
    p.add_argument("--seed", type=int, default=None, help="random seed of the call mix")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    p.add_argument("--verbose", action="store_true", help="log every call event (default: warnings only)")
    p.add_argument("--keep-data", action="store_true", help="use the configured database, not the demo's own")
    p.set_defaults(handler=_demo)


@dataclass(frozen=True)
class Scenario:
    """One kind of demo call: the caller's behaviour and what the agent does once the call is answered."""

    name: str
    weight: int
    caller: Callable[[random.Random], Any]  # -> SimCaller
    # (seconds after the agent answered, action) with action "script:<name>", "control:<action>" (the panel's
    # call control, web/call_control.py) or "order:<category>"
    actions: tuple[tuple[float, str], ...] = ()


def _scenarios() -> list[Scenario]:
    from callcenter.sim.ari_parties import SimCaller

    def number(rng: random.Random) -> str:
        return f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}"

    def talker(rng: random.Random, length: float = 40.0) -> Any:
        return SimCaller(number=number(rng), args=("hotline",), hangup_at=length + rng.uniform(0, 15),
                         speech=((7.0, 2.0), (20.0, 3.0), (30.0, 2.0)))

    return [
        Scenario("speech", 5, talker, ((26.0, "script:closing"),)),
        Scenario("silent", 2, lambda rng: SimCaller(number=number(rng), args=("hotline",))),
        Scenario("complaint", 3, lambda rng: talker(rng, 55.0), ((12.0, "order:complaint"),)),
        Scenario("hold", 2, lambda rng: talker(rng, 60.0), ((14.0, "control:hold"), (30.0, "control:resume"))),
        Scenario("dialect", 1, lambda rng: SimCaller(number=number(rng), args=("hotline",),
                                                     speech=((7.0, 2.0), (60.0, 3.0)), hangup_at=75.0),
                 ((10.0, "script:dialect_d1"), (16.0, "script:dialect_d2"))),
        Scenario("noise", 1, lambda rng: SimCaller(number=number(rng), args=("hotline",), noise=((6.0, 60.0),),
                                                   hangup_at=90.0), ((10.0, "script:noise"),)),
        Scenario("low_volume", 1, lambda rng: SimCaller(number=number(rng), args=("hotline",),
                                                        speech=((7.0, 1.0),), hangup_at=90.0),
                 ((10.0, "script:low_volume"),)),
        Scenario("gives_up", 1, lambda rng: SimCaller(number=number(rng), args=("hotline",),
                                                      hangup_at_ring=rng.randint(2, 3))),
    ]


def _prompt_lengths(settings: Settings) -> dict[str, float]:
    """How long each prompt plays in the simulator: its audio file, else the catalogue's estimate."""
    from callcenter.scripting.catalogue import prompt_variables
    from callcenter.scripting.errors import ScriptError
    from callcenter.scripting.library import load_library

    library = load_library(settings.scripts.directory, settings.scripts)
    lengths: dict[str, float] = {}
    # A prompt with per-call variables is as long as its text for an unnamed caller, not as its template.
    variables = prompt_variables(settings.service, agent={"work_number": "8001", "name": ""},
                                 now=datetime.now(settings.service.tz))
    locale = settings.scripts.default_locale
    for key in library.catalogues.keys():
        try:
            text = library.catalogues.render(key, locale, variables)
        except ScriptError:
            prompt = library.catalogues.find(key, locale)
            text = prompt.source if prompt is not None else ""
        lengths[key] = max(1.5, len(text) / settings.scripts.speech_chars_per_second)
    for (locale, key), seconds in library.audio.items():
        if locale == settings.scripts.default_locale:
            lengths[key] = seconds
    return lengths


def fresh_demo_data(folder: Path) -> None:
    """Each demo starts from an empty database: calls cut off by the last Ctrl-C must not look live."""
    import shutil

    for path in folder.glob(DEMO_DB + "*"):
        path.unlink()
    shutil.rmtree(folder / DEMO_RECORDINGS, ignore_errors=True)


def demo_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    if not args.keep_data:
        folder = settings.web.demo_directory
        fresh_demo_data(folder)
        settings = replace(
            settings,
            database=replace(settings.database, url=f"sqlite:///{folder / DEMO_DB}"),
            recordings=replace(settings.recordings, root=folder / DEMO_RECORDINGS),
            metrics=replace(settings.metrics, reports_directory=folder / DEMO_REPORTS),
        )
    if args.port is not None:
        settings = replace(settings, web=replace(settings.web, port=args.port))
    return settings


def ensure_accounts(url: str) -> None:
    """Create the demo accounts, or reset their passwords to the printed ones."""
    from callcenter.web.errors import UserError
    from callcenter.web.users import add_user, set_password

    for name, role, work_number, password, _, grant in DEMO_ACCOUNTS:
        try:
            add_user(url, name, role, password, work_number=work_number, confidential_access=grant)
        except UserError:
            set_password(url, name, password)


class DemoTraffic:
    """Places the demo's calls on the simulator and plays the simulated agents' part."""

    def __init__(self, service: Any, sim: Any, rng: random.Random, scale: float) -> None:
        self.service, self.sim, self.rng, self.scale = service, sim, rng, scale
        self.scenarios = _scenarios()
        self.placed = 0
        self.tasks: set[asyncio.Task[Any]] = set()

    def live_calls(self) -> int:
        return sum(1 for c in self.sim.channels.values() if c.caller is not None and c.ended_t is None)

    async def run(self, calls: int, interval: float, max_live: int) -> None:
        while calls == 0 or self.placed < calls:
            if self.live_calls() < max_live:
                self.place(self.rng.choices(self.scenarios, [s.weight for s in self.scenarios])[0])
            await asyncio.sleep(self.scale * self.rng.uniform(0.5, 1.5) * interval)
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def place(self, scenario: Scenario) -> str:
        chan = self.sim.place_call(scenario.caller(self.rng), app=self.service.settings.telephony.ari_app)
        self.placed += 1
        log.info("demo.call", scenario=scenario.name, call_id=chan.id)
        if scenario.actions:
            task = asyncio.create_task(self.act(chan.id, scenario))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return str(chan.id)

    async def act(self, call_id: str, scenario: Scenario) -> None:
        """Wait for the agent to answer, then do the scenario's actions at their times (as an agent would)."""
        board = self.service.web.board
        for _ in range(int(120 / 0.2)):
            call = board.get(call_id)
            if call is not None and call.phase == "ended":
                return
            if call is not None and call.answered_at is not None:
                break
            await asyncio.sleep(0.2 * self.scale)
        else:
            return
        done = 0.0
        for at, action in scenario.actions:
            await asyncio.sleep(max(0.0, at - done) * self.scale)
            done = at
            call = board.get(call_id)
            if call is None or call.phase == "ended":
                return
            try:
                await self.perform(call, action)
            except Exception as exc:  # a demo action failing must not stop the demo
                log.warning("demo.action_failed", call_id=call_id, action=action, error=str(exc))

    async def perform(self, call: Any, action: str) -> None:
        from callcenter.scripting.protocol import ScriptRequested
        from callcenter.web import orders
        from callcenter.web.agent_pages import _link_recording
        from callcenter.web.users import User

        kind, _, what = action.partition(":")
        ctx = self.service.web
        if kind == "script":
            await ctx.control.send(call.call_id, ScriptRequested(what, by=call.agent))
            return
        if kind == "control":  # as the panel's 保持 / 恢复 buttons do: control.<action> on the timeline
            result = await ctx.control.control(call.call_id, what, {}, call.agent)
            if not result.ok:
                log.info("demo.control_refused", call_id=call.call_id, action=what, error=result.error)
            return
        agent = ctx.agents.get(call.agent)
        user = User(0, agent.id, "agent", agent.name, agent.work_number)
        surname = self.rng.choice(SURNAMES)
        summary = self.rng.choice(("水费账单金额异常", "维修人员未按约定上门", "停水未提前通知", "客服态度不好"))
        form = {"category": what, "major": self.rng.random() < 0.2, "confidential": self.rng.random() < 0.25,
                "summary": summary}
        now = ctx.now()
        order = await asyncio.to_thread(orders.open_from_call, ctx.settings, user, call.call_id, call.caller,
                                        form, now, f"{surname}先生")
        await asyncio.to_thread(_link_recording, ctx, call.call_id, order["number"], agent.id)
        event_type, data = orders.timeline_data(order)
        offset = call.now_offset(now)
        ctx.timeline.append(call.call_id, event_type, data, at=call.offered_at + timedelta(seconds=offset),
                            offset=offset)


# Simulated agents go back to ready after this long in after-call work (话后处理) or after a missed call.
WRAP_UP_SECONDS = {"after_call": 8.0, "not_ready": 20.0}


async def keep_seats(pool: Any, names: list[str], scale: float) -> None:
    """Play the simulated agents' part between calls: back to ready after wrap-up (R-02: a seat that missed
    a call was set not ready by the router; its agent comes back a little later)."""
    from callcenter.calls.agents import AgentError, AgentState

    since: dict[str, tuple[str, float]] = {}
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        for name in names:
            state = pool.get(name).state.value
            entered = since.get(name)
            if entered is None or entered[0] != state:
                since[name] = (state, now)
                continue
            wait = WRAP_UP_SECONDS.get(state)
            if wait is not None and now - entered[1] >= wait * scale:
                with contextlib.suppress(AgentError):  # a call reached the seat meanwhile
                    await pool.set_state(name, AgentState.READY, by="demo")
        await asyncio.sleep(0.5 * scale)


async def run_demo(settings: Settings, args: argparse.Namespace) -> None:
    from callcenter.calls.agents import AgentState
    from callcenter.cli.demo_callbacks import start_demo_callbacks
    from callcenter.cli.serve import run_until_signalled, start_service
    from callcenter.sim.ari import AriSimulator, fixed_media_length
    from callcenter.sim.ari_parties import SimAgent
    from callcenter.sim.ari_server import AriServer
    from callcenter.sim.clock import ScaledClock
    from callcenter.store import ensure_schema

    if args.speed <= 0:
        raise DemoError("--speed: must be positive")
    scale = 1.0 / args.speed
    clock = ScaledClock(scale)
    await asyncio.to_thread(Path(settings.recordings.root).mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(ensure_schema, settings.database.url)
    await asyncio.to_thread(ensure_accounts, settings.database.url)
    lengths = _prompt_lengths(settings)
    sim = AriSimulator(clock=clock, recordings_dir=settings.recordings.root,
                       sounds_dir=settings.scripts.directory / "sounds",
                       media_length=fixed_media_length(3.0, lengths),
                       username=settings.telephony.ari_username, password=settings.telephony.ari_password,
                       ring_cadence=settings.telephony.ring_cadence)
    server = await AriServer(sim).start()
    settings = replace(settings, telephony=replace(settings.telephony, ari_url=server.ari_url))

    async def prepare(service: Any) -> None:
        for name, role, _work, _pw, ring, _grant in DEMO_ACCOUNTS:
            if role != "agent":
                continue
            agent = service.pool.get(name)
            sim.add_agent(SimAgent(agent.endpoint, answer_at_ring=ring))
            await service.pool.set_state(name, AgentState.READY, by="demo")
        await start_demo_callbacks(settings, sim, lengths)

    try:
        service = await start_service(settings, agi=False, ari=True, clock=clock, prepare=prepare)
    except BaseException:
        await server.stop()
        raise
    _print_welcome(service.url)
    traffic = DemoTraffic(service, sim, random.Random(args.seed), scale)
    agents = [name for name, role, *_ in DEMO_ACCOUNTS if role == "agent"]
    service.others.append(asyncio.create_task(keep_seats(service.pool, agents, scale), name="demo-seats"))
    limit = asyncio.create_task(_traffic_with_limit(traffic, service, args))
    try:
        if args.calls or args.minutes:
            await _wait_either(limit, service)
        else:
            await run_until_signalled(service)
    finally:
        limit.cancel()
        await asyncio.wait([limit])
        await server.stop()
    print(f"demo stopped after {traffic.placed} calls", flush=True)


async def _traffic_with_limit(traffic: DemoTraffic, service: Any, args: argparse.Namespace) -> None:
    web = service.settings.web
    run = traffic.run(args.calls, web.demo_call_interval_seconds, web.demo_max_live_calls)
    if args.minutes:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.minutes * 60):
                await run
        return
    await run


async def _wait_either(limit: asyncio.Task[Any], service: Any) -> None:
    """Bounded demo: stop when the traffic is done or on Ctrl-C, whichever comes first."""
    from callcenter.cli.serve import run_until_signalled

    watcher = asyncio.create_task(run_until_signalled(service))
    done, _ = await asyncio.wait([limit, watcher], return_when=asyncio.FIRST_COMPLETED)
    if watcher not in done:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await service.stop()


def _print_welcome(url: str) -> None:
    lines = [
        "",
        "呼叫中心演示 callcenter demo — simulated Asterisk (ARI), live calls every few seconds",
        f"  open {url}/login",
        "",
        "  account   password       page",
    ]
    pages = {"agent": "坐席 /agent", "qa": "质检 /qa", "supervisor": "监控大屏 /wallboard"}
    for name, role, work, password, _ring, grant in DEMO_ACCOUNTS:
        note = f" (工号 {work})" if work else (" (may open confidential recordings)" if grant else "")
        lines.append(f"  {name:<9} {password:<14} {pages[role]}{note}")
    lines += ["", "  Ctrl-C stops the demo cleanly.", ""]
    print("\n".join(lines), flush=True)


class DemoError(CallcenterError):
    """A demo option is out of range."""


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from callcenter.logs import configure_logging

    settings = demo_settings(settings, args)
    if not args.verbose:
        # The sign-ins and the URL must stay readable: only warnings from here on.
        configure_logging("warning", json=settings.service.log_json)
    asyncio.run(run_demo(settings, args))
    return 0
