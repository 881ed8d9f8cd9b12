"""Every retention rule at its boundary day (R-107, R-88, R-110; docs/design.md retention decision).

Dates are written out by hand (not computed with the code under test). Days are local to Asia/Shanghai and
counted the Civil Code way: the period starts the day after the event and ends at 24:00 of its last day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.config import ConfigError, load_settings
from callcenter.recordings.retention import OrderFacts, RetentionPolicy, decide, purge_allowed_from

CN = ZoneInfo("Asia/Shanghai")
POLICY = RetentionPolicy(tz=CN)
TICK = timedelta(microseconds=1)
CALL_END = datetime(2026, 1, 10, 15, 0, tzinfo=CN)
# Jan 10 + 183 days = Jul 12, the last day kept; a purge is allowed from 00:00 on Jul 13.
CALL_FLOOR = datetime(2026, 7, 13, 0, 0, tzinfo=CN)


def _decide(orders=(), facts=None, hold=False, ended=CALL_END, policy=POLICY):  # type: ignore[no-untyped-def]
    facts = facts or {}
    return decide(ended_at=ended, linked_orders=list(orders), facts=facts, legal_hold=hold, policy=policy)


def test_call_floor_183_days_after_the_call_ended() -> None:
    d = _decide()
    assert d.purge_from == CALL_FLOOR
    assert not d.allows(CALL_FLOOR - TICK)  # 23:59:59.999999 on Jul 12: still inside the floor
    assert d.allows(CALL_FLOOR)


def test_days_are_the_centres_local_days() -> None:
    late_evening = datetime(2026, 1, 10, 23, 59, tzinfo=CN)
    after_midnight = datetime(2026, 1, 11, 0, 1, tzinfo=CN)  # 16:01 UTC on Jan 10
    assert _decide(ended=late_evening).purge_from == CALL_FLOOR
    assert _decide(ended=after_midnight.astimezone(ZoneInfo("UTC"))).purge_from == CALL_FLOOR + timedelta(days=1)


def test_closed_order_keeps_183_days_after_closing() -> None:
    facts = {"GD1": OrderFacts("GD1", False, datetime(2026, 1, 10, 15, 5, tzinfo=CN),
                               datetime(2026, 3, 1, 10, 0, tzinfo=CN))}
    d = _decide(["GD1"], facts)
    # Mar 1 + 183 days = Aug 31; purge from Sep 1.
    boundary = datetime(2026, 9, 1, 0, 0, tzinfo=CN)
    assert d.purge_from == boundary
    assert not d.allows(boundary - TICK) and d.allows(boundary)
    assert any("order GD1: closed 2026-03-01" in r for r in d.reasons)


def test_order_closed_before_the_call_floor_does_not_shorten_it() -> None:
    facts = {"GD1": OrderFacts("GD1", False, CALL_END, datetime(2026, 1, 10, 16, 0, tzinfo=CN))}
    assert _decide(["GD1"], facts).purge_from == CALL_FLOOR


def test_open_order_holds_the_recording() -> None:
    facts = {"GD1": OrderFacts("GD1", False, CALL_END, None)}
    d = _decide(["GD1"], facts)
    now = datetime(2030, 1, 1, tzinfo=CN)
    assert not d.allows(now)
    assert d.held_by == "work order GD1 is open"
    assert d.review_at(now) == now + timedelta(days=1)


def test_every_linked_order_must_be_closed() -> None:
    facts = {
        "GD1": OrderFacts("GD1", False, CALL_END, datetime(2026, 1, 11, tzinfo=CN)),
        "GD2": OrderFacts("GD2", False, CALL_END, None),
    }
    assert _decide(["GD1", "GD2"], facts).held_by == "work order GD2 is open"


def test_unknown_order_is_treated_as_open() -> None:
    d = _decide(["GD404"], {})
    assert not d.allows(datetime(2035, 1, 1, tzinfo=CN))
    assert d.held_by == "work order GD404 is unknown"


def test_complaint_order_keeps_one_year_after_acceptance() -> None:
    accepted = datetime(2026, 1, 10, 15, 10, tzinfo=CN)
    facts = {"TS1": OrderFacts("TS1", True, accepted, datetime(2026, 1, 12, 9, 0, tzinfo=CN))}
    d = _decide(["TS1"], facts)
    # Jan 10 2026 + 366 days = Jan 11 2027 (2026 has 365 days): kept through it, purge from Jan 12 2027.
    boundary = datetime(2027, 1, 12, 0, 0, tzinfo=CN)
    assert d.purge_from == boundary
    assert not d.allows(boundary - TICK) and d.allows(boundary)
    # At least one calendar year in every case, leap years included.
    assert boundary - accepted > timedelta(days=366)


def test_legal_hold_blocks_every_purge() -> None:
    d = _decide(hold=True)
    assert not d.allows(datetime(2099, 1, 1, tzinfo=CN))
    assert d.held_by == "legal hold"
    # Released later, the floor applies as before.
    assert d.review_at(datetime(2027, 1, 1, tzinfo=CN)) == CALL_FLOOR


def test_call_without_end_time_is_held() -> None:
    d = decide(ended_at=None, linked_orders=[], facts={}, legal_hold=False, policy=POLICY)
    assert not d.allows(datetime(2099, 1, 1, tzinfo=CN)) and d.held_by == "call not ended"


def test_longer_retention_setting_moves_the_boundary() -> None:
    policy = RetentionPolicy(retention_days=365, tz=CN)
    boundary = datetime(2027, 1, 11, 0, 0, tzinfo=CN)  # Jan 10 2026 + 365 days = Jan 10 2027
    d = _decide(policy=policy)
    assert d.purge_from == boundary and not d.allows(boundary - TICK)


def test_retention_below_the_floor_is_a_startup_error() -> None:
    with pytest.raises(ConfigError, match=r"recordings\.retention_days: 182 is below the floor of 183"):
        load_settings(environ={"CALLCENTER_RECORDINGS__RETENTION_DAYS": "182"})
    with pytest.raises(ConfigError, match=r"recordings\.complaint_retention_days"):
        load_settings(environ={"CALLCENTER_RECORDINGS__COMPLAINT_RETENTION_DAYS": "365"})
    assert load_settings(environ={"CALLCENTER_RECORDINGS__RETENTION_DAYS": "183"}).recordings.retention_days == 183


def test_policy_refuses_a_floor_below_183_even_without_config() -> None:
    with pytest.raises(ValueError, match="below the floor"):
        RetentionPolicy(retention_days=90)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("BROWSER_FORMAT", "aac", "recordings.browser_format"),
    ("COMPRESSED_FORMAT", "zip", "recordings.compressed_format"),
    ("SWEEP_BATCH", "0", "recordings.sweep_batch"),
    ("CLAIM_TIMEOUT_SECONDS", "0", "recordings.claim_timeout_seconds"),
    ("SWEEP_INTERVAL_SECONDS", "-1", "recordings.sweep_interval_seconds"),
])
def test_bad_recordings_settings_name_their_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={f"CALLCENTER_RECORDINGS__{key}": value})


def test_naive_event_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        purge_allowed_from(datetime(2026, 1, 1), 183, CN)
