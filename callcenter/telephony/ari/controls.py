"""The panel's call control carried out on a live ARI call (issue 15; the HTTP side is web/call_control.py).

Each action of :data:`ARI_ACTIONS` checks the call can take it (else :class:`ControlRefused`, 409), acts, and
returns what the panel should show; :func:`control` writes ``control.<action>`` with ``by`` on the call's
timeline for every action it carried out, so QA and the metrics see who did what. On Asterisk 22:

- hold / resume: the session runs the ``hold`` / ``resume`` scripts (R-38, R-39): the caller hears
  「对不起,请稍等」, then music on hold on their own channel (``POST channels/{caller}/moh``: a channel playing
  music hears nothing of the bridge, so the caller does not hear the agent; the bridge and its recording stay);
  on resuming the music stops and 「对不起,让您久等了」 is said. The phrases come from the prompt catalogue.
- mute / unmute: ``POST`` / ``DELETE channels/{agentLeg}/mute?direction=in``: the agent's microphone no longer
  reaches the bridge (nobody hears it, nothing of it is recorded); the agent still hears the caller.
- dtmf: ``POST channels/{caller}/dtmf?dtmf=…`` sends the digits on the caller's leg.
- hangup: the session's guarded release (R-48, R-23): refused until the closing phrase, written as
  ``release.refused``; the session hangs up when it may.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.control import EVENT_PREFIX, ControlRefused, ControlResult
from callcenter.logs import get_logger
from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested
from callcenter.telephony.ari.call import AriCall
from callcenter.telephony.ari.client import path_id
from callcenter.telephony.ari.errors import AriError, AriRequestError
from callcenter.telephony.ari.transfer import ARI_ACTIONS as TRANSFER_ACTIONS

log = get_logger(__name__)

Handler = Callable[[AriCall, Mapping[str, Any], str], Awaitable[dict[str, Any]]]


def _agent_leg(call: AriCall) -> str:
    if call.agent_leg is None or call.agent is None:
        raise ControlRefused(f"call {call.call_id} has no agent on the line")
    return call.agent_leg


async def _request(call: AriCall, method: str, uri: str, query: dict[str, Any]) -> None:
    try:
        await call.client.request(method, uri, query)
    except AriRequestError as exc:
        raise ControlRefused(f"call {call.call_id}: Asterisk refused {method} {uri.split('/')[-1]}: {exc}") from exc
    except AriError as exc:
        raise ControlRefused(f"call {call.call_id}: Asterisk is not reachable: {exc}") from exc


async def hold(call: AriCall, _args: Mapping[str, Any], by: str) -> dict[str, Any]:
    _agent_leg(call)
    if call.on_hold:
        raise ControlRefused(f"call {call.call_id} is already on hold")
    call.on_hold = True
    call.push(ScriptRequested("hold", by=by))  # R-38, R-39: the phrase, then music (scripts/hold.yaml)
    return {}


async def resume(call: AriCall, _args: Mapping[str, Any], by: str) -> dict[str, Any]:
    _agent_leg(call)
    if not call.on_hold:
        raise ControlRefused(f"call {call.call_id} is not on hold")
    call.on_hold = False
    call.push(ScriptRequested("resume", by=by))  # R-38: the music stops and the apology is said
    return {}


async def mute(call: AriCall, _args: Mapping[str, Any], _by: str) -> dict[str, Any]:
    leg = _agent_leg(call)
    if call.muted:
        raise ControlRefused(f"call {call.call_id}: your microphone is already muted")
    await _request(call, "POST", f"channels/{path_id(leg)}/mute", {"direction": "in"})
    call.muted = True
    return {}


async def unmute(call: AriCall, _args: Mapping[str, Any], _by: str) -> dict[str, Any]:
    leg = _agent_leg(call)
    if not call.muted:
        raise ControlRefused(f"call {call.call_id}: your microphone is not muted")
    await _request(call, "DELETE", f"channels/{path_id(leg)}/mute", {"direction": "in"})
    call.muted = False
    return {}


async def dtmf(call: AriCall, args: Mapping[str, Any], _by: str) -> dict[str, Any]:
    _agent_leg(call)
    digits = str(args.get("digits", ""))
    await _request(call, "POST", f"channels/{path_id(call.channel_id)}/dtmf", {"dtmf": digits})
    return {"digits": digits}


async def hangup(call: AriCall, _args: Mapping[str, Any], by: str) -> dict[str, Any]:
    _agent_leg(call)
    # R-48: the session decides; a refusal is release.refused on the timeline, the hang-up is call.hangup.
    call.push(ReleaseRequested(by=by))
    return {"release": "requested"}


# The dispatch table; the transfer actions join it from their own module.
ARI_ACTIONS: dict[str, Handler] = {
    "hold": hold,
    "resume": resume,
    "mute": mute,
    "unmute": unmute,
    "dtmf": dtmf,
    "hangup": hangup,
    **TRANSFER_ACTIONS,  # transfer, consult, consult_complete, consult_return, conference (transfer.py)
}


async def control(call: AriCall | None, call_id: str, action: str, args: Mapping[str, Any], by: str) -> ControlResult:
    """Carry out ``action`` on the live ``call`` for agent ``by`` and write ``control.<action>``."""
    if call is None or call.gone:
        return ControlResult(404, error=f"call {call_id} is not live in this process")
    handler = ARI_ACTIONS.get(action)
    if handler is None:
        return ControlResult(404, error=f"unknown call action {action!r}")
    if call.agent is None or call.agent.id != by:
        return ControlResult(403, error=f"call {call_id} is not on seat {by}")
    kind = EVENT_PREFIX + action
    if kind not in ev.ALL:
        return ControlResult(500, error=f"{kind} is not a timeline event type (callcenter/calls/events.py)")
    offset = call.offset()
    try:
        state = await handler(call, args, by)
    except ControlRefused as exc:
        log.info("call.control_refused", call_id=call_id, action=action, agent=by, reason=str(exc))
        return exc.result()
    call.note(kind, {"by": by, **args}, offset=offset)
    return ControlResult(200, {"held": call.on_hold, "muted": call.muted, **state})
