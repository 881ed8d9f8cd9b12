"""The agent panel's callback queue (回访, R-94..R-105): what is due for this agent, and the "call" button.

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

from callcenter.callbacks.errors import CallbackError
from callcenter.callbacks.queue import DueTask, due_for_agent
from callcenter.logs import get_logger, mask_number
from callcenter.store import session_scope
from callcenter.web.access import requires
from callcenter.web.agent_pages import seat_of
from callcenter.web.context import WebContext
from callcenter.web.errors import BadRequest
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


def routes() -> list[BaseRoute]:
    return [
        Route("/api/agent/callbacks", queue_api),
        Route("/api/agent/callbacks/{task_id}/call", call_api, methods=["POST"]),
    ]
