"""``/ws?after=<id>``: the timeline pushed to a signed-in page (see :mod:`callcenter.web.hub`).

Agents get the events of their own calls only; QA, supervisors and admins get every call. The socket checks
the session cookie and the Origin header (a page of another site must not read our calls).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from callcenter.calls import events as ev
from callcenter.calls.timeline import TimelineEvent
from callcenter.web import access
from callcenter.web.hub import stream

POLICY_VIOLATION = 1008
AGENT_LINK_EVENTS = frozenset({ev.AGENT_RINGING, ev.AGENT_ANSWERED, ev.BRIDGED, ev.AGENT_SKIPPED})


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def agent_filter(agent: str, known_calls: set[str]) -> Any:
    """Visible to ``agent``: events of calls that rang or reached their seat (learned as events pass)."""

    def visible(event: TimelineEvent) -> bool:
        if event.type in AGENT_LINK_EVENTS and event.data.get("agent") == agent:
            known_calls.add(event.call_id)
        return event.call_id in known_calls

    return visible


async def websocket_endpoint(ws: WebSocket) -> None:
    user = access.current_user(ws)
    if user is None or not _same_origin(ws):
        await ws.close(code=POLICY_VIOLATION)
        return
    try:
        after = max(0, int(ws.query_params.get("after", "0")))
    except ValueError:
        await ws.close(code=POLICY_VIOLATION)
        return
    ctx = ws.app.state.ctx
    visible = None
    if user.role == "agent":
        known = {c.call_id for c in ctx.board.calls.values() if c.agent == user.agent_id}
        visible = agent_filter(user.agent_id, known)
    await ws.accept()
    sender = asyncio.create_task(stream(ctx.events, after, ws.send_json, visible))
    try:
        # The page sends nothing we need, but reading is how a closed connection is noticed at once.
        while not sender.done():
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender
