"""R-119: the health board says whether this process's pages see every process's calls (calls.fanout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.calls.fanout import PostgresFeed
from callcenter.calls.timeline import Timeline
from callcenter.health.centre_feed import centre_feed_probe
from callcenter.health.model import Status

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def _feed() -> PostgresFeed:
    return PostgresFeed(Timeline("postgresql+psycopg://nobody@127.0.0.1:1/none"))  # never connected here


def test_listening_is_green_a_short_loss_amber_a_long_one_red_and_none_blocks_calls() -> None:
    feed = _feed()
    probe = centre_feed_probe(feed, TZ, lambda: NOW)
    (starting,) = probe()
    assert starting.status is Status.AMBER and "not listening yet" in starting.reason
    feed.connected.set()
    feed.connections, feed.delivered = 2, 41
    (up,) = probe()
    assert up.status is Status.GREEN and up.value == "listening; last event id 41; 1 reconnects"
    feed.connected.clear()
    feed.lost_at = NOW - timedelta(seconds=5)
    (short,) = probe()
    assert short.status is Status.AMBER and "reconnecting since 12-07 09:59:55 (5 s)" in short.reason
    feed.lost_at = NOW - timedelta(minutes=3)
    (long,) = probe()
    assert long.status is Status.RED and "miss other processes' calls" in long.reason
    assert not any(c.blocks_calls for c in (starting, up, short, long))
