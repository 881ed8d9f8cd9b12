"""``callcenter serve``: the whole service in one asyncio process.

Started in this order, each from its package's own entry point: the schema (:func:`callcenter.store.ensure_schema`:
SQLite is brought up to date, a server database must be at this version's already); the timeline flusher
(:meth:`Timeline.run_flusher`); the web app (uvicorn, :func:`callcenter.web.app.create_app`); the FastAGI server
(:func:`callcenter.telephony.agi.server.serve_fastagi`); the ARI application with ``--ari``
(:class:`callcenter.telephony.ari.AriService`) and its callback dialer; the missed-call follower; the report scheduler
(:func:`callcenter.metrics.schedule.run_report_scheduler`). SIGINT/SIGTERM stop it in the reverse order:
telephony first (calls in progress end and write their last events), then the web app and the scheduler,
and the timeline flusher last, so its final flush writes every event still buffered: nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from callcenter.config import ConfigError, Settings
from callcenter.errors import CallcenterError
from callcenter.logs import get_logger

log = get_logger(__name__)

FLUSH_INTERVAL = 0.05
WORKER_THREADS = 16
# How long a component may take to finish after it was cancelled (calls hang up, bridges are destroyed).
STOP_GRACE_SECONDS = 5.0


class ServeError(CallcenterError):
    """The service cannot start as configured (a port in use, a bad endpoint template)."""


# What a process runs (issue 17, docs/deploy.md): telephony = the ARI applications and FastAGI listeners (and
# the callback dialer, which dials through ARI); web = the pages, the API and the websockets; jobs = the
# overdue job, the reports, the retention sweeper and the daily self-check; all = everything (one process).
ROLES = ("all", "telephony", "web", "jobs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the service: FastAGI, ARI (--ari), web pages, reports")
    p.add_argument("--ari", action="store_true", help="connect the ARI application of each served Asterisk server")
    p.add_argument("--no-agi", action="store_true", help="do not listen for FastAGI")
    p.add_argument("--role", choices=ROLES, default="all",
                   help="what this process runs: telephony, web, jobs or all (default)")
    p.add_argument("--asterisk", metavar="NAME[,NAME]",
                   help="serve only these [telephony.asterisk.<name>] servers (default: telephony.serve_asterisk)")
    p.add_argument("--host", help="web address (default: web.host; web.health_host without the web role)")
    p.add_argument("--port", type=int, help="web port (default: web.port; web.health_port without the web role)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated call seconds per real second, against the ARI simulator only (default 1)")
    p.set_defaults(handler=_serve)


@dataclass
class Service:
    """One running service process; :meth:`stop` ends it cleanly."""

    settings: Settings
    timeline: Any
    pool: Any
    web: Any  # callcenter.web.context.WebContext
    web_port: int = 0
    ari: Any = None
    dialer: Any = None  # callcenter.telephony.ari.dialer.Dialer (with --ari)
    flusher: asyncio.Task[Any] | None = None
    telephony: list[asyncio.Task[Any]] = field(default_factory=list)
    others: list[asyncio.Task[Any]] = field(default_factory=list)
    web_server: Any = None
    web_task: asyncio.Task[Any] | None = None
    health: Any = None  # callcenter.cli.health_probes.HealthWiring
    stopped: bool = False
    role: str = "all"
    aris: dict[str, Any] = field(default_factory=dict)  # server name → AriService (with --ari)
    agi_tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)  # server name → FastAGI listener
    web_host: str | None = None  # where the health listener of a role without pages is bound
    holders: list[Any] = field(default_factory=list)  # cli.serve_telephony.ServerHolder per served server
    commands: Any = None  # callcenter.calls.commands_bus.CommandBus
    click_dial: Any = None  # callcenter.telephony.ari.click_dial.ClickToDial, while this process dials

    @property
    def url(self) -> str:
        return f"http://{self.web_host or self.settings.web.host}:{self.web_port}"

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        dialer = self.dialer
        if dialer is not None:  # no new callback is dialled, then those in flight end while ARI is up
            await _cancel([t for t in self.telephony if t.get_name() == "callback-dialer"])
            await dialer.end_calls()
        await _cancel(self.telephony)
        if self.commands is not None:  # the calls this process held are adopted by whoever takes their server
            await self.commands.close()
        if self.web_server is not None and self.web_task is not None:
            self.web_server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self.web_task
        await _cancel(self.others)
        if self.flusher is not None:
            await _cancel([self.flusher])  # its finally flushes what is still buffered
        await self.timeline.flush()
        log.info("serve.stopped")


async def _cancel(tasks: list[asyncio.Task[Any]], grace: float | None = None) -> None:
    """Cancel ``tasks`` and wait up to ``grace`` seconds (default STOP_GRACE_SECONDS) for their clean-up."""
    grace = STOP_GRACE_SECONDS if grace is None else grace
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        log.warning("serve.slow_shutdown", task=task.get_name(), grace=grace)
        task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("serve.task_failed", task=task.get_name(), error=str(task.exception()))


def seats_from_accounts(settings: Settings, pool: Any) -> int:
    """Every agent account becomes a seat of the default group (offline until the agent sets a state)."""
    from callcenter.calls.agents import Agent, AgentError
    from callcenter.web.users import list_users

    added = 0
    for user in list_users(settings.database.url, "agent"):
        try:
            endpoint = settings.web.agent_endpoint.format(work_number=user.work_number or user.name, name=user.name)
        except (KeyError, IndexError) as exc:
            raise ServeError(
                f"web.agent_endpoint: unknown placeholder {exc} (use {{work_number}} or {{name}})"
            ) from None
        with contextlib.suppress(AgentError):
            pool.add(Agent(user.name, endpoint, user.work_number, user.display_name,
                           (settings.telephony.default_group,)))
            added += 1
    return added


async def serve_web(app: Any, host: str, port: int, *, key: str = "web.port") -> tuple[Any, asyncio.Task[Any], int]:
    """Run ``app`` on uvicorn at host:port (0 = any free port); returns the server, its task and the port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"{key}: cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, ws="websockets-sansio")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    task = asyncio.create_task(server.serve(sockets=[sock]), name="web")
    while not server.started:
        if task.done():
            task.result()
            raise ServeError("the web server stopped while starting")
        await asyncio.sleep(0.01)
    return server, task, bound


def check_entries(settings: Settings) -> None:
    """Refuse to start when a dialplan entry names a script or locale the library does not have: better no
    service than every caller of that entry sent down the fallback path."""
    from callcenter.calls.entries import entry_problems
    from callcenter.scripting.library import load_library

    problems = entry_problems(load_library(settings.scripts.directory, settings.scripts), settings)
    if problems:
        raise ConfigError("; ".join(problems))


def check_prompt_audio(settings: Settings) -> None:
    """Refuse to start when prompts a caller can reach could not be heard: every prompt without a recording
    (the per-call greeting always, R-04) is rendered from its text, so the renderer must work here."""
    from callcenter.scripting.library import load_library
    from callcenter.voice import PromptVoice, VoiceUnavailable

    library = load_library(settings.scripts.directory, settings.scripts)
    # The per-call ones first: no recording can ever stand in for them.
    unrecorded = [key for _, key in sorted({(not prompt.per_call, key)
                                            for locale, prompts in library.catalogues.prompts.items()
                                            for key, prompt in prompts.items()
                                            if prompt.per_call or (locale, key) not in library.audio})]
    if not unrecorded:
        return
    try:
        PromptVoice.of(settings.scripts).check()
    except VoiceUnavailable as exc:
        shown = ", ".join(unrecorded[:5]) + (f" and {len(unrecorded) - 5} more" if len(unrecorded) > 5 else "")
        raise ServeError(f"{len(unrecorded)} prompts have no recording and cannot be rendered ({exc}): "
                         f"callers would hear silence for {shown}") from None


async def render_fixed_prompts(settings: Settings) -> int:
    """Render every prompt without a recording whose words are the centre's alone (not the caller's or the
    agent's) before the first call: rendered on first use, S3 of a silent call came 0.15-0.2 s late on a real
    Asterisk (R-15's windows are 5.0 s). Returns how many were rendered; a failure is left to the call (logged)."""
    from callcenter.scripting.catalogue import prompt_variables
    from callcenter.scripting.library import load_library
    from callcenter.scripting.protocol import Play
    from callcenter.voice import PromptAudioError, PromptVoice

    library = await asyncio.to_thread(load_library, settings.scripts.directory, settings.scripts)
    voice = PromptVoice.of(settings.scripts)
    variables = prompt_variables(settings.service)
    rendered = 0
    for locale, prompts in library.catalogues.prompts.items():
        for key, prompt in prompts.items():
            if prompt.per_call or (locale, key) in library.audio:
                continue
            try:
                await voice.media(Play("start", key, library.catalogues.render(key, locale, variables), locale))
                rendered += 1
            except PromptAudioError as exc:
                log.warning("prompt not rendered at start", key=key, locale=locale, error=str(exc))
    return rendered


async def start_service(
    settings: Settings,
    *,
    agi: bool = True,
    ari: bool = False,
    ari_client: Any = None,
    clock: Any = None,
    reports: bool = True,
    prepare: Callable[[Any], Awaitable[None]] | None = None,
    role: str = "all",
    health_address: tuple[str, int] | None = None,
    process: str | None = None,
) -> Service:
    """Start what ``role`` runs (:data:`ROLES`); ``prepare(service)`` runs after the seats exist and before calls
    are taken. A role without the web pages answers ``/healthz`` and ``/readyz`` on ``health_address``
    (default ``web.health_host``:``web.health_port``). ``process`` names this process to the others (default
    ``host:pid``; tests that run several in one interpreter name them)."""
    from callcenter.calls.seat_pool import SeatPool
    from callcenter.calls.timeline import Timeline
    from callcenter.recordings.service import RecordingService
    from callcenter.store import ensure_schema
    from callcenter.web.context import WebContext

    if role not in ROLES:
        raise ServeError(f"--role: expected one of {', '.join(ROLES)}, got {role!r}")
    telephony = role in ("all", "telephony")
    if telephony:
        await asyncio.to_thread(check_entries, settings)
        await asyncio.to_thread(check_prompt_audio, settings)
        log.info("serve.prompts_rendered", count=await render_fixed_prompts(settings))
    await asyncio.to_thread(ensure_schema, settings.database.url)
    timeline = Timeline(settings.database.url)
    pool = SeatPool.for_settings(settings, timeline)  # the centre's seats (issue 17): the table is the truth
    await asyncio.to_thread(seats_from_accounts, settings, pool)
    await pool.refresh()
    recordings = RecordingService(settings, timeline=timeline)
    ctx = WebContext(settings, timeline, pool)
    ctx.extras["recordings"] = recordings
    service = Service(settings, timeline, pool, ctx, role=role)
    service.flusher = asyncio.create_task(timeline.run_flusher(FLUSH_INTERVAL), name="timeline-flusher")
    service.others.append(asyncio.create_task(pool.run_upkeep(), name="seat-upkeep"))  # leases, wrap-up, view
    from callcenter.cli.health_probes import wire_health

    service.health = wire_health(service)
    from callcenter.calls.commands_bus import CommandBus
    from callcenter.jobs.locks import process_identity

    # Commands to the process that holds a call (issue 17): this process's end of call_owners/call_commands.
    service.commands = CommandBus(settings.database.url, process or process_identity(),
                                  poll=settings.database.command_poll_seconds)
    service.others.append(asyncio.create_task(service.commands.run(), name="call-commands"))
    from callcenter.cli.serve_health import commands_probe

    service.health.registry.add_probe(commands_probe(service.commands))
    if prepare is not None:
        await prepare(service)
    if telephony:
        await _start_telephony(service, agi=agi, ari=ari, ari_client=ari_client, clock=clock, recordings=recordings)
    if role in ("all", "jobs"):
        _start_jobs(service, reports=reports)
    from callcenter.cli.serve_commands import route_commands

    route_commands(service)
    if role in ("all", "web"):
        from callcenter.web.app import create_app

        app = create_app(ctx)
        service.web_server, service.web_task, service.web_port = await serve_web(app, settings.web.host,
                                                                                 settings.web.port)
    else:
        from callcenter.cli.serve_health import health_app

        host, port = health_address or (settings.web.health_host, settings.web.health_port)
        service.web_server, service.web_task, service.web_port = await serve_web(health_app(ctx), host, port,
                                                                                 key="web.health_port")
        service.web_host = host
    log.info("serve.started", url=service.url, role=role, agi=agi and telephony, ari=ari and telephony,
             servers=sorted(service.aris), seats=len(pool.agents))
    return service


def _once(service: Service, name: str, label: str, job: Callable[[], Awaitable[object]], *,
          runs: bool = True, on_state: Callable[[bool, str | None], None] | None = None) -> Coroutine[Any, Any, None]:
    """One of each job among the processes sharing the database (callcenter.jobs)."""
    from callcenter.jobs.exclusive import run_exclusively

    settings = service.settings
    board = service.health.holding(name, label, reports_runs=runs)

    def state(holding: bool, holder: str | None) -> None:
        board(holding, holder)
        if on_state is not None:
            on_state(holding, holder)

    return run_exclusively(settings.database.url, name, job, poll_seconds=settings.database.job_lock_poll_seconds,
                           on_state=state)


async def _start_telephony(service: Service, *, agi: bool, ari: bool, ari_client: Any, clock: Any,
                           recordings: Any) -> None:
    """The calls: an ARI application per served Asterisk server (with ``ari``), a FastAGI listener per server
    that sends FastAGI (with ``agi``), the callback dialer, the missed-call follower, the seat watch."""
    from callcenter.cli.health_probes import AgiListener, fastagi_probe
    from callcenter.cli.serve_telephony import (
        ServedCalls,
        ServedMonitoring,
        fastagi_servers,
        holder_probe,
        server_holders,
        wait_settled,
    )
    from callcenter.web.control import AriCallControl
    from callcenter.web.routed_control import DIALER

    settings, ctx, health, timeline = service.settings, service.web, service.health, service.timeline
    service.others.append(asyncio.create_task(health.seats.follow(timeline), name="health-seats"))
    if ari:
        served = ServedCalls(service.aris)
        ctx.control = AriCallControl(served)
        ctx.monitoring = ServedMonitoring(served)  # the wallboard's 监听/耳语/强插, where the call is

        async def dial(ari_service: Any) -> None:
            """The callbacks (回访) and the agents' own calls, dialled through the first served server by the
            process that holds it and the callback-dialer lock; other processes' pages reach it through
            call_commands (RoutedDialing)."""
            from callcenter.telephony.ari.click_dial import ClickToDial
            from callcenter.telephony.ari.dialer import Dialer

            dialer = Dialer(settings, ari_service.outbound)
            click = ClickToDial(ari_service.outbound)  # a work order's "call" (issue 15)

            async def rounds() -> None:
                service.dialer, service.click_dial = dialer, click
                service.commands.holder(ari_service.server)(DIALER, True)
                try:
                    await dialer.rounds()
                finally:
                    service.commands.holder(ari_service.server)(DIALER, False)
                    service.dialer = service.click_dial = None

            task = asyncio.create_task(_once(service, "callback-dialer", "回访外呼", rounds, runs=False),
                                       name="callback-dialer")
            # Not among the watched telephony tasks: it ends with this server's hold (a lost lock), after which
            # the process stands by for the server again; ending it must not stop serve.
            service.others.append(task)
            try:
                await asyncio.shield(task)
            finally:
                await _cancel([task])

        holders = server_holders(settings, service.aris, client=ari_client, timeline=timeline, pool=service.pool,
                                 clock=clock, recordings=recordings, on_first=dial, on_call=service.commands.holder,
                                 on_take=service.commands.take_over)
        for holder in holders:
            service.telephony.append(asyncio.create_task(_once(
                service, f"asterisk-{holder.name}", f"Asterisk {holder.name}", holder.hold, runs=False,
                on_state=holder.state), name=f"asterisk-{holder.name}"))
            health.registry.add_probe(holder_probe(holder, settings.service.tz))
        service.holders = holders
        await wait_settled(holders)
        service.ari = holders[0].service if holders[0].held else None
    if agi:
        from callcenter.telephony.agi.server import serve_fastagi

        for name, own in fastagi_servers(settings).items():
            listener = health.agi if not service.agi_tasks else AgiListener()
            listener.task = asyncio.create_task(serve_fastagi(
                own, timeline, service.pool, clock=clock, recordings=recordings, on_listening=listener.listening),
                name=f"fastagi-{name}")
            service.agi_tasks[name] = listener.task
            service.telephony.append(listener.task)
            health.registry.add_probe(fastagi_probe(listener, own.telephony.agi_host, own.telephony.agi_port))
    from callcenter.callbacks.follow import follow_missed_calls

    service.others.append(asyncio.create_task(follow_missed_calls(timeline, settings), name="missed-calls"))


def _start_jobs(service: Service, *, reports: bool) -> None:
    """The jobs, each run by one process of the deployment at a time (callcenter.jobs)."""
    from callcenter.recordings.retention import default_order_facts
    from callcenter.recordings.sweeper import sweep_periodically
    from callcenter.tickets.overdue import run_overdue_job

    settings, health = service.settings, service.health
    service.others.append(asyncio.create_task(_once(service, "overdue-orders", "工单超时升级", lambda: run_overdue_job(
        settings.database.url, lambda: datetime.now(UTC), on_run=health.job("overdue-orders", "工单超时升级"))),
        name="overdue-orders"))
    service.others.append(asyncio.create_task(_once(service, "recordings-sweeper", "录音保留清理",
                                                    lambda: sweep_periodically(
        settings, default_order_facts(), on_run=health.job("recordings-sweeper", "录音保留清理"))),
        name="recordings-sweeper"))
    service.others.append(asyncio.create_task(_once(service, "self-check", "每日自检", lambda: health.self_check.run(
        lambda: datetime.now(UTC))), name="health-self-check"))
    if reports:
        from callcenter.metrics.schedule import run_report_scheduler

        service.others.append(asyncio.create_task(_once(service, "reports", "定时报表", lambda: run_report_scheduler(
            settings, service.timeline, on_run=health.job("reports", "定时报表"))), name="reports"))


async def run_until_signalled(service: Service) -> None:
    """Wait for SIGINT/SIGTERM (or a task failing), then stop the service cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watched = [t for t in (*service.telephony, service.web_task) if t is not None]
    try:
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *watched], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        for task in done:
            if task is not waiter and not task.cancelled() and task.exception() is not None:
                log.error("serve.component_failed", task=task.get_name(), error=str(task.exception()))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        print("stopping: finishing calls and writing the last events…", flush=True)
        await service.stop()


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    web = settings.web
    health_address = None
    if args.role in ("all", "web"):
        if args.host or args.port is not None:
            web = replace(web, host=args.host or web.host, port=web.port if args.port is None else args.port)
    elif args.host or args.port is not None:
        health_address = (args.host or web.health_host, web.health_port if args.port is None else args.port)
    telephony = settings.telephony
    if args.asterisk:
        telephony = replace(telephony, serve_asterisk=tuple(n.strip() for n in args.asterisk.split(",") if n.strip()))
    settings = replace(settings, web=web, telephony=telephony)
    if args.asterisk:
        from callcenter.config import check_settings

        check_settings(settings)

    if not args.speed > 0:
        raise ServeError(f"--speed: must be positive, got {args.speed}")

    async def main() -> None:
        # Database work runs in worker threads (timeline flushes, the feed, seats, commands) beside the recordings'
        # ffmpeg: asyncio's default of cpu+4 threads (6 on two cores) queued them for seconds under load; 16 fits
        # the SQLAlchemy pool (5 + 10 overflow) with a thread to spare.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=WORKER_THREADS,
                                                                           thread_name_prefix="serve"))
        # The multi-process scale test runs its simulated Asterisk servers faster than the wall: the calls here
        # must keep their time (rings, R-15's windows) on the same scale.
        clock = None
        if args.speed != 1.0:
            from callcenter.sim.clock import ScaledClock

            clock = ScaledClock(1.0 / args.speed)
        service = await start_service(settings, agi=not args.no_agi, ari=args.ari, role=args.role,
                                      health_address=health_address, clock=clock)
        if args.role in ("all", "web"):
            print(f"callcenter is serving the web pages at {service.url}", flush=True)
        else:
            print(f"callcenter ({args.role}) answers /healthz and /readyz at {service.url}", flush=True)
        await run_until_signalled(service)

    asyncio.run(main())
    return 0
