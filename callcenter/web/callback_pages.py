"""Callbacks on the web (回访, R-94..R-105): the agent panel's queue and "call" button, the agent's "unresolved"
mark, and the supervisor's campaign board.

A preview callback shows the order, its history and earlier recordings and the R-105 opening (with its holiday
greeting) before the agent calls; the number is masked (the system dials it, the agent never needs it whole).
"Call" claims the task and starts the preview call through the dialer
(:class:`~callcenter.web.control.CallbackDialing`): the agent's phone rings first, then the customer's; the call
then shows on the panel like an inbound one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.callbacks.board import campaign_rows, latest_attempts
from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.queue import DueTask, due_for_agent
from callcenter.callbacks.sources import note_unresolved_call
from callcenter.logs import get_logger, mask_number
from callcenter.metrics.callbacks import callback_section
from callcenter.metrics.windows import day_window
from callcenter.store import session_scope
from callcenter.web.access import requires
from callcenter.web.agent_pages import seat_of
from callcenter.web.context import WebContext
from callcenter.web.errors import BadRequest
from callcenter.web.templating import render
from callcenter.web.users import User

log = get_logger(__name__)

QUEUE_LENGTH = 20
HISTORY_SHOWN = 5


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def queue_item(due: DueTask) -> dict[str, Any]:
    task = due.task
    return {
        "id": task.id, "campaign": task.campaign, "kind": task.kind, "order": task.order_number,
        "level": task.level, "number": mask_number(task.number), "customer": task.customer_name or "",
        "attempts": task.attempts, "max_attempts": task.max_attempts, "calls": task.calls,
        "booked_at": task.booked_at.isoformat() if task.booked_at else None,
        "due_by": task.due_by.isoformat() if task.due_by else None,
        "summary": due.summary or "", "opening": due.opening, "recordings": list(due.recordings),
        "history": [{"at": h.at.isoformat(), "actor": h.actor, "action": h.action}
                    for h in due.history[-HISTORY_SHOWN:]],
        "notes": task.notes.splitlines()[-3:],
    }


def callback_queue(ctx: WebContext, agent_id: str, groups: tuple[str, ...]) -> list[dict[str, Any]]:
    with session_scope(ctx.url) as session:
        due = due_for_agent(session, agent_id, groups, ctx.now(), QUEUE_LENGTH, settings=ctx.settings)
        return [queue_item(d) for d in due]


@requires("agent", "admin")
async def queue_api(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    seat = seat_of(ctx, user)
    items = await asyncio.to_thread(callback_queue, ctx, seat.id, seat.groups)
    return JSONResponse({"callbacks": items, "dialer": ctx.dialing is not None})


@requires("agent", "admin")
async def call_api(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    try:
        task_id = int(request.path_params["task_id"])
    except ValueError:
        raise BadRequest("callback: the task id is a number") from None
    if ctx.dialing is None:
        raise BadRequest("callback: this service dials no calls (start it with --ari)")
    seat = seat_of(ctx, user)
    try:
        await ctx.dialing.dial_preview(task_id, seat.id)
    except CallbackError as exc:
        raise BadRequest(f"callback {task_id}: {exc}") from None
    log.info("callback.preview_started", task=task_id, agent=seat.id)
    return JSONResponse({"ok": True, "task": task_id}, status_code=202)


@requires("agent", "admin")
async def unresolved_api(request: Request, user: User) -> Response:
    """R-95 item 5 「没有及时解决问题,应在最短时间内回访说明」: the agent marks the call they took as unresolved;
    a callback for that caller is due, kept for this agent until noon of the next working day."""
    ctx = _ctx(request)
    body = await request.json() if request.headers.get("content-type", "").startswith("application/json") else {}
    call_id = str(body.get("call_id", "")) if isinstance(body, dict) else ""
    call = ctx.board.get(call_id)
    if call is None or call.agent != user.agent_id:
        raise BadRequest(f"call_id: {call_id!r} is not a call of seat {user.agent_id}")
    orders = [str(o.get("number")) for o in call.work_orders if o.get("number")]

    def note() -> dict[str, Any] | None:
        with session_scope(ctx.url) as session:
            view = note_unresolved_call(session, ctx.settings, caller=call.caller or None, at=ctx.now(),
                                        call_id=call_id, agent=user.agent_id,
                                        order_number=orders[-1] if orders else None)
            return None if view is None else {"task": view.id, "calls": view.calls}

    noted = await asyncio.to_thread(note)
    if noted is None:
        raise BadRequest("callback: the caller's number cannot be called back (withheld or not dialable)")
    log.info("callback.unresolved_noted", call_id=call_id, agent=user.agent_id, task=noted["task"])
    return JSONResponse({"ok": True, **noted}, status_code=201)


def board_state(ctx: WebContext) -> dict[str, Any]:
    tz = ctx.settings.service.tz
    today = day_window(ctx.now().astimezone(tz).date(), tz)
    with session_scope(ctx.url) as session:
        campaigns = [row.as_dict() for row in campaign_rows(session)]
        latest = latest_attempts(session)
    return {"today": callback_section(ctx.url, today.start, today.end, tz), "campaigns": campaigns,
            "latest": latest}


@requires("supervisor", "admin")
async def board_page(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    state = await asyncio.to_thread(board_state, ctx)
    return render(request, "callbacks.html", page="callbacks", tz=ctx.settings.service.tz, **state)


def routes() -> list[BaseRoute]:
    return [
        Route("/callbacks", board_page),
        Route("/api/agent/callbacks", queue_api),
        Route("/api/agent/callbacks/{task_id}/call", call_api, methods=["POST"]),
        Route("/api/agent/unresolved", unresolved_api, methods=["POST"]),
    ]
