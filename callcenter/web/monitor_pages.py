"""The wallboard's live monitoring (R-118 音频监控, governed by R-111 and R-112): the live calls a supervisor may
listen in on, and the start / switch / stop requests.

A supervisor (or admin) picks a call with an agent on the line, names a purpose (required, R-111 调取用途) and a
mode — 监听 listen, 耳语 whisper, 强插 barge — and their own desk phone rings: their seat is made from their account
as an agent's is (``web.agent_endpoint`` with the account's 工号). The web layer never touches Asterisk: it asks
the :class:`~callcenter.web.control.LiveMonitoring` that ``callcenter serve --ari`` wires in, which writes the
timeline events and the access-ledger entries. Agents and QA reviewers may not listen in (403).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls.supervision import SUPERVISING_ROLES, SupervisionError
from callcenter.config import Settings
from callcenter.logs import get_logger, mask_number
from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.control import LiveMonitoring
from callcenter.web.users import User

log = get_logger(__name__)

PHASE_LABELS = {"ivr": "语音导航", "queued": "排队", "ringing": "振铃", "talking": "通话中", "hold": "保持"}
# A call can be monitored once an agent is on the line.
MONITORABLE = frozenset({"talking", "hold"})


def seat_endpoint(settings: Settings, user: User) -> str:
    """The supervisor's own desk phone, made from their account as an agent's seat is (cli/serve.py)."""
    template = settings.web.agent_endpoint
    if "{work_number}" in template and not user.work_number:
        raise SupervisionError(f"{user.name} has no seat: the account has no 工号, so there is no desk phone to "
                               "ring; an admin sets it on the accounts page")
    try:
        return template.format(work_number=user.work_number, name=user.name)
    except (KeyError, IndexError) as exc:
        raise SupervisionError(f"web.agent_endpoint: unknown placeholder {exc}") from None


def live_calls(ctx: WebContext) -> list[dict[str, Any]]:
    """The live calls for the wallboard's list, with who monitors each (caller numbers masked): the centre's
    monitorings from the timeline, and this process's own first (one still ringing the supervisor's seat has
    no timeline event yet)."""
    monitored = dict(ctx.board.monitors)
    if ctx.monitoring is not None:
        monitored |= {m["call_id"]: m for m in ctx.monitoring.sessions()}
    return [
        {"call_id": c.call_id, "caller": mask_number(c.caller) if c.caller else "", "agent": c.agent,
         "phase": c.phase, "phase_label": PHASE_LABELS.get(c.phase, c.phase), "answered_at": c.answered_at.isoformat()
         if c.answered_at else None, "monitorable": c.phase in MONITORABLE, "monitor": monitored.get(c.call_id)}
        for c in ctx.board.live()
    ]


def _monitoring(ctx: WebContext) -> LiveMonitoring:
    if ctx.monitoring is None:
        raise SupervisionError("live monitoring needs the ARI adapter: this service carries no ARI calls "
                               "(start it with --ari)")
    return ctx.monitoring


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise SupervisionError("expected a JSON body with call_id, mode and purpose") from None
    if not isinstance(body, dict) or not str(body.get("call_id") or "").strip():
        raise SupervisionError("call_id: which call to monitor")
    return body


def _refused(exc: SupervisionError, user: User, action: str) -> Response:
    log.warning("monitoring.refused", user=user.name, action=action, error=str(exc))
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


@requires(*SUPERVISING_ROLES)
async def start_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    try:
        body = await _body(request)
        call_id = str(body["call_id"]).strip()
        monitoring = _monitoring(ctx)
        live = ctx.board.get(call_id)
        if live is not None and live.phase == "ended":
            raise SupervisionError(f"call {call_id} is not live (it has ended)", 404)
        endpoint = seat_endpoint(ctx.settings, user)
        result = await monitoring.start(call_id, supervisor=user.name, role=user.role, endpoint=endpoint,
                                        mode=str(body.get("mode") or ""), purpose=str(body.get("purpose") or ""))
    except SupervisionError as exc:
        return _refused(exc, user, "start")
    return JSONResponse(result, status_code=201)


@requires(*SUPERVISING_ROLES)
async def switch_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    try:
        body = await _body(request)
        result = await _monitoring(ctx).switch(str(body["call_id"]).strip(), supervisor=user.name,
                                               mode=str(body.get("mode") or ""), purpose=str(body.get("purpose") or ""))
    except SupervisionError as exc:
        return _refused(exc, user, "switch")
    return JSONResponse(result)


@requires(*SUPERVISING_ROLES)
async def stop_api(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    try:
        body = await _body(request)
        await _monitoring(ctx).stop(str(body["call_id"]).strip(), supervisor=user.name)
    except SupervisionError as exc:
        return _refused(exc, user, "stop")
    return JSONResponse({"ok": True})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/wallboard/monitor", start_api, methods=["POST"]),
        Route("/api/wallboard/monitor/switch", switch_api, methods=["POST"]),
        Route("/api/wallboard/monitor/stop", stop_api, methods=["POST"]),
    ]

