"""Record what a real Asterisk answers to the FastAGI commands the bridge sends, as a transcript fixture.

A probe server on loopback takes one AGI connection, reads Asterisk's ``agi_*`` block, sends :data:`PROBE`
one line at a time and keeps every raw line Asterisk writes back. ``tests/sim/test_sim_transcripts.py``
replays the kept transcript against the simulator (``callcenter.sim.agi.AGIPeer``), which must answer the
same way; ``tests/asterisk/test_transcripts.py`` records it again from the running Asterisk and checks that
the kept fixture is still what Asterisk 22 says.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "sim" / "fixtures" / "agi_asterisk_22.yaml"

# The commands, as the bridge writes them (callcenter/telephony/agi/channel.py), plus the error cases.
PROBE = (
    "ANSWER",
    'STREAM FILE silence/1 ""',
    'STREAM FILE /nonexistent/prompt/greeting.standard ""',
    "EXEC BackgroundDetect silence/1,500,100",
    "GET VARIABLE TALK_DETECTED",
    "CHANNEL STATUS",
    "WAIT FOR DIGIT 100",
    "EXEC Wait 0.2",
    "EXEC NoSuchApplication",
    "NO SUCH COMMAND",
    "HANGUP",
    "CHANNEL STATUS",
)


@dataclass
class Probe:
    """One recorded exchange: Asterisk's agi_ block (names only: values are this machine's) and, per command
    line sent, the raw lines it answered."""

    env_keys: list[str] = field(default_factory=list)
    steps: list[tuple[str, list[str]]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: str = ""


def serve_probe(port: int, probe: Probe, timeout: float = 20.0) -> threading.Thread:
    """Listen on 127.0.0.1:port for one AGI connection and run :data:`PROBE` on it (in a thread)."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(timeout)

    def run() -> None:
        try:
            conn, _ = server.accept()
            conn.settimeout(10)
            reader = conn.makefile("r", encoding="utf-8", newline="\n")
            while (line := reader.readline().rstrip("\n")) != "":
                probe.env_keys.append(line.split(":", 1)[0])
            for command in PROBE:
                conn.sendall(f"{command}\n".encode())
                probe.steps.append((command, _reply(reader)))
            conn.close()
        except OSError as exc:
            probe.error = str(exc)
        finally:
            server.close()
            probe.done.set()

    thread = threading.Thread(target=run, name="agi-probe", daemon=True)
    thread.start()
    return thread


def _reply(reader) -> list[str]:  # type: ignore[no-untyped-def]
    """One reply: a ``200``/``510``/``511`` line, a ``520-`` block up to ``520 End of proper usage.``, or the
    ``HANGUP`` notice Asterisk writes before the reply once the channel is gone."""
    lines = []
    while True:
        line = reader.readline()
        if line == "":
            lines.append("<closed>")
            return lines
        line = line.rstrip("\n")
        lines.append(line)
        usage = lines[0].startswith("520-") and not line.startswith("520 ")
        if line == "HANGUP" or usage:
            continue
        return lines
