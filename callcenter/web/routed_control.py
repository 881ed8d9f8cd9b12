"""The panel's and the wallboard's commands reach the process that holds the call (issue 17).

:class:`RoutedCallControl` and :class:`RoutedMonitoring` are what every ``callcenter serve`` process's pages act
through. A call this process holds is acted on directly (the local :class:`~callcenter.web.control.CallControl`
or :class:`~callcenter.web.control.LiveMonitoring`, none in a ``--role web`` process); any other call's command
is carried by the :class:`~callcenter.calls.commands_bus.CommandBus` to the process that holds it, and the
page gets that process's answer — or "not live" within the bus's bound when nobody holds the call or its
process died. :func:`command_executor` is the other end: how the holder runs a command on its local call.

Commands, as rows (``kind``: ``args``):

- ``script``: ``{"script", "by"}`` — a situation button (:class:`ScriptRequested`); result ``{"live": bool}``;
- ``release``: ``{"by"}`` — the agent's release (:class:`ReleaseRequested`); result ``{"live": bool}``;
- ``control``: ``{"action", "args", "by"}`` — hold, mute, DTMF, hang-up, transfers (:meth:`CallControl.control`);
  result :meth:`ControlResult.as_dict`;
- ``monitor.start`` / ``monitor.switch`` / ``monitor.stop``: live monitoring (R-118), keyword arguments as
  :class:`LiveMonitoring` takes them; result the method's dict, or ``{"error", "status"}`` when refused;
- ``dial_preview`` ``{"task_id", "agent_id"}`` and ``dial_number`` ``{"agent_id", "number", "order"}``: an
  agent's "call" on a callback or a work order, for the process that runs the callback dialer (its
  ``call_owners`` row is :data:`DIALER`); refused with ``{"error", "status"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callcenter.callbacks.errors import CallbackError
from callcenter.calls.commands import DONE, FAILED, Command
from callcenter.calls.commands_bus import CommandBus, Outcome
from callcenter.calls.control import ControlRefused, ControlResult
from callcenter.calls.supervision import SupervisionError
from callcenter.logs import get_logger
from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested
from callcenter.web.control import CallbackDialing, CallControl, LiveMonitoring

log = get_logger(__name__)

SCRIPT, RELEASE, CONTROL = "script", "release", "control"
MONITOR_START, MONITOR_SWITCH, MONITOR_STOP = "monitor.start", "monitor.switch", "monitor.stop"
DIAL_PREVIEW, DIAL_NUMBER = "dial_preview", "dial_number"


# The call_owners row of the process that runs the callback dialer (it places the agents' calls too).
DIALER = "dialer"


def _not_live(call_id: str, outcome: Outcome) -> str:
    return str(outcome.result.get("error") or f"call {call_id} is not live")


class RoutedCallControl:
    """:class:`CallControl` for any call of the centre: here directly, elsewhere through the command rows."""

    def __init__(self, local: CallControl | None, bus: CommandBus) -> None:
        self.local = local
        self.bus = bus

    async def send(self, call_id: str, event: ScriptRequested | ReleaseRequested) -> bool:
        if self.local is not None and await self.local.send(call_id, event):
            return True
        if isinstance(event, ScriptRequested):
            outcome = await self.bus.route(call_id, SCRIPT, {"script": event.script, "by": event.by})
        else:
            outcome = await self.bus.route(call_id, RELEASE, {"by": event.by})
        return outcome.done and bool(outcome.result.get("live"))

    async def control(self, call_id: str, action: str, args: Mapping[str, Any], by: str) -> ControlResult:
        if self.local is not None:
            here = await self.local.control(call_id, action, args, by)
            if here.status != 404:
                return here
        outcome = await self.bus.route(call_id, CONTROL, {"action": action, "args": dict(args), "by": by})
        if outcome.done:
            return ControlResult.from_dict(outcome.result)
        if outcome.state == FAILED:
            return ControlResult(503, error=str(outcome.result.get("error") or "the call's process failed"))
        return ControlResult(404, error=_not_live(call_id, outcome))


class RoutedMonitoring:
    """:class:`LiveMonitoring` of any call: the supervisor's seat is rung by the process that holds the call."""

    def __init__(self, local: LiveMonitoring | None, bus: CommandBus) -> None:
        self.local = local
        self.bus = bus
        # Monitorings this process started on other processes' calls, for the wallboard (by call id).
        self.elsewhere: dict[str, dict[str, str]] = {}

    async def _here_or_there(self, call_id: str, kind: str, method: str, **kwargs: Any) -> dict[str, str]:
        if self.local is not None and call_id in self.bus.local:  # held here: its refusals are the answer
            result: dict[str, str] | None = await getattr(self.local, method)(call_id, **kwargs)
            return result or {}
        outcome = await self.bus.route(call_id, kind, kwargs)
        if outcome.done:
            result = {str(k): str(v) for k, v in outcome.result.items()}
            if kind == MONITOR_STOP:
                self.elsewhere.pop(call_id, None)
            elif result:
                self.elsewhere[call_id] = result
            return result
        if outcome.state == FAILED and "status" in outcome.result:
            raise SupervisionError(str(outcome.result.get("error", "refused")), int(outcome.result["status"]))
        raise SupervisionError(_not_live(call_id, outcome), 404 if outcome.state != FAILED else 503)

    async def start(self, call_id: str, *, supervisor: str, role: str, endpoint: str, mode: str,
                    purpose: str) -> dict[str, str]:
        return await self._here_or_there(call_id, MONITOR_START, "start", supervisor=supervisor, role=role,
                                         endpoint=endpoint, mode=mode, purpose=purpose)

    async def switch(self, call_id: str, *, supervisor: str, mode: str, purpose: str = "") -> dict[str, str]:
        return await self._here_or_there(call_id, MONITOR_SWITCH, "switch", supervisor=supervisor, mode=mode,
                                         purpose=purpose)

    async def stop(self, call_id: str, *, supervisor: str) -> None:
        await self._here_or_there(call_id, MONITOR_STOP, "stop", supervisor=supervisor)

    def sessions(self) -> list[dict[str, str]]:
        """Who monitors which call: this process's, and those its pages started elsewhere (the wallboard lists
        only live calls, so one whose call ended drops out; one ended by the supervisor's seat hanging up on the
        other process shows until its call ends)."""
        here = self.local.sessions() if self.local is not None else []
        seen = {m.get("call_id") for m in here}
        return here + [m for call_id, m in self.elsewhere.items() if call_id not in seen]


class RoutedDialing:
    """The calls an agent places (a callback's preview, a work order's number), started by the process that
    dials: here when it is this one (``local()``), else carried there."""

    def __init__(self, local: Any, bus: CommandBus) -> None:
        self.local = local  # () -> this process's Dialer / ClickToDial, or None while another process dials
        self.bus = bus
        self.key = DIALER

    async def dial_preview(self, task_id: int, agent_id: str) -> Any:
        here = self.local()
        if here is not None:
            return await here.dial_preview(task_id, agent_id)
        outcome = await self.bus.route(self.key, DIAL_PREVIEW, {"task_id": task_id, "agent_id": agent_id})
        if not outcome.done:
            raise CallbackError(self._why(outcome))
        return outcome.result

    @staticmethod
    def _why(outcome: Outcome) -> str:
        if outcome.state == FAILED:
            return str(outcome.result.get("error") or "the dialling process failed")
        return "no process dials calls now (the callback dialer runs in no telephony process)"

    async def dial(self, agent_id: str, number: str, *, order: str | None = None) -> dict[str, str]:
        here = self.local()
        if here is not None:
            result: dict[str, str] = await here.dial(agent_id, number, order=order)
            return result
        outcome = await self.bus.route(self.key, DIAL_NUMBER, {"agent_id": agent_id, "number": number,
                                                               "order": order})
        if not outcome.done:
            raise ControlRefused(self._why(outcome), int(outcome.result.get("status", 409)))
        return {str(k): str(v) for k, v in outcome.result.items()}


async def _dial(kind: str, args: Mapping[str, Any], dialing: CallbackDialing | None,
                numbers: Any) -> tuple[str, dict[str, Any]]:
    try:
        if kind == DIAL_PREVIEW and dialing is not None:
            await dialing.dial_preview(int(args["task_id"]), str(args["agent_id"]))
            return DONE, {"task_id": int(args["task_id"])}
        if kind == DIAL_NUMBER and numbers is not None:
            order = args.get("order")
            return DONE, dict(await numbers.dial(str(args["agent_id"]), str(args["number"]),
                                                 order=None if order is None else str(order)))
    except CallbackError as exc:
        return FAILED, {"error": str(exc), "status": 400}
    except ControlRefused as exc:
        return FAILED, {"error": str(exc), "status": exc.status}
    return FAILED, {"error": "this process dials no calls now", "status": 409}


def command_executor(control: CallControl | None, monitoring: LiveMonitoring | None,
                     dialers: Any = None) -> Any:
    """The holder's side of the bus: run a command on the local call (``CommandBus(execute=...)``);
    ``dialers()`` gives this process's (callback dialer, number dialer) while it dials."""

    async def execute(command: Command) -> tuple[str, dict[str, Any]]:
        args, call_id = command.args, command.call_id
        if command.kind in (DIAL_PREVIEW, DIAL_NUMBER):
            dialing, numbers = dialers() if dialers is not None else (None, None)
            return await _dial(command.kind, args, dialing, numbers)
        if command.kind in (SCRIPT, RELEASE, CONTROL) and control is None:
            return DONE, ControlResult(404, error=f"call {call_id} is not live here").as_dict() \
                if command.kind == CONTROL else {"live": False}
        if command.kind == SCRIPT and control is not None:
            return DONE, {"live": await control.send(call_id, ScriptRequested(str(args.get("script", "")),
                                                                              by=str(args.get("by", "agent"))))}
        if command.kind == RELEASE and control is not None:
            return DONE, {"live": await control.send(call_id, ReleaseRequested(by=str(args.get("by", "agent"))))}
        if command.kind == CONTROL and control is not None:
            result = await control.control(call_id, str(args.get("action", "")), dict(args.get("args") or {}),
                                           str(args.get("by", "")))
            return DONE, result.as_dict()
        if command.kind in (MONITOR_START, MONITOR_SWITCH, MONITOR_STOP):
            if monitoring is None:
                return FAILED, {"error": f"call {call_id} is not live here", "status": 404}
            method = command.kind.split(".", 1)[1]
            try:
                done = await getattr(monitoring, method)(call_id, **args)
            except SupervisionError as exc:
                return FAILED, {"error": str(exc), "status": exc.status}
            return DONE, dict(done or {})
        return FAILED, {"error": f"unknown command {command.kind!r}"}

    return execute
