"""The centre feed on the health board (R-119): whether this process's pages see every process's calls.

On PostgreSQL a web process learns of other processes' calls through one ``LISTEN`` connection
(:class:`callcenter.calls.fanout.PostgresFeed`). While it is down, calls go on, but this process's panels and
wallboard miss what the others write until it reconnects (it then catches up); a short loss is amber, a long
one red. Nothing here blocks calls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from callcenter.calls.fanout import PostgresFeed
from callcenter.health.checks import GROUP_DATA, local
from callcenter.health.model import Component, Status
from callcenter.health.registry import Probe, seconds_text

NAME = "实时事件 centre feed (LISTEN)"
# A reconnect normally takes well under a second; this long without one means PostgreSQL itself is away.
RED_AFTER = timedelta(seconds=30)


def centre_feed_probe(feed: PostgresFeed, tz: tzinfo, now: Callable[[], datetime]) -> Probe:
    def probe() -> list[Component]:
        reconnects = max(0, feed.connections - 1)
        value = (f"{'listening' if feed.connected.is_set() else 'not listening'}; last event id {feed.delivered}; "
                 f"{reconnects} reconnects")
        detail = {"connected": feed.connected.is_set(), "connections": feed.connections, "delivered": feed.delivered,
                  "connected_at": feed.connected_at.isoformat() if feed.connected_at else None,
                  "lost_at": feed.lost_at.isoformat() if feed.lost_at else None}
        if feed.connected.is_set():
            return [Component(NAME, Status.GREEN, "every process's calls reach this process's pages live",
                              value, GROUP_DATA, detail=detail)]
        if feed.lost_at is None:
            return [Component(NAME, Status.AMBER, "starting: not listening yet", value, GROUP_DATA, detail=detail)]
        down = now() - feed.lost_at
        status = Status.RED if down >= RED_AFTER else Status.AMBER
        return [Component(NAME, status, f"reconnecting since {local(feed.lost_at, tz)} ({seconds_text(down)}): "
                          "this process's pages miss other processes' calls until then, and catch up after",
                          value, GROUP_DATA, detail=detail)]

    return probe
