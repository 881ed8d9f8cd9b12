import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_events_are_numbered_per_call_and_globally(db_url: str) -> None:
    tl = Timeline(db_url)
    tl.append("c1", ev.CALL_OFFERED, {"entry": "main"}, at=T0)
    tl.append("c2", ev.CALL_OFFERED, {"entry": "main"}, at=T0)
    tl.append("c1", ev.IVR_ANSWERED, {"rings": 1, "seconds": 1.0}, at=T0 + timedelta(seconds=1), offset=1.0)
    written = await tl.flush()
    assert [(e.call_id, e.seq) for e in written] == [("c1", 1), ("c2", 1), ("c1", 2)]
    ids = [e.id for e in written]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [e.type for e in tl.events("c1")] == [ev.CALL_OFFERED, ev.IVR_ANSWERED]
    assert [e.id for e in tl.since(ids[0])] == ids[1:]


async def test_subscribers_get_only_durable_events_with_ids(db_url: str) -> None:
    tl = Timeline(db_url)
    queue = tl.subscribe()
    tl.append("c1", ev.DTMF, {"digit": "1"}, at=T0)
    assert queue.empty()
    await tl.flush()
    got = queue.get_nowait()
    assert got.id is not None and got.data == {"digit": "1"}


async def test_a_resumed_call_continues_its_sequence(db_url: str) -> None:
    first = Timeline(db_url)
    first.append("c9", ev.CALL_OFFERED, at=T0)
    await first.flush()
    second = Timeline(db_url)  # another process, or the same one after a restart
    assert second.append("c9", ev.HANGUP, {"by": "caller"}, at=T0).seq == 2


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown timeline event type"):
        Timeline(None).append("c1", "made.up")


async def test_an_offset_time_is_stored_as_the_same_instant(db_url: str) -> None:
    from zoneinfo import ZoneInfo

    tl = Timeline(db_url)
    local = datetime(2026, 11, 23, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    tl.append("c1", ev.CALL_OFFERED, at=local)
    await tl.flush()
    (stored,) = tl.events("c1")
    assert stored.at == local
    assert stored.at.utcoffset() == timedelta(0)


async def test_an_ended_call_keeps_no_counter_after_its_last_flush_and_never_reuses_a_number(db_url: str) -> None:
    tl = Timeline(db_url)
    tl.append("c1", ev.CALL_OFFERED, at=T0)
    tl.forget("c1")
    tl.append("c1", ev.HANGUP, {"by": "caller"}, at=T0)  # a late event of the ended call, still buffered
    await tl.flush()
    assert "c1" not in tl._seqs
    tl.append("c1", ev.RECORDING_FINISHED, {"path": "x.wav"}, at=T0)  # later still: continues from the database
    await tl.flush()
    assert [e.seq for e in tl.events("c1")] == [1, 2, 3]


async def test_a_call_expected_new_is_numbered_without_a_read_and_checked_at_the_flush(db_url: str) -> None:
    first = Timeline(db_url)
    first.append("c7", ev.CALL_OFFERED, at=T0)
    await first.flush()
    second = Timeline(db_url)
    second.expect_new("c7")  # wrong: c7 re-entered the application (events already stored)
    second.expect_new("c8")  # right
    second.append("c7", ev.CALL_OFFERED, at=T0)
    second.append("c8", ev.CALL_OFFERED, at=T0)
    written = await second.flush()
    assert [(e.call_id, e.seq) for e in written] == [("c7", 2), ("c8", 1)]
    assert second.append("c7", ev.HANGUP, {"by": "caller"}, at=T0).seq == 3  # goes on after the stored ones
    await second.flush()
    assert [e.seq for e in second.events("c7")] == [1, 2, 3]
    assert [e.seq for e in second.events("c8")] == [1]


async def test_events_buffered_during_the_checking_flush_are_renumbered_too() -> None:
    tl = Timeline(None)
    tl.append("c1", ev.CALL_OFFERED, at=T0)
    await tl.flush()
    tl.expect_new("c1")
    tl.append("c1", ev.CALL_OFFERED, at=T0)
    batch_flush = tl.flush()
    late = asyncio.ensure_future(batch_flush)
    await asyncio.sleep(0)  # the flush has taken its batch and is writing it
    tl.append("c1", ev.HANGUP, {"by": "caller"}, at=T0)
    await late
    await tl.flush()
    assert [e.seq for e in tl.events("c1")] == [1, 2, 3]
