"""Scale-out on PostgreSQL (issue 17): calls per second and event-to-command latency with 1, 2 and 3 ``callcenter
serve`` processes, and the agent reservation under contention.

    .venv/bin/python bench/scale.py                       # 1, 2, 3 processes, 15 s of offered calls each
    .venv/bin/python bench/scale.py --seconds 8 --rate 12 # quicker

Everything runs on a scratch PostgreSQL database (created and dropped on the server CALLCENTER_TEST_POSTGRES_URL or
--pg-url names). For N processes there are N simulated Asterisk servers (the ARI simulator, each on its own port on
127.0.0.1, run here on one clock ``--speed`` times faster than the wall, as the processes are); process k holds
server k's ARI application, and the offered calls are spread evenly over the servers. Each process is pinned to
one core (``os.sched_setaffinity``) where the machine has a core for it; the output says how many it has.

Printed per process count:

* ``calls/s``: calls answered by an agent per real second, from the first call offered to the last one ended
  (the offered rate is the same for every count, above what one process keeps up with on a small machine);
* ``event→command p50/p99``: from an ARI event the simulated Asterisk sends about a channel (StasisStart, a
  playback finished, a leg answered …) to the next REST command the process sends about that channel;
* the scaling ratio of calls/s against one process, in the same run.

Then the seat reservation alone (``callcenter.calls.seat_store.SeatStore.reserve``, FOR UPDATE SKIP LOCKED, and
its release), 1, 2, 4 and 8 worker processes on one group of seats: reservations per second and the p50/p99 of
one reservation, and a check that no seat was ever held by two workers at once. Every phase is bounded in time;
the benchmark stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_database
from callcenter.calls.agents import AgentState
from callcenter.calls.seat_store import SeatStore
from callcenter.calls.timeline import Timeline
from callcenter.logs import configure_logging
from callcenter.sim.ari import AriSimulator, fixed_media_length
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock
from callcenter.store import migrate

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://callcenter:callcenter@127.0.0.1:5432/postgres"
AGENTS = 100
START_LIMIT = 120.0  # real seconds a serve process may take to start
DRAIN_LIMIT = 30.0  # real seconds the calls in flight may take to end after the last one is offered
CALL_SECONDS = 20.0  # simulated length of each call: IVR, agent, a few words, the caller hangs up


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no pinning
        return []


def pin(pid: int, core: int | None) -> str:
    if core is None or not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    try:
        os.sched_setaffinity(pid, {core})
    except OSError as exc:
        return f"unpinned ({exc.strerror})"
    return f"core {core}"


# ---------------------------------------------------------------------------------------------- the centre


def prepare(url: str) -> None:
    """Schema, the agents' accounts (one password hash for all: argon2 is slow on purpose)."""
    from callcenter.web import users

    migrate(url)
    digest = users.hash_password("bench-password-1")
    real = users.hash_password
    users.hash_password = lambda _password: digest  # type: ignore[assignment]
    try:
        for i in range(1, AGENTS + 1):
            users.add_user(url, f"agent{i:02d}", "agent", "bench-password-1", work_number=str(8000 + i))
    finally:
        users.hash_password = real


def settings_file(root: Path, url: str, servers: dict[str, str], audio: Path) -> Path:
    lines = ["[service]", 'log_level = "warning"',
             "[database]", f'url = "{url}"', "job_lock_poll_seconds = 1.0",
             "[recordings]", f'root = "{root / "recordings"}"',
             "[metrics]", f'reports_directory = "{root / "reports"}"',
             "[scripts]", f'rendered_audio_directory = "{audio}"',
             # Agents come back from after-call work by themselves at the next upkeep (every lease / 3).
             "[agents]", "lease_seconds = 5", "wrap_up_max_seconds = 0.5",
             "[web]", 'host = "127.0.0.1"', f'secret_file = "{root / "secret"}"']
    for name, ari_url in servers.items():
        lines += [f"[telephony.asterisk.{name}]", f'ari_url = "{ari_url}"', 'ari_app = "callcenter"']
    path = root / "bench.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Latency:
    """Event → command: an event about a channel or bridge (a playback's target too) opens a wait that the next
    REST request naming it closes."""

    def __init__(self, sim: AriSimulator) -> None:
        self.open: dict[str, float] = {}
        self.samples: list[float] = []
        sim.add_observer(self.event)
        handle = sim.handle

        def timed(method: str, path: str, query: Any, body: Any = None) -> tuple[int, Any]:
            now = time.perf_counter()
            for found in _TARGET.findall(path):
                started = self.open.pop(found, None)
                if started is not None:
                    self.samples.append(now - started)
            return handle(method, path, query, body)

        sim.handle = timed  # type: ignore[method-assign]

    def event(self, kind: str, message: dict[str, Any]) -> None:
        if kind != "event" or message.get("type") in ("ChannelDestroyed", "RESTResponse"):
            return
        now = time.perf_counter()
        for key in ("channel", "peer", "bridge"):
            found = message.get(key)
            if isinstance(found, dict) and found.get("id"):
                self.open.setdefault(str(found["id"]), now)
        target = str((message.get("playback") or {}).get("target_uri", ""))
        if ":" in target:
            self.open.setdefault(target.partition(":")[2], now)


_TARGET = re.compile(r"/(?:channels|bridges)/([^/?]+)")


async def run_processes(count: int, args: argparse.Namespace, audio: Path) -> dict[str, float]:
    """One run with ``count`` serve processes and as many simulated Asterisk servers."""
    with scratch_database("postgresql", args.pg_url, f"scale{count}") as url, \
            tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        await asyncio.to_thread(prepare, url)
        clock = ScaledClock(1.0 / args.speed)
        sims, servers, latencies = {}, {}, []
        for k in range(count):
            name = f"s{k + 1}"
            sim = AriSimulator(clock=clock, recordings_dir=root / "recordings", system_name=name,
                               media_length=fixed_media_length(1.0))
            for i in range(1, AGENTS + 1):
                sim.add_agent(SimAgent(f"PJSIP/{8000 + i}", answer_at_ring=1))
            latencies.append(Latency(sim))
            sims[name] = sim
            servers[name] = await AriServer(sim).start()
        config = settings_file(root, url, {n: s.ari_url for n, s in servers.items()}, audio)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        env["CALLCENTER_CONFIG"] = str(config)
        procs: list[asyncio.subprocess.Process] = []
        available = cores()
        placement = []
        try:
            for k, name in enumerate(sims):
                log = (root / f"{name}.log").open("ab")
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "callcenter", "serve", "--ari", "--no-agi", "--asterisk", name,
                    "--port", "0", "--speed", str(args.speed), cwd=REPO, env=env, stdout=log,
                    stderr=asyncio.subprocess.STDOUT)
                log.close()
                procs.append(proc)
                placement.append(pin(proc.pid, available[k] if k < len(available) else None))
                await _serving(root / f"{name}.log", proc)  # one at a time: each takes its own server's lock
            store = SeatStore(url)
            for i in range(1, AGENTS + 1):
                store.set_state(f"agent{i:02d}", AgentState.READY, reason=None, now=datetime.now(UTC), by="bench")
            started = time.perf_counter()
            placed = []
            total = int(args.rate * args.seconds)
            names = list(sims)
            for n in range(total):
                await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
                sim = sims[names[n % count]]
                caller = SimCaller(number=f"139{n:08d}", args=("hotline",), speech=((6.0, 1.0),),
                                   hangup_at=CALL_SECONDS)
                placed.append((sim, sim.place_call(caller, app="callcenter")))
            ends: list[float] = []
            waits = [asyncio.ensure_future(sim.wait_ended(chan.id)) for sim, chan in placed]
            for wait in waits:
                wait.add_done_callback(lambda _w: ends.append(time.perf_counter()))
            _, pending = await asyncio.wait(waits, timeout=DRAIN_LIMIT + clock.real(CALL_SECONDS))
            for task in pending:
                task.cancel()
            seconds = max(ends, default=time.perf_counter()) - started
            await asyncio.sleep(1.0)  # the last flushes reach the database
            answered = len({e.call_id for e in Timeline(url).since(0, 1_000_000, types=["agent.answered"])})
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            for server in servers.values():
                await server.stop()
    samples = [s for lat in latencies for s in lat.samples]
    return {"offered": total, "answered": answered, "seconds": seconds, "calls_per_second": answered / seconds,
            "p50_ms": percentile(samples, 0.5) * 1000, "p99_ms": percentile(samples, 0.99) * 1000,
            "samples": len(samples), "placement": ", ".join(placement)}  # type: ignore[dict-item]


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


async def _serving(log: Path, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(START_LIMIT):
        while "serving the web pages at" not in _text(log):
            if proc.returncode is not None:
                raise SystemExit(f"serve exited while starting:\n{_text(log)[-3000:]}")
            await asyncio.sleep(0.1)  # polls a log another process writes; bounded above


# ---------------------------------------------------------------------------------------- reservations


def _reserver(url: str, worker: int, seconds: float, core: int | None, out: Any) -> None:
    """One worker process: reserve a seat, release it, again, for ``seconds``; sends back its timings and the
    (agent, from, to) of every hold."""
    if core is not None:
        pin(0, core)
    try:
        out.send(_reserve_loop(url, worker, seconds))
    except Exception as exc:  # reported by the parent in one line (a full server: "too many clients")
        out.send(f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}")
    out.close()


def _reserve_loop(url: str, worker: int, seconds: float) -> tuple[list[float], list[tuple[str, float, float]], int]:
    store = SeatStore(url)
    latencies: list[float] = []
    holds: list[tuple[str, float, float]] = []
    misses = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        call_id = f"bench-{worker}-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        agent = store.reserve("default", call_id=call_id, holder=f"bench-{worker}", now=datetime.now(UTC),
                              lease_seconds=60.0)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if agent is None:
            misses += 1
            continue
        # The span kept lies inside the database's hold (after the reservation committed, before the release
        # starts): two spans of one seat can then overlap only if the seat really was held twice.
        holds.append((agent.id, t1, time.perf_counter()))
        store.release(agent.id, AgentState.READY, call_id=call_id, reason=None, now=datetime.now(UTC), by="bench")
    return latencies, holds, misses


def run_reservations(url: str, workers: int, seconds: float) -> dict[str, float]:
    available = cores()
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    for w in range(workers):
        here, there = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_reserver, args=(url, w, seconds, available[w % len(available)]
                                                   if available else None, there))
        proc.start()
        pipes.append(here)
        procs.append(proc)
    latencies, holds, misses = [], [], 0
    for pipe, proc in zip(pipes, procs, strict=True):
        if not pipe.poll(seconds + 60):
            proc.kill()
            raise SystemExit(f"a reservation worker did not report within {seconds + 60:.0f} s")
        got = pipe.recv()
        proc.join(10)
        if isinstance(got, str):
            raise SystemExit(f"a reservation worker failed: {got}")
        got_latencies, got_holds, got_misses = got
        latencies += got_latencies
        holds += got_holds
        misses += got_misses
    by_agent: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for agent, start, stop in holds:
        by_agent[agent].append((start, stop))
    overlaps = sum(1 for spans in by_agent.values() for (a, b), (c, _d) in zip(sorted(spans), sorted(spans)[1:],
                                                                             strict=False) if c < b)
    return {"reservations": len(holds), "per_second": len(holds) / seconds, "misses": misses,
            "p50_ms": percentile(latencies, 0.5) * 1000, "p99_ms": percentile(latencies, 0.99) * 1000,
            "overlaps": overlaps}


def reservation_bench(args: argparse.Namespace) -> None:
    with scratch_database("postgresql", args.pg_url, "seats") as url:
        prepare_seats(url)
        print(f"\nseat reservation (SeatStore.reserve + release, {AGENTS} seats in one group, "
              f"{args.reserve_seconds:.0f} s per row)")
        for workers in (1, 2, 4, 8):
            r = run_reservations(url, workers, args.reserve_seconds)
            print(f"  {workers} worker processes: {r['per_second']:7.1f} reservations/s, p50 {r['p50_ms']:6.2f} ms, "
                  f"p99 {r['p99_ms']:7.2f} ms, {int(r['misses'])} found nobody free, "
                  f"{int(r['overlaps'])} seats held twice at once")


def prepare_seats(url: str) -> None:
    from callcenter.calls.agents import Agent

    migrate(url)
    store = SeatStore(url)
    now = datetime.now(UTC)
    for i in range(1, AGENTS + 1):
        store.upsert(Agent(f"agent{i:02d}", f"PJSIP/{8000 + i}", str(8000 + i), groups=("default",)), now)
        store.set_state(f"agent{i:02d}", AgentState.READY, reason=None, now=now, by="bench")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="real seconds of offered calls per process count")
    ap.add_argument("--rate", type=float, default=12.0, help="calls offered per real second")
    ap.add_argument("--speed", type=float, default=4.0, help="simulated seconds per real second")
    ap.add_argument("--reserve-seconds", type=float, default=5.0, help="seconds per reservation row")
    ap.add_argument("--counts", default="1,2,3", help="process counts to run (default 1,2,3)")
    ap.add_argument("--reservations-only", action="store_true", help="only the seat reservation rows")
    ap.add_argument("--pg-url", default=os.environ.get("CALLCENTER_TEST_POSTGRES_URL", DEFAULT_PG))
    args = ap.parse_args()
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        ap.error("--counts: comma-separated process counts, e.g. 1,2,3")
    if not (1 <= args.seconds <= 300 and 0 < args.rate <= 200 and 1 <= args.speed <= 50
            and 1 <= args.reserve_seconds <= 60 and counts and all(1 <= c <= 8 for c in counts)):
        ap.error("--seconds 1-300, --rate 0-200, --speed 1-50, --reserve-seconds 1-60, --counts 1-8 each")
    configure_logging("warning", json=False)
    available = cores()
    print(f"this machine gives us {len(available) or 'an unknown number of'} cores ({os.cpu_count()} in all): "
          + ("each serve process is pinned to its own core while there is one; more processes share them"
             if available else "no pinning"))
    if not args.reservations_only:
        print(f"offered: {args.rate:g} calls/s for {args.seconds:g} s, each {CALL_SECONDS:g} simulated s at "
              f"{args.speed:g}x ({CALL_SECONDS / args.speed:.1f} real s), {AGENTS} agents")
    audio = Path(tempfile.mkdtemp(prefix="bench-scale-audio-"))
    results = {}
    for count in counts if not args.reservations_only else []:
        r = asyncio.run(run_processes(count, args, audio))
        results[count] = r
        print(f"  {count} process{'es' if count > 1 else '  '}: {r['calls_per_second']:6.2f} calls/s "
              f"({int(r['answered'])} of {int(r['offered'])} answered in {r['seconds']:.1f} s), event→command "
              f"p50 {r['p50_ms']:6.2f} ms p99 {r['p99_ms']:7.2f} ms ({int(r['samples'])} samples; "
              f"{r['placement']})")
    if 1 in results and len(results) > 1:
        base = results[1]["calls_per_second"]
        print("scaling against one process: " + ", ".join(
            f"{c} → {results[c]['calls_per_second'] / base:.2f}x" for c in counts if c != 1))
    reservation_bench(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
