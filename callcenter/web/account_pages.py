"""The admin's accounts page (账户, R-120): who is locked out after repeated failed sign-ins, whose password is
due, an unlock button and a password reset that the account must change at its next sign-in."""

from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.web.access import requires
from callcenter.web.context import WebContext
from callcenter.web.passwords import PasswordPolicy, account_states, admin_reset, unlock
from callcenter.web.templating import render
from callcenter.web.users import ROLE_LABELS, User


@requires("admin")
async def accounts_page(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    states = await asyncio.to_thread(account_states, ctx.url)
    return render(request, "accounts.html", page="accounts", accounts=states, roles=ROLE_LABELS,
                  policy=PasswordPolicy.from_settings(ctx.settings), now=ctx.now(), tz=ctx.settings.service.tz,
                  done=request.query_params.get("done", ""), temporary="")


@requires("admin")
async def unlock_account(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    name = request.path_params["name"]
    await asyncio.to_thread(unlock, ctx.url, name)
    return RedirectResponse(f"/admin/users?done=unlocked:{name}", status_code=303)


@requires("admin")
async def reset_account(request: Request, user: User) -> Response:
    ctx: WebContext = request.app.state.ctx
    name = request.path_params["name"]
    temporary = secrets.token_urlsafe(12)
    await asyncio.to_thread(admin_reset, ctx.url, name, temporary, ctx.now())
    states = await asyncio.to_thread(account_states, ctx.url)
    # Shown once, on this response only: it is never stored in clear or put in a URL.
    return render(request, "accounts.html", page="accounts", accounts=states, roles=ROLE_LABELS,
                  policy=PasswordPolicy.from_settings(ctx.settings), now=ctx.now(), tz=ctx.settings.service.tz,
                  done=f"reset:{name}", temporary=temporary)


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/users", accounts_page, methods=["GET"]),
        Route("/admin/users/{name}/unlock", unlock_account, methods=["POST"]),
        Route("/admin/users/{name}/reset", reset_account, methods=["POST"]),
    ]
