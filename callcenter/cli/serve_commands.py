"""Commands in ``callcenter serve``: the pages act on any call of the centre (issue 17).

The web context's call control, monitoring and dialing become the routed ones of
:mod:`callcenter.web.routed_control` (this process's calls directly, another's through the command rows), and a
process that holds Asterisk servers runs the commands sent to its calls.
"""

from __future__ import annotations

from typing import Any

from callcenter.store import is_embedded
from callcenter.web.click_dial import EXTRA as CLICK_DIAL
from callcenter.web.routed_control import RoutedCallControl, RoutedDialing, RoutedMonitoring, command_executor


def route_commands(service: Any) -> None:
    """The pages act on any call of the centre: this process's directly, another's through the command rows; and
    this process runs the commands sent to the calls it holds."""
    ctx, bus = service.web, service.commands
    local_control, local_monitoring = ctx.control, ctx.monitoring
    if service.holders:
        bus.execute = command_executor(local_control, local_monitoring, lambda: (service.dialer, service.click_dial))
    if local_control is None and is_embedded(service.settings.database.url):
        return  # one process on SQLite and no ARI here: no call can be reached (the panel says so)
    ctx.control = RoutedCallControl(local_control, bus)
    ctx.monitoring = RoutedMonitoring(local_monitoring, bus)
    ctx.dialing = RoutedDialing(lambda: service.dialer, bus)
    ctx.extras[CLICK_DIAL] = RoutedDialing(lambda: service.click_dial, bus)
