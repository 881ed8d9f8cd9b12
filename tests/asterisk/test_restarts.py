"""Restarts on a real Asterisk, judged from the caller's side: the service killed mid-call comes back and the
call goes on without a prompt heard twice; Asterisk restarted, the ARI application reconnects by itself and
the next calls on both bridges are served as before."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.asterisk.conftest import Bridge, start_service
from tests.asterisk.hearing import MEASURED, hear, known_prompts, wait_until_hung_up
from tests.asterisk.pbx import ARI_APP, ARI_PASSWORD, ARI_USER

KILL_AT = 4.0  # s after the call is placed: the IVR answered at ~1 s and is in the middle of the greeting


def _restart_service(bridge: Bridge) -> float:
    """Kill the service as a crash would (SIGKILL: nothing is finished cleanly) and start it again; returns
    the seconds it was away."""
    down = time.monotonic()
    bridge.process.kill()
    bridge.process.wait()
    bridge.process, _ = start_service(bridge.pbx, bridge.folder.parent)
    return time.monotonic() - down


def _ari_registered(bridge: Bridge, within: float) -> float:
    """Seconds until the service's ARI application is registered with Asterisk again."""
    begun = time.monotonic()
    url = f"http://127.0.0.1:{bridge.pbx.ports.http}/ari/applications/{ARI_APP}"
    while time.monotonic() - begun < within:
        try:
            if httpx.get(url, auth=(ARI_USER, ARI_PASSWORD), timeout=2).status_code == 200:
                return time.monotonic() - begun
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the ARI application did not register again within {within:.0f} s")


def test_the_ari_service_killed_mid_call_comes_back_and_nothing_is_heard_twice(
    bridge: Bridge, tmp_path: Path
) -> None:
    call = tmp_path / "ari-restart"
    placed = time.time()
    bridge.pbx.originate(bridge="callcenter-ari", entry="silent", scenario="quiet", call=call)
    time.sleep(KILL_AT)
    away = _restart_service(bridge)
    wait_until_hung_up(call, timeout=120)
    heard = hear(call, placed, known_prompts(bridge.sounds, bridge.rendered))
    MEASURED.append(f"ari service killed at {KILL_AT:.0f} s, back after {away:.1f} s: heard {heard.prompts()}")
    prompts = heard.prompts()
    assert prompts[0] == "greeting.standard", heard  # played to its end by Asterisk while the service was away
    assert prompts.count("greeting.standard") == 1, heard  # the adopted call does not greet again
    assert len(prompts) > 1, heard  # and it goes on: the caller is served after the restart


def test_after_asterisk_restarts_both_bridges_serve_the_next_calls(bridge: Bridge, tmp_path: Path) -> None:
    bridge.pbx.restart()
    back = _ari_registered(bridge, within=30)
    calls = {}
    for kind, context in (("agi", "callcenter"), ("ari", "callcenter-ari")):
        call = tmp_path / f"{kind}-after-restart"
        calls[kind] = (call, time.time())
        bridge.pbx.originate(bridge=context, entry="silent", scenario="quiet", call=call)
    prompts = known_prompts(bridge.sounds, bridge.rendered)
    for kind, (call, placed) in calls.items():
        wait_until_hung_up(call, timeout=120)
        heard = hear(call, placed, prompts)
        MEASURED.append(f"{kind} after an Asterisk restart (ARI back in {back:.1f} s): rang "
                        f"{heard.ring_seconds:.2f} s; heard {heard.prompts()}; windows {heard.windows()}")
        assert heard.ring_seconds < 15.0
        assert heard.heard_as(["greeting.standard", "silent.s2", "silent.s3"]), (kind, heard)
