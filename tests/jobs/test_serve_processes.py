"""Two real ``callcenter serve`` processes on one database (issue 17): the first runs the report scheduler and
the overdue job, the second stands by naming it; ``kill -9`` the first and the second takes both over within
seconds. On PostgreSQL (advisory locks) and on SQLite (file locks beside the database file).

Each wait watches a process's log for a line and is bounded; the test stops both processes itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.5  # database.job_lock_poll_seconds of both processes
START_LIMIT = 60.0
TAKEOVER_LIMIT = 5.0  # seconds from kill -9 to the standby holding the jobs (10 polls)
JOBS = ("reports", "overdue-orders")


class Serve:
    def __init__(self, root: Path, url: str, name: str, audio: Path) -> None:
        self.log = root / f"{name}.log"
        config = root / f"{name}.toml"
        config.write_text(f"""\
[database]
url = "{url}"
job_lock_poll_seconds = {POLL_SECONDS}
[recordings]
root = "{root / name / 'recordings'}"
[metrics]
reports_directory = "{root / name / 'reports'}"
[scripts]
rendered_audio_directory = "{audio}"
[web]
host = "127.0.0.1"
secret_file = "{root / 'web-secret'}"
""", encoding="utf-8")
        self.env = env = {**os.environ, "CALLCENTER_CONFIG": str(config)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "callcenter", "serve", "--no-agi", "--port", "0"], cwd=REPO, env=env,
            stdin=subprocess.DEVNULL, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        self.identity = f"{socket.gethostname()[:40]}:{self.process.pid}"

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line still being written
        return found

    def holding(self, job: str) -> str | None:
        """Who this process last said holds ``job`` (itself, another, None when unknown)."""
        said = [e for e in self.events() if e.get("job") == job and e["event"] in {"jobs.holding", "jobs.standby"}]
        return said[-1]["holder"] if said else None

    def wait(self, what: str, condition: Callable[[], bool], limit: float = START_LIMIT) -> float:
        """Wait for ``condition`` (read from the log) at most ``limit`` seconds; the seconds it took."""
        started = time.monotonic()
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}) waiting for {what}: "
                                     f"{self.log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() - started > limit:
                raise AssertionError(f"no {what} within {limit} s: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.02)  # polls a log file another process writes: the condition, not the time, ends this
        return time.monotonic() - started

    def board(self, job: str) -> dict[str, Any]:
        """This process's health board line for ``job`` (``callcenter health --json`` against its web port)."""
        found = re.search(r"serving the web pages at (\S+)", self.log.read_text(errors="replace"))
        assert found, "the process has not said where it serves"
        asked = subprocess.run([sys.executable, "-m", "callcenter", "health", "--json", "--url", found.group(1)],
                               cwd=REPO, env=self.env, capture_output=True, text=True, timeout=60, check=False)
        report = json.loads(asked.stdout)
        assert report["source"] == "service", asked.stdout[-2000:]
        (line,) = [c for c in report["components"] if c["name"].endswith(f" {job}")]
        return dict(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def processes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


@pytest.mark.postgres
def test_one_of_two_serve_processes_runs_the_jobs_and_the_other_takes_over_after_kill_9(
        db_url: str, tmp_path: Path, rendered_audio: Path, processes: list[Serve]) -> None:
    a = Serve(tmp_path, db_url, "a", rendered_audio)
    processes.append(a)
    a.wait("the first process holding the jobs", lambda: all(a.holding(job) == a.identity for job in JOBS))
    b = Serve(tmp_path, db_url, "b", rendered_audio)
    processes.append(b)
    b.wait("the second process started", lambda: any(e["event"] == "serve.started" for e in b.events()))
    b.wait("the second process standing by", lambda: all(b.holding(job) == a.identity for job in JOBS))

    # Only the first runs them: the second has started neither its scheduler nor a job of its own.
    assert not [e for e in b.events() if e["event"] in {"jobs.holding", "metrics.scheduler_started"}]
    assert [e for e in a.events() if e["event"] == "metrics.scheduler_started"]

    # Each board says who runs the job: the first holds it, the second stands by naming the first.
    assert a.board("reports")["value"].startswith("this process holds it")
    standby = b.board("reports")
    assert (standby["status"], standby["reason"]) == ("green", f"standby: {a.identity} runs it")

    a.process.send_signal(signal.SIGKILL)
    took = b.wait("the second process taking over", lambda: all(b.holding(job) == b.identity for job in JOBS),
                  TAKEOVER_LIMIT)
    b.wait("the report scheduler started in the second process",
           lambda: any(e["event"] == "metrics.scheduler_started" for e in b.events()), TAKEOVER_LIMIT)
    print(f"takeover after kill -9: {took:.2f} s (poll {POLL_SECONDS} s)")
    assert b.board("overdue-orders")["value"].startswith("this process holds it")
    assert a.process.wait(timeout=5) == -signal.SIGKILL
    b.stop()
    assert b.process.returncode == 0
