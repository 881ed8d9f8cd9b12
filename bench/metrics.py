"""Benchmark: a day of calls through the metrics, one pass versus the naive recomputation it replaces.

    .venv/bin/python bench/metrics.py                 # 100,000 calls (the issue's budget: under 2 s)
    .venv/bin/python bench/metrics.py --calls 5000    # quick run while developing

Ours: fold the day's timeline events into one summary per call (one pass), then tally every cut of the
day — the whole day, each hour, each agent group, each agent — in one pass over the summaries.

Naive (what the cron jobs over queue_log do): every report window is computed on its own, re-reading the
day's event log to find the window's calls, re-reading it for their events and re-folding them, once per
hour, per group and per agent. Both must produce identical figures; the benchmark checks that, then prints
both times and the ratio. Event generation is not timed (the reports read it from the database).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.calls import events as ev
from callcenter.calls.rings import RingCadence, cadence
from callcenter.calls.timeline import TimelineEvent
from callcenter.metrics.figures import Tally
from callcenter.metrics.summary import summarise
from callcenter.metrics.synthetic import synthetic_events
from callcenter.metrics.windows import Window, breakdown, day_window

BUDGET_SECONDS = 2.0
SL_SECONDS, SL_TARGET = 20, 80.0


def ours(events: list[TimelineEvent], window: Window, tz: ZoneInfo, ring: RingCadence) -> dict[str, Any]:
    summaries = summarise(events, ring)
    return breakdown(summaries, window, tz, SL_SECONDS, SL_TARGET).as_dict()


def _calls_offered_in(events: list[TimelineEvent], window: Window) -> set[str]:
    return {e.call_id for e in events if e.type == ev.CALL_OFFERED and window.start <= e.at < window.end}


def _figures_of(events: list[TimelineEvent], calls: set[str], ring: RingCadence, agent: str | None = None) -> dict:
    mine = [e for e in events if e.call_id in calls]
    return Tally(SL_SECONDS, SL_TARGET, agent).add_all(summarise(mine, ring)).figures()


def naive(events: list[TimelineEvent], window: Window, tz: ZoneInfo, ring: RingCadence) -> dict[str, Any]:
    day_calls = _calls_offered_in(events, window)
    total = _figures_of(events, day_calls, ring)
    hours = []
    for h in range(24):
        start = window.start + timedelta(hours=h)
        calls = _calls_offered_in(events, Window(start, start + timedelta(hours=1)))
        if calls:
            hours.append({"hour": start.isoformat(), **_figures_of(events, calls, ring)})
    groups = sorted({e.data.get("group", "") for e in events if e.type == ev.CALL_OFFERED and e.call_id in day_calls})
    by_group = []
    for group in groups:
        calls = {e.call_id for e in events if e.type == ev.CALL_OFFERED and e.data.get("group") == group} & day_calls
        by_group.append({"group": group, **_figures_of(events, calls, ring)})
    agents = sorted({e.data["agent"] for e in events if e.type == ev.AGENT_RINGING})
    by_agent = []
    for agent in agents:
        calls = {e.call_id for e in events if e.type == ev.AGENT_RINGING and e.data["agent"] == agent} & day_calls
        by_agent.append({"agent": agent, **_figures_of(events, calls, ring, agent)})
    return {"total": total, "hours": hours, "groups": by_group, "agents": by_agent}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls in the synthetic day (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    tz, ring, day = ZoneInfo("Asia/Shanghai"), cadence("cn"), date(2026, 11, 20)
    window = day_window(day, tz)
    t = time.perf_counter()
    events = synthetic_events(day, args.calls, tz, ring, args.seed)
    print(f"synthetic day: {args.calls:,} calls, {len(events):,} timeline events "
          f"(generated in {time.perf_counter() - t:.1f} s, not timed)")

    wall, cpu = time.perf_counter(), time.process_time()
    fast = ours(events, window, tz, ring)
    ours_s, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"ours  (one pass, every cut):             {ours_s:7.3f} s wall, {ours_cpu:7.3f} s CPU  "
          f"[{len(fast['hours'])} hours, {len(fast['groups'])} groups, {len(fast['agents'])} agents]")

    wall, cpu = time.perf_counter(), time.process_time()
    slow = naive(events, window, tz, ring)
    naive_s, naive_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"naive (re-read and re-fold per window):  {naive_s:7.3f} s wall, {naive_cpu:7.3f} s CPU")

    for key in ("total", "hours", "groups", "agents"):
        if fast[key] != slow[key]:
            print(f"MISMATCH in {key}: the two computations disagree", file=sys.stderr)
            return 1
    print("figures identical: total, every hour, every group, every agent")
    print(f"ratio naive / ours: {naive_s / ours_s:.1f}x wall, {naive_cpu / ours_cpu:.1f}x CPU")
    verdict = "within" if ours_s < BUDGET_SECONDS else "OVER"
    if ours_s > 1.5 * ours_cpu:
        print(f"note: the process had the CPU {100 * ours_cpu / ours_s:.0f}% of the wall time (a shared machine); "
              f"on a free core the wall time is about the CPU time, {ours_cpu:.3f} s")
    print(f"budget: a day of calls in under {BUDGET_SECONDS:.0f} s: {verdict} "
          f"({ours_s:.3f} s for {args.calls:,} calls)")
    return 0 if ours_s < BUDGET_SECONDS or args.calls < 100_000 else 1


if __name__ == "__main__":
    sys.exit(main())
