"""``callcenter serve`` stops cleanly on SIGTERM with nothing lost; ``callcenter demo`` runs a bounded mix."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections import Counter
from dataclasses import replace

import httpx
import pytest

from callcenter.calls import events as ev
from callcenter.calls.timeline import Timeline
from callcenter.cli.demo import DemoError, run_demo
from callcenter.cli.demo_callbacks import SURVEYED
from callcenter.cli.serve import ServeError, run_until_signalled, seats_from_accounts, start_service
from callcenter.config import Settings


def _local(settings: Settings) -> Settings:
    return replace(settings, web=replace(settings.web, port=0))


async def test_sigterm_stops_everything_and_flushes_the_last_events(web_settings: Settings) -> None:
    service = await start_service(_local(web_settings), agi=False, ari=False, reports=False)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{service.url}/login")).status_code == 200
    # Appended but not yet flushed when the signal comes: the shutdown must still write it.
    service.timeline.append("late-call", ev.CALL_OFFERED, {"caller": "13800138000"})
    runner = asyncio.create_task(run_until_signalled(service))
    await asyncio.sleep(0)  # the runner installs its signal handlers before its first await
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(runner, 10)
    assert [e.type for e in Timeline(web_settings.database.url).events("late-call")] == [ev.CALL_OFFERED]
    assert service.web_task is not None and service.web_task.done()
    assert all(t.done() for t in service.others + service.telephony)


def test_agent_accounts_become_seats_with_their_endpoint(web_settings: Settings) -> None:
    from callcenter.calls.agents import AgentPool

    pool = AgentPool()
    assert seats_from_accounts(web_settings, pool) == 1
    assert pool.get("agent1").endpoint == "PJSIP/8001" and pool.get("agent1").work_number == "8001"
    bad = replace(web_settings, web=replace(web_settings.web, agent_endpoint="PJSIP/{seat}"))
    with pytest.raises(ServeError, match=r"web\.agent_endpoint"):
        seats_from_accounts(bad, AgentPool())


async def test_a_busy_web_port_is_one_clear_error(web_settings: Settings) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = replace(web_settings, web=replace(web_settings.web, port=port))
        with pytest.raises(ServeError, match=f"web.port: cannot listen on 127.0.0.1:{port}"):
            await start_service(settings, agi=False, ari=False, reports=False)


def _demo_args(**kw: object) -> argparse.Namespace:
    base = {"port": 0, "calls": 3, "minutes": 0.0, "seed": 3, "speed": 25.0, "keep_data": True, "verbose": False}
    return argparse.Namespace(**(base | kw))


async def test_bounded_demo_runs_a_mix_of_calls_and_stops(web_settings: Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import callcenter.cli.serve as serve

    monkeypatch.setattr(serve, "STOP_GRACE_SECONDS", 1.0)  # calls cut off by the stop need not finish here
    await asyncio.wait_for(run_demo(_local(web_settings), _demo_args()), 60)
    events = Timeline(web_settings.database.url).since(0, 100_000)
    calls = {e.call_id for e in events if e.type == ev.CALL_OFFERED and e.data.get("direction") != "outbound"}
    assert len(calls) == 3
    # Beside them the demo's callback campaign: the survey customers were dialled (回访).
    dialled = {e.data["caller"] for e in events if e.type == ev.CALL_OFFERED and e.data.get("direction") == "outbound"}
    assert dialled and dialled <= {c.number for c in SURVEYED}
    ended = Counter(e.data.get("by") for e in events if e.type == ev.HANGUP)
    assert sum(ended.values()) >= 1
    assert any(e.type == ev.AGENT_ANSWERED for e in events)


async def test_demo_refuses_a_nonsense_speed(web_settings: Settings) -> None:
    with pytest.raises(DemoError, match="--speed"):
        await run_demo(_local(web_settings), _demo_args(speed=0.0))


async def test_an_entry_naming_an_unknown_script_stops_the_start(web_settings: Settings) -> None:
    from callcenter.config import ConfigError, EntrySettings

    entries = {"main": EntrySettings(script="nope")}
    bad = replace(web_settings, telephony=replace(web_settings.telephony, entries=entries))
    with pytest.raises(ConfigError, match=r"telephony\.entries\.main\.script: unknown script 'nope'"):
        await start_service(bad, agi=False, reports=False)



async def test_serve_refuses_to_start_when_unrecorded_prompts_cannot_be_rendered(
    web_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R-04: the per-call greeting has no recording; if it cannot be rendered either (no espeak-ng here), no
    caller would hear it, so the service does not start."""
    from callcenter.cli.serve import ServeError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ServeError, match=r"cannot be rendered \(espeak-ng is not installed.*greeting\.standard"):
        await start_service(web_settings, agi=False, reports=False)


async def test_the_centres_own_prompts_are_rendered_before_the_first_call(settings: Settings, tmp_path) -> None:
    """A prompt rendered on its first use came 0.15-0.2 s late on a real Asterisk (S3 of R-15): serve renders
    every prompt whose words are the centre's before it takes calls; the per-call ones (the agent's greeting)
    can only be rendered on the call."""
    from dataclasses import replace

    from callcenter.cli.serve import render_fixed_prompts

    folder = tmp_path / "rendered"
    own = replace(settings, scripts=replace(settings.scripts, rendered_audio_directory=folder))
    assert await render_fixed_prompts(own) > 40
    assert list(folder.rglob("silent.s3.wav")) and list(folder.rglob("queue.sorry.wav"))
    assert not list(folder.rglob("greeting.standard.wav"))
