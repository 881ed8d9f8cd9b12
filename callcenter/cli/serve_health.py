"""``/healthz`` and ``/readyz`` for a ``callcenter serve`` process without the web role (``--role telephony`` or
``jobs``): a load balancer or systemd's watchdog asks it, bound to ``web.health_host`` (127.0.0.1 by default).

The answers are those of the web role's own routes (:mod:`callcenter.web.health_pages`) over this process's
health board: ``/readyz`` is 503 while a component that blocks this role's work is red — the database (reachable,
at this version's migration heads) for every role, each ARI application's websocket and FastAGI listener for
telephony.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from callcenter.web.health_pages import healthz, readyz


def health_app(ctx: Any) -> Starlette:
    """The two probe routes over ``ctx`` (a :class:`callcenter.web.context.WebContext` with the board)."""
    app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])
    app.state.ctx = ctx
    return app
