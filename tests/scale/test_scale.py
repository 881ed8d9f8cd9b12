"""Issue 17, done means: three real ``callcenter serve`` processes on one PostgreSQL database (a fresh one per
test) and two simulated Asterisk servers (the ARI simulator, each on its own port on 127.0.0.1), 300 calls over
two minutes of simulated time (the simulators and the processes run ``--speed`` times faster than the wall),
agents of one group reachable on both servers. Checked from the database's timeline, every page's websocket
stream, the simulated phones and the processes' logs:

- every call answered or abandoned as its caller's scenario says;
- no agent double-booked (no agent held by two calls at once on the timeline, no phone with two calls);
- every page saw every event of its calls once, in id order (supervisors: the whole centre);
- one report per period, each job in one process at a time;

then the same with the process holding one Asterisk server killed (-9) half-way: its calls adopted by another
process within 5 s, no agent left reserved, no event lost for the pages, no job run twice.

``CALLCENTER_SCALE_CALLS`` (default 300) and ``CALLCENTER_SCALE_SPEED`` (default 2) shrink a run while
developing. Skipped only without PostgreSQL outside CI (the shared ``pg_url`` fixture fails under CI=true).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scale_centre import Centre
from scale_checks import (
    Expected,
    agent_missing,
    agent_segments,
    by_call,
    double_booked_on_phones,
    double_booked_on_timeline,
    job_holders,
    jobs_run_twice,
    outcomes,
    phones_still_up,
    reports_written,
    shown,
    stream_problems,
    supervisor_missing,
)
from scale_run import ADOPT_LIMIT, RunResult, run_scale

from callcenter.calls import events as ev

CALLS = int(os.environ.get("CALLCENTER_SCALE_CALLS", "300"))
SPEED = float(os.environ.get("CALLCENTER_SCALE_SPEED", "2"))
AGENTS = 60
BUSY_STATES = {"ringing", "on_call"}
# Which process serves which Asterisk server: p1 holds a (it starts first), p2 holds b, p3 stands by for a;
# all three serve the pages and stand by for the jobs p1 holds.
PLAN: dict[str, tuple[str, ...]] = {"p1": ("a",), "p2": ("b",), "p3": ("a",)}

pytestmark = [pytest.mark.postgres, pytest.mark.scale]
# Speed 2 (the two minutes of calls take one minute of wall time): at 4x, on this 2-core machine, the serve
# processes fell behind the simulated Asterisk servers (p1 28 s and p2 24 s of CPU in 55 s of wall) and 58 of 225
# callers hung up before an agent's answer reached the router; at 2x every check holds (91 s with the start-up).


def _centre(pg_url: str, tmp_path: Path, rendered_audio: Path) -> Centre:
    return Centre(tmp_path, pg_url, rendered_audio, SPEED, [])


def _report(run: RunResult) -> str:
    answered = sum(1 for e in run.events if e.type == ev.AGENT_ANSWERED)
    lines = [f"{len(run.placed)} calls, {len(run.events)} events, {answered} agent answers; wall: "
             + ", ".join(f"{k} {v:.1f} s" for k, v in run.wall.items())]
    if run.killed is not None:
        worst = max(run.adopted.values(), default=0.0)
        lines.append(f"killed {run.killed.name} at {run.killed_wall:%H:%M:%S.%f} (event {run.kill_id}): "
                     f"{len(run.live_at_kill)} of its callers on the line, {len(run.adopted)} adopted, the slowest "
                     f"{worst:.2f} s after the kill; {len(_unserved(run))} calls arrived while no process held its "
                     "Asterisk (Stasis failed them, as a real Asterisk does)")
    return "\n".join(lines)


def _check(run: RunResult, problems: dict[str, list[str]]) -> None:
    failed = {name: found for name, found in problems.items() if found}
    assert not failed, _report(run) + "\n" + "\n".join(f"[{name}]\n{shown(found)}" for name, found in failed.items())


def _unserved(run: RunResult) -> list[str]:
    """Calls the simulated Asterisk failed at Stasis: no process had the application connected."""
    return [cid for cid, (_, chan) in run.placed.items() if any(kind == "failed" for _, kind, _ in chan.heard)]


def _checks(run: RunResult, cut: dict[str, int] | None = None,
            may_lack_hangup: frozenset[str] = frozenset(), unserved: frozenset[str] = frozenset()
            ) -> dict[str, list[str]]:
    calls = by_call(run.events)
    expected = {cid: Expected(call.kind, call.server) for cid, (call, _) in run.placed.items()
                if cid not in unserved}
    segments = agent_segments(calls, cut)
    by_id = {e.id: e for e in run.events if e.id is not None}
    top = max(by_id, default=0)
    pages: list[str] = []
    for panel in run.supervisors:
        received = [m for m in panel.events if int(m["id"]) <= top]
        pages += stream_problems(panel.name, received, by_id)
        pages += supervisor_missing(panel.name, received, run.events)
    for name, panel in run.agents.items():
        received = [m for m in panel.events if int(m["id"]) <= top]
        pages += stream_problems(panel.name, received, by_id)
        pages += agent_missing(panel.name, name, received, segments.get(name, []), calls)
    written = reports_written(run.logs)
    holders = job_holders(run.logs, run.stop_at)
    return {
        "calls placed": [f"only {len(run.placed)} of {CALLS} calls placed"] if len(run.placed) != CALLS else [],
        "callers still on the line": run.still_up,
        "outcomes": outcomes(calls, expected, may_lack_hangup, frozenset(cut or ())),
        "double-booked (timeline)": double_booked_on_timeline(segments),
        "double-booked (phones)": double_booked_on_phones(run.centre.sims),
        "agent phones still up": phones_still_up(run.centre.sims),
        "agents left reserved": [f"{a}: {s}" for a, s in run.states.items()
                                 if s in BUSY_STATES or s.startswith("HTTP")],
        "pages": pages,
        "reports": [f"{name}: written by {who}" for name, who in written.items() if len(who) != 1]
        + ([] if written else ["no report written"]),
        "jobs": jobs_run_twice(holders, run.killed.name if run.killed else None, run.killed_wall)
        + ([] if holders else ["no job held"]),
    }


async def test_three_processes_two_asterisks_300_calls(pg_url: str, tmp_path: Path, rendered_audio: Path) -> None:
    run = await run_scale(_centre(pg_url, tmp_path, rendered_audio), calls=CALLS, agents=AGENTS, plan=PLAN)
    print(_report(run))
    problems = _checks(run)
    problems["unserved"] = [f"{cid}: Stasis failed (no application connected)" for cid in _unserved(run)]
    problems["clean stop"] = [f"{name} exited {code}" for name, code in run.exit_codes.items() if code != 0]
    _check(run, problems)


async def test_the_process_holding_one_asterisk_killed_half_way(pg_url: str, tmp_path: Path,
                                                                rendered_audio: Path) -> None:
    run = await run_scale(_centre(pg_url, tmp_path, rendered_audio), calls=CALLS, agents=AGENTS, plan=PLAN,
                          kill="a")
    print(_report(run))
    assert run.killed is not None and run.killed.name == "p1", "p1 should have held Asterisk a"
    calls = by_call(run.events)
    # Where another process took a dead process's call over, the agents it had are no longer held by it.
    cut = {cid: min((e.id or 0) for e in calls.get(cid, []) if (e.id or 0) > run.kill_id)
           for cid in run.live_at_kill if any((e.id or 0) > run.kill_id for e in calls.get(cid, []))}
    # A caller who hung up between the kill and the adoption ended a call nobody held: no process saw its end. So
    # did one whose hang-up the killed process had not written yet (its buffer and its unread events die with it).
    unheld = frozenset(cid for cid in run.live_at_kill if cid not in cut)
    unwritten = frozenset(cid for cid, (call, chan) in run.placed.items()
                          if call.server == "a" and cid not in cut and chan.created_t <= run.kill_sim_time
                          and chan.ended_t is not None and chan.ended_t <= run.kill_sim_time
                          and not any(e.type == ev.HANGUP for e in calls.get(cid, [])))
    # A call the killed process had taken but not yet written (not even call.offered) whose caller gave up before
    # another process held Asterisk a again: nothing of it reached the database, and nobody was left to adopt.
    unwritten |= frozenset(cid for cid, (call, chan) in run.placed.items()
                           if call.server == "a" and not calls.get(cid) and chan.created_t <= run.kill_sim_time
                           and chan.ended_t is not None and chan.ended_t <= run.kill_sim_time + SPEED * ADOPT_LIMIT)
    # Calls that reached the dead process's Asterisk before another process held its application fail in
    # Stasis, as on a real Asterisk: only in that gap, which must stay shorter than the adoption limit.
    gap = frozenset(cid for cid in _unserved(run) if run.placed[cid][0].server == "a"
                    and 0 <= run.placed[cid][1].created_t - run.kill_sim_time <= SPEED * ADOPT_LIMIT)
    print(f"{len(unheld)} calls ended between the kill and their adoption, {len(unwritten)} calls' ends died unwritten "
          f"with {run.killed.name}, {len(gap)} calls failed in Stasis before Asterisk a was held again")
    # The fate of a call whose end died unwritten was the killed process's to write, and one that ended before
    # its adoption was held by nobody: their scenarios are not checked (they are counted above).
    # Nobody holds the agents of such a call after the kill (their seats are free one lease later).
    cut |= {cid: run.kill_id + 1 for cid in unheld | unwritten}
    problems = _checks(run, cut, unheld, gap | unwritten | unheld)
    problems["unserved"] = [f"{cid}: Stasis failed (no application connected) outside the takeover"
                            for cid in _unserved(run) if cid not in gap]
    problems["adopted within 5 s"] = [f"{cid}: first event {seconds:.2f} s after the kill"
                                      for cid, seconds in run.adopted.items() if seconds > ADOPT_LIMIT]
    problems["adopted"] = [f"{cid}: the caller stayed on the line after the kill and no process took the call over"
                           for cid in unheld if _on_line_after(run, cid, SPEED * ADOPT_LIMIT)]
    problems["exits"] = [f"{name} exited {code}" for name, code in run.exit_codes.items()
                         if code != (-9 if name == run.killed.name else 0)]
    _check(run, problems)


def _on_line_after(run: RunResult, call_id: str, seconds: float) -> bool:
    """The caller was still on the line ``seconds`` (simulated) after the kill."""
    ended = run.placed[call_id][1].ended_t
    return ended is None or ended - run.kill_sim_time > seconds
