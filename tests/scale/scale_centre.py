"""One centre for the scale test: real ``callcenter serve`` processes on one PostgreSQL database and two simulated
Asterisk servers (the ARI simulator, each on its own port on 127.0.0.1) in the test's own event loop.

The simulators run on a :class:`ScaledClock` and every serve process gets the same speed (``serve --speed``), so
two minutes of calls take a fraction of that in real time while every ring and silence window keeps its
simulated length. Each process writes JSON log lines to its own file; the checks read them (which process
held which job, which reports it wrote). Every wait is bounded in real time and every process is stopped by
:meth:`Centre.close` (SIGTERM, then SIGKILL after a grace).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.sim.ari import AriSimulator, fixed_media_length
from callcenter.sim.ari_parties import SimAgent
from callcenter.sim.ari_server import AriServer
from callcenter.sim.clock import ScaledClock

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "scale-test-pass-1"
SECRET_KEY = "scale-test-secret-" + "k" * 40
ARI_USER, ARI_PASSWORD, ARI_APP = "callcenter", "callcenter", "callcenter"
PROMPT_SECONDS = 2.0  # every prompt lasts this long in the simulators (call seconds)
START_LIMIT = 90.0  # real seconds a serve process may take to say where it serves
STOP_LIMIT = 20.0  # real seconds a SIGTERM'd process may take to finish its calls and its last flush
JOB_POLL_SECONDS = 1.0  # database.job_lock_poll_seconds: a standby takes a dead holder's jobs within ~2 polls
LEASE_SECONDS = 15.0  # agents.lease_seconds
SERVERS = ("a", "b")


def agent_names(count: int) -> list[tuple[str, str]]:
    """(account name, work number) of ``count`` agents: agent01 … with 工号 8001 …"""
    return [(f"agent{i:02d}", f"{8000 + i}") for i in range(1, count + 1)]


@dataclass
class ServeProcess:
    """One ``callcenter serve`` child: its settings file, its log, the servers it takes calls from."""

    name: str
    config: Path
    log: Path
    args: list[str]
    servers: tuple[str, ...]
    process: asyncio.subprocess.Process | None = None
    url: str = ""
    killed_at: float | None = None  # time.monotonic() of the kill -9

    async def start(self, env: dict[str, str]) -> None:
        out = self.log.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "callcenter", "serve", *self.args, cwd=REPO, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT)
        finally:
            out.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (a line still being written is skipped)."""
        found = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    found.append(json.loads(line))
        return found

    async def wait_serving(self, limit: float = START_LIMIT) -> str:
        """Wait (at most ``limit`` real seconds) for the line naming the web address; returns it."""
        async with asyncio.timeout(limit):
            while not (found := re.search(r"serving the web pages at (http://\S+)", self.text())):
                if not self.alive():
                    raise AssertionError(f"serve {self.name} exited ({self.process and self.process.returncode}) "
                                         f"while starting:\n{self.text()[-4000:]}")
                await asyncio.sleep(0.05)  # polls a file another process writes: the line, not the time, ends it
        self.url = found.group(1)
        return self.url

    def cpu_seconds(self) -> float:
        """CPU time of the process and its waited-for children (ffmpeg for the recordings), while it lives."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except (OSError, AssertionError):
            return 0.0
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    async def kill(self) -> None:
        """kill -9: no clean-up, no last flush."""
        assert self.process is not None
        self.killed_at = time.monotonic()
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_LIMIT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode


@dataclass
class Centre:
    """The PostgreSQL database, the simulated Asterisk servers and the serve processes of one test."""

    root: Path
    db_url: str
    rendered_audio: Path
    speed: float
    agents: list[tuple[str, str]]
    clock: ScaledClock = field(init=False)
    sims: dict[str, AriSimulator] = field(default_factory=dict)
    ari: dict[str, AriServer] = field(default_factory=dict)
    processes: list[ServeProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = ScaledClock(1.0 / self.speed)
        self.recordings = self.root / "recordings"
        self.reports = self.root / "reports"
        self.recordings.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ set-up

    def create_accounts(self) -> dict[str, int]:
        """One supervisor and the agents, all with one password (hashed once: argon2 is slow on purpose); returns
        each account's id."""
        from callcenter.web import users

        digest = users.hash_password(PASSWORD)
        real = users.hash_password
        users.hash_password = lambda _password: digest  # type: ignore[assignment]
        try:
            users.add_user(self.db_url, "boss", "supervisor", PASSWORD)
            for name, work_number in self.agents:
                users.add_user(self.db_url, name, "agent", PASSWORD, work_number=work_number)
        finally:
            users.hash_password = real  # type: ignore[assignment]
        return {u.name: u.id for u in users.list_users(self.db_url)}

    async def start_asterisks(self, answer_at_ring: Callable[[int], int] = lambda i: 2 if i % 4 == 3 else 1) -> None:
        """Two simulated Asterisk servers on one clock; every agent's phone is reachable on both."""
        for name in SERVERS:
            sim = AriSimulator(clock=self.clock, recordings_dir=self.recordings, system_name=f"pbx-{name}",
                               media_length=fixed_media_length(PROMPT_SECONDS),
                               username=ARI_USER, password=ARI_PASSWORD)
            for i, (_agent, work_number) in enumerate(self.agents):
                sim.add_agent(SimAgent(f"PJSIP/{work_number}", answer_at_ring=answer_at_ring(i)))
            self.sims[name] = sim
            self.ari[name] = await AriServer(sim).start()

    def settings_file(self, process: str) -> Path:
        """The TOML of one process: the shared database, folders and web secret, and both Asterisk servers
        (``[telephony.asterisk.<name>]``; which of them this process serves is its ``--asterisk``)."""
        lines = [
            "[service]", 'log_level = "info"',
            "[database]", f'url = "{self.db_url}"', f"job_lock_poll_seconds = {JOB_POLL_SECONDS}",
            "[recordings]", f'root = "{self.recordings}"',
            "[metrics]", f'reports_directory = "{self.reports}"',
            "[scripts]", f'rendered_audio_directory = "{self.rendered_audio}"',
            # A dead process's seats are free one lease later (the test's second half outlasts it); every process
            # renews its own every third of it, which a loaded machine must manage: 5 s (the least allowed) lapsed
            # under live calls on a 2-core machine shared with other test runs.
            "[agents]", f"lease_seconds = {LEASE_SECONDS}",
            "[web]", 'host = "127.0.0.1"', f'secret_key = "{SECRET_KEY}"', f'secret_file = "{self.root / "secret"}"',
        ]
        for name, server in self.ari.items():
            lines += [f"[telephony.asterisk.{name}]", f'ari_url = "{server.ari_url}"', f'ari_username = "{ARI_USER}"',
                      f'ari_password = "{ARI_PASSWORD}"', f'ari_app = "{ARI_APP}"']
        path = self.root / f"{process}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def env(self, config: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        return env | {"CALLCENTER_CONFIG": str(config)}

    def plan(self, plan: dict[str, tuple[str, ...]]) -> list[ServeProcess]:
        """One serve process per ``plan`` entry (name → the Asterisk servers it serves, holding or standing by:
        a server's calls go to the first process that takes its lock)."""
        for name, servers in plan.items():
            args = ["--no-agi", "--port", "0", "--speed", str(self.speed)]
            if servers:
                args += ["--ari", "--asterisk", ",".join(servers)]
            self.processes.append(ServeProcess(name, self.settings_file(name), self.root / f"{name}.log", args,
                                               servers))
        return self.processes

    async def start_processes(self) -> None:
        """The first process alone (it registers the seats and takes its servers' and the jobs' locks), then the
        others together; a server's calls go to whichever process took its lock, the others stand by."""
        first, *rest = self.processes
        await first.start(self.env(first.config))
        await first.wait_serving()
        for proc in rest:
            await proc.start(self.env(proc.config))
        await asyncio.gather(*(proc.wait_serving() for proc in rest))

    def seat_states(self) -> dict[str, str]:
        """Every agent's seat state as the centre's table has it (the truth every process's view copies)."""
        from callcenter.calls.seat_store import SeatStore

        agents, _ = SeatStore(self.db_url).snapshot()
        return {agent.id: agent.state.value for agent in agents}

    def live(self) -> list[ServeProcess]:
        return [p for p in self.processes if p.alive()]

    def holder_of(self, server: str) -> ServeProcess:
        """The live process holding ``server``'s ARI application (it said so in its log: ``jobs.holding``)."""
        for proc in self.live():
            said = [e for e in proc.events() if e.get("job") == f"asterisk-{server}"
                    and e.get("event") in ("jobs.holding", "jobs.standby")]
            if said and said[-1]["event"] == "jobs.holding":
                return proc
        raise AssertionError(f"no live process holds Asterisk {server}")

    async def close(self) -> dict[str, int | None]:
        """Stop every process at once (SIGTERM, SIGKILL after :data:`STOP_LIMIT`), then the simulators."""
        codes = await asyncio.gather(*(proc.stop() for proc in self.processes))
        for server in self.ari.values():
            await server.stop()
        return {proc.name: code for proc, code in zip(self.processes, codes, strict=True)}
