"""A simulated Asterisk 22 for the ARI resources the call centre uses: channels, bridges, playbacks, recordings.

Over 500 lines: one simulated PBX. Its REST operations and the events they publish read and change one state
(channels, bridges, playback queues, recordings, the Stasis applications) on one clock, as Asterisk's do; what
shares no state is apart already (parties, the network server, the Swagger checks, the recorded audio).

:class:`AriSimulator` is the PBX's state and its REST semantics, synchronous and clock-driven: a REST call is
one method call that returns ``(status, body)`` and queues the events it causes; simulated time advances on an
injectable clock (:class:`callcenter.sim.clock.ScaledClock`). The network faces live in
:mod:`callcenter.sim.ari_server` (HTTP, the events websocket, REST over that websocket) and here
(:class:`LocalLink`, the same frames without a socket). Behaviour kept true to a real Asterisk 22.10.1
(docs/design.md "Asterisk facts"):

- ``Stasis(app)`` fails the call when no websocket is connected for ``app``: the channel is hung up.
- Talk events (ChannelTalkingStarted/Finished) come only after ``TALK_DETECT(set)`` and only while the caller
  sends audio; a silent caller produces none. Finished arrives ``silence_ms`` after the audio stops and
  reports the talking time in ``duration`` (ms).
- Playbacks on one channel or bridge queue one after another; each ends in PlaybackFinished.
- Originate to an agent endpoint rings it; the agent answers during its n-th ring and then enters Stasis
  (StasisStart with the ``appArgs``), or never does. Originate to a customer's number (the callbacks the centre
  dials) rings it the same way, or ends at once busy (cause 17) or congested (34); a number nobody registered
  fails the originate itself (400, as a Local channel to an extension the dialplan lacks does).
- A restart drops every websocket while channels survive; events for an application with no websocket are lost.
- ``POST bridges/{id}/addChannel`` of a channel already in another bridge moves it (ChannelLeftBridge from the old
  one, then ChannelEnteredBridge): Asterisk departs the Stasis bridge a channel is in first (res/stasis/control.c).
- ``POST channels/{id}/snoop`` makes a Snoop channel that enters Stasis at once (StasisStart with its
  ``appArgs``) and hangs up when the spied channel does (the application then gets ChannelLeftBridge and
  StasisEnd, no ChannelDestroyed, as Asterisk 22.10.1 sends). Who hears whom follows res_stasis_snoop's audiohooks
  (:meth:`AriSimulator.hearers`): everyone in a mixing bridge hears the others; a snoop spying ``in`` carries
  the spied channel's own voice, ``out`` what the channel hears, to the snoop's bridge partners; whispering
  ``out`` the snoop's bridge audio reaches the spied channel's ear, ``in`` its voice (so its own bridge
  partners hear it), ``both`` both. Every voice heard is a ``("voice", <speaker>)`` entry in ``heard``.

Every message leaves through :meth:`AriSimulator._publish`, where observers (the schema check of the tests,
:class:`AriTrafficCheck`) see it. Nothing here imports the ARI adapter (docs/design.md "sim/").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

from callcenter.calls.rings import RingCadence, cadence
from callcenter.logs import get_logger
from callcenter.sim.ari_parties import SimAgent, SimCaller, SimCustomer
from callcenter.sim.audio import Segment, Sound, caller_segments, clip, write_recording
from callcenter.sim.clock import ScaledClock
from callcenter.sim.errors import SimulatorError
from callcenter.sim.swagger import ASTERISK_VERSION, ApiDocs, Operation, default_api_docs

log = get_logger(__name__)

Json = dict[str, Any]
Observer = Callable[[str, Json], None]
# Hang-up reasons of DELETE /channels/{id} and the Q.850 cause Asterisk reports for each.
CAUSES: Mapping[str, tuple[int, str]] = {
    "normal": (16, "Normal Clearing"),
    "busy": (17, "User busy"),
    "no_answer": (19, "User alerting, no answer"),
    "timeout": (18, "No user responding"),
    "rejected": (21, "Call Rejected"),
    "unallocated": (1, "Unallocated (unassigned) number"),
    "normal_unspecified": (31, "Normal, unspecified"),
    "number_incomplete": (28, "Invalid number format (addr incomplete)"),
    "codec_mismatch": (58, "Bearer capability not available"),
    "interworking": (127, "Interworking, unspecified"),
    "failure": (38, "Network out of order"),
    "answered_elsewhere": (26, "Answered elsewhere"),
    "congestion": (34, "Circuit/channel congestion"),
    "unknown": (0, "Unknown"),
}
_DEFAULT_TALK_DETECT = (2500, 160)  # func_talkdetect defaults: silence threshold ms, energy threshold


class AppConnection(Protocol):
    """One events websocket (or in-process link) as the simulator sees it."""

    def deliver(self, text: str) -> None: ...

    def drop(self) -> None: ...


class AriError(Exception):
    """An ARI request failed the way Asterisk fails it: HTTP status plus ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SimPlayback:
    id: str
    media_uri: str
    target_uri: str
    language: str
    state: str = "queued"
    seconds: float | None = None  # None: the media does not exist (the playback fails)
    timer: asyncio.TimerHandle | None = None

    def snapshot(self) -> Json:
        return {"id": self.id, "media_uri": self.media_uri, "target_uri": self.target_uri,
                "language": self.language, "state": self.state}


@dataclass
class SimRecording:
    name: str
    format: str
    target_uri: str
    started: float
    state: str = "recording"
    duration: int | None = None
    # Who was in the recorded bridge and since when (simulated seconds): their audio makes the file.
    parties: list[tuple[SimChannel, float]] = field(default_factory=list)

    def snapshot(self) -> Json:
        out: Json = {"name": self.name, "format": self.format, "target_uri": self.target_uri, "state": self.state}
        if self.duration is not None:
            out["duration"] = self.duration
        return out


@dataclass
class SimChannel:
    id: str
    name: str
    created: datetime
    created_t: float
    caller: SimCaller | None = None
    agent: SimAgent | None = None
    number: str = ""
    state: str = "Ring"
    app: str | None = None
    app_data: str = ""
    args: tuple[str, ...] = ()
    language: str = "zh"
    variables: dict[str, str] = field(default_factory=dict)
    talk_detect: tuple[int, int] | None = None
    talking: bool = False
    audio_until: float = 0.0  # the caller sends audio until this instant (simulated seconds)
    bridge: str | None = None
    moh: str | None = None
    ring_started: float | None = None
    answered_t: float | None = None
    ended_t: float | None = None
    hangup_by: str = ""
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    # What the person on this line experienced, in call seconds: ringing, answer, prompts heard, music, hang-up.
    heard: list[tuple[float, str, str]] = field(default_factory=list)
    played: dict[str, str] = field(default_factory=dict)  # media URI → language of its last playback
    # A Snoop channel: the channel it spies on and its audiohook directions (none, in, out, both).
    snoop_of: str | None = None
    spy: str = "none"
    whisper: str = "none"
    # POST channels/{id}/mute: "in" drops what the channel sends (its voice), "out" what it would hear.
    mute_in: bool = False
    mute_out: bool = False

    @property
    def voice(self) -> str:
        """How a listener names this channel's speaker: the agent's endpoint, or the caller's number."""
        return self.agent.endpoint if self.agent is not None else f"caller {self.number}"

    def snapshot(self) -> Json:
        return {
            "id": self.id,
            "protocol_id": "",
            "name": self.name,
            "state": self.state,
            "caller": {"name": self.caller.name if self.caller else "", "number": self.number},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {"context": "default" if self.agent is None else "",
                         "exten": "s", "priority": 1,
                         "app_name": "Stasis" if self.app else "", "app_data": self.app_data},
            "creationtime": _timestamp(self.created),
            "language": self.language,
        }

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()


@dataclass
class SimBridge:
    id: str
    name: str
    bridge_type: str
    created: datetime
    channels: list[str] = field(default_factory=list)
    moh: str | None = None
    recording: str | None = None
    app: str | None = None  # the application of the first channel added: it receives the bridge's events

    def snapshot(self) -> Json:
        return {"id": self.id, "technology": "simple_bridge" if len(self.channels) < 3 else "softmix",
                "bridge_type": self.bridge_type, "bridge_class": "stasis", "creator": "Stasis",
                "name": self.name, "channels": list(self.channels), "video_mode": "none",
                "creationtime": _timestamp(self.created)}


def _timestamp(when: datetime) -> str:
    """Asterisk's ARI time format: 2025-03-17T08:32:35.709+0000 (offset without a colon)."""
    text = when.isoformat(timespec="milliseconds")
    return text[:-3] + text[-2:]


MediaLength = Callable[[str, str], float | None]


def fixed_media_length(seconds: float = 3.0, lengths: Mapping[str, float] | None = None) -> MediaLength:
    """Every ``sound:`` media lasts ``lengths[name]`` or ``seconds``; other schemes do not exist (fail). As in
    Asterisk, ``sound:/an/absolute/stem`` plays that file, so it fails when no ``<stem>.wav`` is there; its
    length is looked up by the stem's last part (the prompt key)."""
    table = dict(lengths or {})

    def length(media: str, _lang: str) -> float | None:
        scheme, _, name = media.partition(":")
        if scheme != "sound":
            return None
        if name.startswith("/"):
            if not Path(f"{name}.wav").is_file():
                return None
            name = name.rpartition("/")[2]
        return table.get(name, seconds)

    return length


class AriSimulator:
    """The simulated Asterisk: state, REST semantics, events, callers and agents."""

    def __init__(
        self,
        *,
        clock: ScaledClock | None = None,
        docs: ApiDocs | None = None,
        username: str = "callcenter",
        password: str = "callcenter",
        recordings_dir: Path | None = None,
        sounds_dir: Path | None = None,
        media_length: MediaLength | None = None,
        ring_cadence: RingCadence | str = "cn",
        version: str = ASTERISK_VERSION,
        system_name: str = "",
    ) -> None:
        self.clock = clock or ScaledClock(1.0)
        self.docs = docs or default_api_docs()
        self.username, self.password = username, password
        self.recordings_dir = recordings_dir
        self.sounds_dir = sounds_dir  # scripts/sounds: <locale>/<name>.wav, the prompts' audio in recordings
        self.media_length = media_length or fixed_media_length()
        self.cadence = cadence(ring_cadence) if isinstance(ring_cadence, str) else ring_cadence
        self.version = version
        self.asterisk_id = "02:42:ac:11:00:02"
        self.started_wall = datetime.now(UTC)
        self.channels: dict[str, SimChannel] = {}
        self.bridges: dict[str, SimBridge] = {}
        self.playbacks: dict[str, SimPlayback] = {}
        self.recordings: dict[str, SimRecording] = {}
        self.agents: dict[str, SimAgent] = {}
        self.customers: dict[str, SimCustomer] = {}
        self.apps: dict[str, AppConnection] = {}
        self.observers: list[Observer] = []
        self.unregistered: set[str] = set()  # agent endpoints without a registration (state "offline")
        self.endpoint_sources: dict[str, set[str]] = {}  # application → "PJSIP" / "PJSIP/8001" it subscribed to
        self.ended: dict[str, asyncio.Future[SimChannel]] = {}
        self.failed_no_app = 0
        self.accepting = True  # False while "restarting": new websockets are refused
        self._queues: dict[str, list[str]] = {}  # playback queue per target uri
        self._ids = itertools.count(1)
        # asterisk.conf's systemname prefixes every unique id ("<name>-<epoch>.<seq>"): two servers of one
        # centre never hand out the same channel id.
        self._epoch = f"{system_name}-{int(time.time())}" if system_name else str(int(time.time()))

    # ------------------------------------------------------------------ time and identity

    def now(self) -> float:
        return self.clock.time()

    def wall(self) -> datetime:
        return self.started_wall + timedelta(seconds=self.now())

    def _new_id(self) -> str:
        return f"{self._epoch}.{next(self._ids)}"

    def _later(self, channel: SimChannel | None, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        handle = self.clock.call_later(delay, fn)
        if channel is not None:
            channel.timers.append(handle)
        return handle

    def check_auth(self, username: str, password: str) -> bool:
        return (username, password) == (self.username, self.password)

    # ------------------------------------------------------------------ applications (websockets)

    def connect_app(self, apps: list[str], conn: AppConnection) -> None:
        """A websocket subscribed to ``apps``; a newer one replaces the older (ApplicationReplaced)."""
        for app in apps:
            old = self.apps.get(app)
            if old is not None and old is not conn:
                self._send(old, self._event(app, "ApplicationReplaced"))
                old.drop()
            self.apps[app] = conn

    def disconnect_app(self, conn: AppConnection) -> None:
        for app, owner in list(self.apps.items()):
            if owner is conn:
                del self.apps[app]

    def drop_websockets(self) -> int:
        """An Asterisk restart as the application sees it: every websocket closes, channels survive."""
        conns = {id(c): c for c in self.apps.values()}
        self.apps.clear()
        for conn in conns.values():
            conn.drop()
        return len(conns)

    def add_observer(self, observer: Observer) -> None:
        self.observers.append(observer)

    # ------------------------------------------------------------------ events

    def _event(self, app: str, kind: str, **props: Any) -> Json:
        return {"type": kind, "timestamp": _timestamp(self.wall()), "asterisk_id": self.asterisk_id,
                "application": app, **props}

    def _publish(self, app: str | None, kind: str, **props: Any) -> None:
        if app is None:
            return
        message = self._event(app, kind, **props)
        for observer in self.observers:
            observer("event", message)
        conn = self.apps.get(app)
        if conn is not None:
            conn.deliver(json.dumps(message, ensure_ascii=False))

    def _send(self, conn: AppConnection, message: Json) -> None:
        for observer in self.observers:
            observer("event", message)
        conn.deliver(json.dumps(message, ensure_ascii=False))

    # ------------------------------------------------------------------ callers and agents

    def add_agent(self, agent: SimAgent) -> SimAgent:
        self.agents[agent.endpoint] = agent
        return agent

    # ------------------------------------------------------------------ endpoint registrations

    def set_registered(self, endpoint: str, registered: bool) -> None:
        """A seat's phone registers or loses its registration (a browser tab that closes takes its websocket
        transport, and res_pjsip_registrar removes the contact of a reliable transport that shut down): the
        endpoint goes ``online`` / ``offline`` and EndpointStateChange reaches every application subscribed to
        it (``endpoint:PJSIP`` or ``endpoint:PJSIP/8001``). Its calls go on; see :meth:`close_tab`."""
        if endpoint not in self.agents:
            raise SimulatorError(f"no seat {endpoint!r} in the simulator")
        if (endpoint not in self.unregistered) == registered:
            return
        if registered:
            self.unregistered.discard(endpoint)
        else:
            self.unregistered.add(endpoint)
        snapshot = self._endpoint_snapshot(endpoint)
        for app, sources in self.endpoint_sources.items():
            if endpoint in sources or endpoint.partition("/")[0] in sources:
                self._publish(app, "EndpointStateChange", endpoint=snapshot)

    def close_tab(self, endpoint: str) -> None:
        """The agent's browser tab closes mid-call: the softphone's calls end (by the agent's side) and its
        registration goes with the websocket."""
        for chan in [c for c in self.channels.values() if c.agent is not None and c.agent.endpoint == endpoint]:
            self._caller_hangs_up(chan)
        self.set_registered(endpoint, False)

    def _endpoint_snapshot(self, endpoint: str) -> Json:
        tech, _, resource = endpoint.partition("/")
        return {"technology": tech, "resource": resource,
                "state": "offline" if endpoint in self.unregistered else "online",
                "channel_ids": [c.id for c in self.channels.values()
                                if c.agent is not None and c.agent.endpoint == endpoint]}

    def add_customer(self, customer: SimCustomer) -> SimCustomer:
        self.customers[customer.number] = customer
        return customer

    def place_call(self, caller: SimCaller, app: str = "callcenter") -> SimChannel:
        """A call arrives and the dialplan runs ``Stasis(app, args...)``."""
        seq = next(self._ids)
        chan = SimChannel(
            id=f"{self._epoch}.{seq}", name=f"PJSIP/trunk-{seq:08x}", created=self.wall(), created_t=self.now(),
            caller=caller, number=caller.number, language=caller.language,
        )
        self.channels[chan.id] = chan
        self.ended[chan.id] = asyncio.get_running_loop().create_future()
        if app not in self.apps:
            # docs/design.md, measured: Stasis fails and hangs up when no websocket for the app is connected.
            self.failed_no_app += 1
            chan.heard.append((0.0, "failed", "no Stasis application connected"))
            self._destroy(chan, "failure", by="system")
            return chan
        self._enter_stasis(chan, app, caller.args)
        self._schedule_caller(chan, caller)
        return chan

    def _enter_stasis(self, chan: SimChannel, app: str, args: tuple[str, ...]) -> None:
        chan.app, chan.args = app, args
        chan.app_data = ",".join((app, *args))
        self._publish(app, "StasisStart", args=list(args), channel=chan.snapshot())

    def _schedule_caller(self, chan: SimChannel, caller: SimCaller) -> None:
        start = chan.created_t
        for at, duration in caller.audio:
            self._later(chan, at, lambda d=duration: self._audio_starts(chan, d))
        for at, digit in caller.dtmf:
            self._later(chan, at, lambda d=digit: self._digit(chan, d))
        if caller.hangup_at is not None:
            self._later(chan, caller.hangup_at - (self.now() - start), lambda: self._caller_hangs_up(chan))

    async def wait_ended(self, channel_id: str) -> SimChannel:
        """Wait until a channel is destroyed (wrap in ``asyncio.timeout``); returns it with its ``heard`` log."""
        return await asyncio.shield(self.ended[channel_id])

    def caller_hangs_up(self, channel_id: str) -> None:
        self._caller_hangs_up(self._channel(channel_id))

    def _caller_hangs_up(self, chan: SimChannel) -> None:
        if chan.ended_t is not None:
            return
        self._publish(chan.app, "ChannelHangupRequest", cause=16, channel=chan.snapshot())
        self._destroy(chan, "normal", by="caller" if chan.caller else "agent")

    def _audio_starts(self, chan: SimChannel, duration: float) -> None:
        if chan.ended_t is not None:
            return
        chan.heard.append((self.now() - chan.created_t, "talk", f"{duration:g}"))
        chan.audio_until = max(chan.audio_until, self.now() + duration)
        self._talk(chan)
        self._carry_voice(chan)

    def speak(self, channel_id: str, seconds: float = 1.0) -> None:
        """The person on this line says something now (a caller's talk is also what TALK_DETECT reports)."""
        chan = self._channel(channel_id)
        if chan.caller is not None:
            self._audio_starts(chan, seconds)
        elif chan.state == "Up":
            chan.heard.append((self.now() - chan.created_t, "talk", f"{seconds:g}"))
            self._carry_voice(chan)

    def _carry_voice(self, speaker: SimChannel) -> None:
        if speaker.mute_in:  # res_mute's framehook drops the voice before any bridge or snoop sees it
            return
        for listener in self.hearers(speaker):
            listener.heard.append((self.now() - listener.created_t, "voice", speaker.voice))

    def _partners(self, chan: SimChannel) -> list[SimChannel]:
        bridge = self.bridges.get(chan.bridge or "")
        if bridge is None or bridge.bridge_type != "mixing":
            return []
        return [self.channels[c] for c in bridge.channels if c != chan.id and c in self.channels]

    def hearers(self, speaker: SimChannel) -> list[SimChannel]:
        """The people whose ear ``speaker``'s voice reaches now: bridge partners, spying snoops' bridge partners,
        and, through a whispering snoop in the speaker's bridge, the spied channel (``out``) and its partners
        (``in``). Snoop channels carry audio; they are not people and hear nothing themselves."""
        reached: list[SimChannel] = list(self._partners(speaker))
        for snoop in [c for c in self.channels.values() if c.snoop_of is not None]:
            spied = self.channels.get(snoop.snoop_of or "")
            if spied is None:
                continue
            own_voice = speaker is spied and snoop.spy in ("in", "both")
            its_ear = speaker in self._partners(spied) and snoop.spy in ("out", "both")
            if own_voice or its_ear:
                reached += self._partners(snoop)
            if snoop in self._partners(speaker):
                if snoop.whisper in ("out", "both"):
                    reached.append(spied)
                if snoop.whisper in ("in", "both"):
                    reached += self._partners(spied)
        out: list[SimChannel] = []
        for chan in reached:
            if chan is not speaker and chan.snoop_of is None and chan.ended_t is None and chan not in out \
                    and not self._deaf(chan):
                out.append(chan)
        return out

    @staticmethod
    def _deaf(chan: SimChannel) -> bool:
        """Nothing of a bridge reaches this ear: music on hold started on the channel is a generator, and
        Asterisk drops every frame written to a channel while a generator runs (channel.c ast_write); a channel
        muted ``out`` drops them too."""
        return chan.moh is not None or chan.mute_out

    def _talk(self, chan: SimChannel) -> None:
        """Talk detection on: report talking until ``silence_ms`` after the caller's audio stops."""
        if chan.talk_detect is None or chan.talking or chan.audio_until <= self.now() or chan.state != "Up":
            return  # not asked to detect, already talking, no audio, or no media path before the answer
        chan.talking = True
        started = self.now()
        self._publish(chan.app, "ChannelTalkingStarted", channel=chan.snapshot())
        silence = chan.talk_detect[0] / 1000

        def check() -> None:
            if chan.audio_until > self.now():  # a new burst began before the silence ran out
                self._later(chan, chan.audio_until - self.now() + silence, check)
                return
            chan.talking = False
            if chan.ended_t is None:
                self._publish(chan.app, "ChannelTalkingFinished", channel=chan.snapshot(),
                              duration=round((self.now() - started - silence) * 1000))

        self._later(chan, chan.audio_until - self.now() + silence, check)

    def _digit(self, chan: SimChannel, digit: str) -> None:
        if chan.state != "Up" or chan.ended_t is not None:
            return
        chan.heard.append((self.now() - chan.created_t, "dtmf", digit))
        self._publish(chan.app, "ChannelDtmfReceived", digit=digit, duration_ms=100, channel=chan.snapshot())

    # ------------------------------------------------------------------ channel life

    def _channel(self, channel_id: str) -> SimChannel:
        chan = self.channels.get(channel_id)
        if chan is None or chan.ended_t is not None:
            raise AriError(404, "Channel not found")
        return chan

    def _stasis_channel(self, channel_id: str) -> SimChannel:
        chan = self._channel(channel_id)
        if chan.app is None:
            raise AriError(409, "Channel not in a Stasis application")
        return chan

    def _destroy(self, chan: SimChannel, reason: str, by: str) -> None:
        if chan.ended_t is not None:
            return
        cause, cause_txt = CAUSES[reason]
        chan.cancel_timers()
        chan.ended_t = self.now()
        chan.hangup_by = by
        chan.heard.append((chan.ended_t - chan.created_t, "hangup", by))
        # What the channel was playing ends "failed", as Asterisk 22 reports a hung-up channel's playback
        # (tests/sim/fixtures/ari_asterisk_22.yaml, the "cut" playback).
        self._stop_target(f"channel:{chan.id}", state="failed")
        if chan.bridge and chan.bridge in self.bridges:
            bridge = self.bridges[chan.bridge]
            bridge.channels.remove(chan.id)
            self._publish(chan.app, "ChannelLeftBridge", bridge=bridge.snapshot(), channel=chan.snapshot())
        chan.bridge = None
        chan.state = "Down" if chan.state != "Up" else chan.state
        if chan.app is not None and (chan.caller is not None or chan.answered_t is not None):
            self._publish(chan.app, "StasisEnd", channel=chan.snapshot())
        if chan.snoop_of is None:  # a Snoop's end reaches the application as StasisEnd alone (measured, 22.10.1)
            self._publish(chan.app, "ChannelDestroyed", cause=cause, cause_txt=cause_txt, channel=chan.snapshot())
        self.channels.pop(chan.id, None)
        future = self.ended.get(chan.id)
        if future is not None and not future.done():
            future.set_result(chan)
        for snoop in [c for c in self.channels.values() if c.snoop_of == chan.id]:
            self._destroy(snoop, "normal", by="system")  # its audiohooks are gone: the Snoop channel hangs up

    def _set_state(self, chan: SimChannel, state: str) -> None:
        chan.state = state
        self._publish(chan.app, "ChannelStateChange", channel=chan.snapshot())

    # ------------------------------------------------------------------ REST

    def handle(self, method: str, path: str, query: Mapping[str, str], body: Json | None = None) -> tuple[int, Any]:
        """One REST request (``path`` relative to /ari, leading slash) → ``(status, body or None)``."""
        found = self.docs.find(method, path)
        if found is None:
            if self.docs.methods_for(path):
                return self._respond(None, {}, 405, {"message": "Method not allowed"})
            return self._respond(None, {}, 404, {"message": "Resource not found"})
        op, params = found
        problems = self.docs.check_parameters(op, query)
        if problems:
            return self._respond(op, params, 400, {"message": "; ".join(problems)})
        handler = getattr(self, f"_op_{op.resource}_{op.nickname}", None)
        if handler is None:
            return self._respond(op, params, 501, {"message": f"{op.nickname} is not simulated"})
        try:
            status, payload = handler(params, query, body or {})
        except AriError as exc:
            return self._respond(op, params, exc.status, {"message": exc.message})
        return self._respond(op, params, status, payload)

    def _respond(self, op: Operation | None, params: Json, status: int, payload: Any) -> tuple[int, Any]:
        for observer in self.observers:
            observer("response", {"operation": op, "params": params, "status": status, "body": payload})
        return status, payload

    # asterisk ----------------------------------------------------------

    def _op_asterisk_getInfo(self, _p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        started = _timestamp(self.started_wall)
        return 200, {
            "build": {"os": "Linux", "kernel": "6.1.0", "options": "", "machine": "x86_64",
                      "date": "2025-10-01 00:00:00 UTC", "user": "root"},
            "system": {"version": self.version, "entity_id": self.asterisk_id},
            "config": {"name": "callcenter-sim", "default_language": "en", "max_channels": 0,
                       "setid": {"user": "asterisk", "group": "asterisk"}},
            "status": {"startup_time": started, "last_reload_time": started},
        }

    def _op_asterisk_ping(self, _p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return 200, {"asterisk_id": self.asterisk_id, "ping": "pong", "timestamp": _timestamp(self.wall())}

    # channels ----------------------------------------------------------

    def _op_channels_list(self, _p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return 200, [c.snapshot() for c in self.channels.values()]

    def _op_channels_get(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return 200, self._channel(p["channelId"]).snapshot()

    def _op_channels_hangup(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._channel(p["channelId"])
        reason = q.get("reason", "normal")
        self._publish(chan.app, "ChannelHangupRequest", cause=CAUSES[reason][0], soft=False, channel=chan.snapshot())
        self._destroy(chan, reason, by="system")
        return 204, None

    def _op_channels_answer(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        if chan.state != "Up":
            chan.answered_t = self.now()
            chan.heard.append((chan.answered_t - chan.created_t, "answered", ""))
            self._set_state(chan, "Up")
        return 204, None

    def _op_channels_ring(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        if chan.state == "Up":
            raise AriError(412, "Channel in invalid state")
        if chan.ring_started is None:
            chan.ring_started = self.now()
            chan.heard.append((chan.ring_started - chan.created_t, "ringing", ""))
            ring = chan.caller.hangup_at_ring if chan.caller else None
            if ring is not None:
                # The caller gives up half-way through the tone of ring ``ring``.
                at = self.cadence.ring_starts(ring) + self.cadence.on / 2
                self._later(chan, at, lambda: self._caller_hangs_up(chan) if chan.state != "Up" else None)
        return 204, None

    def _op_channels_ringStop(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        self._stasis_channel(p["channelId"])
        return 204, None

    def _op_channels_hold(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        self._publish(chan.app, "ChannelHold", channel=chan.snapshot())
        return 204, None

    def _op_channels_unhold(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        self._publish(chan.app, "ChannelUnhold", channel=chan.snapshot())
        return 204, None

    def _op_channels_startMoh(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        chan.moh = q.get("mohClass", "default")
        chan.heard.append((self.now() - chan.created_t, "moh", chan.moh))
        return 204, None

    def _op_channels_stopMoh(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        if chan.moh is not None:
            chan.moh = None
            chan.heard.append((self.now() - chan.created_t, "moh_stopped", ""))
        return 204, None

    def _op_channels_mute(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return self._mute(p["channelId"], q.get("direction", "both"), True)

    def _op_channels_unmute(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return self._mute(p["channelId"], q.get("direction", "both"), False)

    def _mute(self, channel_id: str, direction: str, on: bool) -> tuple[int, Any]:
        chan = self._stasis_channel(channel_id)
        if direction in ("in", "both"):
            chan.mute_in = on
        if direction in ("out", "both"):
            chan.mute_out = on
        chan.heard.append((self.now() - chan.created_t, "muted" if on else "unmuted", direction))
        return 204, None

    def _op_channels_sendDTMF(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        """res_stasis's control queue plays the digits to the channel (ast_dtmf_stream): ``before`` ms, then
        each digit for ``duration`` ms with ``between`` ms between them; the response does not wait for them.
        The far end hears them (``dtmf_tone`` in its ``heard``); nothing is reported as received."""
        chan = self._stasis_channel(p["channelId"])
        digits = q.get("dtmf", "")
        if not digits:
            raise AriError(400, "DTMF is required")
        if chan.state != "Up":
            raise AriError(412, "Channel in invalid state")
        before, between, duration = (int(q.get(k, d)) / 1000 for k, d in (("before", 0), ("between", 100),
                                                                           ("duration", 100)))
        for i, digit in enumerate(digits):
            at = before + i * (duration + between)
            self._later(chan, at, lambda d=digit: chan.heard.append((self.now() - chan.created_t, "dtmf_tone", d)))
        return 204, None

    def _op_channels_setChannelVar(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        name, value = q["variable"], q.get("value", "")
        if name.upper() == "TALK_DETECT(SET)":
            chan.talk_detect = _parse_talk_detect(value)
            self._talk(chan)  # a caller already talking is detected from now
        elif name.upper() == "TALK_DETECT(REMOVE)":
            chan.talk_detect = None
        elif "(" in name:
            raise AriError(400, f"Unknown dialplan function {name}")
        else:
            chan.variables[name] = value
            self._publish(chan.app, "ChannelVarset", variable=name, value=value, channel=chan.snapshot())
        return 204, None

    def _op_channels_getChannelVar(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        if q["variable"].endswith(")"):
            return 200, {"value": self._read_function(q["variable"])}
        if q["variable"] not in chan.variables:
            raise AriError(404, "Provided variable was not found")
        return 200, {"value": chan.variables[q["variable"]]}

    def _read_function(self, call: str) -> str:
        """``PJSIP_ENDPOINT(<name>,webrtc)`` (func_pjsip_endpoint: an endpoint's setting, yes/no): the one dialplan
        function the application reads; any other, or an unknown endpoint, fails as ast_func_read2 does."""
        name, _, args = call[:-1].partition("(")
        resource, _, field = args.partition(",")
        agent = self.agents.get(f"PJSIP/{resource}")
        if name.upper() != "PJSIP_ENDPOINT" or agent is None or field != "webrtc":
            raise AriError(500, "Unable to read provided function")
        return "yes" if agent.webrtc else "no"

    def _op_channels_originate(self, p: Json, q: Mapping[str, str], b: Json) -> tuple[int, Any]:
        return self._originate(q.get("channelId") or self._new_id(), q)

    def _op_channels_originateWithId(self, p: Json, q: Mapping[str, str], b: Json) -> tuple[int, Any]:
        return self._originate(p["channelId"], q)

    def _originate(self, channel_id: str, q: Mapping[str, str]) -> tuple[int, Any]:
        # Asterisk 22 looks an id up as a prefix: "cb-1" is taken while "cb-1-agent" lives (measured).
        if any(existing.lower().startswith(channel_id.lower()) for existing in self.channels):
            raise AriError(409, "Channel with given unique ID already exists")
        app = q.get("app")
        if not app:
            raise AriError(400, "Either app or extension must be specified")
        endpoint = q["endpoint"]
        agent = self.agents.get(endpoint)
        customer = self.customers.get(_dialled_number(endpoint)) if agent is None else None
        if (agent is None and customer is None) or endpoint in self.unregistered:
            raise AriError(400, f"Allocation failed: endpoint {endpoint} is not registered")
        seq = next(self._ids)
        chan = SimChannel(id=channel_id, name=f"{endpoint.partition('@')[0]}-{seq:08x}", created=self.wall(),
                          created_t=self.now(), agent=agent, state="Down", language="zh",
                          number=customer.number if customer else endpoint.rpartition("/")[2])
        chan.app = app  # subscribed to the new channel's events from now on; StasisStart comes on answer
        chan.args = tuple(a for a in q.get("appArgs", "").split(",") if a)
        self.channels[chan.id] = chan
        self.ended[chan.id] = asyncio.get_running_loop().create_future()
        snapshot = chan.snapshot()
        timeout = float(q.get("timeout", "30"))
        self._later(chan, 0.0, lambda: self._dial_event(chan, ""))
        if customer is not None:
            self._later(chan, 0.0, lambda: self._customer_rings(chan, customer, timeout))
        else:
            assert agent is not None
            self._later(chan, 0.0, lambda: self._agent_rings(chan, agent, timeout))
        return 200, snapshot

    def _dial_event(self, chan: SimChannel, status: str) -> None:
        """The Dial event of an originated channel (its ``peer``): "" as the dial starts, then RINGING, BUSY,
        CONGESTION or ANSWER, as Asterisk 22 reports them (tests/sim/fixtures/ari_asterisk_22.yaml)."""
        if chan.ended_t is None:
            self._publish(chan.app, "Dial", peer=chan.snapshot(), dialstring=chan.name.rpartition("-")[0],
                          dialstatus=status)

    def _customer_rings(self, chan: SimChannel, customer: SimCustomer, timeout: float) -> None:
        if customer.busy or customer.congestion:
            self._dial_event(chan, "BUSY" if customer.busy else "CONGESTION")
            # Through a Local channel the far end's cause does not come back: the channel ends "Unknown" (0).
            local = chan.name.startswith("Local/")
            reason = "unknown" if local else "busy" if customer.busy else "congestion"
            self._destroy(chan, reason, by="system")
            return
        self._ring_party(chan, customer.answer_at_ring, timeout, lambda: self._customer_answers(chan, customer))

    def _customer_answers(self, chan: SimChannel, customer: SimCustomer) -> None:
        chan.answered_t = self.now()
        # The call's 0 is the instant it entered Stasis, as for a caller: the ringing before it is negative.
        rebase = chan.answered_t - chan.created_t
        chan.heard = [(t - rebase, kind, what) for t, kind, what in chan.heard]
        chan.heard.append((0.0, "answered", ""))
        chan.created_t = chan.answered_t
        chan.caller = customer.after_answer  # from here on the customer acts like a caller
        self._dial_event(chan, "ANSWER")
        self._set_state(chan, "Up")
        assert chan.app is not None
        self._enter_stasis(chan, chan.app, chan.args)
        self._schedule_caller(chan, customer.after_answer)

    def _agent_rings(self, chan: SimChannel, agent: SimAgent, timeout: float) -> None:
        if agent.busy:
            self._dial_event(chan, "BUSY")
            self._destroy(chan, "busy", by="agent")
            return
        self._ring_party(chan, agent.answer_at_ring, timeout, lambda: self._agent_answers(chan, agent))

    def _ring_party(self, chan: SimChannel, answer_at_ring: int | None, timeout: float,
                    answer: Callable[[], None]) -> None:
        chan.ring_started = self.now()
        chan.heard.append((chan.ring_started - chan.created_t, "ringing", ""))
        self._set_state(chan, "Ringing")
        self._dial_event(chan, "RINGING")
        if answer_at_ring is not None:
            at = self.cadence.ring_starts(answer_at_ring) + self.cadence.on / 2
            if timeout <= 0 or at < timeout:
                self._later(chan, at, answer)
        if timeout > 0:
            self._later(chan, timeout, lambda: self._destroy(chan, "no_answer", by="system")
                        if chan.state != "Up" else None)

    def _agent_answers(self, chan: SimChannel, agent: SimAgent) -> None:
        chan.answered_t = self.now()
        chan.heard.append((chan.answered_t - chan.created_t, "answered", ""))
        self._dial_event(chan, "ANSWER")
        self._set_state(chan, "Up")
        assert chan.app is not None
        self._enter_stasis(chan, chan.app, chan.args)
        if agent.hangup_after is not None:
            self._later(chan, agent.hangup_after, lambda: self._caller_hangs_up(chan))
        for at, seconds in agent.speech:
            self._later(chan, at, lambda d=seconds: self.speak(chan.id, d) if chan.ended_t is None else None)

    # snoop -------------------------------------------------------------

    def _op_channels_snoopChannel(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return self._snoop(p["channelId"], q.get("snoopId") or self._new_id(), q)

    def _op_channels_snoopChannelWithId(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return self._snoop(p["channelId"], p["snoopId"], q)

    def _snoop(self, channel_id: str, snoop_id: str, q: Mapping[str, str]) -> tuple[int, Any]:
        spied = self._channel(channel_id)
        spy, whisper = q.get("spy", "none"), q.get("whisper", "none")
        if spy == "none" and whisper == "none":
            raise AriError(400, "Direction must be specified for at least spy or whisper")
        if snoop_id in self.channels:
            raise AriError(500, "Allocation failed")
        seq = next(self._ids)
        chan = SimChannel(id=snoop_id, name=f"Snoop/{spied.id}-{seq:08x}", created=self.wall(),
                          created_t=self.now(), state="Up", snoop_of=spied.id, spy=spy, whisper=whisper)
        chan.answered_t = self.now()
        self.channels[chan.id] = chan
        self.ended[chan.id] = asyncio.get_running_loop().create_future()
        self._enter_stasis(chan, q["app"], tuple(a for a in q.get("appArgs", "").split(",") if a))
        return 200, chan.snapshot()

    # playbacks ---------------------------------------------------------

    def _op_channels_play(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        return self._play(f"channel:{chan.id}", q.get("playbackId") or self._new_id(), q)

    def _op_channels_playWithId(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        chan = self._stasis_channel(p["channelId"])
        return self._play(f"channel:{chan.id}", p["playbackId"], q)

    def _op_bridges_play(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        return self._play(f"bridge:{bridge.id}", q.get("playbackId") or self._new_id(), q)

    def _op_bridges_playWithId(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        return self._play(f"bridge:{bridge.id}", p["playbackId"], q)

    def _play(self, target: str, playback_id: str, q: Mapping[str, str]) -> tuple[int, Any]:
        if playback_id in self.playbacks:
            raise AriError(409, "Playback with given ID already exists")
        lang = q.get("lang", "en")
        media = q["media"]
        playback = SimPlayback(playback_id, media, target, lang, seconds=self.media_length(media, lang))
        self.playbacks[playback_id] = playback
        queue = self._queues.setdefault(target, [])
        queue.append(playback_id)
        if len(queue) == 1:
            self._later(None, 0.0, lambda: self._start_playback(playback))
        return 201, playback.snapshot()

    def _listeners(self, target: str) -> list[SimChannel]:
        kind, _, ident = target.partition(":")
        if kind == "channel":
            return [self.channels[ident]] if ident in self.channels else []
        bridge = self.bridges.get(ident)
        return [self.channels[c] for c in bridge.channels if c in self.channels] if bridge else []

    def _app_of(self, target: str) -> str | None:
        kind, _, ident = target.partition(":")
        if kind == "channel":
            chan = self.channels.get(ident)
            return chan.app if chan else None
        bridge = self.bridges.get(ident)
        return bridge.app if bridge else None

    def _start_playback(self, playback: SimPlayback) -> None:
        if playback.state != "queued":
            return
        app = self._app_of(playback.target_uri)
        if playback.seconds is None:
            # As Asterisk 22.10.1 does (tests/sim/fixtures/ari_asterisk_22.yaml): a media that cannot be opened
            # is still announced as playing, then ends at once in state "failed"; the caller hears nothing.
            playback.state = "playing"
            self._publish(app, "PlaybackStarted", playback=playback.snapshot())
            playback.state = "failed"
            self._publish(app, "PlaybackFinished", playback=playback.snapshot())
            self._next_playback(playback)
            return
        playback.state = "playing"
        on_channel = playback.target_uri.startswith("channel:")
        for chan in self._listeners(playback.target_uri):
            if on_channel and chan.moh is not None:
                # ARI: a play on a channel playing music suspends the music, which does not come back by itself.
                chan.moh = None
                chan.heard.append((self.now() - chan.created_t, "moh_stopped", ""))
            if self._deaf(chan):
                continue
            chan.heard.append((self.now() - chan.created_t, "playback", playback.media_uri))
            chan.played[playback.media_uri] = playback.language
        self._publish(app, "PlaybackStarted", playback=playback.snapshot())
        playback.timer = self.clock.call_later(playback.seconds, lambda: self._finish_playback(playback))

    def _finish_playback(self, playback: SimPlayback, stopped: bool = False, state: str = "done") -> None:
        if playback.state in ("done", "failed"):
            return
        app = self._app_of(playback.target_uri)
        was_playing = playback.state == "playing"
        playback.state = state
        if playback.timer is not None:
            playback.timer.cancel()
        if stopped and was_playing:
            for chan in self._listeners(playback.target_uri):
                chan.heard.append((self.now() - chan.created_t, "playback_stopped", playback.media_uri))
        self._publish(app, "PlaybackFinished", playback=playback.snapshot())
        self._next_playback(playback)

    def _next_playback(self, playback: SimPlayback) -> None:
        self.playbacks.pop(playback.id, None)
        queue = self._queues.get(playback.target_uri, [])
        if playback.id in queue:
            queue.remove(playback.id)
        if queue:
            self._start_playback(self.playbacks[queue[0]])
        else:
            self._queues.pop(playback.target_uri, None)

    def _stop_target(self, target: str, state: str = "done") -> None:
        for playback_id in list(self._queues.get(target, [])):
            if playback_id in self.playbacks:
                self._finish_playback(self.playbacks[playback_id], stopped=True, state=state)

    def _op_playbacks_get(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        playback = self.playbacks.get(p["playbackId"])
        if playback is None:
            raise AriError(404, "Playback not found")
        return 200, playback.snapshot()

    def _op_playbacks_stop(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        playback = self.playbacks.get(p["playbackId"])
        if playback is None:
            raise AriError(404, "Playback not found")
        self._finish_playback(playback, stopped=True)
        return 204, None

    # endpoints and subscriptions --------------------------------------

    def _op_endpoints_list(self, _p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return 200, [self._endpoint_snapshot(e) for e in self.agents]

    def _op_endpoints_listByTech(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        found = [self._endpoint_snapshot(e) for e in self.agents if e.partition("/")[0] == p["tech"]]
        if not found:
            raise AriError(404, "No Endpoints found - invalid tech")
        return 200, found

    def _op_endpoints_get(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        endpoint = f"{p['tech']}/{p['resource']}"
        if endpoint not in self.agents:
            raise AriError(404, "Endpoint not found")
        return 200, self._endpoint_snapshot(endpoint)

    def _op_applications_subscribe(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        """``eventSource=endpoint:<tech>[/<resource>]`` (stasis app.c: ast_endpoint_find_by_id finds a
        technology's endpoint too, whose events are every endpoint of that technology)."""
        app = p["applicationName"]
        if app not in self.apps:
            raise AriError(404, "Application not found")
        sources = self.endpoint_sources.setdefault(app, set())
        for source in q["eventSource"].split(","):
            scheme, _, ident = source.partition(":")
            if scheme != "endpoint":
                raise AriError(400, "Invalid event source URI scheme")
            techs = {e.partition("/")[0] for e in self.agents}
            if ident not in self.agents and ident not in techs:
                raise AriError(422, "Event source does not exist")
            sources.add(ident)
        return 200, {"name": app, "channel_ids": [c.id for c in self.channels.values() if c.app == app],
                     "bridge_ids": [b.id for b in self.bridges.values() if b.app == app],
                     "endpoint_ids": sorted(sources), "device_names": [], "events_allowed": [],
                     "events_disallowed": []}

    # bridges -----------------------------------------------------------

    def _bridge(self, bridge_id: str) -> SimBridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        return bridge

    def _op_bridges_list(self, _p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return 200, [b.snapshot() for b in self.bridges.values()]

    def _op_bridges_get(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return 200, self._bridge(p["bridgeId"]).snapshot()

    def _op_bridges_create(self, _p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return self._create_bridge(q.get("bridgeId") or self._new_id(), q)

    def _op_bridges_createWithId(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        return self._create_bridge(p["bridgeId"], q)

    def _create_bridge(self, bridge_id: str, q: Mapping[str, str]) -> tuple[int, Any]:
        if bridge_id in self.bridges:
            raise AriError(409, "Bridge with given ID already exists")
        kinds = set(q.get("type", "mixing").split(","))
        bridge_type = "holding" if "holding" in kinds else "mixing"
        bridge = SimBridge(bridge_id, q.get("name", ""), bridge_type, self.wall())
        self.bridges[bridge_id] = bridge
        return 200, bridge.snapshot()

    def _op_bridges_destroy(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        self._stop_target(f"bridge:{bridge.id}")
        app = self._app_of(f"bridge:{bridge.id}")
        for channel_id in list(bridge.channels):
            chan = self.channels[channel_id]
            bridge.channels.remove(channel_id)
            chan.bridge = None
            self._publish(chan.app, "ChannelLeftBridge", bridge=bridge.snapshot(), channel=chan.snapshot())
        if bridge.recording:
            self._finish_recording(self.recordings[bridge.recording], app)
        del self.bridges[bridge.id]
        self._publish(app, "BridgeDestroyed", bridge=bridge.snapshot())
        return 204, None

    def _op_bridges_addChannel(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        ids = [c for c in q["channel"].split(",") if c]
        chans = []
        for channel_id in ids:
            chan = self.channels.get(channel_id)
            if chan is None or chan.ended_t is not None:
                raise AriError(400, "Channel not found")
            if chan.app is None:
                raise AriError(422, "Channel not in Stasis application")
            chans.append(chan)
        for chan in chans:
            if chan.bridge == bridge.id:
                continue
            old = self.bridges.get(chan.bridge or "")
            if old is not None and chan.id in old.channels:
                # res/stasis/control.c: "Depart whatever Stasis bridge we're currently in" before joining this one.
                old.channels.remove(chan.id)
                self._publish(chan.app, "ChannelLeftBridge", bridge=old.snapshot(), channel=chan.snapshot())
            chan.bridge = bridge.id
            bridge.channels.append(chan.id)
            bridge.app = bridge.app or chan.app
            if bridge.recording in self.recordings:
                self.recordings[bridge.recording].parties.append((chan, self.now()))
            self._publish(chan.app, "ChannelEnteredBridge", bridge=bridge.snapshot(), channel=chan.snapshot())
        return 204, None

    def _op_bridges_removeChannel(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        for channel_id in [c for c in q["channel"].split(",") if c]:
            if channel_id not in bridge.channels:
                raise AriError(422, "Channel not in this bridge")
            chan = self.channels[channel_id]
            bridge.channels.remove(channel_id)
            chan.bridge = None
            self._publish(chan.app, "ChannelLeftBridge", bridge=bridge.snapshot(), channel=chan.snapshot())
        return 204, None

    def _op_bridges_startMoh(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        bridge.moh = q.get("mohClass", "default")
        for chan in self._listeners(f"bridge:{bridge.id}"):
            chan.heard.append((self.now() - chan.created_t, "moh", bridge.moh))
        return 204, None

    def _op_bridges_stopMoh(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        if bridge.moh is None:
            raise AriError(409, "Bridge not playing music on hold")
        bridge.moh = None
        for chan in self._listeners(f"bridge:{bridge.id}"):
            chan.heard.append((self.now() - chan.created_t, "moh_stopped", ""))
        return 204, None

    # recordings --------------------------------------------------------

    def _op_bridges_record(self, p: Json, q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        bridge = self._bridge(p["bridgeId"])
        name, fmt = q["name"], q["format"]
        if fmt not in ("wav", "gsm", "ulaw", "alaw", "sln"):
            raise AriError(422, "The format specified is unknown on this system")
        if name in self.recordings and self.recordings[name].state == "recording":
            raise AriError(409, "A recording with the same name is in progress")
        if q.get("ifExists", "fail") == "fail" and self._recording_path(name, fmt).exists():
            raise AriError(409, "A recording with the same name already exists on the system")
        recording = SimRecording(name, fmt, f"bridge:{bridge.id}", self.now(),
                                 parties=[(self.channels[c], self.now()) for c in bridge.channels])
        self.recordings[name] = recording
        bridge.recording = name
        app = self._app_of(recording.target_uri)
        self._publish(app, "RecordingStarted", recording=recording.snapshot())
        return 201, {**recording.snapshot(), "state": "queued"}

    def _recording_path(self, name: str, fmt: str) -> Path:
        if self.recordings_dir is None:
            raise AriError(400, "Recording directory not configured")
        path = (self.recordings_dir / f"{name}.{fmt}").resolve()
        if not path.is_relative_to(self.recordings_dir.resolve()):
            raise AriError(400, "Recording name leaves the recording directory")
        return path

    def _finish_recording(self, recording: SimRecording, app: str | None) -> None:
        if recording.state != "recording":
            return
        seconds = max(0.0, self.now() - recording.started)
        recording.state, recording.duration = "done", round(seconds)
        write_recording(self._recording_path(recording.name, recording.format),
                        self._recording_segments(recording, seconds), seconds)
        self._publish(app, "RecordingFinished", recording=recording.snapshot())
        self.recordings.pop(recording.name, None)

    def _recording_segments(self, recording: SimRecording, seconds: float) -> list[Segment]:
        """What the bridge mix held: prompts and music its channels heard (a bridge playback is heard by every
        channel and recorded once) and the caller's speech or noise, each while the channel was in the bridge."""
        segments: dict[tuple[int, Sound, str], Segment] = {}
        for chan, joined in recording.parties:
            shift = chan.created_t - recording.started  # call second → recording second
            left = (chan.ended_t if chan.ended_t is not None else self.now()) - recording.started
            inside = self._heard_segments(chan, shift)
            if chan.caller is not None:
                inside += caller_segments(chan.caller, -shift, left)
            for seg in clip(inside, joined - recording.started, min(left, seconds)):
                segments.setdefault((round(seg.start * 1000), seg.sound, str(seg.file)), seg)
        return list(segments.values())

    def _heard_segments(self, chan: SimChannel, shift: float) -> list[Segment]:
        """Prompt and music intervals from ``chan.heard`` (call seconds + ``shift`` = recording seconds): a
        playback lasts its media's length unless stopped; music lasts until stopped or the hang-up."""
        out: list[Segment] = []
        ends = [t for t, kind, _ in chan.heard if kind == "hangup"]
        last = (ends[0] if ends else self.now() - chan.created_t) + shift
        for i, (t, kind, what) in enumerate(chan.heard):
            start = t + shift
            if kind == "playback":
                lang = chan.played.get(what, chan.language)
                stopped = [u for u, k, w in chan.heard[i + 1:] if k == "playback_stopped" and w == what]
                end = min(start + (self.media_length(what, lang) or 0.0), stopped[0] + shift if stopped else last)
                out.append(Segment(max(0.0, start), max(0.0, start, end), Sound.PROMPT, self._sound_file(what, lang)))
            elif kind == "moh":
                stops = [u + shift for u, k, _ in chan.heard[i + 1:] if k in ("moh_stopped", "hangup")]
                end = stops[0] if stops else last
                out.append(Segment(max(0.0, start), max(0.0, start, end), Sound.MUSIC))
        return out

    def _sound_file(self, media: str, lang: str) -> Path | None:
        """``sound:/abs/stem`` → that stem's WAV (what the adapter sends, telephony/ari/call.py); ``sound:<name>``
        played with ``lang`` → <sounds>/<lang>/<name>.wav; None for other media or without a sounds folder."""
        scheme, _, name = media.partition(":")
        if scheme != "sound" or not name or ".." in name.split("/"):
            return None
        if name.startswith("/"):
            return Path(f"{name}.wav")
        if self.sounds_dir is None:
            return None
        return self.sounds_dir / lang / f"{name}.wav"

    def _op_recordings_getLive(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        recording = self.recordings.get(p["recordingName"])
        if recording is None:
            raise AriError(404, "Recording not found")
        return 200, recording.snapshot()

    def _op_recordings_stop(self, p: Json, _q: Mapping[str, str], _b: Json) -> tuple[int, Any]:
        recording = self.recordings.get(p["recordingName"])
        if recording is None:
            raise AriError(404, "Recording not found")
        self._finish_recording(recording, self._app_of(recording.target_uri))
        for bridge in self.bridges.values():
            if bridge.recording == recording.name:
                bridge.recording = None
        return 204, None


def _dialled_number(endpoint: str) -> str:
    """The number in a dial string: ``Local/13800138000@customers/n`` → ``13800138000``."""
    return endpoint.partition("/")[2].partition("@")[0]


def _parse_talk_detect(value: str) -> tuple[int, int]:
    if not value:
        return _DEFAULT_TALK_DETECT
    parts = value.split(",")
    try:
        silence = int(parts[0]) if parts[0] else _DEFAULT_TALK_DETECT[0]
        energy = int(parts[1]) if len(parts) > 1 and parts[1] else _DEFAULT_TALK_DETECT[1]
    except ValueError:
        raise AriError(400, f"TALK_DETECT(set): bad value {value!r}, expected <silence_ms>,<energy>") from None
    if silence < 1 or energy < 0:
        raise AriError(400, f"TALK_DETECT(set): bad value {value!r}")
    return silence, energy


# ---------------------------------------------------------------------- REST over the events websocket


def rest_over_websocket(sim: AriSimulator, app: str, text: str) -> Json | None:
    """Answer one frame an application sent on its events websocket: a RESTRequest gets a RESTResponse
    (Asterisk >= 20.14 / 21.9 / 22.4; docs.asterisk.org "ARI REST over WebSocket"); anything else is ignored."""
    try:
        request = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(request, dict) or request.get("type") != "RESTRequest":
        return None
    uri = str(request.get("uri", ""))
    path, _, raw_query = uri.partition("?")
    query = _parse_query(raw_query)
    for pair in request.get("query_strings") or ():
        query[str(pair.get("name"))] = str(pair.get("value"))
    body: Json = {}
    if request.get("message_body"):
        try:
            parsed = json.loads(request["message_body"])
            body = parsed if isinstance(parsed, dict) else {}
        except json.JSONDecodeError:
            body = {}
    method = str(request.get("method", "")).upper()
    if not path or not method:
        status, payload = 400, {"message": "RESTRequest needs method and uri"}
    else:
        status, payload = sim.handle(method, "/" + path.lstrip("/"), query, body)
    response = sim._event(app, "RESTResponse", transaction_id=str(request.get("transaction_id", "")),
                          request_id=str(request.get("request_id", "")), status_code=status,
                          reason_phrase=HTTPStatus(status).phrase, uri=uri)
    if payload is not None:
        response["content_type"] = "application/json"
        response["message_body"] = json.dumps(payload, ensure_ascii=False)
    return response


def _parse_query(raw: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    out: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


class LocalLink:
    """An events websocket without the socket: the frames an application would exchange with Asterisk,
    for unit tests where the socket adds nothing (docs/design.md, Habits). Duck-types ``send``/``recv``/``close`` of a
    ``websockets`` client connection."""

    def __init__(self, sim: AriSimulator, app: str) -> None:
        self.sim, self.app = sim, app
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False
        sim.connect_app([app], self)

    def deliver(self, text: str) -> None:
        if not self.closed:
            self._inbox.put_nowait(text)

    def drop(self) -> None:
        self.closed = True
        self._inbox.put_nowait(None)

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionError("link closed")
        response = rest_over_websocket(self.sim, self.app, text)
        if response is not None:
            self.sim._send(self, response)

    async def recv(self) -> str:
        item = await self._inbox.get()
        if item is None:
            raise ConnectionError("link closed by the simulator")
        return item

    async def close(self) -> None:
        self.closed = True
        self.sim.disconnect_app(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(None)


# ---------------------------------------------------------------------- the test kit: schema check of all traffic


class AriTrafficCheck:
    """Observer validating every REST response and every event against the Swagger models; tests assert
    ``check.errors == []`` at the end (and that ``check.seen`` covers what they exercised)."""

    def __init__(self, docs: ApiDocs | None = None) -> None:
        self.docs = docs or default_api_docs()
        self.errors: list[str] = []
        self.seen: dict[str, int] = {}

    def __call__(self, kind: str, message: Json) -> None:
        if kind == "event":
            self.seen[message.get("type", "?")] = self.seen.get(message.get("type", "?"), 0) + 1
            problems = self.docs.validate_message(message)
            where = f"event {message.get('type')}"
        else:
            op: Operation | None = message["operation"]
            status, body = message["status"], message["body"]
            name = f"{op.method} {op.path}" if op else "unknown path"
            self.seen[name] = self.seen.get(name, 0) + 1
            where = f"response {status} to {name}"
            if 200 <= status < 300 and op is not None:
                problems = self.docs.validate(op.response_class, body)
            elif status >= 400:
                problems = [] if isinstance(body, dict) and set(body) == {"message"} and isinstance(
                    body["message"], str) else ["error body must be {\"message\": str}"]
                if op is not None and status not in op.error_codes | {400, 404, 405, 500, 501}:
                    problems.append(f"status {status} is not listed for {op.nickname}")
            else:
                problems = []
        self.errors.extend(f"{where}: {p}" for p in problems)

