"""The Asterisk side of FastAGI, simulated: connects to a FastAGI server and behaves like Asterisk 22.

Over 500 lines: Asterisk's half of one FastAGI session is one object. Every AGI command and dialplan
application it answers reads and changes the same channel (answered or not, alive or dead, its variables, the
caller's audio and digits and the agents' legs on the call's clock); spread over files it would be one class
still.

It sends the ``agi_`` block as res_agi.c does (``agi_network: yes``, ``agi_network_script``, then the
channel's variables, then a blank line) and answers each command the way Asterisk does, taking as long as
Asterisk would on the call's own clock (:class:`~callcenter.sim.clock.ScaledClock`):

- ``STREAM FILE`` plays for the file's length; an escape digit ends it with ``result=<ASCII code>``;
  ``endpos`` is the 8 kHz sample position; a missing file is ``200 result=-1 endpos=0`` at once.
- ``EXEC BackgroundDetect`` plays its file while the caller is analysed: a talk token (audio longer than
  ``min`` ms followed by ``sil`` ms of quiet, inside the file's length) sets ``TALK_DETECTED`` and returns 0;
  a digit that can start an extension returns its ASCII code. Continuous audio never ends a token, and a
  caller that sends no audio is never detected (docs/design.md).
- ``EXEC Dial(<endpoint>,<timeout>[,g])`` rings the simulated agent on the ring cadence: answer during ring n,
  or ``NOANSWER`` at the timeout; sets ``DIALSTATUS``, ``ANSWEREDTIME(_MS)``, ``DIALEDTIME(_MS)``; blocks for the
  bridged conversation; returns -1 when the caller hangs up, 0 with ``g`` when the agent does.
- ``EXEC MixMonitor <path>`` creates the file (directories included) and completes it as an 8 kHz mono WAV
  when the channel hangs up, holding what the call heard from then on (:mod:`callcenter.sim.audio`): the
  prompts (their files), the caller's speech or noise, music on hold.
- When the caller hangs up: a running command returns ``result=-1``, then a bare ``HANGUP`` line is sent
  (unless ``agisighup`` is False); afterwards commands not allowed on a dead channel get
  ``511 Command Not Permitted on a dead channel or intercept routine``. An unknown command gets 510, bad
  arguments the multi-line 520 usage reply, an unknown application ``result=-2``.

It does not import the bridge's AGI code (docs/design.md: a parser shared by both sides would hide shared bugs).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import wave
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.calls.rings import RingCadence, cadence
from callcenter.sim.ari_parties import SimAgent, SimCaller
from callcenter.sim.audio import Segment, Sound, caller_segments, clip, write_recording
from callcenter.sim.clock import ScaledClock
from callcenter.sim.errors import SimulatorError

ASTERISK_VERSION = "22.10.1"
SAMPLE_RATE = 8000
DEAD_511 = "511 Command Not Permitted on a dead channel or intercept routine"
INVALID_510 = "510 Invalid or unknown command"
# When neither party's hang-up is scripted, the caller ends a bridged conversation after this long.
DEFAULT_TALK_SECONDS = 20.0
# After the hang-up, how long (call seconds) the peer waits for the AGI side to close before closing itself.
DEAD_LINGER = 10.0
# res_agi.c: commands allowed on a dead channel (the rest answer 511).
DEAD_OK = {"GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "NOOP", "VERBOSE", "DATABASE GET"}

_uniqueids = itertools.count(1)


@dataclass
class Exchange:
    """One command and Asterisk's reply, at the call second the command arrived."""

    t: float
    command: str
    reply: list[str]


@dataclass
class SimCallResult:
    caller: SimCaller
    uniqueid: str
    env: dict[str, str]
    transcript: list[Exchange] = field(default_factory=list)
    hangup_at: float | None = None
    hung_up_by: str | None = None  # "caller", "agi" (HANGUP command), "agent"
    closed_by: str = ""  # "agi" (the bridge closed the socket), "asterisk", "linger"
    hangup_lines: int = 0
    answered_at: float | None = None
    recordings: list[Path] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def commands(self) -> list[str]:
        return [e.command for e in self.transcript]


class _CallEnded(Exception):
    """The peer closed the call (Dial without ``g`` after the agent hung up)."""


def split_args(line: str) -> list[str]:
    """res_agi.c parse_args: spaces separate, double quotes group, backslash escapes the next character."""
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = started = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                out.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        out.append("".join(cur))
    return out


def _merge(bursts: Iterable[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """Audio bursts closer than ``gap`` are one token to a silence detector."""
    merged: list[list[float]] = []
    for start, duration in sorted(bursts):
        end = start + duration
        if merged and start - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


class AGIPeer:
    """One simulated call: Asterisk's half of a FastAGI session for ``caller``."""

    def __init__(
        self,
        caller: SimCaller,
        *,
        clock: ScaledClock,
        agents: Mapping[str, SimAgent] | None = None,
        ring_cadence: RingCadence | None = None,
        sounds: Mapping[str, float] | None = None,
        dialplan_digits: str = "0123456789*#",
        agisighup: bool = True,
        talk_seconds: float = DEFAULT_TALK_SECONDS,
        uniqueid: str | None = None,
        applications: Iterable[str] | None = None,
        latencies: list[float] | None = None,
    ) -> None:
        self.caller = caller
        self.clock = clock
        self.agents = dict(agents or {})
        self.cadence = ring_cadence or cadence("cn")
        self.sounds = dict(sounds or {})
        self.dialplan_digits = dialplan_digits
        self.agisighup = agisighup
        self.talk_seconds = talk_seconds
        n = next(_uniqueids)
        self.uniqueid = uniqueid or f"1763900000.{n}"
        self.channel = f"PJSIP/{caller.number}-{n:08x}"
        self.applications = set(
            applications
            or {"Ringing", "Wait", "BackgroundDetect", "MixMonitor", "Dial", "StartMusicOnHold", "StopMusicOnHold",
                "Playback", "WaitForSilence", "WaitForNoise"}
        )
        self.vars: dict[str, str] = {}
        self.state = 4  # AST_STATE_RING: an inbound call not yet answered
        self.answered_at: float | None = None
        self.dead = False
        self._t0 = 0.0
        self._digits = sorted(caller.dtmf)
        self._used = [False] * len(self._digits)
        self._active = False
        self._writer: asyncio.StreamWriter | None = None
        self._mixmonitor: list[tuple[Path, float]] = []
        # What played on the channel, in call seconds: (start, end, sound, prompt file) for MixMonitor's file.
        self._played: list[tuple[float, float, Sound, Path | None]] = []
        self._moh_since: float | None = None
        self._close_after_reply = False
        # Real (not scaled) seconds from each write to the next command: the AGI side's turnaround (bench).
        self.latencies = latencies
        self._sent_at = 0.0
        self.result: SimCallResult | None = None

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        return self.clock.time() - self._t0

    async def _until(self, t: float) -> None:
        await self.clock.sleep(t - self.now())

    def caller_gone_at(self) -> float:
        """When the caller hangs up, on the call's clock (inf: not scripted)."""
        times = []
        if self.caller.hangup_at is not None:
            times.append(self.caller.hangup_at)
        ring = self.caller.hangup_at_ring
        if ring is not None:
            at = self.cadence.ring_starts(ring) + self.cadence.on / 2
            if self.answered_at is None or self.answered_at > at:
                times.append(at)
        return min(times) if times else math.inf

    # ------------------------------------------------------------------ session

    def environment(self, script: str, host: str, port: int) -> dict[str, str]:
        c = self.caller
        env = {
            "agi_network": "yes",
            "agi_network_script": script,
            "agi_request": f"agi://{host}:{port}/{script}",
            "agi_channel": self.channel,
            "agi_language": c.language,
            "agi_type": "PJSIP",
            "agi_uniqueid": self.uniqueid,
            "agi_version": ASTERISK_VERSION,
            "agi_callerid": c.number,
            "agi_calleridname": c.name or "unknown",
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": "95000",
            "agi_rdnis": "unknown",
            "agi_context": "callcenter",
            "agi_extension": "95000",
            "agi_priority": "2",
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": str(140000000000 + int(self.uniqueid.split(".")[-1])),
        }
        for i, arg in enumerate(c.args[1:], start=1):
            env[f"agi_arg_{i}"] = arg
        return env

    async def run(self, host: str, port: int) -> SimCallResult:
        script = self.caller.args[0] if self.caller.args else ""
        env = self.environment(script, host, port)
        self.result = result = SimCallResult(self.caller, self.uniqueid, env)
        reader, writer = await asyncio.open_connection(host, port)
        self._writer = writer
        self._t0 = self.clock.time()
        scripted = self.caller.hangup_at is not None or self.caller.hangup_at_ring is not None
        watcher = asyncio.create_task(self._hangup_watch()) if scripted else None
        try:
            block = "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"
            writer.write(block.encode())
            await writer.drain()
            self._sent_at = asyncio.get_running_loop().time()
            await self._serve(reader, result)
        except (ConnectionError, OSError):
            result.closed_by = result.closed_by or "agi"
        except _CallEnded:
            result.closed_by = "asterisk"
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if not self.dead:
                self._go_dead("agi" if result.closed_by == "agi" else "caller")
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()
        result.variables = dict(self.vars)
        result.answered_at = self.answered_at
        return result

    async def _serve(self, reader: asyncio.StreamReader, result: SimCallResult) -> None:
        while True:
            try:
                if self.dead:
                    raw = await asyncio.wait_for(reader.readline(), self.clock.real(DEAD_LINGER))
                else:
                    raw = await reader.readline()
            except TimeoutError:
                result.closed_by = "linger"
                return
            if not raw:
                result.closed_by = "agi"
                return
            if self.latencies is not None:
                self.latencies.append(asyncio.get_running_loop().time() - self._sent_at)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            exchange = Exchange(round(self.now(), 3), line, [])
            result.transcript.append(exchange)
            self._active = True
            try:
                reply = await self._command(line)
            finally:
                self._active = False
            exchange.reply = reply
            await self._send(*reply)
            if self.dead:
                await self._send_hangup_line()
            if self._close_after_reply:
                raise _CallEnded

    async def _send(self, *lines: str) -> None:
        assert self._writer is not None
        self._writer.write("".join(f"{line}\n" for line in lines).encode())
        await self._writer.drain()
        self._sent_at = asyncio.get_running_loop().time()

    async def _send_hangup_line(self) -> None:
        assert self.result is not None
        if self.agisighup and self.result.hangup_lines == 0:
            self.result.hangup_lines = 1
            with contextlib.suppress(ConnectionError, OSError):
                await self._send("HANGUP")

    async def _hangup_watch(self) -> None:
        """The caller hangs up while no command runs: Asterisk writes HANGUP on the idle socket."""
        while not self.dead:
            gone = self.caller_gone_at()
            if math.isinf(gone):
                await self.clock.sleep(1.0)
                continue
            await self._until(gone)
            if self.dead or self.caller_gone_at() > self.now() + 1e-6:
                continue
            if not self._active:
                self._go_dead("caller")
                await self._send_hangup_line()
                return
            await self.clock.sleep(0.05)  # the running command ends itself at that instant

    def _go_dead(self, by: str) -> None:
        if self.dead:
            return
        self.dead = True
        self.state = 0
        assert self.result is not None
        self.result.hangup_at = round(self.now(), 3)
        self.result.hung_up_by = by
        self._stop_moh()
        for path, started in self._mixmonitor:
            seconds = max(0.0, self.now() - started)
            write_recording(path, self._recording_segments(started, seconds), seconds)
            self.result.recordings.append(path)
        self._mixmonitor.clear()

    # ------------------------------------------------------------------ what MixMonitor hears

    def _heard(self, name: str, start: float, stop: float) -> None:
        """A file played from ``start`` to ``stop`` (call seconds); Asterisk's silence/N files are silence."""
        if stop > start and not name.startswith("silence/"):
            path = Path(f"{name}.wav")
            self._played.append((start, stop, Sound.PROMPT, path if path.is_file() else None))

    def _stop_moh(self) -> None:
        if self._moh_since is not None:
            self._played.append((self._moh_since, self.now(), Sound.MUSIC, None))
            self._moh_since = None

    def _recording_segments(self, started: float, seconds: float) -> list[Segment]:
        """A MixMonitor started at call second ``started``: both directions, i.e. what was played to the
        caller and what the caller sent, from then until the hang-up."""
        played = [Segment(max(0.0, a - started), max(0.0, b - started), sound, path)
                  for a, b, sound, path in self._played]
        return clip([*played, *caller_segments(self.caller, started, seconds)], 0.0, seconds)

    # ------------------------------------------------------------------ dispatch

    async def _command(self, line: str) -> list[str]:
        args = split_args(line)
        words = [a.upper() for a in args]
        for size in (4, 3, 2, 1):
            name = " ".join(words[:size])
            handler = _HANDLERS.get(name)
            if handler is not None:
                if self.dead and name not in DEAD_OK:
                    return [DEAD_511]
                return await handler(self, args[size:])
        return [INVALID_510]

    def _usage(self, text: str) -> list[str]:
        # res_agi.c: the usage text of a command, then the terminator on its own line.
        return ["520-Invalid command syntax.  Proper usage follows:", text, "520 End of proper usage."]

    def _take_digit(self, start: float, until: float, accept: str) -> tuple[float, str] | None:
        """Read the DTMF frames a command sees up to ``until``: queued ones first (pressed while no command
        read the channel), each consumed; the first one in ``accept`` ends the command."""
        for i, (t, digit) in enumerate(self._digits):
            if self._used[i] or t >= until:
                continue
            self._used[i] = True
            if digit in accept:
                return max(t, start), digit
        return None

    def _hangup_reply(self, *extra: str) -> list[str]:
        self._go_dead("caller")
        return [" ".join(["200 result=-1", *extra])]

    def _length(self, name: str) -> float | None:
        if name.startswith("silence/"):
            try:
                return float(name.split("/", 1)[1])
            except ValueError:
                return None
        if name in self.sounds:
            return self.sounds[name]
        path = Path(f"{name}.wav")
        if path.is_file():
            with contextlib.suppress(wave.Error, OSError), wave.open(str(path)) as w:
                return w.getnframes() / float(w.getframerate())
        return None

    # ------------------------------------------------------------------ AGI commands

    async def _answer(self, args: list[str]) -> list[str]:
        if self.state != 6:
            self.state = 6
            self.answered_at = self.now()
        return ["200 result=0"]

    async def _noop(self, args: list[str]) -> list[str]:
        return ["200 result=0"]

    async def _hangup(self, args: list[str]) -> list[str]:
        self._go_dead("agi")
        return ["200 result=1"]

    async def _channel_status(self, args: list[str]) -> list[str]:
        return [f"200 result={self.state}"]

    async def _get_variable(self, args: list[str]) -> list[str]:
        if len(args) != 1:
            return self._usage(" Usage: GET VARIABLE <variablename>")
        value = self.vars.get(args[0])
        return [f"200 result=1 ({value})"] if value else ["200 result=0"]

    async def _set_variable(self, args: list[str]) -> list[str]:
        if len(args) != 2:
            return self._usage(" Usage: SET VARIABLE <variablename> <value>")
        if args[1] == "":
            self.vars.pop(args[0], None)
        else:
            self.vars[args[0]] = args[1]
        return ["200 result=1"]

    async def _stream_file(self, args: list[str]) -> list[str]:
        if len(args) < 2:
            return self._usage(" Usage: STREAM FILE <filename> <escape digits> [sample offset]")
        name, escape = args[0], args[1]
        length = self._length(name)
        if length is None:
            return ["200 result=-1 endpos=0"]
        start = self.now()
        end = start + length
        gone = self.caller_gone_at()
        hit = self._take_digit(start, min(end, gone), escape)
        stop = min(end, gone, hit[0] if hit else math.inf)
        self._heard(name, start, stop)
        await self._until(stop)
        endpos = int(max(0.0, stop - start) * SAMPLE_RATE)
        if gone <= stop and (hit is None or gone <= hit[0]):
            return self._hangup_reply(f"endpos={endpos}")
        if hit is not None:
            return [f"200 result={ord(hit[1])} endpos={endpos}"]
        return [f"200 result=0 endpos={endpos}"]

    async def _wait_for_digit(self, args: list[str]) -> list[str]:
        if len(args) != 1:
            return self._usage(" Usage: WAIT FOR DIGIT <timeout>")
        try:
            ms = int(args[0])
        except ValueError:
            return self._usage(" Usage: WAIT FOR DIGIT <timeout>")
        start = self.now()
        end = math.inf if ms < 0 else start + ms / 1000.0
        gone = self.caller_gone_at()
        hit = self._take_digit(start, min(end, gone), "0123456789*#ABCD")
        stop = min(end, gone, hit[0] if hit else math.inf)
        if math.isinf(stop):
            raise SimulatorError("WAIT FOR DIGIT -1 with a caller that never presses nor hangs up")
        await self._until(stop)
        if gone <= stop and (hit is None or gone <= hit[0]):
            return self._hangup_reply()
        return [f"200 result={ord(hit[1]) if hit else 0}"]

    async def _get_data(self, args: list[str]) -> list[str]:
        if not args:
            return self._usage(" Usage: GET DATA <file to be streamed> [timeout] [max digits]")
        timeout = float(args[1]) / 1000.0 if len(args) > 1 else 5.0
        max_digits = int(args[2]) if len(args) > 2 else 1024
        start = self.now()
        end = start + (self._length(args[0]) or 0.0) + timeout
        gone = self.caller_gone_at()
        got = ""
        while len(got) < max_digits:
            hit = self._take_digit(start, min(end, gone), "0123456789*#")
            if hit is None:
                break
            if hit[1] == "#":
                break
            got += hit[1]
        stop = min(end, gone)
        if len(got) >= max_digits:
            stop = min(stop, self.now())
        self._heard(args[0], start, min(stop, start + (self._length(args[0]) or 0.0)))
        await self._until(stop)
        if gone <= stop:
            return self._hangup_reply()
        return [f"200 result={got}" + ("" if len(got) >= max_digits else " (timeout)")]

    async def _exec(self, args: list[str]) -> list[str]:
        if not args:
            return self._usage(" Usage: EXEC <application> <options>")
        app = args[0]
        options = args[1] if len(args) > 1 else ""
        known = {a.lower(): a for a in self.applications}
        if app.lower() not in known:
            return ["200 result=-2"]
        app = known[app.lower()]
        params = options.split(",") if options else []
        handler = getattr(self, f"_app_{app.lower()}", None)
        if handler is None:
            return ["200 result=0"]
        return await handler(params)

    # ------------------------------------------------------------------ dialplan applications

    async def _app_ringing(self, params: list[str]) -> list[str]:
        return ["200 result=0"]

    async def _app_startmusiconhold(self, params: list[str]) -> list[str]:
        if self._moh_since is None:
            self._moh_since = self.now()
        return ["200 result=0"]

    async def _app_stopmusiconhold(self, params: list[str]) -> list[str]:
        self._stop_moh()
        return ["200 result=0"]

    async def _app_wait(self, params: list[str]) -> list[str]:
        seconds = float(params[0]) if params and params[0] else 0.0
        start = self.now()
        gone = self.caller_gone_at()
        self._take_digit(start, min(start + seconds, gone), "")  # frames read and dropped
        stop = min(start + seconds, gone)
        await self._until(stop)
        return self._hangup_reply() if gone <= stop else ["200 result=0"]

    async def _app_mixmonitor(self, params: list[str]) -> list[str]:
        if not params or not params[0]:
            return ["200 result=-1"]
        path = Path(params[0])
        write_recording(path, (), 0.0)  # the file exists (empty) from the start, as MixMonitor's does
        self._mixmonitor.append((path, self.now()))
        return ["200 result=0"]

    async def _app_backgrounddetect(self, params: list[str]) -> list[str]:
        if not params or not params[0]:
            return ["200 result=-1"]
        sil = int(params[1]) if len(params) > 1 and params[1] else 1000
        minimum = int(params[2]) if len(params) > 2 and params[2] else 100
        maximum = int(params[3]) if len(params) > 3 and params[3] else -1
        if self.state != 6:  # BackgroundDetect answers the channel first
            self.state = 6
            self.answered_at = self.now()
        length = self._length(params[0])
        if length is None:
            return ["200 result=0"]  # ast_streamfile failed: the application returns 0 at once
        start = self.now()
        end = start + length
        gone = self.caller_gone_at()
        talk_at, talk_ms = math.inf, 0
        for s, e in _merge(self.caller.audio, sil / 1000.0):
            if e <= start:
                continue
            token = e - max(s, start)
            detect = e + sil / 1000.0
            if detect < end and token * 1000 > minimum and (maximum < 0 or token * 1000 < maximum):
                talk_at, talk_ms = detect, int(token * 1000)
                break
        hit = self._take_digit(start, min(end, gone, talk_at), self.dialplan_digits)
        stop = min(end, gone, talk_at, hit[0] if hit else math.inf)
        self._heard(params[0], start, stop)
        await self._until(stop)
        if gone <= stop:
            return self._hangup_reply()
        if hit is not None and hit[0] <= stop:
            return [f"200 result={ord(hit[1])}"]
        if talk_at <= stop:
            self.vars["TALK_DETECTED"] = str(talk_ms)
        return ["200 result=0"]

    async def _app_dial(self, params: list[str]) -> list[str]:
        if not params or not params[0]:
            return ["200 result=-1"]
        endpoint = params[0]
        timeout = float(params[1]) if len(params) > 1 and params[1] else math.inf
        go_on = "g" in (params[2] if len(params) > 2 else "")
        start = self.now()
        for name in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS"):
            self.vars.pop(name, None)
        agent = self.agents.get(endpoint)
        if agent is None:
            self.vars["DIALSTATUS"] = "CHANUNAVAIL"
            return ["200 result=0"]
        if agent.busy:
            self.vars["DIALSTATUS"] = "BUSY"
            return ["200 result=0"]
        gone = self.caller_gone_at()
        answer = math.inf
        if agent.answer_at_ring is not None:
            answer = start + self.cadence.ring_starts(agent.answer_at_ring) + self.cadence.on / 2
        ring_end = min(answer, start + timeout, gone)
        self._take_digit(start, ring_end, "")
        if gone <= ring_end:
            await self._until(gone)
            self.vars["DIALSTATUS"] = "CANCEL"
            return self._hangup_reply()
        if answer > start + timeout:
            await self._until(start + timeout)
            self.vars["DIALSTATUS"] = "NOANSWER"
            return ["200 result=0"]
        return await self._bridge(agent, start, answer, go_on)

    async def _bridge(self, agent: SimAgent, start: float, answer: float, go_on: bool) -> list[str]:
        if self.state != 6:
            self.state = 6
            self.answered_at = answer
        self.vars["DIALSTATUS"] = "ANSWER"
        agent_end = answer + agent.hangup_after if agent.hangup_after is not None else math.inf
        caller_end = self.caller.hangup_at if self.caller.hangup_at is not None else math.inf
        if math.isinf(agent_end) and math.isinf(caller_end):
            caller_end = answer + self.talk_seconds
        end = min(agent_end, max(caller_end, answer))
        self._take_digit(start, end, "")
        await self._until(end)
        talk_ms = round((end - answer) * 1000)
        total_ms = round((end - start) * 1000)
        self.vars.update(
            ANSWEREDTIME=str(talk_ms // 1000), ANSWEREDTIME_MS=str(talk_ms),
            DIALEDTIME=str(total_ms // 1000), DIALEDTIME_MS=str(total_ms),
        )
        if caller_end <= agent_end:
            return self._hangup_reply()
        if go_on:
            return ["200 result=0"]
        # Without g, Dial's -1 ends the AGI and Asterisk hangs the caller up.
        self._go_dead("agent")
        self._close_after_reply = True
        return ["200 result=-1"]


_HANDLERS = {
    "ANSWER": AGIPeer._answer,
    "NOOP": AGIPeer._noop,
    "HANGUP": AGIPeer._hangup,
    "CHANNEL STATUS": AGIPeer._channel_status,
    "GET VARIABLE": AGIPeer._get_variable,
    "SET VARIABLE": AGIPeer._set_variable,
    "STREAM FILE": AGIPeer._stream_file,
    "WAIT FOR DIGIT": AGIPeer._wait_for_digit,
    "GET DATA": AGIPeer._get_data,
    "EXEC": AGIPeer._exec,
}


async def run_calls(
    host: str,
    port: int,
    callers: Iterable[SimCaller],
    *,
    clock: ScaledClock,
    agents: Mapping[str, SimAgent] | None = None,
    stagger: float = 0.0,
    **options: object,
) -> list[SimCallResult]:
    """Place every caller's call at once (or ``stagger`` call seconds apart) over real TCP; all results."""

    async def one(i: int, caller: SimCaller) -> SimCallResult:
        if stagger:
            await clock.sleep(i * stagger)
        peer = AGIPeer(caller, clock=clock, agents=agents, **options)  # type: ignore[arg-type]
        return await peer.run(host, port)

    return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(callers))))
