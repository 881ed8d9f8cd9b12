"""Click to dial from a work order (issue 15): ``POST /api/agent/orders/{number}/dial``.

The agent never types or sees the customer's number: the order names it, the server reads it (only from an order
the signed-in user may see, R-82) and hands it to the ARI application's preview dial (``ctx.extras["click_dial"]``,
:class:`NumberDialing`; the callbacks' queue uses the same dial through ``/api/agent/callbacks/{id}/call``). The
answer carries the number masked (``138****5678``), for every role; the agent's phone rings first, then the
customer's, and the call shows on the panel like any other. Answers::

    202 {"ok": true, "call_id": ..., "order": ..., "number": "138****5678"}
    400 the order has no number that can be dialled · 404 no such order (or not visible) · 409 not ready / no dialer
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls.control import ControlRefused
from callcenter.logs import get_logger
from callcenter.store import session_scope
from callcenter.tickets import service
from callcenter.tickets.errors import UnknownOrderError
from callcenter.web.access import requires
from callcenter.web.agent_pages import ensure_seat
from callcenter.web.context import WebContext
from callcenter.web.orders import viewer_of
from callcenter.web.users import User

log = get_logger(__name__)

EXTRA = "click_dial"


@runtime_checkable
class NumberDialing(Protocol):
    async def dial(self, agent_id: str, number: str, *, order: str | None = None) -> dict[str, str]:
        """Ring the agent, then ``number``; returns ``{"call_id", "number" (masked)}`` at once, raises
        :class:`ControlRefused` (one line, its status) when it cannot be dialled."""
        ...


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _number_of(ctx: WebContext, user: User, order: str) -> str | None:
    with session_scope(ctx.url) as session:
        return service.get_order(session, order, viewer_of(user)).caller_number


@requires("agent", "admin")
async def dial_order(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    order = request.path_params["number"]
    dialing = ctx.extras.get(EXTRA)
    if not isinstance(dialing, NumberDialing):
        return _error(409, "click to dial: this service dials no calls (start it with --ari)")
    try:
        number = await asyncio.to_thread(_number_of, ctx, user, order)
    except UnknownOrderError:
        return _error(404, f"work order {order} not found")
    if not number:
        return _error(400, f"work order {order} has no caller number to call")
    seat = await ensure_seat(ctx, user)
    try:
        started: dict[str, Any] = await dialing.dial(seat.id, number, order=order)
    except ControlRefused as exc:
        return _error(exc.status, f"work order {order}: {exc}")
    log.info("click to dial started", order=order, agent=seat.id, call_id=started["call_id"])
    return JSONResponse({"ok": True, "order": order, **started}, status_code=202)


def routes() -> list[BaseRoute]:
    return [Route("/api/agent/orders/{number}/dial", dial_order, methods=["POST"])]
