"""The retention sweeper: boundaries, dry run, idempotence, crashes at every step, two sweepers at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.config import Settings
from callcenter.recordings.access import Actor
from callcenter.recordings.errors import AccessDenied, RecordingError, RetentionHold
from callcenter.recordings.models import LedgerEntry, Recording, RecordingTombstone
from callcenter.recordings.retention import RetentionPolicy, purge_allowed_from
from callcenter.recordings.service import RecordingService
from callcenter.recordings.sweeper import Sweeper
from callcenter.store import session_scope

T0 = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)  # 15:00 Shanghai
FLOOR = datetime(2026, 7, 12, 16, 0, tzinfo=UTC)  # Jul 13 00:00 Shanghai: first instant a purge is allowed
WALL = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the sweepers' wall clock (claims), injected
ADMIN = Actor("root", "admin")


class Crash(Exception):
    """Stands for the process dying at a checkpoint."""


def crash_at(step: str) -> Callable[[str, Sequence[int]], None]:
    def checkpoint(name: str, ids: Sequence[int]) -> None:
        if name == step and ids:
            raise Crash(step)

    return checkpoint


@pytest.fixture
def seed(rec_settings: Settings) -> Callable[..., list[int]]:
    """Insert recordings that ended at ``ended`` with a small file and a browser copy each; returns ids."""
    policy = RetentionPolicy.from_settings(rec_settings)
    root = rec_settings.recordings.root

    def make(n: int, ended: datetime = T0, prefix: str = "s", hold: bool = False) -> list[int]:
        ids = []
        with session_scope(rec_settings.database.url) as s:
            for i in range(n):
                call_id = f"{prefix}{i}"
                rel = f"2026/01/10/{call_id}.wav"
                (root / "2026/01/10").mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(b"RIFF" + bytes(64))
                (root / rel.replace(".wav", ".mp3")).write_bytes(b"ID3" + bytes(32))
                row = Recording(call_id=call_id, started_at=ended - timedelta(minutes=3), ended_at=ended,
                                format="wav", path=rel, browser_path=rel.replace(".wav", ".mp3"),
                                browser_format="mp3", bytes=68, status="ready", confidential=False,
                                legal_hold=hold, created_at=ended,
                                retain_until=purge_allowed_from(ended, policy.retention_days, policy.tz))
                s.add(row)
                s.flush()
                ids.append(row.id)
        return ids

    return make


def sweeper(settings: Settings, tickets: Any, clock: datetime = WALL, **kw: Any) -> Sweeper:
    return Sweeper(settings, tickets, clock=lambda: clock, **kw)


def rows(settings: Settings) -> dict[str, Recording]:
    with session_scope(settings.database.url) as s:
        return {r.call_id: r for r in s.scalars(select(Recording))}


def count(settings: Settings, model: Any) -> int:
    with session_scope(settings.database.url) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_each_rule_at_its_boundary(rec_settings: Settings, tickets: Any, seed: Callable[..., list[int]],
                                   service: RecordingService) -> None:
    seed(1, prefix="plain")
    seed(1, prefix="open")
    seed(1, prefix="closed")
    seed(1, prefix="complaint")
    seed(1, prefix="held")
    tickets.add("GD-OPEN", T0, None)
    tickets.add("GD-CLOSED", T0, datetime(2026, 3, 1, 2, 0, tzinfo=UTC))  # Mar 1 Shanghai → Sep 1 00:00
    tickets.add("TS-1", T0, datetime(2026, 1, 11, tzinfo=UTC), complaint=True)  # → Jan 12 2027 00:00
    service.link_call("open0", "GD-OPEN", by="t")
    service.link_call("closed0", "GD-CLOSED", by="t")
    service.link_call("complaint0", "TS-1", by="t")
    service.place_hold(ADMIN, rows(rec_settings)["held0"].id, reason="R-110 incident")
    tick = timedelta(microseconds=1)

    def purged_at(now: datetime) -> set[str]:
        sweeper(rec_settings, tickets).run(now)
        return {c for c, r in rows(rec_settings).items() if r.status == "purged"}

    assert purged_at(FLOOR - tick) == set()
    assert purged_at(FLOOR) == {"plain0"}
    closed_floor = datetime(2026, 8, 31, 16, 0, tzinfo=UTC)
    assert purged_at(closed_floor - tick) == {"plain0"}
    assert purged_at(closed_floor) == {"plain0", "closed0"}
    complaint_floor = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
    assert purged_at(complaint_floor - tick) == {"plain0", "closed0"}
    assert purged_at(complaint_floor) == {"plain0", "closed0", "complaint0"}
    assert purged_at(datetime(2040, 1, 1, tzinfo=UTC)) == {"plain0", "closed0", "complaint0"}  # open + held stay
    root = rec_settings.recordings.root
    assert not (root / "2026/01/10/plain0.wav").exists() and not (root / "2026/01/10/plain0.mp3").exists()
    assert (root / "2026/01/10/open0.wav").exists() and (root / "2026/01/10/held0.wav").exists()


def test_purge_leaves_tombstone_and_ledger_entry(rec_settings: Settings, tickets: Any,
                                                 seed: Callable[..., list[int]]) -> None:
    [rid] = seed(1)
    report = sweeper(rec_settings, tickets, actor="sweeper@host1").run(FLOOR)
    assert (report.purged, report.deferred, report.errors) == (1, 0, 0)
    with session_scope(rec_settings.database.url) as s:
        tomb = s.scalar(select(RecordingTombstone))
        entry = s.scalar(select(LedgerEntry))
        row = s.get(Recording, rid)
    assert tomb.recording_id == rid and tomb.purged_by == "sweeper@host1"
    assert tomb.purged_at.replace(tzinfo=UTC) == WALL
    assert "call ended 2026-01-10, kept 183 days" in tomb.reason and tomb.path == "2026/01/10/s0.wav"
    assert (entry.action, entry.actor, entry.recording_id) == ("purge", "sweeper@host1", rid)
    assert row.status == "purged" and row.retain_until is None and row.purge_claim is None


def test_dry_run_lists_and_changes_nothing(rec_settings: Settings, tickets: Any,
                                           seed: Callable[..., list[int]], service: RecordingService) -> None:
    seed(3)
    tickets.add("GD1", T0, None)
    service.link_call("s2", "GD1", by="t")
    report = sweeper(rec_settings, tickets).run(FLOOR, dry_run=True)
    assert (report.purged, report.deferred) == (2, 1)
    assert {i["call_id"]: i["action"] for i in report.items} == {"s0": "would purge", "s1": "would purge",
                                                                 "s2": "kept"}
    assert all(r.status == "ready" and r.purge_claim is None for r in rows(rec_settings).values())
    assert count(rec_settings, RecordingTombstone) == 0 and count(rec_settings, LedgerEntry) == 0


def test_sweep_is_idempotent_and_batched(rec_settings: Settings, tickets: Any,
                                         seed: Callable[..., list[int]]) -> None:
    seed(20)  # batch size 7 → 3 batches
    first = sweeper(rec_settings, tickets).run(FLOOR)
    assert (first.purged, first.batches) == (20, 3)
    second = sweeper(rec_settings, tickets).run(FLOOR)
    assert (second.purged, second.batches) == (0, 0)
    assert count(rec_settings, RecordingTombstone) == 20 and count(rec_settings, LedgerEntry) == 20


def test_crash_between_file_delete_and_row_update_resumes(rec_settings: Settings, tickets: Any,
                                                          seed: Callable[..., list[int]]) -> None:
    seed(3)
    with pytest.raises(Crash):
        sweeper(rec_settings, tickets, checkpoint=crash_at("unlinked")).run(FLOOR)
    root = rec_settings.recordings.root
    assert not any(root.glob("2026/01/10/s*"))  # files gone …
    assert {r.status for r in rows(rec_settings).values()} == {"purging"}  # … rows not yet updated
    # Restarted at once: the dead sweeper's claims are still fresh, nobody touches them.
    assert sweeper(rec_settings, tickets).run(FLOOR).purged == 0
    later = WALL + timedelta(seconds=rec_settings.recordings.claim_timeout_seconds + 1)
    report = sweeper(rec_settings, tickets, clock=later).run(FLOOR)
    assert (report.purged, report.errors) == (3, 0)
    assert {r.status for r in rows(rec_settings).values()} == {"purged"}
    with session_scope(rec_settings.database.url) as s:
        reasons = list(s.scalars(select(RecordingTombstone.reason)))
    assert len(reasons) == 3 and all("resumed after an interrupted sweep" in r for r in reasons)


def test_crash_after_intent_before_file_delete_resumes(rec_settings: Settings, tickets: Any,
                                                       seed: Callable[..., list[int]],
                                                       service: RecordingService) -> None:
    [rid, _] = seed(2)
    with pytest.raises(Crash):
        sweeper(rec_settings, tickets, checkpoint=crash_at("marked")).run(FLOOR)
    root = rec_settings.recordings.root
    assert (root / "2026/01/10/s0.wav").exists()  # nothing unlinked yet
    with pytest.raises(RecordingError, match="being purged"):  # a purge in progress cannot be held any more
        service.place_hold(ADMIN, rid, reason="too late")
    later = WALL + timedelta(hours=1)
    assert sweeper(rec_settings, tickets, clock=later).run(FLOOR).purged == 2
    assert not (root / "2026/01/10/s0.wav").exists()


def test_crash_after_row_update_is_harmless(rec_settings: Settings, tickets: Any,
                                            seed: Callable[..., list[int]]) -> None:
    seed(2)
    with pytest.raises(Crash):
        sweeper(rec_settings, tickets, checkpoint=crash_at("finished")).run(FLOOR)
    later = WALL + timedelta(hours=1)
    assert sweeper(rec_settings, tickets, clock=later).run(FLOOR).purged == 0
    assert count(rec_settings, RecordingTombstone) == 2


def test_hold_placed_after_the_claim_wins(rec_settings: Settings, tickets: Any, seed: Callable[..., list[int]],
                                          service: RecordingService) -> None:
    [rid] = seed(1)

    def hold_now(name: str, ids: Sequence[int]) -> None:
        if name == "claimed" and ids:
            service.place_hold(ADMIN, rid, reason="subpoena arrived mid-sweep")

    report = sweeper(rec_settings, tickets, checkpoint=hold_now).run(FLOOR)
    assert (report.purged, report.deferred) == (0, 1)
    assert rows(rec_settings)["s0"].status == "ready"
    assert (rec_settings.recordings.root / "2026/01/10/s0.wav").exists()


def test_failed_unlink_is_retried_later(rec_settings: Settings, tickets: Any,
                                        seed: Callable[..., list[int]]) -> None:
    seed(1)

    def refuse(_path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    report = sweeper(rec_settings, tickets, unlink=refuse).run(FLOOR)
    assert (report.purged, report.errors) == (0, 1)
    assert rows(rec_settings)["s0"].status == "purging"
    assert sweeper(rec_settings, tickets, clock=WALL + timedelta(hours=1)).run(FLOOR).purged == 1


def test_two_sweepers_at_once_purge_each_recording_exactly_once(rec_settings: Settings, tickets: Any,
                                                                 seed: Callable[..., list[int]]) -> None:
    seed(40)
    both_claimed = threading.Barrier(2, timeout=20)
    unlinked: Counter[str] = Counter()
    lock = threading.Lock()

    def rendezvous(name: str, ids: Sequence[int]) -> None:
        if name == "claimed" and ids and not getattr(rendezvous_state, "done", False):
            rendezvous_state.done = True  # per thread: wait once, so both hold a claim at the same time
            both_claimed.wait()

    rendezvous_state = threading.local()

    def counting_unlink(path: Path) -> None:
        with lock:
            unlinked[path.name] += 1
        path.unlink(missing_ok=True)

    reports: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            reports[name] = sweeper(rec_settings, tickets, actor=name, unlink=counting_unlink,
                                    checkpoint=rendezvous).run(FLOOR)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("sweeper-a", "sweeper-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert reports["sweeper-a"].purged > 0 and reports["sweeper-b"].purged > 0
    assert reports["sweeper-a"].purged + reports["sweeper-b"].purged == 40
    assert set(unlinked.values()) == {1} and len(unlinked) == 80  # each .wav and .mp3 exactly once
    assert count(rec_settings, RecordingTombstone) == 40
    with session_scope(rec_settings.database.url) as s:
        by = Counter(s.scalars(select(RecordingTombstone.purged_by)))
    assert by == Counter({"sweeper-a": reports["sweeper-a"].purged, "sweeper-b": reports["sweeper-b"].purged})
    assert RecordingService(rec_settings, order_facts=tickets).verify_ledger().entries == 40


def test_admin_delete_obeys_retention_and_is_ledgered(rec_settings: Settings, tickets: Any,
                                                      seed: Callable[..., list[int]],
                                                      service: RecordingService) -> None:
    [early, due] = seed(2)
    with pytest.raises(RetentionHold, match="is kept"):
        service.delete(ADMIN, early, reason="cleanup", now=FLOOR - timedelta(days=1))
    with pytest.raises(AccessDenied):
        service.delete(Actor("boss", "supervisor"), due, reason="cleanup", now=FLOOR)
    assert service.delete(ADMIN, due, reason="customer erasure request", now=FLOOR).allows(FLOOR)
    assert rows(rec_settings)["s1"].status == "purged" and rows(rec_settings)["s0"].status == "ready"
    with session_scope(rec_settings.database.url) as s:
        ledger = [(e.actor, e.action, e.allowed) for e in s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq))]
        tomb = s.scalar(select(RecordingTombstone))
    with pytest.raises(RecordingError, match="already purged"):
        service.delete(ADMIN, due, reason="again", now=FLOOR)
    assert ledger == [("root", "delete", False), ("boss", "delete", False), ("root", "delete", True)]
    assert tomb.purged_by == "root" and tomb.reason.startswith("deleted by root: customer erasure request")


async def test_periodic_sweeper_runs_and_survives_a_failure(rec_settings: Settings, tickets: Any,
                                                           seed: Callable[..., list[int]]) -> None:
    import asyncio

    from callcenter.recordings.sweeper import sweep_periodically

    seed(2)
    calls = {"n": 0}

    def facts(session: Any, numbers: Sequence[str]) -> list[Any]:
        return tickets(session, numbers)

    def clock() -> datetime:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("clock hiccup")  # first round fails inside the loop's try
        return FLOOR

    task = asyncio.create_task(sweep_periodically(rec_settings, facts, interval_seconds=0, clock=clock))
    for _ in range(1000):  # the sweeps run in worker threads; wait for their result, at most ~10 s
        await asyncio.sleep(0.01)
        if all(r.status == "purged" for r in rows(rec_settings).values()):
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {r.status for r in rows(rec_settings).values()} == {"purged"}


def test_now_in_the_centres_time_zone_is_the_same_instant(rec_settings: Settings, tickets: Any,
                                                          seed: Callable[..., list[int]]) -> None:
    from zoneinfo import ZoneInfo

    seed(1)
    local_floor = FLOOR.astimezone(ZoneInfo("Asia/Shanghai"))  # 2026-07-13T00:00+08:00
    # Not even looked at one second early: the database compares the same instant Python does.
    dry = sweeper(rec_settings, tickets).run(local_floor - timedelta(seconds=1), dry_run=True)
    assert (dry.purged, dry.deferred, dry.items) == (0, 0, [])
    early = sweeper(rec_settings, tickets).run(local_floor - timedelta(seconds=1))
    assert (early.purged, early.deferred, early.batches) == (0, 0, 0)
    assert sweeper(rec_settings, tickets).run(local_floor).purged == 1
