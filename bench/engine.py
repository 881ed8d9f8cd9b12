"""Benchmark: 10,000 concurrent silent calls through the script engine on the virtual clock, one process.

    .venv/bin/python bench/engine.py                  # 10,000 calls (targets: <= 2x hand-written, < 1 GiB)
    .venv/bin/python bench/engine.py --calls 1000     # quick run while developing

Engine: a :class:`ScriptSession` per call running the library's ``silent_call`` (→ ``silent_followup``):
ring, answer after one ring, record, the agent's greeting (S1), three 5 s windows, hang up (R-15).
Hand-written: a state machine coded by hand for exactly that sequence, with the wording pre-rendered, speaking
the same protocol (same commands, same notes). Both run under the same :class:`Simulator` (one heap, every
call alive at once); the benchmark checks that one call of each produces the identical timeline, then runs
each variant in its own process (so peak memory is its own) and prints wall and CPU time, peak RSS and the
ratio (of CPU time: on a shared machine wall time also counts the neighbours; both ratios are printed).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from callcenter.calls import events as ev
from callcenter.calls.runner import session_config
from callcenter.config import load_settings
from callcenter.scripting.catalogue import prompt_variables
from callcenter.scripting.library import ScriptLibrary, load_library
from callcenter.scripting.protocol import (
    Answer,
    Command,
    Event,
    Hangup,
    HungUp,
    Listen,
    Note,
    Play,
    PlaybackFinished,
    Ring,
    StartRecording,
    StartTimer,
    TimerFired,
)
from callcenter.scripting.session import ScriptSession, SessionConfig
from callcenter.scripting.simulate import CallerPlan, Driven, Simulator

RATIO_TARGET = 2.0
MEMORY_TARGET = 1 << 30
SCRIPT = "silent_call"
STEPS = (  # the R-15 sequence as the library defines it: (script, state, prompt key)
    ("silent_call", "s1", "greeting.standard"),
    ("silent_followup", "s2", "silent.s2"),
    ("silent_followup", "s3", "silent.s3"),
)


class HandWrittenSilentCall:
    """The silent-call sequence coded by hand: what the engine is measured against."""

    __slots__ = ("_ids", "_plays", "config", "disposition", "finished", "released_by", "scripts_finished", "step",
                 "timer")

    def __init__(self, plays: list[tuple[str, str, str, str, float]], config: SessionConfig) -> None:
        self._plays = plays
        self.config = config
        self.step = -1
        self.timer = ""
        self._ids = 0
        self.finished = False
        self.disposition: str | None = None
        self.released_by: str | None = None
        self.scripts_finished = 0

    def start(self, *, answered: bool = False, at: float = 0.0) -> list[Command]:
        return [Ring(), StartTimer("answer", self.config.answer_delay)]

    def handle(self, event: Event) -> list[Command]:
        kind = type(event)
        if kind is TimerFired:
            if event.name == "answer":
                answered = Note(ev.IVR_ANSWERED, {"rings": self.config.rings, "seconds": round(event.at, 3)})
                return [Answer(), answered, StartRecording(), *self._say(0)]
            if event.name == self.timer:
                step = self.step
                silence = Note(ev.SILENCE_WINDOW, {"seconds": 5.0, "state": STEPS[step][1], "step": step + 1})
                if step + 1 < len(STEPS):
                    return [silence, *self._say(step + 1)]
                self.finished, self.disposition, self.released_by = True, "silent", "system"
                return [silence, Note(ev.SCRIPT_STATE, {"script": "silent_followup", "state": "release"}),
                        Hangup("silent")]
        elif kind is PlaybackFinished:
            self._ids += 1
            self.timer = f"w{self._ids}"
            state = STEPS[self.step][1]
            return [Listen(5.0, True), StartTimer(self.timer, 5.0), Note(ev.LISTEN_STARTED, {"seconds": 5.0,
                                                                                            "state": state})]
        elif kind is HungUp:
            self.finished = True
        return []

    def _say(self, step: int) -> list[Command]:
        self.step = step
        script, state, key, text, duration = self._plays[step]
        self._ids += 1
        return [Note(ev.SCRIPT_STATE, {"script": script, "state": state}),
                Play(f"p{self._ids}", key, text, "zh-CN", None, duration, "0123456789*#")]


def _setup() -> tuple[ScriptLibrary, SessionConfig, dict[str, Any]]:
    settings = load_settings(environ={})
    library = load_library(settings.scripts.directory, settings.scripts)
    variables = prompt_variables(settings.service, agent={"work_number": "1001"})
    return library, session_config(settings), variables


def _factory(
    variant: str, library: ScriptLibrary, config: SessionConfig, variables: dict[str, Any]
) -> Callable[[int], Driven]:
    if variant == "engine":
        return lambda i: ScriptSession(library, SCRIPT, call_id=f"c{i}", variables=variables, config=config)
    cps = config.chars_per_second
    plays = []
    for script, state, key in STEPS:
        text = library.catalogues.render(key, "zh-CN", variables)
        plays.append((script, state, key, text, round(len(text) / cps, 3)))
    return lambda i: HandWrittenSilentCall(plays, config)


def run_variant(variant: str, calls: int) -> dict[str, Any]:
    library, config, variables = _setup()
    make = _factory(variant, library, config, variables)
    plan = CallerPlan()
    begun, cpu = time.perf_counter(), time.process_time()
    sim = Simulator()
    for i in range(calls):
        sim.add_call(make(i), plan, answered=False, record=False)
    sim.run()
    wall, cpu = time.perf_counter() - begun, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"variant": variant, "calls": calls, "wall": wall, "cpu": cpu, "peak": peak, "virtual": sim.now}


def check_same_sequence() -> None:
    """One call of each variant must produce the identical timeline, or the ratio means nothing."""
    library, config, variables = _setup()
    timelines = []
    for variant in ("engine", "hand"):
        sim = Simulator()
        call = sim.add_call(_factory(variant, library, config, variables)(0), CallerPlan(), answered=False)
        sim.run()
        timelines.append(call.timeline)
    if timelines[0] != timelines[1]:
        sys.exit("the hand-written machine does not do what the engine does:\n" + "\n".join(
            f"{a}\n{b}\n" for a, b in zip(*timelines, strict=False) if a != b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; the fastest counts")
    parser.add_argument("--variant", choices=("engine", "hand"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.calls)))
        return 0
    check_same_sequence()
    # The machine is shared: each variant runs --repeat times, interleaved, and its fastest run counts.
    runs: dict[str, list[dict[str, Any]]] = {"hand": [], "engine": []}
    for _ in range(args.repeat):
        for variant in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", variant, "--calls", str(args.calls)],
                check=True, capture_output=True, text=True,
            )
            runs[variant].append(json.loads(out.stdout))
    engine, hand = (min(runs[v], key=lambda r: r["cpu"]) for v in ("engine", "hand"))
    ratio, wall_ratio = engine["cpu"] / hand["cpu"], engine["wall"] / hand["wall"]
    print(f"{args.calls:,} concurrent silent calls, {engine['virtual']:.2f} s of virtual time, "
          f"best of {args.repeat} runs each")
    for name, r in (("hand-written", hand), ("engine", engine)):
        rate = r["calls"] / r["wall"]
        print(f"  {name:<13} wall {r['wall']:7.3f} s  cpu {r['cpu']:7.3f} s  ({rate:,.0f} calls/s)  "
              f"peak RSS {r['peak'] / 2**20:7.1f} MiB")
    ok = ratio <= RATIO_TARGET and engine["peak"] < MEMORY_TARGET
    # CPU time is the engine's own cost; wall time also counts whatever else the shared machine runs.
    print(f"  ratio engine / hand-written: {ratio:.2f}x cpu, {wall_ratio:.2f}x wall (target <= {RATIO_TARGET:g}x); "
          f"engine peak {engine['peak'] / 2**20:.0f} MiB (target < 1024 MiB): {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
