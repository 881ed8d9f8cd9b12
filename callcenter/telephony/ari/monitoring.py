"""Live monitoring over ARI (R-118 音频监控, governed by R-111 and R-112): 监听 listen, 耳语 whisper, 强插 barge.

How it runs on Asterisk 22 (res_stasis_snoop):

1. The supervisor's own seat is originated into our application (``appArgs=monitor,<call_id>``) and we wait for
   its StasisStart (the answer), as :mod:`callcenter.telephony.ari.outbound` waits for a customer.
2. A mixing bridge ``mon-<call_id>`` takes the seat and a Snoop channel on the agent's leg,
   ``POST channels/{agent_leg}/snoop?spy=both&whisper=<direction>&app=<app>&appArgs=snoop,<call_id>``:
   ``spy=both`` carries what the agent says and hears (caller and agent) to the supervisor; the whisper
   direction decides who hears the supervisor: ``none`` (listen), ``out`` into the agent's ear (whisper),
   ``both`` the agent's ear and the caller's through the agent's voice path (barge).
3. A switch makes a Snoop with the new direction, bridges it, then hangs up the old one (no gap in listening).

The monitored call is never touched: only the Snoop channel reads and writes its audio. The supervisor hanging
up ends the monitoring alone; the call ending (its agent leg gone, so Asterisk hangs up the Snoop) ends the
monitoring and hangs up the supervisor's seat. Each start, switch and end is a ``supervision.*`` timeline
event and an access-ledger entry with the purpose (:mod:`callcenter.recordings.supervision`).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from callcenter.calls import events as ev
from callcenter.calls.supervision import SupervisionError, checked_mode, checked_purpose
from callcenter.logs import get_logger
from callcenter.recordings.supervision import ledger_supervision
from callcenter.telephony.ari.call import AriCall, CallHost, clean_up, hang_up_quietly, safe_id
from callcenter.telephony.ari.client import Json, path_id
from callcenter.telephony.ari.errors import AriError

log = get_logger(__name__)

# The Snoop's whisper direction per mode; the supervisor always hears both sides (spy=both).
WHISPER = {"listen": "none", "whisper": "out", "barge": "both"}
# Seconds beyond the seat's ring time before we stop waiting for Asterisk to report its end.
_RING_GRACE_SECONDS = 5.0
# Seconds a new Snoop channel may take to enter Stasis.
_SNOOP_WAIT_SECONDS = 5.0
MONITOR_ARG, SNOOP_ARG = "monitor", "snoop"


class MonitoringHost(CallHost, Protocol):
    """What monitoring needs of its application (AriService) beyond what any call needs."""

    recordings: Any

    def call(self, call_id: str) -> AriCall | None: ...


@dataclass
class Supervision:
    """One supervisor on one call: their seat, the bridge, the current Snoop and mode."""

    call: AriCall
    supervisor: str
    role: str
    endpoint: str
    mode: str
    purpose: str
    seat: str
    bridge: str
    snoop: str | None = None
    snoops: int = 0
    ended: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def as_dict(self) -> dict[str, str]:
        return {"call_id": self.call.call_id, "supervisor": self.supervisor, "mode": self.mode,
                "purpose": self.purpose}


class Monitoring:
    """The supervisors listening in on calls of one ARI application (owned by :class:`AriService`)."""

    def __init__(self, service: MonitoringHost) -> None:
        self.service = service
        self.active: dict[str, Supervision] = {}  # call id → its supervision
        self._channels: dict[str, Supervision] = {}  # seat and Snoop channel ids → their supervision
        self._waiting: dict[str, asyncio.Future[Json | int]] = {}  # channel id → StasisStart, or the end cause

    # ------------------------------------------------------------------ events

    def on_event(self, message: Json) -> bool:
        """An event of a seat or Snoop channel of ours; True when it was (the service routes nothing more)."""
        channel_id = str((message.get("channel") or message.get("peer") or {}).get("id", ""))
        kind = message.get("type")
        waiting = self._waiting.get(channel_id)
        if kind == "StasisStart" and [str(a) for a in message.get("args", [])][:1] in ([MONITOR_ARG], [SNOOP_ARG]):
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
            elif channel_id not in self._channels:  # a seat or Snoop nobody waits for (we gave up, or restarted)
                self.service.spawn(self._hang_up(channel_id))
            return True
        if waiting is not None:
            if kind == "ChannelDestroyed" and not waiting.done():
                waiting.set_result(int(message.get("cause", 0)))
            return True
        sup = self._channels.get(channel_id)
        if sup is None:
            return False
        # A Snoop whose spied channel hung up ends with StasisEnd and no ChannelDestroyed (measured on Asterisk
        # 22.10.1, tests/asterisk/test_monitoring.py): either means the channel is gone for us.
        if kind in ("StasisEnd", "ChannelDestroyed"):
            self._channels.pop(channel_id, None)
            if channel_id == sup.seat:
                self.service.spawn(self._end(sup, "supervisor"))
            elif channel_id == sup.snoop:  # Asterisk hung the Snoop up: the agent's leg is gone
                reason = "call_ended" if sup.call.gone or sup.call.agent_leg is None else "agent_left"
                self.service.spawn(self._end(sup, reason))
        return True

    def reconcile(self, live: dict[str, Json]) -> None:
        """After a reconnect (events may have been lost): a supervision whose seat or Snoop is gone ends."""
        for sup in list(self.active.values()):
            if sup.ended or sup.lock.locked():  # being set up or switched: its own requests tell
                continue
            if sup.seat not in live:
                self.service.spawn(self._end(sup, "supervisor"))
            elif sup.snoop is not None and sup.snoop not in live:
                reason = "call_ended" if sup.call.gone or sup.call.agent_leg is None else "agent_left"
                self.service.spawn(self._end(sup, reason))

    def owns(self, channel_id: str) -> bool:
        """A seat or Snoop of a running supervision (the reconcile must not take it for a stray)."""
        return channel_id in self._channels or channel_id in self._waiting

    def bridges(self) -> set[str]:
        """The monitoring bridges in use (the reconcile destroys other ``mon-`` bridges: left by a restart)."""
        return {sup.bridge for sup in self.active.values()}

    # ------------------------------------------------------------------ requests

    def sessions(self) -> list[dict[str, str]]:
        return [sup.as_dict() for sup in self.active.values() if not sup.ended]

    async def start(self, call_id: str, *, supervisor: str, role: str, endpoint: str, mode: str,
                    purpose: str) -> dict[str, str]:
        """Ring the supervisor's seat and, once answered, let them listen in ``mode``; raises
        :class:`SupervisionError` with one sentence when it cannot be done."""
        mode, purpose = checked_mode(mode), checked_purpose(purpose)
        call = self._live(call_id)
        if call.agent_leg is None:
            raise SupervisionError(f"call {call_id} has no agent on the line yet; nothing to monitor", 409)
        if call_id in self.active:
            raise SupervisionError(f"call {call_id} is already monitored by {self.active[call_id].supervisor}", 409)
        sup = Supervision(call, supervisor, role, endpoint, mode, purpose,
                          seat=safe_id(f"sup-{supervisor}-{call_id}"), bridge=safe_id(f"mon-{call_id}"))
        self.active[call_id] = sup
        try:
            await sup.lock.acquire()
            await self._ring_seat(sup)
            await self.service.client.request("POST", "bridges", {"type": "mixing", "bridgeId": sup.bridge,
                                                                  "name": f"monitor {call_id}"})
            await self.service.client.request("POST", f"bridges/{path_id(sup.bridge)}/addChannel",
                                              {"channel": sup.seat})
            await self._snoop(sup, mode)
        except BaseException:
            sup.lock.release()
            await self._teardown(sup)
            raise
        sup.lock.release()
        if not await self._record(sup, ev.SUPERVISION_STARTED, "started"):
            # an access that cannot be logged is refused, not carried out unrecorded.
            await self._teardown(sup)
            sup.call.note(ev.SUPERVISION_ENDED, {"supervisor": supervisor, "mode": mode, "purpose": purpose,
                                                 "reason": "not_ledgered"})
            raise SupervisionError("the access ledger could not be written, so monitoring is refused (R-111); "
                                   "the service log names the cause", 503)
        if mode == "listen" and self.service.settings.telephony.supervision_notify_agent:
            await self._notify_agent(sup)
        log.info("supervision started", call_id=call_id, supervisor=supervisor, mode=mode)
        if call.gone or call.agent_leg is None:  # the call ended while the seat rang
            await self._end(sup, "call_ended")
        return sup.as_dict()

    async def switch(self, call_id: str, *, supervisor: str, mode: str, purpose: str = "") -> dict[str, str]:
        """Change the mode of a running supervision (a new Snoop replaces the old)."""
        mode = checked_mode(mode)
        sup = self._mine(call_id, supervisor)
        async with sup.lock:
            if sup.ended:
                raise SupervisionError(f"the monitoring of call {call_id} has ended", 409)
            if mode == sup.mode:
                return sup.as_dict()
            if purpose.strip():
                sup.purpose = checked_purpose(purpose)
            old, previous = sup.snoop, sup.mode
            await self._snoop(sup, mode)
            if old is not None:
                self._channels.pop(old, None)
                await self._hang_up(old)
            await self._record(sup, ev.SUPERVISION_SWITCHED, "switched", from_mode=previous)
        return sup.as_dict()

    async def stop(self, call_id: str, *, supervisor: str) -> None:
        """The supervisor ends the monitoring from the wallboard (the seat is hung up; the call goes on)."""
        await self._end(self._mine(call_id, supervisor), "supervisor")

    def _live(self, call_id: str) -> AriCall:
        call = self.service.call(call_id)
        if call is None or call.gone:
            raise SupervisionError(f"call {call_id} is not live", 404)
        return call

    def _mine(self, call_id: str, supervisor: str) -> Supervision:
        sup = self.active.get(call_id)
        if sup is None or sup.ended:
            raise SupervisionError(f"call {call_id} is not being monitored", 404)
        if sup.supervisor != supervisor:
            raise SupervisionError(f"call {call_id} is monitored by {sup.supervisor}, not by {supervisor}", 403)
        return sup

    # ------------------------------------------------------------------ Asterisk

    async def _ring_seat(self, sup: Supervision) -> None:
        service = self.service
        ring = service.cadence.limit(service.settings.telephony.agent_ring_limit)
        answered = await self._wait_for(sup.seat, "POST", "channels", {
            "endpoint": sup.endpoint, "app": service.app, "appArgs": f"{MONITOR_ARG},{sup.call.call_id}",
            "channelId": sup.seat, "callerId": sup.call.caller, "timeout": math.ceil(ring),
        }, ring + _RING_GRACE_SECONDS)
        if not isinstance(answered, dict):
            raise SupervisionError(f"your seat {sup.endpoint} did not answer; pick up the phone and try again", 409)
        self._channels[sup.seat] = sup

    async def _snoop(self, sup: Supervision, mode: str) -> None:
        leg = sup.call.agent_leg
        if leg is None:
            raise SupervisionError(f"call {sup.call.call_id} has no agent on the line", 409)
        sup.snoops += 1
        snoop_id = safe_id(f"snoop{sup.snoops}-{sup.call.call_id}")
        started = await self._wait_for(snoop_id, "POST", f"channels/{path_id(leg)}/snoop", {
            "spy": "both", "whisper": WHISPER[mode], "app": self.service.app,
            "appArgs": f"{SNOOP_ARG},{sup.call.call_id}", "snoopId": snoop_id,
        }, _SNOOP_WAIT_SECONDS)
        if not isinstance(started, dict):
            raise SupervisionError(f"call {sup.call.call_id}: Asterisk could not listen in on the agent's leg", 409)
        self._channels[snoop_id] = sup
        await self.service.client.request("POST", f"bridges/{path_id(sup.bridge)}/addChannel", {"channel": snoop_id})
        sup.snoop, sup.mode = snoop_id, mode

    async def _wait_for(self, channel_id: str, method: str, uri: str, query: dict[str, Any],
                        seconds: float) -> Json | int | None:
        """Make a channel and wait for its StasisStart (a dict), its end (the cause) or nothing in ``seconds``."""
        future: asyncio.Future[Json | int] = asyncio.get_running_loop().create_future()
        self._waiting[channel_id] = future
        try:
            try:
                await self.service.client.request(method, uri, query)
            except AriError as exc:
                log.warning("ari monitoring request refused", uri=uri, error=str(exc))
                raise SupervisionError(f"Asterisk refused the monitoring: {exc}", 409) from None
            try:
                async with asyncio.timeout(seconds):
                    return await future
            except TimeoutError:
                await self._hang_up(channel_id)
                return None
        finally:
            self._waiting.pop(channel_id, None)

    async def _notify_agent(self, sup: Supervision) -> None:
        """The centre's setting: the agent alone hears a short tone as listening starts."""
        leg = sup.call.agent_leg
        if leg is None:
            return
        media = self.service.settings.telephony.supervision_notify_media
        try:
            await self.service.client.request("POST", f"channels/{path_id(leg)}/play", {"media": media})
        except AriError as exc:
            log.warning("ari monitoring tone to the agent failed", call_id=sup.call.call_id, error=str(exc))

    async def _end(self, sup: Supervision, reason: str) -> None:
        async with sup.lock:
            if sup.ended:
                return
            await self._teardown(sup)
            await self._record(sup, ev.SUPERVISION_ENDED, "ended", reason=reason)
        log.info("supervision ended", call_id=sup.call.call_id, supervisor=sup.supervisor, reason=reason)

    async def _teardown(self, sup: Supervision) -> None:
        sup.ended = True
        if self.active.get(sup.call.call_id) is sup:
            del self.active[sup.call.call_id]
        for channel_id in (sup.snoop, sup.seat):
            if channel_id is not None:
                self._channels.pop(channel_id, None)
                await self._hang_up(channel_id)
        await self._quietly("DELETE", f"bridges/{path_id(sup.bridge)}")

    async def _hang_up(self, channel_id: str) -> None:
        await hang_up_quietly(self.service.client, channel_id, "monitoring")

    async def _quietly(self, method: str, uri: str) -> None:
        await clean_up(self.service.client, method, uri, "monitoring")

    # ------------------------------------------------------------------ the record

    async def _record(self, sup: Supervision, type_: str, event: str, **extra: str) -> bool:
        """The timeline event and the ledger entry; False when the ledger could not be written (logged)."""
        data = {"supervisor": sup.supervisor, "mode": sup.mode, "purpose": sup.purpose, **extra}
        recordings = self.service.recordings
        try:
            if recordings is not None:  # None only where no database exists (unit tests of the adapter)
                await asyncio.to_thread(ledger_supervision, recordings.url, supervisor=sup.supervisor,
                                        role=sup.role, call_id=sup.call.call_id, event=event, mode=sup.mode,
                                        purpose=sup.purpose, at=datetime.now(UTC))
        except Exception as exc:
            log.error("supervision not ledgered", call_id=sup.call.call_id, supervisor=sup.supervisor, error=str(exc))
            return False
        sup.call.note(type_, data)
        return True
