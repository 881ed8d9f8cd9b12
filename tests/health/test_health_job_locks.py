"""The health board shows, for each job under a job lock (callcenter.jobs), whether this process holds it or
stands by, and a process that takes a job over is measured from the moment it did (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.health.checks import job_component
from callcenter.health.model import Status
from callcenter.health.registry import HealthRegistry

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def test_a_standby_is_green_and_names_the_holder_even_long_after_it_started() -> None:
    job = HealthRegistry().job("overdue-orders", "工单超时升级", T0)
    job.held(False, "node-b:4711", T0)
    c = job_component(job, T0 + timedelta(hours=6), TZ)  # a job that ran nowhere here for hours is not overdue
    assert c.status is Status.GREEN
    assert c.reason == "standby: node-b:4711 runs it" and "held by node-b:4711" in c.value
    assert c.detail["holding"] is False and c.detail["holder"] == "node-b:4711"


def test_a_standby_that_sees_no_holder_is_amber() -> None:
    job = HealthRegistry().job("reports", "定时报表", T0)
    job.held(False, None, T0)
    c = job_component(job, T0, TZ)
    assert c.status is Status.AMBER and "no process is seen holding" in c.reason


def test_the_holder_says_so_and_is_measured_from_its_takeover() -> None:
    job = HealthRegistry().job("reports", "定时报表", T0)
    job.held(False, "node-b:4711", T0)
    took_over = T0 + timedelta(hours=3)
    job.held(True, "node-a:42", took_over)
    c = job_component(job, took_over + timedelta(seconds=30), TZ)
    assert c.status is Status.GREEN and c.reason == "first run under way"
    assert c.value.startswith("this process holds it")
    job.ran(took_over + timedelta(seconds=1), took_over + timedelta(minutes=5))
    assert job_component(job, took_over + timedelta(minutes=1), TZ).status is Status.GREEN
    assert job_component(job, took_over + timedelta(minutes=30), TZ).status is Status.RED  # the holder must run it


def test_a_lock_only_job_shows_who_holds_it() -> None:
    registry = HealthRegistry()
    dialer = registry.job("callback-dialer", "回访外呼", T0, reports_runs=False)
    dialer.held(True, "node-a:42", T0)
    c = job_component(dialer, T0 + timedelta(days=1), TZ)
    assert c.status is Status.GREEN and c.reason == "this process holds it"
    dialer.held(False, "node-b:4711", T0 + timedelta(days=1))
    assert job_component(dialer, T0 + timedelta(days=1), TZ).reason == "standby: node-b:4711 runs it"
