"""Live monitoring of a call by a supervisor (R-118 音频监控, governed by R-111 and R-112): the modes, who may,
and the one error a person sees.

A supervisor picks a live call on the wallboard and listens through their own seat (desk phone):

- ``listen`` 监听: hears caller and agent; nobody hears the supervisor.
- ``whisper`` 耳语: as listen, and the agent (only) hears the supervisor.
- ``barge`` 强插: all three hear each other.

Every start, switch and end names a purpose (R-111: 调取用途; R-112: 事由查看) and is written twice: to the
call's timeline (``supervision.*``, :mod:`callcenter.calls.events`) and to the recordings' access ledger.
The web layer asks through :class:`callcenter.web.control.LiveMonitoring`; the ARI adapter carries it out.
"""

from __future__ import annotations

from typing import Any

from callcenter.errors import CallcenterError

MODES: dict[str, str] = {"listen": "监听", "whisper": "耳语", "barge": "强插"}
# viewing needs a supervisor's authority; agents and QA reviewers may not listen in.
SUPERVISING_ROLES = ("supervisor", "admin")
PURPOSE_MAX = 200


class SupervisionError(CallcenterError):
    """Monitoring refused or failed, in one sentence; ``status`` is the HTTP status the web layer answers."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def checked_mode(mode: str) -> str:
    if mode not in MODES:
        raise SupervisionError(f"mode {mode!r}: expected one of {', '.join(MODES)} (监听/耳语/强插)")
    return mode


def checked_purpose(purpose: str) -> str:
    """R-111: every access names its purpose; a blank or an essay is refused."""
    text = " ".join((purpose or "").split())
    if not text:
        raise SupervisionError("a purpose is required to monitor a call (R-111 调取用途)")
    if len(text) > PURPOSE_MAX:
        raise SupervisionError(f"the purpose is {len(text)} characters; at most {PURPOSE_MAX}")
    return text

_REASONS = {"supervisor": "班长结束", "call_ended": "通话结束", "agent_left": "坐席离开"}


def supervision_label(type_: str, data: dict[str, Any]) -> str:
    """One line for a ``supervision.*`` timeline event, as the review page and the panel show it."""
    who, mode = data.get("supervisor", ""), MODES.get(str(data.get("mode", "")), data.get("mode", ""))
    purpose = data.get("purpose", "")
    if type_.endswith(".started"):
        return f"班长 {who} 开始{mode}(用途:{purpose})"
    if type_.endswith(".switched"):
        before = MODES.get(str(data.get("from_mode", "")), data.get("from_mode", ""))
        return f"班长 {who} 由{before}转为{mode}(用途:{purpose})"
    reason = _REASONS.get(str(data.get("reason", "")), data.get("reason", ""))
    return f"班长 {who} 结束{mode}({reason})"
