"""The panel's call control: ``POST /api/agent/call/{action}`` (hold, resume, mute, DTMF, hang-up, transfers).

The browser never talks to Asterisk: each action is checked here (who may act on which call, what the body
says, whether the call's phase allows it) and handed to the process that holds the call through
:meth:`callcenter.web.control.CallControl.control`, which carries it out over the ARI application and writes
``control.<action>`` with ``by`` on the call's timeline. Answers::

    200 {"ok": true, "call_id": ..., "action": ..., "state": {...}}
    400 bad body · 403 not your call · 404 unknown call or action · 409 the call's phase does not allow it
    (each {"error": "one line"})

Hold and resume run the hold / resume scripts (R-38, R-39: 「对不起,请稍等」 then music; 「对不起,让您久等了」);
hang-up is the session's guarded release (R-48: refused until the closing phrase, ``release.refused`` on the
timeline). :data:`ACTIONS` is the dispatch table; the transfer actions are added to it beside these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls.control import ControlResult
from callcenter.logs import get_logger
from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.errors import BadRequest
from callcenter.web.live import LiveCall
from callcenter.web.users import User

log = get_logger(__name__)

Args = dict[str, Any]
# Phases of the live board (callcenter/web/live.py) in which an agent is on the line with the caller.
ON_THE_LINE = frozenset({"talking", "hold"})
DTMF_DIGITS = frozenset("0123456789*#ABCD")
DTMF_MAX = 32


def no_args(body: Mapping[str, Any]) -> Args:
    return {}


def dtmf_args(body: Mapping[str, Any]) -> Args:
    digits = body.get("digits")
    if not isinstance(digits, str) or not digits:
        raise BadRequest('digits: expected a string of DTMF digits, e.g. {"digits": "12#"}')
    digits = digits.upper()
    bad = sorted(set(digits) - DTMF_DIGITS)
    if bad:
        raise BadRequest(f"digits: {''.join(bad)!r} not DTMF; use 0-9 * # A-D")
    if len(digits) > DTMF_MAX:
        raise BadRequest(f"digits: at most {DTMF_MAX} at a time")
    return {"digits": digits}


TRANSFER_KINDS = ("agent", "group", "number")
TARGET_MAX = 64


def transfer_args(body: Mapping[str, Any]) -> Args:
    """``{"kind": "agent"|"group"|"number", "target": "8002"}``: an agent's id or work number, a group, a number."""
    kind, target = body.get("kind"), body.get("target")
    if kind not in TRANSFER_KINDS:
        raise BadRequest(f"kind: expected one of {', '.join(TRANSFER_KINDS)}")
    if not isinstance(target, str) or not target.strip() or len(target) > TARGET_MAX:
        raise BadRequest(f'target: expected the {kind} to transfer to, e.g. {{"kind": "{kind}", "target": "8002"}}')
    return {"kind": kind, "target": target.strip()}


@dataclass(frozen=True, slots=True)
class PanelAction:
    """One action of the panel: the board phases that allow it (else 409, with ``refusal``) and the parser
    of its JSON body into the arguments the live call gets (raises :class:`BadRequest`)."""

    phases: frozenset[str]
    parse: Callable[[Mapping[str, Any]], Args] = no_args
    refusal: str = "the caller is not on the line with you"
    rule: str = ""


# The dispatch table. Transfer actions (transfer, consult, consult_complete, consult_return, conference) are
# added here too; what each does on the live call is in callcenter/telephony/ari/controls.py.
ACTIONS: dict[str, PanelAction] = {
    "hold": PanelAction(frozenset({"talking"}), refusal="only a call you are talking on can be put on hold",
                        rule="R-38, R-39"),
    # The board says hold only once 「对不起,请稍等」 has been said (hold.started); a resume pressed during the phrase
    # goes to the live call, which knows it is being put on hold and refuses when it is not (409).
    "resume": PanelAction(frozenset({"hold", "talking"}), refusal="the call is not on hold", rule="R-38, R-39"),
    "mute": PanelAction(ON_THE_LINE),
    "unmute": PanelAction(ON_THE_LINE),
    "dtmf": PanelAction(ON_THE_LINE, dtmf_args),
    "hangup": PanelAction(ON_THE_LINE, rule="R-48"),
    # Transfers (telephony/ari/transfer.py): the caller holds while the target rings. Whether a consult is running
    # is the live call's to say (409), not the board's: the board shows the held caller as "hold" throughout.
    "transfer": PanelAction(ON_THE_LINE, transfer_args, rule="R-40, R-02"),
    "consult": PanelAction(ON_THE_LINE, transfer_args, rule="R-37, R-38"),
    "consult_complete": PanelAction(ON_THE_LINE),
    "consult_return": PanelAction(ON_THE_LINE, rule="R-38, R-39"),
    "conference": PanelAction(ON_THE_LINE, rule="R-37"),
}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("body: not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest('body: expected a JSON object such as {"call_id": "..."}')
    return data


def _own_call(ctx: WebContext, user: User, call_id: str) -> LiveCall:
    """The user's live call (the agent may control only its own call; an admin acts as the seat it signs in on)."""
    call = ctx.board.get(call_id)
    if call is None:
        raise _Refused(404, f"call {call_id!r} is not known")
    if call.agent != user.agent_id:
        raise _Refused(403, f"call {call_id} is not on your seat {user.agent_id}")
    if call.phase == "ended":
        raise _Refused(409, f"call {call_id} has ended")
    return call


@requires("agent", "admin")
async def call_action(request: Request, user: User) -> Response:
    action = request.path_params["action"]
    spec = ACTIONS.get(action)
    if spec is None:
        return _error(404, f"unknown call action {action!r}; one of {', '.join(ACTIONS)}")
    body = await _json_body(request)
    call_id = body.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest('call_id: expected the live call\'s id, e.g. {"call_id": "1733..."}')
    args = spec.parse(body)
    ctx = _ctx(request)
    try:
        call = _own_call(ctx, user, call_id)
        if call.phase not in spec.phases:
            raise _Refused(409, f"{action}: {spec.refusal} (call {call_id} is {call.phase})")
    except _Refused as exc:
        return _error(exc.status, str(exc))
    if ctx.control is None:
        return _error(409, f"call {call_id} is not live in this service")
    result: ControlResult = await ctx.control.control(call_id, action, args, user.agent_id)
    if not result.ok:
        return _error(result.status, result.error or f"{action} failed")
    log.info("call.control", call_id=call_id, action=action, agent=user.agent_id)
    return JSONResponse({"ok": True, "call_id": call_id, "action": action, "state": result.state})


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def routes() -> list[BaseRoute]:
    return [Route("/api/agent/call/{action}", call_action, methods=["POST"])]
