"""The daily self-check (R-119 「每天…检查,并作好登记」) on a virtual clock: one registered row per centre day at
the set time, a restart catches up without a second row, and a red result reaches the wallboard."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.health.board import HealthBoard
from callcenter.health.model import Status
from callcenter.health.registry import JobRecord
from callcenter.health.selfcheck import SelfCheck, recent_checks
from callcenter.web.app import create_app
from callcenter.web.context import WebContext

PASSWORD = "correct-horse-1"
# 2026-12-01 00:00 UTC is 08:00 in Shanghai: the first check (08:30) is due half an hour later.
START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


class Stop(Exception):
    pass


class VirtualClock:
    """``now`` and ``sleep`` for the self-check: a sleep moves time on at once; past ``until`` it stops."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.until = at
        self.sleeps = 0

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps += 1
        self.at += timedelta(seconds=seconds)
        if self.at > self.until:
            raise Stop
        await asyncio.sleep(0)


async def run_until(check: SelfCheck, clock: VirtualClock, until: datetime) -> None:
    clock.until = until
    with pytest.raises(Stop):
        await check.run(clock.now, clock.sleep)


def self_check(settings: Settings, clock: VirtualClock) -> SelfCheck:
    board = HealthBoard(settings, now=clock.now)
    return SelfCheck(board, settings, job=JobRecord("self-check", "每日自检", clock.now()))


@pytest.mark.postgres
async def test_one_row_per_day_at_the_set_time_and_a_restart_adds_none(settings: Settings, db_url: str) -> None:
    settings = replace(settings, database=replace(settings.database, url=db_url),
                       recordings=replace(settings.recordings, min_free_bytes=1))
    clock = VirtualClock(START)
    first = self_check(settings, clock)
    await run_until(first, clock, START + timedelta(days=3, hours=12))
    rows = recent_checks(db_url, date(2026, 12, 4))
    assert [r["day"] for r in rows] == ["2026-12-04", "2026-12-03", "2026-12-02", "2026-12-01"]
    tz = settings.service.tz
    assert {datetime.fromisoformat(r["checked_at"]).astimezone(tz).strftime("%H:%M") for r in rows} == {"08:30"}
    assert {r["status"] for r in rows} == {"green"} and first.job is not None and first.job.runs == 4
    assert first.job.next_due == datetime(2026, 12, 5, 8, 30, tzinfo=tz)
    # Restarted at 21:00 the same day (today's row exists), and a second process beside it: still one a day.
    clock.at = START + timedelta(days=3, hours=13)
    again, other = self_check(settings, clock), self_check(settings, clock)
    await run_until(again, clock, START + timedelta(days=4, hours=12))
    await other.run_once(date(2026, 12, 5))  # raced the same day: its row is dropped
    rows = recent_checks(db_url, date(2026, 12, 5))
    assert [r["day"] for r in rows] == ["2026-12-05", "2026-12-04", "2026-12-03", "2026-12-02", "2026-12-01"]


async def test_a_service_started_after_the_check_time_checks_at_once(settings: Settings, sqlite_url: str) -> None:
    settings = replace(settings, database=replace(settings.database, url=sqlite_url),
                       health=replace(settings.health, daily_check_at="07:15"))
    clock = VirtualClock(START)  # 08:00 local, 45 minutes after today's check time
    await run_until(self_check(settings, clock), clock, START + timedelta(minutes=5))
    rows = recent_checks(sqlite_url, date(2026, 12, 1))
    assert [(r["day"], r["checked_at"]) for r in rows] == [("2026-12-01", START.isoformat())]


def test_a_red_self_check_is_an_alert_on_the_wallboard_and_in_the_register(web_settings: Settings) -> None:
    floor = 1 << 50  # more than any disk: the recordings store is below its floor
    settings = replace(web_settings, recordings=replace(web_settings.recordings, min_free_bytes=floor))
    clock = VirtualClock(START + timedelta(minutes=30))
    ctx = WebContext(settings, Timeline(settings.database.url), now=clock.now)
    check = SelfCheck(HealthBoard(settings, timeline=ctx.timeline, pool=ctx.agents, now=clock.now), settings)
    ctx.extras.update(health=check.board, health_self_check=check)
    report = asyncio.run(check.run_once(date(2026, 12, 1)))
    assert report.status is Status.RED
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        token = _sign_in(client, "boss")
        assert token
        wall = client.get("/api/wallboard").json()
        alert = wall["health_alert"]
        assert alert["day"] == "2026-12-01" and alert["status"] == "red"
        assert [c["name"] for c in alert["red"]] == ["录音存储 recordings disk"]
        page = client.get("/health")
        assert page.status_code == 200 and "每日自检登记" in page.text and "2026-12-01" in page.text
        assert 'data-status="red"' in page.text and "new recordings are refused" in page.text
        # The next day has no red check yet: the banner is gone.
        clock.at += timedelta(days=1)
        assert client.get("/api/wallboard").json()["health_alert"] is None


def test_the_page_is_for_supervisors_and_admins(web_settings: Settings) -> None:
    ctx = WebContext(web_settings, Timeline(web_settings.database.url))
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        for name in ("agent1", "qa1"):
            _sign_in(client, name)
            assert client.get("/health").status_code == 403
            assert client.get("/api/health").status_code == 403
            client.cookies.clear()
        _sign_in(client, "root")
        page = client.get("/health")
        assert page.status_code == 200 and '<a href="/health" class="on">运行检查</a>' in page.text
        assert client.get("/api/health").json()["components"]


def test_an_unreachable_database_is_red_on_the_page(web_settings: Settings) -> None:
    bad = replace(web_settings, database=replace(web_settings.database,
                                                 url="postgresql+psycopg://callcenter:x@127.0.0.1:1/gone"))
    ctx = WebContext(web_settings, Timeline(web_settings.database.url))
    ctx.extras["health"] = HealthBoard(bad, timeline=ctx.timeline, pool=ctx.agents)
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        _sign_in(client, "boss")
        state = client.get("/api/health").json()
        db = next(c for c in state["components"] if c["name"] == "数据库 database")
        assert db["status"] == "red" and db["reason"].startswith("cannot reach the database at 127.0.0.1:1/gone")
        assert state["status"] == "red" and not state["ready"]
        assert client.get("/readyz").status_code == 503
        assert "cannot reach the database" in client.get("/health").text


def _sign_in(client: TestClient, name: str) -> str:
    import re

    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert token
    r = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return token.group(1)
