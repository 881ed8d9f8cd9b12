"""The simulator's transcripts are real: recorded again from this Asterisk, they must equal the kept fixtures.

``CALLCENTER_RECORD_TRANSCRIPTS=1`` writes the fixture from this Asterisk instead (then review the diff).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import yaml

from tests.asterisk import ari_probe
from tests.asterisk.agi_probe import FIXTURE, Probe, serve_probe
from tests.asterisk.conftest import Bridge
from tests.asterisk.pbx import ARI_PASSWORD, ARI_USER


def _keep_or_compare(fixture: Path, recorded: dict[str, Any], what: str) -> None:
    if os.environ.get("CALLCENTER_RECORD_TRANSCRIPTS") == "1":
        header = (f"# Recorded from a real Asterisk by tests/asterisk/test_transcripts.py "
                  f"(CALLCENTER_RECORD_TRANSCRIPTS=1): {what}.\n"
                  "# Replayed against the simulator by tests/sim/test_sim_transcripts.py.\n")
        fixture.write_text(header + yaml.safe_dump(recorded, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert recorded == yaml.safe_load(fixture.read_text(encoding="utf-8"))


def test_real_fastagi_replies_are_the_kept_transcript(bridge: Bridge, tmp_path: Path) -> None:
    probe = Probe()
    serve_probe(bridge.pbx.ports.probe, probe)
    bridge.pbx.originate(bridge="probe", entry="probe", scenario="quiet", call=tmp_path / "probe")
    assert probe.done.wait(30) and not probe.error, probe.error
    recorded = {
        "asterisk": bridge.pbx.cli("core show version").split(" built")[0].strip(),
        "env_keys": probe.env_keys,
        "steps": [{"send": command, "reply": reply} for command, reply in probe.steps],
    }
    _keep_or_compare(FIXTURE, recorded, "the FastAGI commands the bridge sends and Asterisk's raw replies")


async def test_real_ari_around_a_prompt_is_the_kept_transcript(bridge: Bridge, tmp_path: Path) -> None:
    """Asterisk 22 answers a play of a missing file with 201, sends PlaybackStarted (state playing) for it all
    the same, then PlaybackFinished in state "failed"; the simulator must do the same."""
    ports = bridge.pbx.ports
    url = f"ws://127.0.0.1:{ports.http}/ari/events?app={ari_probe.APP}&api_key={ARI_USER}:{ARI_PASSWORD}"

    async def place_call() -> None:
        await asyncio.to_thread(bridge.pbx.originate_into_app, app=ari_probe.APP, scenario="quiet",
                                call=tmp_path / "ari-probe")

    recorded = {"asterisk": "Asterisk 22.10.1", **await ari_probe.run_probe(url, place_call)}
    _keep_or_compare(ari_probe.FIXTURE, recorded, "the ARI REST statuses and events around a prompt")
