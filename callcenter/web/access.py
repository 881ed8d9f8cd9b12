"""Who is signed in, what their role allows, and the CSRF token of their session.

Every page and API handler is wrapped by :func:`requires` with the roles it serves; the check runs on the
server for every request (hiding a link is not access control). State-changing requests (POST, PUT, PATCH,
DELETE) must carry the session's CSRF token, as form field ``csrf_token`` or header ``X-CSRF-Token``; the
session cookie is HttpOnly and SameSite=Strict, so the token is a second, independent guard.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from callcenter.logs import get_logger
from callcenter.web.errors import CsrfRejected, NotAllowed
from callcenter.web.passwords import PasswordPolicy
from callcenter.web.users import User, get_user

log = get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Who opens which page (the pages' nav shows only these).
PAGE_ROLES = {
    "agent": ("agent", "admin"),
    "qa": ("qa", "supervisor", "admin"),
    "wallboard": ("supervisor", "admin"),
    "health": ("supervisor", "admin"),  # 运行检查: the health board
    "callbacks": ("supervisor", "admin"),  # 回访: campaigns, attempts, satisfaction
    "requests": ("qa", "supervisor", "admin"),  # 我的申请: access requests to recordings
    "approvals": ("supervisor", "admin"),  # 审批: the approval queue
    "accounts": ("admin",),  # 账户: lock-outs and password resets
}
HOME = {"agent": "/agent", "qa": "/qa", "supervisor": "/wallboard", "admin": "/wallboard"}

Handler = Callable[[Request], Awaitable[Response]]


def csrf_token(conn: HTTPConnection) -> str:
    """The session's CSRF token, created on first use (a sign-in rotates it)."""
    token = conn.session.get("csrf")
    if not token:
        token = conn.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf", "")
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        given = str(form.get(CSRF_FIELD, ""))
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise CsrfRejected("CSRF token missing or wrong: reload the page and try again")


def current_user(conn: HTTPConnection) -> User | None:
    user_id = conn.session.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = get_user(conn.app.state.ctx.url, user_id)
    if user is None or user.role != conn.session.get("role"):
        conn.session.clear()  # a disabled account or a changed role ends the session
        return None
    return user


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def requires(*roles: str) -> Callable[[Callable[..., Awaitable[Response]]], Handler]:
    """Wrap a handler ``fn(request, user)``: sign-in, role and CSRF checked before it runs."""

    def wrap(fn: Callable[..., Awaitable[Response]]) -> Handler:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                if wants_json(request):
                    return JSONResponse({"error": "请先登录 (sign in first)"}, status_code=401)
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            if user.role not in roles:
                log.warning("web.forbidden", user=user.name, role=user.role, path=request.url.path)
                raise NotAllowed(f"{user.role_label}无权访问此页面 (role {user.role} may not open {request.url.path})")
            ctx = request.app.state.ctx
            why = PasswordPolicy.from_settings(ctx.settings).change_reason(user, ctx.now())
            if why is not None:  # a forced or overdue change comes before any page or API
                if wants_json(request):
                    return JSONResponse({"error": why}, status_code=403)
                return RedirectResponse("/password", status_code=303)
            await check_csrf(request)
            return await fn(request, user)

        return handler

    return wrap


def may_open(user: User, page: str) -> bool:
    return user.role in PAGE_ROLES[page]


def load_secret_key(configured: str, path: Path) -> str:
    """The session-signing key: the configured one, else one generated once and kept in ``path`` (0600)."""
    if configured:
        return configured
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key


def context_for(request: Request, user: User | None, **extra: Any) -> dict[str, Any]:
    """The variables every template gets."""
    return {"user": user, "csrf": csrf_token(request), "may_open": (lambda page: user is not None and
                                                                     may_open(user, page)), **extra}
