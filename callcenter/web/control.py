"""What the panel may do to a live call, and the situation-script buttons it offers.

The panel never touches Asterisk: it hands :class:`~callcenter.scripting.protocol.ScriptRequested` and
:class:`~callcenter.scripting.protocol.ReleaseRequested` to the live call's session through a
:class:`CallControl` (the runner's registry of live calls in ``callcenter serve``; the simulator's in the demo
and the tests). The session decides; the panel learns the outcome from the timeline like everyone else
(``script.requested``, ``script.state``, ``release.refused``, ``call.hangup``).

The panel's call control (hold, resume, mute, DTMF, hang-up, transfers; :mod:`callcenter.web.call_control`)
goes through one generic method, :meth:`CallControl.control`, whose arguments and
:class:`~callcenter.calls.control.ControlResult` are plain data, so it can be carried to the process that holds
the call unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from callcenter.calls.control import ControlResult
from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested


@runtime_checkable
class CallControl(Protocol):
    async def send(self, call_id: str, event: ScriptRequested | ReleaseRequested) -> bool:
        """Deliver ``event`` to the live call's session; False when the call is not live here."""
        ...

    async def control(self, call_id: str, action: str, args: Mapping[str, Any], by: str) -> ControlResult:
        """Carry out one call-control ``action`` (``hold``, ``mute``, ``dtmf`` …) with its checked ``args`` for
        agent ``by``; status 404 when the call is not live here, 409 when it cannot take the action now."""
        ...


@runtime_checkable
class CallbackDialing(Protocol):
    async def dial_preview(self, task_id: int, agent_id: str) -> Any:
        """Claim the callback and start its preview call (the agent's phone first); raises
        :class:`callcenter.callbacks.errors.CallbackError` with one line when it may not be dialled now."""
        ...


@runtime_checkable
class LiveMonitoring(Protocol):
    """Supervisors listening in on live calls (R-118): the ARI adapter's monitoring in ``callcenter serve``.
    Each method raises :class:`callcenter.calls.supervision.SupervisionError` (one line, its HTTP status)."""

    async def start(self, call_id: str, *, supervisor: str, role: str, endpoint: str, mode: str,
                    purpose: str) -> dict[str, str]: ...

    async def switch(self, call_id: str, *, supervisor: str, mode: str, purpose: str = "") -> dict[str, str]: ...

    async def stop(self, call_id: str, *, supervisor: str) -> None: ...

    def sessions(self) -> list[dict[str, str]]:
        """Who monitors which call now, in which mode."""
        ...


@dataclass(frozen=True, slots=True)
class SituationButton:
    script: str
    label: str
    rule: str


# One click each on a live call (docs/design.md: started by the agent from the panel). The script names are the
# standard library's (scripts/<name>.yaml); a name missing from the library is shown disabled.
SITUATION_BUTTONS: tuple[SituationButton, ...] = (
    SituationButton("silent_call", "无声电话", "R-15"),
    SituationButton("low_volume", "声音太小", "R-17"),
    SituationButton("speakerphone", "免提不清", "R-16"),
    SituationButton("noise", "杂音太大", "R-18"),
    SituationButton("dialect_d1", "方言 D1", "R-19"),
    SituationButton("dialect_d2", "方言 D2", "R-19, R-20"),
    SituationButton("hold", "保持", "R-38"),
    SituationButton("resume", "恢复通话", "R-38"),
    SituationButton("closing", "结束语", "R-47, R-48"),
)
BUTTON_SCRIPTS = frozenset(b.script for b in SITUATION_BUTTONS)


class AriCallControl:
    """The ARI application's live calls as the panel's :class:`CallControl` (``callcenter serve``/``demo``)."""

    def __init__(self, service: Any) -> None:  # callcenter.telephony.ari.AriService
        self.service = service

    async def send(self, call_id: str, event: ScriptRequested | ReleaseRequested) -> bool:
        call = self.service.call(call_id)
        if call is None or getattr(call, "gone", False):
            return False
        call.push(event)
        return True

    async def control(self, call_id: str, action: str, args: Mapping[str, Any], by: str) -> ControlResult:
        # AriService.control (callcenter/telephony/ari/controls.py): the web layer never imports the adapter.
        result: ControlResult = await self.service.control(call_id, action, dict(args), by)
        return result
