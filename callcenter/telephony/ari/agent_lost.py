"""The agent's leg ended while the caller was still on the line: a release, or a softphone that went away.

An agent on a desk phone who puts the handset down releases the call (the caller is released too; QA counts an
agent who released first, R-48). A browser softphone has no handset: the panel's hang-up goes through the
guarded release (web/call_control.py, R-48), so a webrtc seat's leg that ends without it is a tab that closed,
a browser that crashed or a network that went (issue 15). That call is left to the ARI application, never to
dead air: ``agent.lost`` on the timeline, the seat goes offline (no further call until the agent is back and
ready), and the session runs ``agent_lost`` (scripts/agent_lost.yaml): 「对不起,请稍等」, music on hold, and the
call rings the group again, three rings per seat then the neighbour seat (R-01, R-02).

Which kind a seat is comes from Asterisk itself: ``PJSIP_ENDPOINT(<name>,webrtc)`` (func_pjsip_endpoint reads
the endpoint's ``webrtc`` setting, ``yes``/``no``) read on the caller's channel, which is still up. Anything
else (not PJSIP, the function missing, Asterisk not answering) is a desk phone: the call ends as before.
Callbacks the centre dialled (outbound) end as before too.
"""

from __future__ import annotations

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentState
from callcenter.logs import get_logger
from callcenter.scripting.protocol import ScriptRequested
from callcenter.telephony.ari.call import AriCall
from callcenter.telephony.ari.client import path_id
from callcenter.telephony.ari.errors import AriError

log = get_logger(__name__)

SCRIPT = "agent_lost"


async def agent_leg_ended(call: AriCall, leg_id: str, cause: int) -> None:
    """The bridged agent leg ``leg_id`` is gone and the caller is not: release, or re-queue a lost softphone."""
    agent = call.agent
    if agent is None or call.gone or leg_id != call.agent_leg:
        return
    softphone = call.direction == "inbound" and await is_softphone(call, agent.endpoint)
    if call.gone or leg_id != call.agent_leg:
        return  # the caller left (or the call moved on) while Asterisk was asked
    if not softphone:
        call.agent_released = True
        await call.hang_up()
        return
    await lost(call, leg_id, agent, cause)


async def is_softphone(call: AriCall, endpoint: str) -> bool:
    tech, _, name = endpoint.partition("/")
    if tech != "PJSIP" or not name or "@" in name:
        return False
    variable = f"PJSIP_ENDPOINT({name},webrtc)"
    try:
        reply = await call.client.request("GET", f"channels/{path_id(call.channel_id)}/variable",
                                          {"variable": variable})
    except AriError as exc:
        log.info("ari seat kind unknown; taken as a desk phone", call_id=call.call_id, endpoint=endpoint,
                 error=str(exc))
        return False
    return str((reply or {}).get("value", "")).lower() in ("yes", "true")


async def lost(call: AriCall, leg_id: str, agent: Agent, cause: int) -> None:
    log.warning("agent softphone lost mid-call; the caller goes back to the queue", call_id=call.call_id,
                agent=agent.id, cause=cause)
    call.note(ev.AGENT_LOST, {"agent": agent.id, "cause": cause})
    call.legs.pop(leg_id, None)
    call.service.unindex_leg(leg_id)
    call.agent, call.agent_leg, call.muted = None, None, False
    call.push(ScriptRequested(SCRIPT, by="system"))
    # No call for the seat until its agent is back: registered again and ready (R-01: never ring an empty seat).
    await call.service.pool.release(agent.id, AgentState.OFFLINE, call_id=call.call_id, reason="unavailable",
                                    by="system")
