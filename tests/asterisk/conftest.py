"""The real-Asterisk suite: one Asterisk and one ``callcenter serve`` (both bridges) for the whole run.

Runs when ``CALLCENTER_TEST_ASTERISK=<prefix>`` names an installed Asterisk 22 (``./run test-asterisk``);
otherwise every test here is reported as not run, with the reason. The service is started the way an admin
starts it (``callcenter serve --ari`` with a TOML file, the README's recipe), never imported into the tests'
event loop, so what is proven is what a centre runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.asterisk.pbx import (
    ARI_APP,
    ARI_PASSWORD,
    ARI_USER,
    Asterisk,
    AsteriskUnavailable,
    find_asterisk,
    free_port,
    tools_missing,
)

REPO = Path(__file__).resolve().parents[2]
# Agent accounts, seats of the default group: 8001 never answers (tests/asterisk/pbx.py), 8002 does.
SEATS = ("8001", "8002")
# `callcenter users add` gives each account a first password its owner replaces at the first sign-in;
# the agents then sign in with their own.
AGENT_FIRST_PASSWORD = "agent-first-1"
AGENT_PASSWORD = "agent-test-1"
# A supervisor whose desk phone is seat 9001 (answers at once, tests/asterisk/pbx.py): live monitoring.
SUPERVISOR = "9001"


@dataclass
class Bridge:
    """The running service and where it keeps what the tests read."""

    pbx: Asterisk
    web: str  # the service's web address
    folder: Path  # calls' caller-side files
    rendered: Path  # prompt audio rendered from text
    sounds: Path  # the library's recorded prompts
    recordings: Path
    database: str
    log: Path
    process: subprocess.Popen[bytes]


def service_config(pbx: Asterisk, root: Path, web_port: int) -> str:
    """The service's settings for this Asterisk: what README.md's FastAGI and ARI sections tell an admin."""
    recordings = pbx.root / "spool" / "recording"  # ARI records under <astspooldir>/recording
    return f"""\
[telephony]
agi_host = "127.0.0.1"
agi_port = {pbx.ports.agi}
ari_url = "http://127.0.0.1:{pbx.ports.http}/ari"
ari_username = "{ARI_USER}"
ari_password = "{ARI_PASSWORD}"
ari_app = "{ARI_APP}"
# The callbacks' customers (回访): Local channels into the test dialplan's [customers].
outbound_endpoint = "Local/{{number}}@customers/n"
outbound_ring_seconds = 12

[scripts]
rendered_audio_directory = "{root / 'prompt-audio'}"

[database]
url = "sqlite:///{root / 'callcenter.sqlite3'}"

[recordings]
root = "{recordings}"

[metrics]
reports_directory = "{root / 'reports'}"

[web]
host = "127.0.0.1"
port = {web_port}
secret_file = "{root / 'web-secret'}"
# The seats of the agent accounts (SEATS): Local channels into the test dialplan's [agents].
agent_endpoint = "Local/{{work_number}}@agents/n"
"""


@pytest.fixture(scope="session")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    try:
        prefix = find_asterisk()
    except AsteriskUnavailable as exc:
        pytest.skip(f"real-Asterisk suite not run: {exc}")
    missing = tools_missing()
    if missing:
        pytest.fail(f"the real-Asterisk suite needs {', '.join(missing)} for its callers (apt-get install)")
    asterisk = Asterisk(prefix, tmp_path_factory.mktemp("asterisk"))
    asterisk.start()
    try:
        yield asterisk
    finally:
        asterisk.stop()


def start_service(pbx: Asterisk, root: Path, web_port: int | None = None) -> tuple[subprocess.Popen[bytes], Path]:
    config = root / "callcenter.toml"
    if not config.exists():
        config.write_text(service_config(pbx, root, web_port or free_port()), encoding="utf-8")
    log = root / "serve.log"
    begun = log.stat().st_size if log.exists() else 0  # a restart appends: only what this start wrote counts
    env = {**os.environ, "CALLCENTER_CONFIG": str(config)}
    for seat, role in (*((s, "agent") for s in SEATS), (SUPERVISOR, "supervisor")):
        # agent accounts exist before serve makes them seats (an existing one is kept)
        subprocess.run([sys.executable, "-m", "callcenter", "users", "add", seat, "--role", role,
                        "--work-number", seat, "--password", AGENT_FIRST_PASSWORD], cwd=REPO, env=env,
                       capture_output=True, check=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "callcenter", "serve", "--ari"], cwd=REPO, env=env,
        stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"callcenter serve exited with {process.returncode}: {log.read_text()[-3000:]}")
        if b"serving the web pages" in log.read_bytes()[begun:]:
            _first_sign_ins(f"http://127.0.0.1:{_web_port(config)}")
            return process, log
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"callcenter serve did not start within 60 s: {log.read_text()[-3000:]}")


def _web_port(config: Path) -> int:
    return int(next(line.split("=")[1] for line in config.read_text().splitlines() if line.startswith("port =")))


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _first_sign_ins(web: str) -> None:
    """Each agent's first sign-in: the password `users add` set is replaced by their own (R-120). An account
    that did it already (the service was restarted) just signs in."""
    for seat in (*SEATS, SUPERVISOR):
        with httpx.Client(base_url=web, timeout=10, follow_redirects=True) as client:
            r = client.post("/login", data={"name": seat, "password": AGENT_FIRST_PASSWORD,
                                            "csrf_token": _csrf(client.get("/login").text)})
            if r.url.path != "/password":
                continue
            done = client.post("/password", data={
                "old_password": AGENT_FIRST_PASSWORD, "new_password": AGENT_PASSWORD,
                "confirm_password": AGENT_PASSWORD, "csrf_token": _csrf(r.text)})
            assert done.url.path in ("/agent", "/wallboard"), (
                f"{seat}: the first password change failed: {done.text[-500:]}")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def bridge(pbx: Asterisk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    root = tmp_path_factory.mktemp("service")
    web_port = free_port()
    process, log = start_service(pbx, root, web_port)
    folder = root / "calls"
    folder.mkdir()
    running = Bridge(pbx, f"http://127.0.0.1:{web_port}", folder, root / "prompt-audio", REPO / "scripts" / "sounds",
                     pbx.root / "spool" / "recording", f"sqlite:///{root / 'callcenter.sqlite3'}", log, process)
    try:
        yield running
    finally:
        stop_service(running.process)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures measured from the callers' recordings, for the record (closing notes, README)."""
    from tests.asterisk.hearing import MEASURED

    if MEASURED:
        terminalreporter.section("measured from the callers' side")
        for line in MEASURED:
            terminalreporter.write_line(line)
