"""The call timeline's event types: the one vocabulary the panel, QA review and metrics read.

Every adapter writes these, and nothing else reads Asterisk. ``data`` keys per type are listed beside each
constant; a consumer may rely on them. Times are the event's ``at`` (UTC) and ``offset`` (seconds since the
call reached us); durations in ``data`` are seconds.
"""

from __future__ import annotations

# A call reached us. data: entry, script, locale, caller (number), callee, channel, transport ("agi"|"ari"),
#   group (agent group the call belongs to)
CALL_OFFERED = "call.offered"
# The IVR sent ringing indication. data: ring (count so far, 1-based)
IVR_RINGING = "ivr.ringing"
# The IVR answered. data: rings, seconds
IVR_ANSWERED = "ivr.answered"
# A script session entered a state. data: script, state
SCRIPT_STATE = "script.state"
# A script failed; the session fell back to apology + transfer. data: script, state, message
SCRIPT_ERROR = "script.error"
# An agent (or the IVR) started a situation script on the live call. data: script, by
SCRIPT_REQUESTED = "script.requested"
# A prompt started / finished playing. data: key, text, locale, playback_id; finished adds interrupted
PROMPT_STARTED = "prompt.started"
PROMPT_FINISHED = "prompt.finished"
# Error: a prompt was NOT played (no audio could be had, Asterisk could not open it); the caller heard nothing
#   of it. data: key, text, locale, playback_id, error
PROMPT_FAILED = "prompt.failed"
# A listening window opened. data: seconds, state
LISTEN_STARTED = "listen.started"
# A silence window elapsed with no speech and no digit. data: seconds, state, step
SILENCE_WINDOW = "silence.window"
# Caller talk detection. speech.stopped data: duration
SPEECH_STARTED = "speech.started"
SPEECH_STOPPED = "speech.stopped"
# One DTMF digit. data: digit
DTMF = "dtmf"
# Recording began / ended. data: path (relative to the recordings root), format; finished adds bytes
RECORDING_STARTED = "recording.started"
RECORDING_FINISHED = "recording.finished"
# Alert: a recording was NOT accepted (disk below recordings.min_free_bytes, R-119). data: reason, free_bytes,
#   min_free_bytes, root
RECORDING_REFUSED = "recording.refused"
# The caller entered / left the agent queue. data: group; left adds reason ("agent", "abandoned", "timeout")
QUEUE_ENTERED = "queue.entered"
QUEUE_LEFT = "queue.left"
# An agent leg is ringing. data: agent, group, ring (count so far)
AGENT_RINGING = "agent.ringing"
# The agent picked up. data: agent, group, rings, seconds (of this agent leg), wait (since queue entry)
AGENT_ANSWERED = "agent.answered"
# The agent did not pick up within the ring limit and the call moved on. data: agent, group, rings,
#   seconds, reason ("no_answer", "busy", "unavailable")
AGENT_SKIPPED = "agent.skipped"
# A seat changed state (issue 15; the seat's own stream, not a call's). data: agent, state ("ready", "not_ready",
#   "after_call" 话后处理, "ringing", "on_call", "offline"), reason (not-ready reason code, or the system's:
#   "no_answer", "unavailable", "wrap_up_overdue", "lease_expired"; else null), by (agent id, "router",
#   "lease", "wrap_up_max", a supervisor), from (the state before); call_id when a call caused it
AGENT_STATE = "agent.state"
# Caller and agent are bridged. data: agent, bridge
BRIDGED = "call.bridged"
# Hold and resume (R-numbers of section 2.7). hold.ended data: seconds
HOLD_STARTED = "hold.started"
HOLD_ENDED = "hold.ended"
# The agent's call control from the panel (issue 15, web/call_control.py), written by the process that holds the
#   call before it acts. data: by (agent id) and the action's arguments (dtmf: digits). Hold and resume then
#   run the hold / resume scripts (hold.started, hold.ended); hangup is the guarded release.
CONTROL_HOLD = "control.hold"
CONTROL_RESUME = "control.resume"
CONTROL_MUTE = "control.mute"
CONTROL_UNMUTE = "control.unmute"
CONTROL_DTMF = "control.dtmf"
CONTROL_HANGUP = "control.hangup"
# The agent's leg dropped while the caller was on the line and nobody asked to release (a browser tab closed,
#   the network went): the caller hears the hold phrase and music and goes back to the queue. data: agent, cause
AGENT_LOST = "agent.lost"
# A seat's endpoint lost / regained its registration (ARI EndpointStateChange): no call is offered to it while
#   unregistered (R-02: the neighbour seat rings). data: agent, endpoint, state ("offline" | "online")
SEAT_REGISTRATION = "seat.registration"
# The agent asked to release; refused when the standards do not allow it yet. data: by, reason
RELEASE_REFUSED = "release.refused"
# The call ended. data: by ("caller"|"agent"|"system"), cause, disposition ("normal", "silent", "low_volume",
#   "noise", "dialect_unresolved", "abandoned", "script_error", …)
HANGUP = "call.hangup"
# A supervisor listens in on the call through their own seat (R-118, governed by ): started, switched
#   to another mode, ended. data: supervisor, mode ("listen" 监听 | "whisper" 耳语 | "barge" 强插), purpose;
#   switched adds from_mode; ended adds reason ("supervisor", "call_ended", "agent_left", "seat_no_answer", …)
SUPERVISION_STARTED = "supervision.started"
SUPERVISION_SWITCHED = "supervision.switched"
SUPERVISION_ENDED = "supervision.ended"
# Transfers from the panel (issue 15, R-37, R-40; telephony/ari/transfer.py). Every one has by (the agent who
#   asked), kind ("agent" | "group" | "number"), target (as typed), agent (the target agent, once known).
#   transfer.blind: asked for a blind transfer; transfer.completed: its target took the caller (mode "blind").
#   transfer.consult.started: asked to consult; .answered: the second leg is up (adds leg); .completed: the
#   target took the caller and the first agent left (adds reason "agent" | "agent_hung_up"); .returned: the
#   second leg was hung up and the caller is back with the agent (reason "agent" | "target_left").
#   transfer.failed: the target did not take it and the caller is back with the agent. data adds mode, reason
#   ("busy" | "congestion" | "no_answer" | "invalid" | "failed" | "no_agent"), detail (what Asterisk said).
#   transfer.skipped: an agent rung for a transfer did not answer (agent, reason), the next seat rings.
#   conference.started: caller, agent and target in one bridge (adds parties); conference.ended: the target
#   left it (reason "agent" | "target_left").
#   The panel's requests themselves are control.<action> (callcenter/calls/control.py), written when carried out.
CONTROL_TRANSFER = "control.transfer"
CONTROL_CONSULT = "control.consult"
CONTROL_CONSULT_COMPLETE = "control.consult_complete"
CONTROL_CONSULT_RETURN = "control.consult_return"
CONTROL_CONFERENCE = "control.conference"
TRANSFER_BLIND = "transfer.blind"
TRANSFER_COMPLETED = "transfer.completed"
TRANSFER_CONSULT_STARTED = "transfer.consult.started"
TRANSFER_CONSULT_ANSWERED = "transfer.consult.answered"
TRANSFER_CONSULT_COMPLETED = "transfer.consult.completed"
TRANSFER_CONSULT_RETURNED = "transfer.consult.returned"
TRANSFER_FAILED = "transfer.failed"
TRANSFER_SKIPPED = "transfer.skipped"
CONFERENCE_STARTED = "conference.started"
CONFERENCE_ENDED = "conference.ended"
# A work order was opened from this call. data: number, category, major
WORK_ORDER_CREATED = "workorder.created"
# An AGI / ARI command and its result, for diagnosis. data: command, result, ms
COMMAND = "command"

ALL = frozenset(v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str))
