"""The system health board (运行检查, R-119) for supervisors and admins, and the load balancer's probes.

- ``/health``: every component green / amber / red with its reason and measured value, refreshed every few
  seconds from ``/api/health``, and the daily self-check's register of the last 30 days.
- ``/api/health``: the same as JSON, for a signed-in supervisor or admin, or for ``callcenter health`` on the
  service's machine (an HMAC of the web session key in the ``X-Callcenter-Health`` header:
  :mod:`callcenter.health.secret`).
- ``/healthz`` (the process answers) and ``/readyz`` (503 while a red component keeps it from taking calls):
  unauthenticated, and they say nothing more than that.

The board comes from ``callcenter serve`` (:mod:`callcenter.cli.health_probes` puts it on the context's
extras, with the Asterisk adapters' probes); without one, the page checks what the web context itself knows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.health.board import HealthBoard
from callcenter.health.model import LABELS, HealthReport
from callcenter.health.secret import HEADER, read_secret, token_matches
from callcenter.health.selfcheck import SelfCheck, recent_checks
from callcenter.logs import get_logger
from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.templating import render
from callcenter.web.users import User

log = get_logger(__name__)
REFRESH_SECONDS = 5


def board_of(ctx: WebContext) -> HealthBoard:
    board = ctx.extras.get("health")
    if not isinstance(board, HealthBoard):
        board = ctx.extras["health"] = HealthBoard(ctx.settings, timeline=ctx.timeline, pool=ctx.agents, now=ctx.now)
    return board


def self_check_of(ctx: WebContext) -> SelfCheck:
    check = ctx.extras.get("health_self_check")
    if not isinstance(check, SelfCheck):
        check = ctx.extras["health_self_check"] = SelfCheck(board_of(ctx), ctx.settings)
    return check


def wallboard_alert(ctx: WebContext) -> dict[str, Any] | None:
    """Today's red daily self-check, for the wallboard (blocking: read in the wallboard's worker thread)."""
    today = ctx.now().astimezone(ctx.settings.service.tz).date()
    return self_check_of(ctx).alert(today)


def unreachable_seats(ctx: WebContext) -> list[str]:
    """The seats (工号) whose phone is unregistered or unreachable, for the wallboard (R-02: offered no call)."""
    watch = board_of(ctx).seats
    if watch is None:
        return []
    agents = ctx.agents.agents
    return sorted(agents[a].work_number or a for a in watch.unreachable(ctx.agents))


def _register(ctx: WebContext) -> list[dict[str, Any]]:
    today = ctx.now().astimezone(ctx.settings.service.tz).date()
    try:
        return recent_checks(ctx.settings.database.url, today)
    except Exception as exc:  # the board says the database is red; the register is simply not shown
        log.warning("health.register_unreadable", error=str(exc))
        return []


async def health_state(ctx: WebContext) -> dict[str, Any]:
    report: HealthReport = await board_of(ctx).check()
    return {**report.as_dict(), "register": await asyncio.to_thread(_register, ctx),
            "check_time": ctx.settings.health.daily_check_at}


@requires("supervisor", "admin")
async def health_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    state = await health_state(ctx)
    return render(request, "health.html", page="health", state=state, labels={s.value: v for s, v in LABELS.items()},
                  refresh_seconds=REFRESH_SECONDS, tz=ctx.settings.service.tz, settings=ctx.settings)


@requires("supervisor", "admin")
async def _health_api_signed_in(request: Request, user: User) -> Response:
    return JSONResponse(await health_state(request.app.state.ctx))


async def health_api(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    given = request.headers.get(HEADER, "")
    if given:
        secret = read_secret(ctx.settings.web.secret_key, ctx.settings.web.secret_file)
        if secret is None or not token_matches(secret, given):
            return JSONResponse({"error": "health token does not match this service's web key"}, status_code=403)
        return JSONResponse(await health_state(ctx))
    return await _health_api_signed_in(request)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    report = await board_of(request.app.state.ctx).check()
    if report.ready:
        return PlainTextResponse("ready")
    return PlainTextResponse("not ready", status_code=503)


def routes() -> list[BaseRoute]:
    return [Route("/health", health_page), Route("/api/health", health_api), Route("/healthz", healthz),
            Route("/readyz", readyz)]
