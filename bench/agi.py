"""FastAGI benchmark: the bridge's native FastAGI server against panoramisk and pyst2, on the same load.

Each server runs the same minimal script: ``ANSWER``, ``STREAM FILE bench ""``, ``HANGUP``. The load is a
simulated Asterisk on real TCP (127.0.0.1) in a child process (``--drive``), so the server measured does not
share its event loop or its core with it. ``--load lean`` (default) speaks the same wire as
:class:`callcenter.sim.agi.AGIPeer` (the same ``agi_`` block, reply lines and ``HANGUP`` line) from bare
non-blocking sockets on one epoll set, with no event loop: it needs well under a core to drive the fastest
server, so burst calls/s is the server's speed. ``--load sim`` uses AGIPeer itself, which needs ~90 % of a core
to keep up with any asyncio server (then burst calls/s is the simulator's speed, not the server's).

Phases, for every server:
- burst: ``--calls`` (500) calls in progress at once, each call that ends starting the next, until ``--waves``
  (4) times ``--calls`` calls were made; STREAM FILE plays 0 s. Throughput and CPU per call.
- held: ``--calls`` calls in progress together, each STREAM FILE playing ``--playback`` (1) s, arrivals spread
  over that second: the command round-trip while that many calls are up.

Method (why the figures can be trusted on a shared 2-core machine):
- ``--rounds`` rounds (5; ``--quick``: 3), the servers' order rotated each round; the report gives medians.
- The server's CPU (``getrusage``: user and kernel apart) is counted only while the load runs (the child says
  "ready" after its imports, then waits for "go"), so process start-up does not dilute the per-call cost.
- The load generator's own CPU share is reported; at >= 90 % of a core the burst is capped by it (flagged).

Figures per server:
- burst calls/s: calls completed / wall seconds from the first connect to the last call's end;
- calls/CPU-s: calls per CPU second of the server's process (all its threads) in the burst; user us / kernel us:
  that CPU per call in the process's own code and in the kernel (TCP on loopback, accept, epoll, close);
- command round-trip (p50 / p99): on the Asterisk side, the real time from writing a reply (or the ``agi_``
  block) to reading the server's next command: what a call waits on the server for every AGI step.

Servers: ``callcenter`` = :class:`callcenter.telephony.agi.server.FastAGIServer` (codec, connection, epoll
reactor, shared deadlines: what ``callcenter serve`` runs); ``panoramisk`` = ``panoramisk.fast_agi.Application``
on ``asyncio.start_server``, as its documentation runs it; ``pyst2-threads`` = pyst2's ``AGI`` command set in a
``socketserver.ThreadingTCPServer`` (one OS thread per call; pyst2's own FastAGI module is Python 2 and its
``AGI()`` installs a SIGHUP handler, so it runs as :class:`callcenter.telephony.agi.classic.ClassicAGI`, i.e.
pyst2 without the signal handler); ``socket-floor`` = a reference, not a competitor: the three commands written
from bare protocol callbacks on the same reactor, replies not parsed, no task per call: the least any Python
server pays per call on this machine.

    .venv/bin/python bench/agi.py --quick        # 50 calls, while developing
    .venv/bin/python bench/agi.py                # 500 calls, the figure for the README
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import heapq
import json
import logging
import resource
import select
import socket
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
from callcenter.telephony.agi.reactor import listen
from callcenter.telephony.agi.server import FastAGIServer

TARGET_RATIO = 2.0
TARGET_P99_MS = 5.0
BACKLOG = 4096
# Above this share of one core, the simulated Asterisk, not the server, sets the burst's pace.
SATURATED = 0.9


@dataclass
class Figures:
    server: str
    calls: int
    failed: int
    seconds: float
    latencies: list[float]
    cpu: float = 0.0  # CPU seconds the server's process spent (all its threads) while serving the load
    system: float = 0.0  # the part of ``cpu`` spent in the kernel (TCP on loopback, epoll, accept, close)
    load_cpu: float = 0.0  # CPU seconds the simulated Asterisk's process spent over the same calls

    @property
    def load_share(self) -> float:
        """The load generator's CPU over its wall time: near 1.0 it saturates its core, and burst calls/s is then
        its speed, not the server's (calls per server CPU second stays meaningful)."""
        return self.load_cpu / self.seconds if self.seconds else 0.0

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
            "server_kernel_cpu_seconds": round(self.system, 3),
            "load_cpu_share": round(self.load_share, 3),
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


class _BareCall(asyncio.Protocol):
    """The script's three commands written from protocol callbacks, replies not even parsed: the socket work
    alone, for the report's reference line."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        self.step = 0
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        if self.step == 0:
            self.buffer += data
            if b"\n\n" not in self.buffer:
                return
        self.step += 1
        if self.step <= 3:
            self.transport.write((b"ANSWER\n", b'STREAM FILE bench ""\n', b"HANGUP\n")[self.step - 1])
        else:
            self.transport.close()


@asynccontextmanager
async def socket_floor_server(calls: int):
    server = await listen(_BareCall, "127.0.0.1", 0, backlog=BACKLOG)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


SERVERS: dict[str, Callable[[int], AbstractAsyncContextManager[int]]] = {
    "callcenter": callcenter_server,
    "panoramisk": panoramisk_server,
    "pyst2-threads": pyst2_server,
    "socket-floor": socket_floor_server,
}


# ---------------------------------------------------------------- the load (its own process)


class _LeanCall:
    """Asterisk's half of one benchmark call with nothing but the script's three replies.

    The simulator's :class:`AGIPeer` models a whole channel (timers, DTMF, MixMonitor, transcripts) on a
    stream reader; on this 2-core machine it spent ~90 % of its core to keep up with either server, so the
    burst figure was its speed, not the server's. This speaks the same wire (the same ``agi_`` block, the same
    reply lines, the ``HANGUP`` line after the hang-up) on a bare non-blocking socket, and is the same for
    every server."""

    __slots__ = ("block", "buffer", "commands", "connected", "sent_at", "sock")

    def __init__(self, sock: socket.socket, block: bytes) -> None:
        self.sock = sock
        self.block = block
        self.buffer = b""
        self.commands: list[str] = []
        self.sent_at = 0.0
        self.connected = False

    def ok(self) -> bool:
        c = self.commands  # pyst2 adds STREAM FILE's optional sample offset ("… 0")
        return len(c) == 3 and c[0] == "ANSWER" and c[2] == "HANGUP"


class _LeanLoad:
    """``calls`` calls on one epoll set, no event loop: a client costing a fraction of what any server does per
    call, so the burst measures the server (its CPU share is still reported)."""

    def __init__(self, port: int, calls: int, playback: float, stagger: float, block: bytes, total: int = 0) -> None:
        """``calls`` at once; with ``total`` > ``calls`` each call that ends starts the next (a closed loop that
        keeps ``calls`` in progress until ``total`` have been made)."""
        self.port = port
        self.calls = max(calls, total)
        self.concurrent = calls
        self.started = 0
        self.playback = playback
        self.stagger = stagger
        self.block = block
        self.epoll = select.epoll()
        self.live: dict[int, _LeanCall] = {}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []  # (when, seq, action): a heap
        self.seq = 0
        self.latencies: list[float] = []
        self.done = 0
        self.failed = 0

    def later(self, when: float, action: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, action))

    def start_call(self) -> None:
        self.started += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.finish(None, ok=False)
            return
        call = _LeanCall(sock, self.block)
        self.live[sock.fileno()] = call
        self.epoll.register(sock.fileno(), select.EPOLLOUT)

    def send(self, call: _LeanCall, data: bytes) -> None:
        try:
            call.sock.send(data)  # a few dozen bytes: the kernel takes them whole
        except OSError:
            return  # the server closed first; its EOF is read next
        call.sent_at = time.perf_counter()

    def readable(self, call: _LeanCall) -> None:
        try:
            data = call.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.finish(call, ok=call.ok())
            return
        buffer = call.buffer + data
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line = buffer[:end].decode("utf-8", "replace").rstrip("\r")
            buffer = buffer[end + 1 :]
            self.latencies.append(time.perf_counter() - call.sent_at)
            call.commands.append(line)
            if line == "ANSWER":
                self.send(call, b"200 result=0\n")
            elif line.startswith("STREAM FILE bench"):
                reply = b"200 result=0 endpos=%d\n" % int(self.playback * 8000)
                if self.playback:
                    self.later(time.perf_counter() + self.playback, lambda c=call, r=reply: self.send(c, r))
                else:
                    self.send(call, reply)
            elif line == "HANGUP":
                self.send(call, b"200 result=1\nHANGUP\n")  # then Asterisk waits for the AGI to close
            else:
                self.send(call, b"510 Invalid or unknown command\n")
        call.buffer = buffer

    def finish(self, call: _LeanCall | None, *, ok: bool) -> None:
        if call is not None:
            fd = call.sock.fileno()
            self.live.pop(fd, None)
            self.epoll.unregister(fd)
            call.sock.close()
        self.done += 1
        self.failed += 0 if ok else 1
        if self.started < self.calls and not self.stagger:
            self.start_call()

    def run(self, limit: float) -> None:
        started = time.perf_counter()
        for i in range(self.concurrent):
            if self.stagger:
                self.later(started + i * self.stagger, self.start_call)
            else:
                self.start_call()
        while self.done < self.calls:
            now = time.perf_counter()
            if now - started > limit:
                self.failed += self.calls - self.done
                return
            while self.timers and self.timers[0][0] <= now:
                heapq.heappop(self.timers)[2]()
            wait = min(self.timers[0][0] - now, 0.05) if self.timers else 0.05
            for fd, _ in self.epoll.poll(max(wait, 0)):
                call = self.live.get(fd)
                if call is None:
                    continue
                if not call.connected:
                    if call.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        self.finish(call, ok=False)
                        continue
                    call.connected = True
                    self.epoll.modify(fd, select.EPOLLIN)
                    self.send(call, call.block)
                    continue
                self.readable(call)


def _drive(port: int, calls: int, playback: float, stagger: float, load: str, limit: float,
           waves: int = 1) -> dict[str, Any]:
    """The simulated Asterisk: ``calls`` calls together (``stagger`` seconds apart), each to the ``bench`` entry;
    with ``waves`` > 1, ``waves`` times as many, each call that ends starting the next (lean load only; the
    simulator runs the waves one after the other)."""
    clock = ScaledClock(1.0)
    caller = SimCaller(args=("bench",))
    env = AGIPeer(caller, clock=clock).environment("bench", "127.0.0.1", port)
    block = ("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode()
    started = time.perf_counter()
    cpu = time.process_time()
    latencies: list[float] = []
    failed = 0
    if load == "lean":
        lean = _LeanLoad(port, calls, playback, stagger, block, total=calls * waves)
        lean.run(limit)
        latencies, failed = lean.latencies, lean.failed
    else:

        async def sim(i: int) -> bool:
            if stagger:
                await asyncio.sleep(i * stagger)
            peer = AGIPeer(caller, clock=clock, sounds={"bench": playback}, latencies=latencies)
            result = await peer.run("127.0.0.1", port)
            commands = result.commands()  # pyst2 adds STREAM FILE's optional sample offset ("… 0")
            return len(commands) == 3 and commands[0] == "ANSWER" and commands[2] == "HANGUP"

        async def all_calls() -> list[Any]:
            return await asyncio.gather(*(sim(i) for i in range(calls)), return_exceptions=True)

        for _ in range(waves):
            failed += sum(1 for ok in asyncio.run(all_calls()) if ok is not True)
    return {
        "seconds": time.perf_counter() - started,
        "load_cpu": time.process_time() - cpu,
        "failed": failed,
        "latencies": latencies,
    }


async def drive(name: str, factory: Callable[[int], AbstractAsyncContextManager[int]], calls: int,
                playback: float, stagger: float, limit: float, load: str, waves: int = 1) -> Figures:
    """Start one server here and the load in a child process, so the two do not share an event loop.

    The server's CPU is counted from the child's "ready" (its imports done) to its figures: the child's start-up
    and the server's own set-up and shutdown are the same fixed cost for every server and would only blur
    the per-call figure of a short burst."""
    async with factory(calls) as port:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--drive", str(port), "--calls", str(calls), "--playback", str(playback),
            "--stagger", str(stagger), "--load", load, "--limit", str(limit), "--waves", str(waves),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        try:
            async with asyncio.timeout(limit):
                await child.stdout.readline()
                before = resource.getrusage(resource.RUSAGE_SELF)
                child.stdin.write(b"go\n")
                await child.stdin.drain()
                out = await child.stdout.read()
                after = resource.getrusage(resource.RUSAGE_SELF)
                await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()
            return Figures(name, calls * waves, calls * waves, limit, [], limit)
    data = json.loads(out)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return Figures(name, calls * waves, data["failed"], data["seconds"], data["latencies"], user + system, system,
                   data["load_cpu"])


async def run(calls: int, playback: float, servers: list[str], limit: float, rounds: int,
              load: str = "lean", waves: int = 1) -> dict[str, list[Figures]]:
    """Two phases on every server: a burst (``calls`` calls in progress at once until ``waves`` times as many were
    made, zero playback: throughput and CPU cost) and a held load (``calls`` calls in progress together, each
    STREAM FILE playing ``playback`` seconds, arrivals spread over that time: command round-trip while that many
    calls are up).

    ``rounds`` rounds, the servers' order rotated every round, so a slow spell of the shared machine (other
    builds, a noisy neighbour) falls on each server in turn instead of on whichever ran second; the report
    takes each figure's median over the rounds. Returns every run, per phase."""
    phases: dict[str, list[Figures]] = {"burst": [], "held": []}
    for r in range(rounds):
        order = servers[r % len(servers):] + servers[: r % len(servers)]
        for name in order:
            phases["burst"].append(await drive(name, SERVERS[name], calls, 0.0, 0.0, limit, load, waves))
        for name in order:
            phases["held"].append(await drive(name, SERVERS[name], calls, playback, playback / calls, limit, load))
    return phases


def _median(runs: list[Figures], figure: Callable[[Figures], float]) -> float:
    return statistics.median(figure(f) for f in runs)


def summary(phases: dict[str, list[Figures]]) -> dict[str, dict[str, float]]:
    """Per server, the median over the rounds of each figure (latencies: the median of each run's p50 / p99)."""
    out: dict[str, dict[str, float]] = {}
    names = list(dict.fromkeys(f.server for f in phases["burst"]))
    for name in names:
        burst = [f for f in phases["burst"] if f.server == name]
        held = [f for f in phases["held"] if f.server == name]
        out[name] = {
            "rounds": len(burst),
            "burst_calls_per_second": _median(burst, lambda f: f.calls_per_second),
            "calls_per_cpu_second": _median(burst, lambda f: f.capacity),
            "burst_p99_ms": _median(burst, lambda f: f.percentile(99)),
            "held_p50_ms": _median(held, lambda f: f.percentile(50)),
            "held_p99_ms": _median(held, lambda f: f.percentile(99)),
            "load_cpu_share": _median(burst, lambda f: f.load_share),
            "user_us_per_call": _median(burst, lambda f: (f.cpu - f.system) / max(f.calls - f.failed, 1) * 1e6),
            "kernel_us_per_call": _median(burst, lambda f: f.system / max(f.calls - f.failed, 1) * 1e6),
            "failed": sum(f.failed for f in burst + held),
        }
    return out


def report(phases: dict[str, list[Figures]], calls: int, playback: float) -> str:
    figures = summary(phases)
    rounds = max((v["rounds"] for v in figures.values()), default=0)
    lines = [
        f"FastAGI benchmark, {calls} simulated calls per server and phase (script ANSWER / STREAM FILE / HANGUP;",
        "the simulated Asterisk runs in a separate process).",
        f"burst: all {calls} calls at once, STREAM FILE plays 0 s.  held: {calls} calls in progress together, "
        f"each STREAM FILE plays {playback:g} s.  Medians over {rounds:g} alternating rounds.",
        f"{'server':<15}{'burst calls/s':>14}{'calls/CPU-s':>12}{'user us':>8}{'kernel us':>10}{'load CPU':>9}"
        f"{'burst p99':>10}{'held p50':>10}{'held p99':>10}{'failed':>8}",
    ]
    for name, v in figures.items():
        lines.append(
            f"{name:<15}{v['burst_calls_per_second']:>14.1f}{v['calls_per_cpu_second']:>12.1f}"
            f"{v['user_us_per_call']:>8.1f}{v['kernel_us_per_call']:>10.1f}"
            f"{v['load_cpu_share']:>8.0%} {v['burst_p99_ms']:>10.3f}{v['held_p50_ms']:>10.3f}{v['held_p99_ms']:>10.3f}"
            f"{v['failed']:>8g}"
        )
    lines.append("user us / kernel us: the server's CPU per call in its own code and in the kernel (TCP, epoll)")
    if "socket-floor" in figures:
        lines.append("socket-floor is a reference, not a competitor: the same three commands sent from bare "
                     "callbacks (no parsing, no task); what any Python server on this loop pays at the least")
    ours = figures.get("callcenter")
    for other in ("panoramisk", "pyst2-threads"):
        theirs = figures.get(other)
        if ours and theirs and theirs["calls_per_cpu_second"] and theirs["burst_calls_per_second"]:
            cpu = ours["calls_per_cpu_second"] / theirs["calls_per_cpu_second"]
            rate = ours["burst_calls_per_second"] / theirs["burst_calls_per_second"]
            lines.append(f"callcenter vs {other}: {cpu:.2f}x calls per CPU second, {rate:.2f}x burst calls/s")
    saturated = [name for name, v in figures.items() if v["load_cpu_share"] >= SATURATED]
    if saturated:
        lines.append(
            f"load generator at >= {SATURATED:.0%} of a core while driving {', '.join(saturated)}: burst calls/s is "
            "capped by the simulated Asterisk there; compare calls per CPU second"
        )
    if ours:
        lines.append(
            f"targets: >= {TARGET_RATIO:g}x panoramisk; p99 < {TARGET_P99_MS:g} ms "
            f"(callcenter held p99 {ours['held_p99_ms']:.3f} ms)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=500, help="concurrent calls per server (default 500)")
    parser.add_argument("--quick", action="store_true", help="50 calls: a development run")
    parser.add_argument("--playback", type=float, default=1.0,
                        help="seconds each STREAM FILE plays in the held phase (default 1)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS))
    parser.add_argument("--rounds", type=int, help="alternating rounds, medians reported (default 5; --quick: 3)")
    parser.add_argument("--load", choices=("lean", "sim"), default="lean",
                        help="the simulated Asterisk: lean (the script's replies only, default) or sim (AGIPeer)")
    parser.add_argument("--limit", type=float, default=120.0, help="give up on a server after this many seconds")
    parser.add_argument("--waves", type=int, default=4,
                        help="burst phase: --calls calls in progress until WAVES times --calls were made (default 4)")
    parser.add_argument("--stagger", type=float, default=0.0, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--drive", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.drive:
        print("ready", flush=True)  # the parent starts counting its server's CPU, then says go
        sys.stdin.readline()
        print(json.dumps(_drive(args.drive, args.calls, args.playback, args.stagger, args.load, args.limit,
                                args.waves)))
        return 0
    calls = 50 if args.quick else args.calls
    if calls < 1:
        parser.error("--calls must be at least 1")
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    servers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    configure_logging("error", json=True)
    logging.getLogger("panoramisk").setLevel(logging.ERROR)
    if args.waves < 1:
        parser.error("--waves must be at least 1")
    phases = asyncio.run(run(calls, args.playback, servers, args.limit, rounds, args.load, args.waves))
    if args.json:
        runs = {k: [f.as_dict() for f in v] for k, v in phases.items()}
        print(json.dumps({"medians": summary(phases), "runs": runs}, indent=2))
    else:
        print(report(phases, calls, args.playback))
    return 0 if all(f.failed == 0 for v in phases.values() for f in v) else 1


if __name__ == "__main__":
    sys.exit(main())
