"""Each check of the health board on its own: red, amber and green from measured values (R-119)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.calls import events as ev
from callcenter.calls.agents import Agent, AgentPool, AgentState
from callcenter.calls.timeline import Timeline, TimelineEvent
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.health.board import HealthBoard, local_report
from callcenter.health.checks import (
    BACKLOG_AMBER,
    database_component,
    disk_component,
    flusher_component,
    job_component,
    seats_component,
)
from callcenter.health.model import HealthReport, Status
from callcenter.health.registry import HealthRegistry, JobRecord
from callcenter.health.seats import SeatWatch
from callcenter.store import code_heads, dispose_all

T0 = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
CLOSED_PG = "postgresql+psycopg://callcenter:callcenter@127.0.0.1:1/nothing"


@pytest.mark.postgres
def test_a_migrated_database_is_green_with_every_head_applied(db_url: str) -> None:
    c = database_component(db_url)
    assert c.status is Status.GREEN and c.blocks_calls
    n = len(code_heads())
    assert set(c.detail["code"]) == code_heads() and c.value == f"{n} of {n} heads applied"
    assert "health_0001" in c.detail["code"]


def test_an_unreachable_database_is_red() -> None:
    c = database_component(CLOSED_PG)
    assert c.status is Status.RED and c.value == "unreachable"
    assert c.reason.startswith("cannot reach the database at 127.0.0.1:1/nothing")
    assert "callcenter:callcenter" not in c.reason  # no credentials in the reason


@pytest.mark.postgres
def test_a_postgresql_database_that_goes_away_while_running_turns_red() -> None:
    import sqlalchemy as sa

    from callcenter.store import migrate, where
    from tests.conftest import PG_ADMIN_URL, empty_pg_database

    with empty_pg_database() as url:
        migrate(url)
        assert database_component(url).status is Status.GREEN
        name = url.rsplit("/", 1)[1]
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # the server ends our connections and the database is gone
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        c = database_component(url)
        assert c.status is Status.RED and c.reason.startswith(f"cannot reach the database at {where(url)}")


def test_a_database_without_the_schema_is_red(tmp_path: Path) -> None:
    c = database_component(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    dispose_all()
    assert c.status is Status.RED and "has no schema" in c.reason
    assert c.value == f"0 of {len(code_heads())} heads applied"


@pytest.mark.postgres
def test_todays_refused_recordings_are_counted_from_local_midnight(settings: Settings, db_url: str) -> None:
    from callcenter.health.board import day_start
    from callcenter.health.checks import refused_today

    timeline = Timeline(db_url)
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai; the centre's day began at 16:00 UTC
    for at in (datetime(2026, 12, 6, 15, 59, tzinfo=UTC), datetime(2026, 12, 6, 16, 1, tzinfo=UTC),
               datetime(2026, 12, 7, 2, 0, tzinfo=UTC)):
        timeline.append(f"c{at.hour}", ev.RECORDING_REFUSED, {"reason": "disk"}, at=at)
    timeline.flush_sync()
    assert day_start(now, settings).isoformat() == "2026-12-07T00:00:00+08:00"
    assert refused_today(db_url, day_start(now, settings)) == 2


def test_disk_below_the_floor_is_red_and_refusals_are_amber(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    red = disk_component(tmp_path / "recordings", free + (1 << 30), 0)
    assert red.status is Status.RED and "new recordings are refused" in red.reason
    assert not red.blocks_calls  # calls go on without their recording; the alarm is the point
    assert disk_component(tmp_path, 1, 3).status is Status.AMBER
    green = disk_component(tmp_path, 1, 0)
    assert green.status is Status.GREEN and "refused today 0" in green.value


def test_an_unusable_recordings_volume_is_red(tmp_path: Path) -> None:
    def broken(_path: Path) -> object:
        raise PermissionError(13, "Permission denied")

    c = disk_component(tmp_path, 1, 0, disk_usage=broken)
    assert c.status is Status.RED and "not usable: Permission denied" in c.reason


def test_flusher_backlog_and_a_stopped_flusher() -> None:
    timeline = Timeline(None)
    for i in range(BACKLOG_AMBER):
        timeline.append(f"c{i}", ev.CALL_OFFERED)
    assert timeline.backlog == BACKLOG_AMBER
    assert flusher_component(timeline.backlog, True).status is Status.AMBER
    timeline.flush_sync()
    assert flusher_component(timeline.backlog, True).status is Status.GREEN
    assert flusher_component(0, False).status is Status.RED


def _event(kind: str, **data: object) -> TimelineEvent:
    return TimelineEvent("c1", 1, kind, T0, 0.0, dict(data))


def test_seats_registered_offered_and_unreachable() -> None:
    pool = AgentPool()
    assert seats_component(pool, None).status is Status.AMBER  # no seats at all
    for n in (1, 2):
        pool.add(Agent(f"agent{n}", f"PJSIP/800{n}", f"800{n}"))
    watch = SeatWatch()
    assert seats_component(pool, watch).reason == "no seat is signed on"
    pool.set_state("agent1", AgentState.READY)
    c = seats_component(pool, watch)
    assert c.status is Status.GREEN and c.value == "1 of 2 registered, 1 offered, 0 unreachable"
    # The adapter found agent2's phone unavailable and set the seat offline.
    watch.feed(_event(ev.AGENT_SKIPPED, agent="agent2", reason="unavailable"))
    c = seats_component(pool, watch)
    assert c.status is Status.AMBER and c.detail["unreachable"] == ["agent2"]
    pool.set_state("agent1", AgentState.OFFLINE)
    watch.feed(_event(ev.AGENT_SKIPPED, agent="agent1", reason="unavailable"))
    assert seats_component(pool, watch).status is Status.RED
    watch.feed(_event(ev.AGENT_RINGING, agent="agent1", ring=1))  # reachable again
    assert seats_component(pool, watch).detail["unreachable"] == ["agent2"]


def test_a_scheduler_is_green_on_time_amber_after_a_failure_and_red_when_overdue() -> None:
    tz = load_settings(environ={}).service.tz
    job = JobRecord("overdue-orders", "工单超时升级", T0)
    assert job_component(job, T0 + timedelta(seconds=30), tz).status is Status.GREEN  # first run under way
    assert job_component(job, T0 + timedelta(minutes=5), tz).status is Status.RED  # never ran
    job.ran(T0, T0 + timedelta(minutes=1))
    c = job_component(job, T0 + timedelta(minutes=2), tz)
    assert c.status is Status.GREEN and c.value == "last 12-01 08:30:00 · next 12-01 08:31:00"
    job.ran(T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), "database is locked")
    assert job_component(job, T0 + timedelta(minutes=2), tz).reason == "last run failed: database is locked"
    c = job_component(job, T0 + timedelta(minutes=10), tz)
    assert c.status is Status.RED and c.reason.startswith("overdue by 8 min")
    daily = JobRecord("self-check", "每日自检", T0, next_due=T0 + timedelta(hours=20))
    assert job_component(daily, T0 + timedelta(hours=3), tz).status is Status.GREEN  # first run due later


async def test_the_board_puts_probes_first_and_a_failing_probe_is_red(settings: Settings) -> None:
    registry = HealthRegistry()

    def broken() -> list:
        raise RuntimeError("adapter gone")

    registry.add_probe(broken)
    settings = replace(settings, recordings=replace(settings.recordings, min_free_bytes=1))
    report = await HealthBoard(settings, registry=registry, now=lambda: T0).check()
    dispose_all()
    assert report.components[0].name == "探针 probe"
    assert report.status is Status.RED and report.components[0].reason == "a health probe failed: adapter gone"


def test_the_report_round_trips_through_json(settings: Settings) -> None:
    report = local_report(replace(settings, database=replace(settings.database, url=CLOSED_PG)), T0, "not there")
    assert report.source == "local" and not report.ready
    again = HealthReport.from_dict(report.as_dict())
    assert again == report and again.status is Status.RED


@pytest.mark.parametrize("value", ["8:30", "24:00", "08:60", "0830", "ab:cd"])
def test_a_bad_check_time_is_one_clear_error(value: str) -> None:
    with pytest.raises(ConfigError, match=r"health\.daily_check_at: expected HH:MM"):
        load_settings(environ={"CALLCENTER_HEALTH__DAILY_CHECK_AT": value})
