"""The Starlette application: middleware, routes, error pages, and the live board's subscription.

:func:`create_app` takes a :class:`~callcenter.web.context.WebContext` and returns an ASGI app; whoever runs
it (``callcenter serve``, ``callcenter demo``, the tests) owns the timeline flusher and the telephony side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles

from callcenter.calls.fanout import PostgresFeed
from callcenter.errors import USER_ERRORS
from callcenter.health.centre_feed import centre_feed_probe
from callcenter.logs import get_logger
from callcenter.metrics.live import STALE_CALL
from callcenter.metrics.windows import day_window
from callcenter.recordings.errors import AccessDenied, RecordingNotFound
from callcenter.tickets.errors import UnknownOrderError
from callcenter.web import access, account_pages, agent_pages, auth_pages, qa_pages, request_pages, wallboard_pages
from callcenter.web.call_control import routes as call_control_routes
from callcenter.web.callback_pages import routes as callback_routes
from callcenter.web.click_dial import routes as click_dial_routes
from callcenter.web.context import WebContext
from callcenter.web.errors import CallNotLive, CsrfRejected, NotAllowed, SignInFailed
from callcenter.web.health_pages import board_of
from callcenter.web.health_pages import routes as health_routes
from callcenter.web.hub import follow
from callcenter.web.socket import websocket_endpoint
from callcenter.web.softphone_pages import routes as softphone_routes
from callcenter.web.templating import templates

log = get_logger(__name__)
HERE = Path(__file__).parent

def _status_for(exc: Exception) -> int:
    if isinstance(exc, NotAllowed | AccessDenied):
        return 403
    if isinstance(exc, RecordingNotFound | UnknownOrderError):
        return 404
    if isinstance(exc, CsrfRejected):
        return 403
    if isinstance(exc, SignInFailed):
        return 401
    if isinstance(exc, CallNotLive):
        return 409
    return 400


async def _callcenter_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, USER_ERRORS)
    status = _status_for(exc)
    if access.wants_json(request):
        return JSONResponse({"error": str(exc)}, status_code=status)
    user = access.current_user(request)
    return templates.TemplateResponse(
        request, "error.html", access.context_for(request, user, message=str(exc), status=status),
        status_code=status,
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    if access.wants_json(request):
        return JSONResponse({"error": "not found"}, status_code=404)
    return HTMLResponse("<h1>404 未找到</h1>", status_code=404)


def _prime_boards(ctx: WebContext) -> int:
    """Fold today's calls (and any still live from before midnight) into the boards; returns the id to
    follow the timeline from."""
    tz = ctx.settings.service.tz
    now = ctx.now()
    start = day_window(now.astimezone(tz).date(), tz).start - STALE_CALL
    last = 0
    for event in ctx.timeline.between(start, now + timedelta(days=1)):
        ctx.feed(event)
        last = max(last, event.id or 0)
    return last


def create_app(ctx: WebContext) -> Starlette:
    """The web application of one service process."""
    settings = ctx.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ctx.events.start()  # before the boards and pages subscribe: from here on nothing is missed
        if isinstance(ctx.events, PostgresFeed):
            board_of(ctx).registry.add_probe(centre_feed_probe(ctx.events, ctx.settings.service.tz, ctx.now))
        feed = asyncio.create_task(ctx.events.run(), name="web-centre-feed")
        after = await asyncio.to_thread(_prime_boards, ctx)
        tasks = [feed, asyncio.create_task(follow(ctx.events, ctx.feed, after), name="web-live-board")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    secret = access.load_secret_key(settings.web.secret_key, settings.web.secret_file)
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie="callcenter_session",
            max_age=settings.web.session_max_age_seconds,
            same_site="strict",
            https_only=settings.web.cookie_secure,
        )
    ]
    routes = [
        *auth_pages.routes(),
        *agent_pages.routes(),
        *call_control_routes(),
        *softphone_routes(),
        *callback_routes(),
        *click_dial_routes(),
        *qa_pages.routes(),
        *wallboard_pages.routes(),
        *request_pages.routes(),
        *account_pages.routes(),
        *health_routes(),
        WebSocketRoute("/ws", websocket_endpoint),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={**dict.fromkeys(USER_ERRORS, _callcenter_error), 404: _not_found},
    )
    app.state.ctx = ctx
    app.state.templates = templates
    return app
