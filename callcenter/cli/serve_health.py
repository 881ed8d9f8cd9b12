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


def commands_probe(bus: Any) -> Any:
    """The health board's line for this process's end of the command rows (callcenter.calls.commands_bus):
    amber while its listening connection is away — buttons pressed elsewhere on this process's calls then wait
    for its next poll or come back "not live"; it blocks no call."""
    from callcenter.health.checks import GROUP_TELEPHONY
    from callcenter.health.model import Component, Status

    def probe() -> list[Component]:
        detail = {"held": len(bus.local), "executed": bus.executed, "routed": bus.routed,
                  "listening": bus.listening.is_set()}
        value = f"{len(bus.local)} calls held here; {bus.executed} commands run, {bus.routed} sent"
        if bus.listening.is_set():
            return [Component("命令通道 commands", Status.GREEN, "listening for commands to this process's calls",
                              value, GROUP_TELEPHONY, detail=detail)]
        return [Component("命令通道 commands", Status.AMBER, "not listening: commands to this process's calls wait "
                          "for its reconnect (pages answer 'not live' after 5 s)", value, GROUP_TELEPHONY,
                          detail=detail)]

    return probe
