"""The supervisor wallboard (班长 · 监控大屏): today's live figures, agents by state, work orders, and
ring-to-answer over the day.

Figures come from the metrics package (:func:`callcenter.metrics.live.live_figures` over its live board, the
same definitions as the reports, R-122..R-127, R-15); agents by state from the agent pool; open and overdue
orders from the tickets service. The page refetches ``/api/wallboard`` whenever a timeline event arrives
(at most a few times a second), so it moves while calls flow.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.calls.supervision import MODES
from callcenter.metrics.charts import histogram, line_chart
from callcenter.metrics.live import STALE_CALL, live_figures
from callcenter.metrics.windows import day_window
from callcenter.web import monitor_pages, orders
from callcenter.web.access import requires
from callcenter.web.agent_pages import STATE_LABELS
from callcenter.web.context import WebContext
from callcenter.web.health_pages import unreachable_seats, wallboard_alert
from callcenter.web.templating import render
from callcenter.web.users import User


def wallboard_state(ctx: WebContext) -> dict[str, Any]:
    settings = ctx.settings
    now = ctx.now()
    metrics_board = ctx.metrics_board
    today = day_window(now.astimezone(settings.service.tz).date(), settings.service.tz)
    metrics_board.prune(today.start - STALE_CALL)
    figures = live_figures(metrics_board, now, settings)
    open_orders, overdue_orders = orders.open_and_overdue(settings, now)
    counts = ctx.agents.counts()
    chart = line_chart("接听前响铃时长(秒,按小时平均)", day_points(figures["ring_to_answer_by_hour"], now, settings),
                       unit="s")
    rings = figures["figures"]["rings_to_answer"]
    ring_chart = histogram("接听响铃次数(今日)", list(rings.items()), limit_after=2)
    return {
        **{k: v for k, v in figures.items() if k != "figures"},
        "abandoned": figures["figures"]["abandoned"],
        "answered_by_agents": figures["figures"]["answered_by_agents"],
        "silent_calls": figures["figures"]["silent_calls"],
        "service_level_seconds": settings.metrics.service_level_seconds,
        "service_level_target": settings.metrics.service_level_target_percent,
        "agents": [{"state": s, "label": STATE_LABELS[s], "count": n} for s, n in counts.items()],
        # Seats whose phone is unregistered or unreachable: offered no call (R-02, issue 15).
        "unreachable_seats": unreachable_seats(ctx),
        "open_orders": open_orders,
        "overdue_orders": overdue_orders,
        "chart_svg": str(chart),
        "rings_svg": str(ring_chart),
        "last_id": ctx.board.last_id,
        # today's daily self-check when it was red (callcenter/health/selfcheck.py).
        "health_alert": wallboard_alert(ctx),
        # the live calls a supervisor may listen in on, and who listens now.
        "live_calls": monitor_pages.live_calls(ctx),
        "monitoring": ctx.monitoring is not None,
    }


def day_points(by_hour: list[dict[str, Any]], now: datetime, settings: Any) -> list[tuple[str, float | None]]:
    """Every hour of the day so far (an hour without answered calls is a gap), so the line reads as a day."""
    seconds = {h["hour"]: h["average_seconds_to_answer"] for h in by_hour}
    last = now.astimezone(settings.service.tz).hour
    first = min([int(h[:2]) for h in seconds] + [max(0, last - 11)])
    return [(f"{h:02d}:00", seconds.get(f"{h:02d}:00")) for h in range(first, last + 1)]


@requires("supervisor", "admin")
async def wallboard_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    return render(request, "wallboard.html", page="wallboard", settings=ctx.settings,
                  modes=list(MODES.items()))  # a list: tojson would sort a dict, and 监听 comes first


@requires("supervisor", "admin")
async def wallboard_api(request: Request, user: User) -> Response:
    return JSONResponse(await asyncio.to_thread(wallboard_state, request.app.state.ctx))


def routes() -> list[BaseRoute]:
    return [Route("/wallboard", wallboard_page), Route("/api/wallboard", wallboard_api), *monitor_pages.routes()]
