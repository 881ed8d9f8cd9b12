"""The agent softphone panel (坐席): state, the ringing call, the script card, situation buttons, work orders.

Everything the panel shows comes from the live board (the timeline) and the services; everything it does
goes to the live call's session as an event (:mod:`callcenter.web.control`). The release guard is the
session's (R-23, R-48): the panel only asks, and shows the refusal the session writes to the timeline.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls.agents import SYSTEM_REASONS, Agent, AgentError, AgentState, reason_codes
from callcenter.logs import get_logger
from callcenter.recordings.errors import RecordingNotFound
from callcenter.scripting.errors import ScriptError
from callcenter.scripting.library import load_library
from callcenter.scripting.protocol import ReleaseRequested, ScriptRequested
from callcenter.web import orders
from callcenter.web.access import requires
from callcenter.web.card import script_card, script_label
from callcenter.web.context import WebContext
from callcenter.web.control import BUTTON_SCRIPTS, SITUATION_BUTTONS
from callcenter.web.errors import BadRequest, CallNotLive
from callcenter.web.live import LiveCall
from callcenter.web.softphone_pages import holder_of
from callcenter.web.templating import render
from callcenter.web.users import User

log = get_logger(__name__)

# What an agent may set by hand; ringing and on-call are the router's.
SETTABLE_STATES = {"ready": AgentState.READY, "not_ready": AgentState.NOT_READY, "after_call": AgentState.AFTER_CALL}
STATE_LABELS = {"ready": "就绪", "not_ready": "未就绪", "after_call": "话后处理", "ringing": "振铃",
                "on_call": "通话中", "offline": "离线"}
HONORIFICS = ("先生", "女士", "小姐", "太太")


def _reason_label(ctx: WebContext, reason: str | None) -> str:
    if reason is None:
        return ""
    return reason_codes(ctx.settings.agents.reason_codes).get(reason) or SYSTEM_REASONS.get(reason, reason)


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _new_seat(ctx: WebContext, user: User) -> Agent:
    groups = (ctx.settings.telephony.default_group,)
    endpoint = f"PJSIP/{user.work_number or user.name}"
    return Agent(user.agent_id, endpoint, user.work_number, user.display_name, groups)


def seat_of(ctx: WebContext, user: User) -> Agent:
    """The user's seat in the centre's seats, registered on first use (offline until they set a state); the
    registration writes the table, so the pages call :func:`ensure_seat` on the loop first."""
    try:
        return ctx.agents.get(user.agent_id)
    except AgentError:
        return ctx.agents.add(_new_seat(ctx, user))


async def ensure_seat(ctx: WebContext, user: User) -> Agent:
    return await ctx.agents.ensure(_new_seat(ctx, user))


async def seat_signed_out(ctx: WebContext, user: User) -> None:
    """An agent who signs out leaves the seat offline: no call rings a seat nobody sits at (R-01, R-02). A seat
    ringing or on a call keeps its call (the router frees it as after any call); a seat never used stays away."""
    if user.role != "agent":
        return
    try:
        seat = ctx.agents.get(user.agent_id)
    except AgentError:
        return
    if seat.state in (AgentState.RINGING, AgentState.ON_CALL, AgentState.OFFLINE):
        return
    try:
        await ctx.agents.set_state(seat.id, AgentState.OFFLINE, by=user.agent_id)
    except AgentError as exc:  # a call reached the seat meanwhile: that call goes on
        log.info("seat not set offline at sign-out", agent=seat.id, error=str(exc))


async def _body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise BadRequest("body: not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("body: expected a JSON object")
        return data
    return dict(await request.form())


def _my_live_call(ctx: WebContext, user: User, call_id: str) -> LiveCall:
    call = ctx.board.get(call_id)
    if call is None or call.agent != user.agent_id or call.phase == "ended":
        raise CallNotLive(f"call {call_id!r} is not a live call of seat {user.agent_id}")
    return call


def available_scripts(ctx: WebContext) -> set[str]:
    try:
        library = load_library(ctx.settings.scripts.directory, ctx.settings.scripts)
    except ScriptError:
        return set()
    return set(library.scripts) & BUTTON_SCRIPTS


PAST_ORDERS_CACHE = 200


def _past_orders(ctx: WebContext, user: User, call_id: str, caller: str, now: Any) -> list[dict[str, Any]]:
    """The caller's earlier orders, read once per call and seat (the panel refreshes on every call event)."""
    cache: dict[tuple[str, str], list[dict[str, Any]]] = ctx.extras.setdefault("past_orders", {})
    key = (call_id, user.name)
    if key not in cache:
        if len(cache) >= PAST_ORDERS_CACHE:
            cache.pop(next(iter(cache)))
        cache[key] = orders.past_orders(ctx.settings, user, caller, now)
    return cache[key]


def panel_state(ctx: WebContext, user: User) -> dict[str, Any]:
    seat = seat_of(ctx, user)
    call = ctx.board.for_agent(user.agent_id)
    now = ctx.now()
    past: list[dict[str, Any]] = []
    address = ctx.addresses.get(call.call_id, {}) if call else {}
    if call is not None:
        past = [o for o in _past_orders(ctx, user, call.call_id, call.caller, now)
                if o["number"] not in {w.get("number") for w in call.work_orders}]
        if not address.get("surname"):
            address = orders.known_address(past, HONORIFICS)
    card = script_card(ctx.settings, call, user, address) if call else None
    scripts = available_scripts(ctx)
    return {
        "agent": {"id": seat.id, "work_number": seat.work_number, "name": seat.name, "state": seat.state.value,
                  "state_label": STATE_LABELS[seat.state.value], "reason": seat.reason,
                  "reason_label": _reason_label(ctx, seat.reason)},
        "reasons": reason_codes(ctx.settings.agents.reason_codes),
        "call": call.as_dict() if call else None,
        "address": address,
        "card": card.as_dict() if card else None,
        "script_label": script_label(ctx.settings, call.script) if call and call.script else "",
        "past_orders": past,
        "buttons": [{"script": b.script, "label": b.label, "rule": b.rule, "enabled": b.script in scripts}
                    for b in SITUATION_BUTTONS],
        "ring_limit": ctx.settings.telephony.agent_ring_limit,
        "ring_period": ctx.cadence.period,
        "now": now.isoformat(),
        "last_id": ctx.board.last_id,
        "softphone_holder": holder_of(ctx, user.agent_id),  # the tab that holds a webrtc seat's registration
    }


@requires("agent", "admin")
async def panel_page(request: Request, user: User) -> Response:
    return render(request, "agent.html", categories=orders.CATEGORY_CHOICES, honorifics=HONORIFICS,
                  state_labels=SETTABLE_STATES, reasons=reason_codes(_ctx(request).settings.agents.reason_codes),
                  page="agent")


@requires("agent", "admin")
async def panel_api(request: Request, user: User) -> Response:
    await ensure_seat(_ctx(request), user)  # registered before the worker below reads it
    return JSONResponse(await asyncio.to_thread(panel_state, _ctx(request), user))


@requires("agent", "admin")
async def set_state(request: Request, user: User) -> Response:
    body = await _body(request)
    state = SETTABLE_STATES.get(str(body.get("state", "")))
    if state is None:
        raise BadRequest(f"state: expected one of {', '.join(SETTABLE_STATES)}")
    reason = body.get("reason") or None
    if reason is not None and not isinstance(reason, str):
        raise BadRequest("reason: expected a reason code")
    ctx = _ctx(request)
    seat = await ensure_seat(ctx, user)
    if seat.state in (AgentState.RINGING, AgentState.ON_CALL):
        raise BadRequest(f"state: seat {seat.id} is {STATE_LABELS[seat.state.value]}; change it after the call")
    try:  # issue 15: not ready takes a reason code (break, meal, training, meeting, the centre's own)
        seat = await ctx.agents.set_state(seat.id, state, reason=reason, by=user.agent_id)
    except AgentError as exc:  # an unknown reason, or a call reached the seat meanwhile
        raise BadRequest(str(exc)) from None
    return JSONResponse({"state": seat.state.value, "reason": seat.reason})


@requires("agent", "admin")
async def run_script(request: Request, user: User) -> Response:
    body = await _body(request)
    ctx = _ctx(request)
    call = _my_live_call(ctx, user, str(body.get("call_id", "")))
    script = str(body.get("script", ""))
    if script not in available_scripts(ctx):
        raise BadRequest(f"script: {script!r} is not one of the panel's situation scripts")
    if call.phase not in ("talking", "hold"):
        raise BadRequest("script: situation scripts run on an answered call")
    if ctx.control is None or not await ctx.control.send(call.call_id, ScriptRequested(script, by=user.agent_id)):
        raise CallNotLive(f"call {call.call_id} is not live in this service")
    return JSONResponse({"ok": True, "script": script})


@requires("agent", "admin")
async def release(request: Request, user: User) -> Response:
    body = await _body(request)
    ctx = _ctx(request)
    call = _my_live_call(ctx, user, str(body.get("call_id", "")))
    # the session decides; a refusal comes back on the timeline as release.refused with its reason.
    if ctx.control is None or not await ctx.control.send(call.call_id, ReleaseRequested(by=user.agent_id)):
        raise CallNotLive(f"call {call.call_id} is not live in this service")
    return JSONResponse({"ok": True})


@requires("agent", "admin")
async def set_address(request: Request, user: User) -> Response:
    body = await _body(request)
    ctx = _ctx(request)
    call = _my_live_call(ctx, user, str(body.get("call_id", "")))
    surname = str(body.get("surname", "")).strip()
    honorific = str(body.get("honorific", "")).strip()
    if not 1 <= len(surname) <= 2 or not all("\u4e00" <= ch <= "\u9fff" for ch in surname):
        raise BadRequest("surname: one or two Chinese characters (客户姓氏)")
    if honorific not in HONORIFICS:
        raise BadRequest(f"honorific: one of {', '.join(HONORIFICS)} (R-10)")
    ctx.addresses[call.call_id] = {"surname": surname, "honorific": honorific}
    return JSONResponse({"ok": True})


@requires("agent", "admin")
async def create_work_order(request: Request, user: User) -> Response:
    body = await _body(request)
    ctx = _ctx(request)
    call_id = str(body.get("call_id", ""))
    call = ctx.board.get(call_id)
    if call is None or call.agent != user.agent_id:
        raise BadRequest(f"call_id: {call_id!r} is not a call of seat {user.agent_id}")
    address = ctx.addresses.get(call_id, {})
    name = f"{address.get('surname', '')}{address.get('honorific', '')}"
    now = ctx.now()
    order = await asyncio.to_thread(orders.open_from_call, ctx.settings, user, call_id, call.caller, body, now, name)
    await asyncio.to_thread(_link_recording, ctx, call_id, order["number"], user.name)
    kind, data = orders.timeline_data(order)
    offset = call.now_offset(now)
    ctx.timeline.append(call_id, kind, data, at=call.offered_at + timedelta(seconds=offset), offset=offset)
    await ctx.timeline.flush()
    return JSONResponse(order, status_code=201)


def _link_recording(ctx: WebContext, call_id: str, number: str, by: str) -> None:
    """R-107: the call's recording belongs to the order (kept as long as it; confidential if it is, R-82)."""
    from callcenter.web.qa_pages import recordings

    try:
        recordings(ctx).link_call(call_id, number, by=by)
    except RecordingNotFound:
        log.info("workorder.no_recording", call_id=call_id, number=number)


def routes() -> list[BaseRoute]:
    return [
        Route("/agent", panel_page),
        Route("/api/agent/panel", panel_api),
        Route("/api/agent/state", set_state, methods=["POST"]),
        Route("/api/agent/script", run_script, methods=["POST"]),
        Route("/api/agent/release", release, methods=["POST"]),
        Route("/api/agent/address", set_address, methods=["POST"]),
        Route("/api/workorders", create_work_order, methods=["POST"]),
    ]
