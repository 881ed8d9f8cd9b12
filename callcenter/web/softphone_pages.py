"""The panel's softphone (issue 15): what the browser registers with, and which tab of an agent is the phone.

``GET /api/agent/softphone`` hands the signed-in agent its own seat's registration (the PBX side's
:func:`callcenter.calls.softphone_seats.softphone_credentials`): a ``webrtc`` seat gets the secure websocket,
SIP URI, user and password its browser SIP stack registers with; a ``desk`` seat gets its kind only and the
panel stays a screen beside the desk phone (「请在话机上接听」). The answer also says whether the browser SIP
stack is installed (``bundle``): ``./run`` copies JsSIP's prebuilt file into ``static/vendor/``; without it the
panel says so plainly instead of failing silently, and the service logs it once.

``POST /api/agent/softphone/claim`` records which tab holds the seat's registration. Tabs of one browser also
tell each other directly (a BroadcastChannel); this record reaches a tab in another browser, through the
panel's state (``softphone_holder`` in ``GET /api/agent/panel``), so the tab that lost the seat stops
re-registering instead of taking it back at its next refresh. The record is this process's (a web process
serves an agent's panel and its claims alike).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls.softphone_seats import SeatError, softphone_credentials
from callcenter.logs import get_logger
from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.errors import BadRequest
from callcenter.web.users import User

log = get_logger(__name__)

# The browser SIP stack, where ./run copies it (gitignored; a wheel built after ./run carries it).
BUNDLE = Path(__file__).parent / "static" / "vendor" / "jssip.min.js"
BUNDLE_URL = "/static/vendor/jssip.min.js"
_HOLDERS = "softphone_holders"
_TAB = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_warned: list[bool] = []


def bundle_present(path: Path | None = None) -> bool:
    found = path or BUNDLE
    return found.is_file() and found.stat().st_size > 0


def warn_if_bundle_missing(path: Path | None = None) -> bool:
    """One warning per process when the browser SIP stack is not installed; True when it is there."""
    if bundle_present(path):
        return True
    if not _warned:
        _warned.append(True)
        log.warning("softphone.bundle_missing", path=str(path or BUNDLE),
                    hint="run ./run serve (or ./run demo / ./run test): it copies JsSIP into the static files; "
                         "webrtc seats cannot register until then")
    return False


def holder_of(ctx: WebContext, agent_id: str) -> str | None:
    """The tab that last claimed the agent's softphone registration in this process, if any."""
    holders: dict[str, str] = ctx.extras.get(_HOLDERS, {})
    return holders.get(agent_id)


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


@requires("agent", "admin")
async def softphone_api(request: Request, user: User) -> Response:
    ctx = _ctx(request)
    no_store = {"Cache-Control": "no-store"}  # a SIP password: never kept by a cache
    try:
        credentials = await asyncio.to_thread(softphone_credentials, ctx.settings, user)
    except SeatError as exc:
        log.warning("softphone.no_credentials", agent=user.agent_id, error=str(exc))
        return JSONResponse({"error": str(exc), "seat": user.seat}, status_code=503,
                            headers=no_store)
    body: dict[str, Any] = credentials.as_json()
    present = bundle_present()
    body.update(agent=user.agent_id, bundle=BUNDLE_URL if present else None, holder=holder_of(ctx, user.agent_id))
    if credentials.seat == "webrtc" and not present:
        warn_if_bundle_missing()
    return JSONResponse(body, headers=no_store)


@requires("agent", "admin")
async def claim(request: Request, user: User) -> Response:
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("body: not valid JSON") from None
    tab = data.get("tab") if isinstance(data, dict) else None
    if not isinstance(tab, str) or not _TAB.match(tab):
        raise BadRequest('tab: expected the tab\'s id, 8-64 letters, digits, "-" or "_"')
    holders: dict[str, str] = _ctx(request).extras.setdefault(_HOLDERS, {})
    previous = holders.get(user.agent_id)
    holders[user.agent_id] = tab
    if previous and previous != tab:
        log.info("softphone.taken_over", agent=user.agent_id)
    return JSONResponse({"holder": tab, "previous": previous})


def routes() -> list[BaseRoute]:
    warn_if_bundle_missing()  # at start-up, so an operator sees it before an agent does
    return [
        Route("/api/agent/softphone", softphone_api),
        Route("/api/agent/softphone/claim", claim, methods=["POST"]),
    ]
