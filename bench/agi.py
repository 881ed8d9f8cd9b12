"""FastAGI benchmark: the bridge's native asyncio codec against panoramisk and pyst2, on the same load.

Each server runs the same minimal script: ``ANSWER``, ``STREAM FILE bench ""``, ``HANGUP``. The load is the
simulated Asterisk of :mod:`callcenter.sim.agi` (real TCP on 127.0.0.1, ``--calls`` calls placed at once, the
prompt's playback length set by ``--playback``, 0 by default so the figure is the AGI path's own cost).

The load runs in a child process (``--drive``), so the server measured does not share its event loop with
the simulator. Figures per server:
- calls/s: calls completed / wall seconds from the first connect to the last call's end;
- command round-trip (p50 / p99): on the Asterisk side, the real time from writing a reply (or the ``agi_``
  block) to reading the server's next command: what a call waits on the server for every AGI step.

Servers: ``callcenter`` = :class:`callcenter.telephony.agi.server.FastAGIServer` (codec + connection);
``panoramisk`` = ``panoramisk.fast_agi.Application`` on ``asyncio.start_server``; ``pyst2-threads`` = pyst2's
``AGI`` command set in a ``socketserver.ThreadingTCPServer`` (one OS thread per call; pyst2's own FastAGI
module is Python 2 and its ``AGI()`` installs a SIGHUP handler, so it runs as
:class:`callcenter.telephony.agi.classic.ClassicAGI`, i.e. pyst2 without the signal handler).

    .venv/bin/python bench/agi.py --quick        # 50 calls, while developing
    .venv/bin/python bench/agi.py                # 500 calls, the figure for the README
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socketserver
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from callcenter.config import load_settings
from callcenter.logs import configure_logging
from callcenter.sim.agi import AGIPeer
from callcenter.sim.ari_parties import SimCaller
from callcenter.sim.clock import ScaledClock
from callcenter.telephony.agi.classic import ClassicAGI
from callcenter.telephony.agi.server import FastAGIServer

TARGET_RATIO = 2.0
TARGET_P99_MS = 5.0
BACKLOG = 4096


@dataclass
class Figures:
    server: str
    calls: int
    failed: int
    seconds: float
    latencies: list[float]
    cpu: float = 0.0  # CPU seconds the server's process spent (all its threads) while serving the load

    @property
    def capacity(self) -> float:
        """Calls per server CPU second: what one core running this server sustains, whatever the load
        generator's own speed on a shared machine."""
        return (self.calls - self.failed) / self.cpu if self.cpu else 0.0

    @property
    def calls_per_second(self) -> float:
        return (self.calls - self.failed) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "calls": self.calls,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "calls_per_second": round(self.calls_per_second, 1),
            "server_cpu_seconds": round(self.cpu, 3),
            "capacity_calls_per_cpu_second": round(self.capacity, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 3) if self.latencies else None,
        }


# ---------------------------------------------------------------- the three servers, same minimal script


@asynccontextmanager
async def callcenter_server(calls: int):
    settings = load_settings(environ={})
    settings = replace(settings, telephony=replace(settings.telephony, agi_port=0, agi_max_calls=max(calls, 1)))

    async def minimal(transport: Any, env: dict[str, str]) -> None:
        await transport.execute("ANSWER")
        await transport.execute("STREAM FILE", "bench", "")
        await transport.execute("HANGUP")

    server = FastAGIServer(settings, minimal)
    _, port = await server.start()
    try:
        yield port
    finally:
        await server.close()


@asynccontextmanager
async def panoramisk_server(calls: int):
    from panoramisk.fast_agi import Application

    app = Application()

    async def minimal(request: Any) -> None:
        await request.send_command("ANSWER")
        await request.send_command('STREAM FILE bench ""')
        await request.send_command("HANGUP")

    app.add_route("bench", minimal)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=BACKLOG)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


class _Pyst2Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        agi = ClassicAGI(self.rfile, self.wfile)
        try:
            agi.read_environment()
            agi.answer()
            agi.stream_file("bench")
            agi.hangup()
        except Exception:  # the peer hung up: the thread ends
            pass


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG


@asynccontextmanager
async def pyst2_server(calls: int):
    server = _ThreadingServer(("127.0.0.1", 0), _Pyst2Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


SERVERS: dict[str, Callable[[int], AbstractAsyncContextManager[int]]] = {
    "callcenter": callcenter_server,
    "panoramisk": panoramisk_server,
    "pyst2-threads": pyst2_server,
}


# ---------------------------------------------------------------- the load (its own process)


async def _drive(port: int, calls: int, playback: float, stagger: float) -> dict[str, Any]:
    """The simulated Asterisk: ``calls`` calls (``stagger`` seconds apart), each to the ``bench`` entry."""
    clock = ScaledClock(1.0)
    latencies: list[float] = []
    caller = SimCaller(args=("bench",))

    async def one(i: int) -> bool:
        if stagger:
            await asyncio.sleep(i * stagger)
        peer = AGIPeer(caller, clock=clock, sounds={"bench": playback}, latencies=latencies)
        result = await peer.run("127.0.0.1", port)
        commands = result.commands()  # pyst2 adds STREAM FILE's optional sample offset ("… 0")
        return len(commands) == 3 and commands[0] == "ANSWER" and commands[2] == "HANGUP"

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(calls)), return_exceptions=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "failed": sum(1 for ok in outcomes if ok is not True),
        "latencies": latencies,
    }


async def drive(name: str, factory: Callable[[int], AbstractAsyncContextManager[int]], calls: int,
                playback: float, stagger: float, limit: float) -> Figures:
    """Start one server here and the load in a child process, so the two do not share an event loop."""
    async with factory(calls) as port:
        cpu = time.process_time()
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--drive", str(port), "--calls", str(calls), "--playback", str(playback),
            "--stagger", str(stagger), stdout=asyncio.subprocess.PIPE,
        )
        try:
            out, _ = await asyncio.wait_for(child.communicate(), limit)
        except TimeoutError:
            child.kill()
            await child.wait()
            return Figures(name, calls, calls, limit, [], limit)
        cpu = time.process_time() - cpu
    data = json.loads(out)
    return Figures(name, calls, data["failed"], data["seconds"], data["latencies"], cpu)


async def run(calls: int, playback: float, servers: list[str], limit: float) -> dict[str, list[Figures]]:
    """Two phases on every server: a burst (all calls at once, zero playback: throughput and CPU cost) and a
    held load (the same number of calls in progress together, each STREAM FILE playing ``playback`` seconds,
    arrivals spread over that time: command round-trip while that many calls are up)."""
    phases: dict[str, list[Figures]] = {"burst": [], "held": []}
    for name in servers:
        phases["burst"].append(await drive(name, SERVERS[name], calls, 0.0, 0.0, limit))
        phases["held"].append(await drive(name, SERVERS[name], calls, playback, playback / calls, limit))
    return phases


def report(phases: dict[str, list[Figures]], calls: int, playback: float) -> str:
    lines = [
        f"FastAGI benchmark, {calls} simulated calls per server and phase (script ANSWER / STREAM FILE / HANGUP;",
        "the simulated Asterisk runs in a separate process).",
        f"burst: all {calls} calls at once, STREAM FILE plays 0 s.  held: {calls} calls in progress together, "
        f"each STREAM FILE plays {playback:g} s.",
        f"{'server':<15}{'burst calls/s':>14}{'calls/CPU-s':>12}{'burst p99':>10}{'held p50':>10}{'held p99':>10}"
        f"{'failed':>8}",
    ]
    held = {f.server: f for f in phases["held"]}
    for f in phases["burst"]:
        h = held[f.server]
        lines.append(
            f"{f.server:<15}{f.calls_per_second:>14.1f}{f.capacity:>12.1f}{f.percentile(99):>10.3f}"
            f"{h.percentile(50):>10.3f}{h.percentile(99):>10.3f}{f.failed + h.failed:>8}"
        )
    by = {f.server: f for f in phases["burst"]}
    ours = by.get("callcenter")
    for other in ("panoramisk", "pyst2-threads"):
        theirs = by.get(other)
        if ours and theirs and theirs.capacity and theirs.calls_per_second:
            lines.append(
                f"callcenter vs {other}: {ours.capacity / theirs.capacity:.2f}x calls per CPU second, "
                f"{ours.calls_per_second / theirs.calls_per_second:.2f}x burst calls/s"
            )
    if ours and "callcenter" in held:
        lines.append(
            f"targets: >= {TARGET_RATIO:g}x panoramisk; p99 < {TARGET_P99_MS:g} ms "
            f"(callcenter held p99 {held['callcenter'].percentile(99):.3f} ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=500, help="concurrent calls per server (default 500)")
    parser.add_argument("--quick", action="store_true", help="50 calls: a development run")
    parser.add_argument("--playback", type=float, default=1.0,
                        help="seconds each STREAM FILE plays in the held phase (default 1)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS))
    parser.add_argument("--limit", type=float, default=120.0, help="give up on a server after this many seconds")
    parser.add_argument("--stagger", type=float, default=0.0, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--drive", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.drive:
        print(json.dumps(asyncio.run(_drive(args.drive, args.calls, args.playback, args.stagger))))
        return 0
    calls = 50 if args.quick else args.calls
    if calls < 1:
        parser.error("--calls must be at least 1")
    servers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    configure_logging("error", json=True)
    logging.getLogger("panoramisk").setLevel(logging.ERROR)
    phases = asyncio.run(run(calls, args.playback, servers, args.limit))
    if args.json:
        print(json.dumps({k: [f.as_dict() for f in v] for k, v in phases.items()}, indent=2))
    else:
        print(report(phases, calls, args.playback))
    return 0 if all(f.failed == 0 for v in phases.values() for f in v) else 1


if __name__ == "__main__":
    sys.exit(main())
