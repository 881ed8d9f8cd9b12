"""The ARI application: the task ``callcenter serve`` runs to take calls from Asterisk's Stasis.

:class:`AriService` owns the :class:`~callcenter.telephony.ari.client.AriClient` (websocket first, so Stasis
never finds the application missing), turns each StasisStart of a caller into an :class:`AriCall` driven by
:func:`callcenter.calls.runner.run_call` with the entry script of ``settings.telephony.entries[args[0]]``
(ring, answer after the configured rings, record, script: the session decides), routes every later event
to its call, and after every (re)connect reconciles with Asterisk:

- a known call whose channel is gone gets its HungUp (nothing waits forever);
- an agent leg that was answered while we were away is bridged, one that vanished is skipped;
- a prompt whose PlaybackFinished was lost is finished (``GET playbacks/{id}`` → 404), never played again;
- a channel in our application that this process does not know (the service restarted mid-call) is adopted:
  a call the timeline has never seen runs its entry script; one it has seen is not re-greeted (no script
  runs twice) but goes on with ``adopt_script`` (the agent queue), answered;
- stray agent legs and bridges of ours that belong to no call are hung up / destroyed.

Use in ``callcenter serve``::

    service = AriService(settings, timeline=timeline, pool=pool, recordings=recording_service)
    tasks.append(asyncio.create_task(service.run()))   # runs until cancelled
    await service.ready()                               # websocket connected (optional)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from callcenter.calls.control import ControlResult
from callcenter.calls.rings import cadence
from callcenter.calls.runner import CallOutcome, Clock, open_session, run_call
from callcenter.calls.seat_pool import SeatPool
from callcenter.calls.timeline import Timeline
from callcenter.config import EntrySettings, Settings
from callcenter.logs import get_logger
from callcenter.scripting.protocol import Transfer
from callcenter.telephony.ari import controls, routing
from callcenter.telephony.ari.call import AriCall
from callcenter.telephony.ari.client import AriClient, Json, path_id
from callcenter.telephony.ari.errors import AriError, AriRequestError
from callcenter.telephony.ari.monitoring import Monitoring
from callcenter.telephony.ari.outbound import OutboundCalls
from callcenter.telephony.ari.registrations import Registrations
from callcenter.telephony.ari.transfer import TRANSFER_ARG, Transfers
from callcenter.voice import PromptVoice

log = get_logger(__name__)

# How long a finished recording waits for its call's disposition before it is registered without one.
OUTCOME_WAIT_SECONDS = 10.0
# On stop, recordings being registered get this long to reach the store before the rest is cancelled
# (a QA filter on agent and disposition must not miss the last calls, R-107).
REGISTRATION_GRACE_SECONDS = OUTCOME_WAIT_SECONDS + 2.0
# Outcomes kept for ``outcome()`` after a call ended; older ones are dropped (the timeline keeps them all).
OUTCOMES_KEPT = 10_000

SessionFactory = Callable[[AriCall, str, bool], Any]


class _LoopClock:
    """The running loop as the call clock (``callcenter serve``)."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


class AriService:
    """Every ARI call of one Stasis application."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeline: Timeline,
        pool: SeatPool | None = None,
        client: AriClient | None = None,
        clock: Clock | None = None,
        recordings: Any = None,
        library: Any = None,
        session_factory: SessionFactory | None = None,
        adopt_script: str = "agent_queue",
    ) -> None:
        t = settings.telephony
        self.settings = settings
        self.timeline = timeline
        self.pool = pool if pool is not None else SeatPool.for_settings(settings, timeline)
        self.app = t.ari_app
        self.client = client or AriClient(t.ari_url, t.ari_username, t.ari_password, t.ari_app)
        self.clock: Clock = clock or _LoopClock()
        self.cadence = cadence(t.ring_cadence)
        self.voice = PromptVoice.of(settings.scripts)
        self.recordings = recordings
        self.adopt_script = adopt_script
        self._library = library
        self._session_factory = session_factory or self._open_session
        self.calls: dict[str, AriCall] = {}
        self.outcomes: dict[str, CallOutcome] = {}
        self._outcome_waiters: dict[str, asyncio.Future[CallOutcome]] = {}
        self._channels: dict[str, tuple[AriCall, bool]] = {}  # channel id → (call, is agent leg)
        self._playbacks: dict[str, AriCall] = {}
        self._recordings: dict[str, AriCall] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._registering: set[asyncio.Task[Any]] = set()  # tasks registering a recording right now
        self.reconciles = 0
        self.outbound = OutboundCalls(self)  # the callbacks this application dials (回访)
        self.monitoring = Monitoring(self)  # supervisors listening in
        self.registrations = Registrations(self)  # whose phone is registered: no call to a seat without
        self.transfers = Transfers(self)  # blind, consult and three-way transfers from the panel (issue 15)
        # Told when a callback call adopted after a restart ends (the dialer writes its attempt).
        self.on_outbound_adopted: Callable[[AriCall, CallOutcome], Awaitable[None]] | None = None
        # Which Asterisk server this is ([telephony.asterisk.<name>]); told of each call held and let go, so the
        # centre knows which process holds it (callcenter.calls.commands, issue 17).
        self.server = "main"
        self.on_call: Callable[[str, bool], object] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect and serve calls until cancelled (reconnecting by itself)."""
        self.client.on_event = self.on_event
        self.client.on_connected = self._on_connected
        if self._library is None and self._session_factory == self._open_session:
            self.library()  # before the websocket: a first call must not wait for the YAML
        try:
            await self.client.run()
        finally:
            registering = [task for task in self._tasks if task in self._registering]
            if registering:
                await asyncio.wait(registering, timeout=REGISTRATION_GRACE_SECONDS)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def ready(self) -> None:
        """Return once the events websocket is connected (wrap in ``asyncio.timeout``)."""
        await self.client.wait_connected()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def outcome(self, call_id: str) -> CallOutcome:
        """Wait for a call's outcome (disposition, who ended it, length); wrap in ``asyncio.timeout``."""
        if call_id in self.outcomes:
            return self.outcomes[call_id]
        waiter = self._outcome_waiters.setdefault(call_id, asyncio.get_running_loop().create_future())
        return await asyncio.shield(waiter)

    def call(self, call_id: str) -> AriCall | None:
        """A live call, for the panel's one-click scripts (:meth:`AriCall.request_script`)."""
        return self.calls.get(call_id)

    async def control(self, call_id: str, action: str, args: dict[str, Any], by: str) -> ControlResult:
        """The panel's call control on a live call (hold, mute, DTMF, hang-up …; telephony/ari/controls.py)."""
        return await controls.control(self.calls.get(call_id), call_id, action, args, by)

    # ------------------------------------------------------------------ indexes

    def index_leg(self, leg_id: str, call: AriCall) -> None:
        self._channels[leg_id] = (call, True)

    def unindex_leg(self, leg_id: str) -> None:
        self._channels.pop(leg_id, None)

    def index_playback(self, playback_id: str, call: AriCall) -> None:
        self._playbacks[playback_id] = call

    def unindex_playback(self, playback_id: str) -> None:
        self._playbacks.pop(playback_id, None)

    def index_recording(self, name: str, call: AriCall) -> None:
        self._recordings[name] = call

    def forget(self, call: AriCall) -> None:
        """The call ended: drop it from the routing tables (its recording stays until RecordingFinished)."""
        if self.calls.pop(call.call_id, None) is not None and self.on_call is not None:
            self.on_call(call.call_id, False)
        self.timeline.forget(call.call_id)
        self._channels.pop(call.channel_id, None)
        for leg_id in list(call.legs):
            self._channels.pop(leg_id, None)
        for playback_id in list(call.playbacks):
            self._playbacks.pop(playback_id, None)

    # ------------------------------------------------------------------ events

    def on_event(self, message: Json) -> None:
        """Route one ARI event to its call (the client calls this for every event, in order)."""
        if self.registrations.on_event(message):  # a seat's phone registered or went away
            return
        if self.outbound.on_event(message) or self.monitoring.on_event(message) or self.transfers.on_event(message):
            return  # not a call's own channel (or a transfer's agent leg, whose end the transfer decides)
        kind = message.get("type")
        if kind == "StasisStart":
            self._stasis_start(message)
        elif kind in ("PlaybackFinished",):
            playback = message.get("playback", {})
            playback_id = str(playback.get("id", ""))
            call = self._playbacks.get(playback_id)
            if call is not None:
                # Asterisk 22 ends a playback it could not start with state "failed" (the file does not exist
                # in any format): the caller heard nothing.
                failed = playback.get("state") == "failed"
                call.on_playback_finished(playback_id, f"{playback.get('media_uri', '')}: failed" if failed else "")
        elif kind == "RecordingFinished":
            recording = message.get("recording", {})
            call = self._recordings.pop(str(recording.get("name", "")), None)
            if call is not None:
                call.recording_finished(recording)
        elif "channel" in message or kind == "Dial":
            channel_id = str((message.get("channel") or message.get("peer") or {}).get("id", ""))
            found = self._channels.get(channel_id)
            if found is None:
                return
            call, is_leg = found
            if is_leg:
                routing.on_leg_event(call, channel_id, message)
            else:
                call.on_channel_event(message)

    def _stasis_start(self, message: Json) -> None:
        channel = message.get("channel", {})
        args = [str(a) for a in message.get("args", [])]
        channel_id = str(channel.get("id", ""))
        if args[:1] == ["agent"]:
            found = self._channels.get(channel_id)
            if found is not None:
                routing.on_leg_event(found[0], channel_id, message)
            else:  # a leg of a call that no longer exists
                self.spawn(self._hang_up(channel_id))
            return
        if channel_id in self._channels:
            return
        if args[:1] in (["outbound"], ["outbound-agent"]):  # an attempt this process no longer waits for
            self.spawn(self._hang_up(channel_id))
            return
        name, entry = self._entry(args)
        call = self._register(channel, name, entry)
        self.spawn(self._run(call, entry.script, answered=False))

    def _entry(self, args: list[str]) -> tuple[str, EntrySettings]:
        entries = self.settings.telephony.entries
        name = args[0] if args else ""
        if name in entries:
            return name, entries[name]
        fallback = "main" if "main" in entries else next(iter(entries))
        log.error("ari call for an unknown entry; using the fallback entry", entry=name, fallback=fallback)
        return fallback, entries[fallback]

    def _register(self, channel: Json, name: str, entry: EntrySettings) -> AriCall:
        call = AriCall(self, channel, name, entry)
        self.calls[call.call_id] = call
        self.index_channel(call)
        return call

    def index_channel(self, call: AriCall) -> None:
        self._channels[call.channel_id] = (call, False)
        if self.on_call is not None:
            self.on_call(call.call_id, True)

    async def _run(self, call: AriCall, script: str, *, answered: bool, offered: bool = True) -> None:
        try:
            session = self._session_factory(call, script, answered)
            data = {"entry": call.entry_name, "script": script, "locale": call.locale, "caller": call.caller,
                    "callee": call.callee, "channel": call.channel_id, "transport": "ari", "group": call.entry.group,
                    "server": self.server}
            call.t0 = self.clock.time()  # the runner's 0 is the same instant: one clock for both timelines
            outcome = await run_call(call, session, self.timeline, answered=answered,
                                     offered=data if offered else None, started_at=call.started_at, clock=self.clock)
            self.record_outcome(outcome)
        except Exception:
            log.exception("ari call failed", call_id=call.call_id)
            await self._hang_up(call.channel_id)
            self.forget(call)

    def record_outcome(self, outcome: CallOutcome) -> None:
        self.outcomes[outcome.call_id] = outcome
        if len(self.outcomes) > OUTCOMES_KEPT:
            del self.outcomes[next(iter(self.outcomes))]
        waiter = self._outcome_waiters.pop(outcome.call_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def _open_session(self, call: AriCall, script: str, answered: bool) -> Any:
        from callcenter.scripting.catalogue import prompt_variables

        library = self.library()
        variables = prompt_variables(self.settings.service, hotline=call.entry.hotline or None,
                                     now=datetime.now(self.settings.service.tz))
        return open_session(library, self.settings, script, call_id=call.call_id, locale=call.locale,
                            variables=variables, group=call.entry.group, agents=self.agent_record)

    def library(self) -> Any:
        """The script library (loaded once, before the first call)."""
        from callcenter.scripting.library import load_library

        if self._library is None:
            self._library = load_library(self.settings.scripts.directory, self.settings.scripts)
        return self._library

    def agent_record(self, agent_id: str) -> dict[str, str]:
        agent = self.pool.agents.get(agent_id)
        if agent is None:
            return {"work_number": agent_id}
        return {"work_number": agent.work_number, "name": agent.name}

    async def _hang_up(self, channel_id: str) -> None:
        try:
            await self.client.request("DELETE", f"channels/{path_id(channel_id)}")
        except AriError as exc:
            log.debug("ari hang-up of a stray channel failed", channel=channel_id, error=str(exc))

    def recording_open(self, channel_id: str) -> bool:
        """True while the recording of the call on this caller channel has not reported RecordingFinished."""
        return any(call.channel_id == channel_id for call in self._recordings.values())

    async def transfer(self, call: AriCall, command: Transfer) -> None:
        await routing.transfer(call, command)

    async def register_recording(self, call: AriCall, event: str, fmt: str) -> None:
        """Tell the recordings service (R-107: every call recorded and retained) when a recording starts/ends."""
        if self.recordings is None:
            return
        task = asyncio.current_task()
        if task is not None:
            self._registering.add(task)
        try:
            await self._register_recording(call, event, fmt)
        finally:
            self._registering.discard(task)

    async def _register_recording(self, call: AriCall, event: str, fmt: str) -> None:
        assert self.recordings is not None
        at = datetime.now(UTC)
        disposition = None
        if event == "finished":
            # The bridge recording can end a moment before the call's script has settled its disposition.
            try:
                async with asyncio.timeout(OUTCOME_WAIT_SECONDS):
                    disposition = (await self.outcome(call.call_id)).disposition
            except TimeoutError:
                log.warning("recording finished before the call's outcome; no disposition", call_id=call.call_id)
        try:
            await asyncio.to_thread(
                self.recordings.register_recording, call_id=call.call_id, event=event, at=at,
                format=fmt, agent=call.agent.id if call.agent else None, caller=call.caller, disposition=disposition,
            )
        except Exception as exc:  # the call goes on; the recordings service logged and alerted
            log.warning("recording registration failed", call_id=call.call_id, recording_event=event, error=str(exc))

    # ------------------------------------------------------------------ reconcile after (re)connect

    async def _on_connected(self, reconnected: bool) -> None:
        try:
            await self.reconcile()
        except AriError as exc:
            log.warning("ari reconcile failed; will retry on the next connect", error=str(exc))
        await self.registrations.refresh()

    async def reconcile(self) -> None:
        """Bring our calls in line with Asterisk's live channels and bridges (see the module docstring)."""
        self.reconciles += 1
        # Only what existed before the snapshot is judged by it: a call arriving meanwhile is not "gone".
        known = list(self.calls.values())
        pending_legs = {call.call_id: [leg_id for leg_id, leg in call.legs.items() if not leg.future.done()]
                        for call in known}
        live = {c["id"]: c for c in await self.client.request("GET", "channels")}
        for call in known:
            if call.channel_id not in live:
                call.caller_gone("normal")
                continue
            self._reconcile_legs(call, pending_legs[call.call_id], live)
            await self._reconcile_playbacks(call)
        self.monitoring.reconcile(live)
        self.transfers.reconcile(live)
        for channel_id, channel in live.items():
            if channel_id not in self._channels and not self.monitoring.owns(channel_id) \
                    and not self.transfers.owns(channel_id):
                await self._adopt(channel)
        await self._reconcile_bridges()

    def _reconcile_legs(self, call: AriCall, leg_ids: list[str], live: dict[str, Json]) -> None:
        for leg_id in leg_ids:
            leg = call.legs.get(leg_id)
            if leg is None or leg.future.done():
                continue
            channel = live.get(leg_id)
            if channel is None:
                leg.resolve("unavailable")
            elif channel.get("state") == "Up":
                leg.answered_at = call.offset()
                leg.resolve("answered")

    async def _reconcile_playbacks(self, call: AriCall) -> None:
        for playback_id in list(call.playbacks):
            try:
                await self.client.request("GET", f"playbacks/{path_id(playback_id)}")
            except AriRequestError as exc:
                if exc.status == 404:  # finished while we were away: done, not replayed
                    call.on_playback_finished(playback_id)

    async def _adopt(self, channel: Json) -> None:
        dialplan = channel.get("dialplan", {})
        parts = str(dialplan.get("app_data", "")).split(",")
        if dialplan.get("app_name") != "Stasis" or parts[0] != self.app:
            return
        args = parts[1:]
        if args[:1] in (["agent"], ["outbound-agent"], ["monitor"], ["snoop"], [TRANSFER_ARG]):
            await self._hang_up(channel["id"])
            if args[:1] in (["agent"], ["outbound-agent"]) and len(args) > 1:
                await self.pool.release_call(args[1])  # its seat is free now, not one dead lease later
            return
        # A customer we dialled, answered before the restart: a person of the default group takes over, and the
        # attempt is written when the call ends (on_outbound_adopted).
        outbound = args[:1] == ["outbound"]
        if outbound:
            name = "outbound"
            entry = EntrySettings(script=self.adopt_script, group=self.settings.telephony.default_group)
            seen = True
        else:
            name, entry = self._entry(args)
            seen = bool(await asyncio.to_thread(self.timeline.events, channel["id"]))
        call = self._register(channel, name, entry)
        if outbound:
            call.direction = "outbound"
            self.spawn(self._adopted_outbound_ends(call))
        bridge_id = f"cc-{call.call_id}"
        log.warning("ari adopting a call this process did not start", call_id=call.call_id, seen=seen)
        if seen:
            call.bridge_id = bridge_id if await self._exists(f"bridges/{path_id(bridge_id)}") else None
            call.caller_in_bridge = call.bridge_id is not None
            call.answered = channel.get("state") == "Up"
            self.spawn(self._run(call, self.adopt_script, answered=call.answered, offered=False))
        else:
            self.spawn(self._run(call, entry.script, answered=channel.get("state") == "Up"))

    async def _adopted_outbound_ends(self, call: AriCall) -> None:
        outcome = await self.outcome(call.call_id)
        if self.on_outbound_adopted is not None:
            await self.on_outbound_adopted(call, outcome)

    async def _exists(self, uri: str) -> bool:
        try:
            await self.client.request("GET", uri)
            return True
        except AriRequestError:
            return False

    async def _reconcile_bridges(self) -> None:
        ours = ({call.bridge_id for call in self.calls.values() if call.bridge_id} | self.monitoring.bridges()
                | self.transfers.bridges())
        for bridge in await self.client.request("GET", "bridges"):
            bridge_id = str(bridge.get("id", ""))
            if bridge_id.startswith(("cc-", "mon-", "cs-")) and bridge_id not in ours:
                try:
                    await self.client.request("DELETE", f"bridges/{path_id(bridge_id)}")
                except AriRequestError:
                    pass
