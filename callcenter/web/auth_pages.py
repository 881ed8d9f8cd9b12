"""Sign-in, sign-out and the password change. A successful sign-in replaces the whole session (no fixation)
and rotates the CSRF token; the name/password check is argon2 with the R-120 lock-out
(:func:`callcenter.web.passwords.sign_in`). A new account, an admin's reset or a password older than
``web.password_max_age_days`` leads to ``/password`` before any other page (:func:`access.requires`)."""

from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from callcenter.logs import get_logger
from callcenter.web import access
from callcenter.web.agent_pages import seat_signed_out
from callcenter.web.errors import SignInFailed, UserError
from callcenter.web.passwords import PasswordPolicy, change_password, sign_in
from callcenter.web.templating import render

log = get_logger(__name__)


def _safe_next(target: str | None) -> str | None:
    # Only local paths: an open redirect would let a phishing link borrow our sign-in page.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


async def login_page(request: Request) -> Response:
    user = access.current_user(request)
    if user is not None:
        return RedirectResponse(access.HOME[user.role], status_code=303)
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")) or "", error="")


async def login_submit(request: Request) -> Response:
    await access.check_csrf(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    ctx = request.app.state.ctx
    try:
        policy = PasswordPolicy.from_settings(ctx.settings)
        user = await asyncio.to_thread(sign_in, ctx.url, name, password, policy, ctx.now())
    except SignInFailed as exc:
        log.info("web.sign_in_failed", user=name)
        return render(request, "login.html", status_code=401, next=target or "", error=str(exc))
    request.session.clear()
    request.session.update({"user_id": user.id, "role": user.role, "csrf": secrets.token_urlsafe(32)})
    log.info("web.signed_in", user=user.name, role=user.role)
    if policy.change_reason(user, ctx.now()) is not None:
        return RedirectResponse("/password", status_code=303)
    if target is None or not any(
        target.startswith(p) and access.may_open(user, page)
        for page, p in (("agent", "/agent"), ("qa", "/qa"), ("wallboard", "/wallboard"))
    ):
        target = access.HOME[user.role]
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    await access.check_csrf(request)
    user = access.current_user(request)
    if user is not None:
        await seat_signed_out(request.app.state.ctx, user)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def password_page(request: Request) -> Response:
    user = access.current_user(request)
    if user is None:
        return RedirectResponse("/login?next=/password", status_code=303)
    ctx = request.app.state.ctx
    reason = PasswordPolicy.from_settings(ctx.settings).change_reason(user, ctx.now())
    return render(request, "password.html", reason=reason or "", error="", policy=PasswordPolicy.from_settings(
        ctx.settings))


async def password_submit(request: Request) -> Response:
    await access.check_csrf(request)
    user = access.current_user(request)
    if user is None:
        return RedirectResponse("/login?next=/password", status_code=303)
    ctx = request.app.state.ctx
    policy = PasswordPolicy.from_settings(ctx.settings)
    form = await request.form()
    old, new = str(form.get("old_password", "")), str(form.get("new_password", ""))
    try:
        if new != str(form.get("confirm_password", "")):
            raise UserError("两次输入的新密码不一致 (the two new passwords differ)")
        await asyncio.to_thread(change_password, ctx.url, user.name, old, new, policy, ctx.now())
    except UserError as exc:
        return render(request, "password.html", status_code=400, error=str(exc), policy=policy,
                      reason=policy.change_reason(user, ctx.now()) or "")
    return RedirectResponse(access.HOME[user.role], status_code=303)


async def home(request: Request) -> Response:
    user = access.current_user(request)
    return RedirectResponse(access.HOME[user.role] if user else "/login", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/password", password_page, methods=["GET"]),
        Route("/password", password_submit, methods=["POST"]),
    ]
