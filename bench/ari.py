"""ARI benchmark: the callcenter ARI application against a minimal aioari application, same load, same run.

Both applications run the same script on every call: answer, play one prompt, hang up when the prompt's
PlaybackFinished arrives. Ours is the product path (:class:`AriService` → :func:`run_call` → the channel →
REST over the events websocket, Asterisk 22), measured twice: ``callcenter`` with its call timeline on SQLite
(as ``callcenter serve`` runs) and ``callcenter-mem`` with the timeline in memory (the ARI path alone, the
same work as the baseline, which records nothing). The baseline is aioari 0.10 (Swagger client loaded from
/ari/api-docs, REST over HTTP with aiohttp, events on its websocket), written the way its README does it.
The load is one simulated Asterisk 22 (:mod:`callcenter.sim.ari_server`, real sockets on 127.0.0.1), in
this same process, each application on its own Stasis app name.

Two phases per application, ``--calls`` simulated calls each (1,000 by default):
- capacity: every call placed at once (all concurrent), prompts of ``--playback`` seconds (0 by default);
  calls/s = calls / seconds from the first StasisStart to the last hang-up; ``--rounds`` rounds alternate
  between the two applications and each one's median round is reported (the shared machine's load drifts);
- latency: the same number of calls arriving evenly over ``--ramp`` seconds with prompts long enough that
  all of them are live together at the end of the ramp; p50/p99 of the time from an event arriving at the
  application (the websocket frame read) to the REST command it causes being sent (StasisStart → answer,
  PlaybackFinished → hang-up), measured inside each application the same way.

    .venv/bin/python bench/ari.py --quick      # 100 calls, while developing
    .venv/bin/python bench/ari.py              # 1,000 calls: the figures for the README
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aioari
from aioswagger11.http_client import AsynchronousHttpClient

from callcenter.calls.timeline import Timeline
from callcenter.config import load_settings
from callcenter.logs import configure_logging
from callcenter.scripting.protocol import Answer, Event, Hangup, Play, PlaybackFinished
from callcenter.sim.ari import AriSimulator
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.store import dispose_all, migrate
from callcenter.telephony.ari import AriClient, AriService

TARGET_RATIO = 2.0
TARGET_P99_MS = 20.0
CAUSES = ("StasisStart", "PlaybackFinished")


@dataclass
class Meter:
    """Event-arrival → command latency per channel, measured inside an application."""

    arrived: dict[str, float] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    on_reset: Callable[[], None] | None = None

    def event(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "StasisStart":
            self.arrived[message["channel"]["id"]] = time.perf_counter()
        elif kind == "PlaybackFinished":
            target = str(message["playback"].get("target_uri", ""))
            if target.startswith("channel:"):
                self.arrived[target[8:]] = time.perf_counter()

    def command(self, uri: str) -> None:
        parts = uri.split("?")[0].strip("/").split("/")
        if "channels" in parts and parts.index("channels") + 1 < len(parts):
            channel = parts[parts.index("channels") + 1]
            started = self.arrived.pop(channel, None)
            if started is not None:
                self.samples.append((time.perf_counter() - started) * 1000)

    def reset(self) -> None:
        self.arrived.clear()
        self.samples.clear()
        if self.on_reset is not None:
            self.on_reset()


class AsteriskSideMeter(Meter):
    """The same causal pairs timed by the simulated Asterisk: event queued for the websocket → the REST
    request it causes handled. Includes the transport and any backlog in front of the application."""

    def __call__(self, kind: str, message: dict[str, Any]) -> None:
        if kind == "event":
            self.event(message)
        elif message.get("params", {}).get("channelId"):
            self.command(f"channels/{message['params']['channelId']}")


@dataclass
class Figures:
    app: str
    phase: str
    calls: int
    failed: int
    seconds: float
    latencies: list[float]
    asterisk_side: list[float] = field(default_factory=list)

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def p(self, q: float, samples: list[float] | None = None) -> float:
        values = self.latencies if samples is None else samples
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------- our application


class _BenchSession:
    """The bench script as a session: answer, play one prompt, hang up when it has played."""

    finished = False
    disposition = "normal"
    released_by: str | None = None

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Any]:
        return [Answer(), Play("p1", "bench", "bench", "zh-CN", audio="bench")]

    def handle(self, event: Event) -> list[Any]:
        if isinstance(event, PlaybackFinished):
            self.finished, self.released_by = True, "system"
            return [Hangup()]
        return []


class _TimedClient(AriClient):
    """Our client with the meter on its event handler and its requests (no change to the product)."""

    def __init__(self, meter: Meter, *args: Any, **kwargs: Any) -> None:
        self._meter = meter
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def on_event(self) -> Callable[[dict[str, Any]], None]:
        return self._handler

    @on_event.setter
    def on_event(self, handler: Callable[[dict[str, Any]], None]) -> None:
        meter = self._meter

        def timed(message: dict[str, Any]) -> None:
            meter.event(message)
            handler(message)

        self._handler = timed

    async def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> Any:
        self._meter.command(uri)
        return await super().request(method, uri, *args, **kwargs)


async def start_ours(server: AriServer, app: str, meter: Meter, *, persist: bool = True
                     ) -> Callable[[], Awaitable[None]]:
    """Our application. ``persist``: as ``callcenter serve`` runs it, the call timeline on SQLite flushed by
    its task every 50 ms; else the timeline stays in memory and is dropped after each phase (the ARI path
    alone, the same work as the baseline, which records nothing)."""
    base = load_settings(environ={})
    settings = replace(base, telephony=replace(base.telephony, ari_url=server.ari_url, ari_app=app))
    folder = tempfile.TemporaryDirectory(prefix="bench-ari-")
    if persist:
        url = f"sqlite:///{folder.name}/timeline.sqlite3"
        await asyncio.to_thread(migrate, url)
        timeline = Timeline(url)
    else:
        timeline = Timeline(None)
    flusher = asyncio.create_task(timeline.run_flusher(0.05) if persist else asyncio.sleep(0))
    # In memory the timeline would only grow: what a phase wrote is dropped before the next one.
    meter.on_reset = timeline._pending.clear if not persist else None
    client = _TimedClient(meter, server.ari_url, "callcenter", "callcenter", app)
    service = AriService(settings, timeline=timeline, client=client,
                         session_factory=lambda call, script, answered: _BenchSession())
    task = asyncio.create_task(service.run())
    async with asyncio.timeout(10):
        await service.ready()

    async def stop() -> None:
        for running in (task, flusher):
            running.cancel()
        await asyncio.gather(task, flusher, return_exceptions=True)
        dispose_all()
        folder.cleanup()

    return stop


async def start_ours_in_memory(server: AriServer, app: str, meter: Meter) -> Callable[[], Awaitable[None]]:
    return await start_ours(server, app, meter, persist=False)


# ---------------------------------------------------------------------- the aioari baseline


class _TimedHttp(AsynchronousHttpClient):
    def __init__(self, meter: Meter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._meter = meter

    async def request(self, method, url, params=None, data=None, headers=None):  # type: ignore[no-untyped-def]
        self._meter.command(url.split("/ari/", 1)[-1])
        return await super().request(method, url, params=params, data=data, headers=headers)


class _TimedAioari(aioari.Client):
    def __init__(self, meter: Meter, *args: Any) -> None:
        super().__init__(*args)
        self._meter = meter

    async def process_ws(self, msg):  # type: ignore[no-untyped-def]
        self._meter.event(msg)
        await super().process_ws(msg)


async def start_aioari(server: AriServer, app: str, meter: Meter) -> Callable[[], Awaitable[None]]:
    from aioswagger11.http_client import ApiKeyAuthenticator

    http = _TimedHttp(meter, auth=ApiKeyAuthenticator("127.0.0.1", "callcenter:callcenter"))
    client = _TimedAioari(meter, server.base_url, http)
    await client.init()

    async def on_start(objects: Any, event: dict[str, Any]) -> None:
        channel = objects["channel"] if isinstance(objects, dict) else objects
        await channel.answer()
        await channel.play(media="sound:bench", lang="zh-CN")

    async def on_finished(event: dict[str, Any]) -> None:
        target = event["playback"]["target_uri"]
        if target.startswith("channel:"):
            await client.channels.hangup(channelId=target[8:])

    client.on_channel_event("StasisStart", on_start)
    client.on_event("PlaybackFinished", on_finished)
    task = asyncio.create_task(client.run(apps=app))
    for _ in range(1000):  # aioari has no "connected" signal: wait until the simulator sees its websocket
        if app in server.sim.apps:
            break
        await asyncio.sleep(0.01)

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()

    return stop


# ---------------------------------------------------------------------- load


STARTERS = {"callcenter": start_ours, "callcenter-mem": start_ours_in_memory, "aioari": start_aioari}


async def run_phase(sim: AriSimulator, app: str, meter: Meter, phase: str, calls: int, ramp: float,
                    limit: float) -> Figures:
    meter.reset()
    outside = AsteriskSideMeter()
    sim.observers.append(outside)
    begun = time.perf_counter()
    chans = []
    for i in range(calls):
        if ramp > 0:
            due = begun + ramp * i / calls
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        chans.append(sim.place_call(SimCaller(number=f"1380000{i:04d}", args=("main",)), app=app))
    failed = 0
    try:
        async with asyncio.timeout(limit):
            ended = await asyncio.gather(*(sim.wait_ended(c.id) for c in chans))
    except TimeoutError:
        ended = [c for c in chans if c.ended_t is not None]
        failed = calls - len(ended)
    failed += sum(1 for c in ended if c.hangup_by != "system")
    seconds = time.perf_counter() - begun
    sim.observers.remove(outside)
    for chan in chans:  # the simulator keeps every call for wait_ended(); the next phase need not carry them
        sim.ended.pop(chan.id, None)
    return Figures(app, phase, calls, failed, seconds, list(meter.samples), list(outside.samples))


async def bench(calls: int, playback: float, ramp: float, limit: float, apps: list[str],
                rounds: int = 3) -> list[Figures]:
    """Both applications stay connected (each on its own Stasis app); capacity rounds alternate between them
    (the median round counts: the machine's load drifts), then one latency phase each."""
    clock = ScaledClock(1.0)
    prompt = {"value": playback}
    sim = AriSimulator(clock=clock, media_length=lambda media, lang: prompt["value"])
    out: list[Figures] = []
    async with AriServer(sim) as server:
        meters = {name: Meter() for name in apps}
        stops = []
        try:
            for name in apps:
                starter = STARTERS[name]
                stops.append(await starter(server, f"bench-{name}", meters[name]))
            prompt["value"] = playback
            per_app: dict[str, list[Figures]] = {name: [] for name in apps}
            for _ in range(rounds):
                for name in apps:
                    per_app[name].append(await run_phase(sim, f"bench-{name}", meters[name], "capacity", calls,
                                                         0.0, limit))
            for name in apps:
                ranked = sorted(per_app[name], key=lambda f: f.calls_per_second)
                out.append(ranked[len(ranked) // 2])
            prompt["value"] = ramp + 0.5  # every call still on the line when the last one arrives
            for name in apps:
                out.append(await run_phase(sim, f"bench-{name}", meters[name], "latency", calls, ramp, limit))
        finally:
            for stop in stops:
                await stop()
    return out


def report(figures: list[Figures], as_json: bool) -> int:
    by = {(f.app.removeprefix("bench-"), f.phase): f for f in figures}
    if as_json:
        print(json.dumps([{"app": f.app, "phase": f.phase, "calls": f.calls, "failed": f.failed,
                           "calls_per_second": round(f.calls_per_second, 1), "p50_ms": round(f.p(0.5), 2),
                           "p99_ms": round(f.p(0.99), 2), "asterisk_side_p99_ms": round(f.p(0.99, f.asterisk_side), 2)}
                          for f in figures], indent=2))
    else:
        print("latency = event arriving at the application → the command it causes leaving it (app side) and")
        print("          event leaving Asterisk → that command reaching Asterisk (Asterisk side, incl. backlog)")
        print(f"{'application':<15} {'phase':<9} {'calls':>6} {'failed':>6} {'calls/s':>9} {'app p50':>8} "
              f"{'app p99':>8} {'ast p99':>9}")
        for f in figures:
            print(f"{f.app.removeprefix('bench-'):<15} {f.phase:<9} {f.calls:>6} {f.failed:>6} "
                  f"{f.calls_per_second:>9.1f} {f.p(0.5):>8.2f} {f.p(0.99):>8.2f} {f.p(0.99, f.asterisk_side):>9.2f}")
    base = by.get(("aioari", "capacity"))
    ok = True
    for name in ("callcenter", "callcenter-mem"):
        ours = by.get((name, "capacity"))
        if ours and base and base.calls_per_second:
            ratio = ours.calls_per_second / base.calls_per_second
            print(f"calls/s ratio {name}/aioari: {ratio:.2f}x (target >= {TARGET_RATIO:g}x)")
            ok = ok and ratio >= TARGET_RATIO
    latency = by.get(("callcenter", "latency"))
    if latency:
        print(f"callcenter p99 event→command: {latency.p(0.99):.2f} ms (target < {TARGET_P99_MS:g} ms)")
        ok = ok and latency.p(0.99) < TARGET_P99_MS
    base_latency = by.get(("aioari", "latency"))
    if latency and base_latency:
        ours_ast, base_ast = latency.p(0.99, latency.asterisk_side), base_latency.p(0.99, base_latency.asterisk_side)
        print(f"Asterisk-side p99 callcenter {ours_ast:.2f} ms vs aioari {base_ast:.2f} ms "
              f"({base_ast / ours_ast:.1f}x)")
    ok = ok and all(f.failed == 0 for f in figures)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000, help="simulated calls per phase (default 1000)")
    parser.add_argument("--quick", action="store_true", help="100 calls: a development run")
    parser.add_argument("--playback", type=float, default=0.0, help="prompt seconds in the capacity phase")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which latency-phase calls arrive")
    parser.add_argument("--apps", default="callcenter,callcenter-mem,aioari",
                        help="comma-separated subset of " + ",".join(STARTERS))
    parser.add_argument("--limit", type=float, default=120.0, help="give up on a phase after this many seconds")
    parser.add_argument("--rounds", type=int, default=3, help="alternating capacity rounds; the median counts")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    calls = 100 if args.quick else args.calls
    if calls < 1 or args.rounds < 1 or args.playback < 0 or args.ramp < 0:
        parser.error("--calls and --rounds must be at least 1; --playback and --ramp must not be negative")
    configure_logging("error", json=True)
    logging.getLogger("aioari").setLevel(logging.ERROR)
    logging.getLogger("aioswagger11").setLevel(logging.ERROR)
    apps = args.apps.split(",")
    if not set(apps) <= set(STARTERS):
        parser.error(f"--apps: unknown application(s) {sorted(set(apps) - set(STARTERS))}")
    figures = asyncio.run(bench(calls, args.playback, args.ramp, args.limit, apps, args.rounds))
    return report(figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
