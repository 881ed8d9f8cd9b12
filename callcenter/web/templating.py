"""The pages' Jinja2 environment (autoescaped HTML) and the one way to render a page."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from callcenter.web import access

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def local_time(iso: str | None, tz: tzinfo) -> str:
    """An ISO instant as the centre's local wall time (pages show local time; the database keeps UTC)."""
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["local"] = local_time


def seconds(value: float) -> str:
    """A timeline offset as the QA page shows it: one decimal, and never "-0.0" for an instant just before 0."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


templates.env.filters["seconds"] = seconds


def render(request: Request, name: str, status_code: int = 200, **context: object) -> Response:
    """Render a page template with the signed-in user and the session's CSRF token."""
    ctx = access.context_for(request, access.current_user(request), **context)
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
