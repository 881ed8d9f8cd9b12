"""Commands to the process that holds the call (calls.commands_bus): how long a page's button waits for the answer
of another process.

    .venv/bin/python bench/commands.py                 # 300 commands one after another, then 20 senders at once
    .venv/bin/python bench/commands.py --commands 100  # quicker

Two command buses stand for two ``callcenter serve`` processes on one PostgreSQL database (a scratch database on
the server CALLCENTER_TEST_POSTGRES_URL or --pg-url names): the holder runs a command that does nothing, the
sender routes commands to it (owner lookup, the row, NOTIFY, the holder's take/finish, NOTIFY back). Prints the
round trip p50/p99 one at a time and with 20 at once, beside the local path's baseline (a call held here: no
database at all), and on SQLite the same with its poll.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_database
from callcenter.calls.commands import DONE, Command, hold_call
from callcenter.calls.commands_bus import CommandBus
from callcenter.logs import configure_logging
from callcenter.store import migrate

DEFAULT_PG = "postgresql+psycopg://callcenter:callcenter@127.0.0.1:5432/postgres"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(url: str, commands: int, poll: float) -> dict[str, Any]:
    async def execute(command: Command) -> tuple[str, dict[str, Any]]:
        return DONE, {"n": command.args["n"]}

    holder = CommandBus(url, "bench-holder", execute=execute, poll=poll)
    sender = CommandBus(url, "bench-sender", poll=poll)
    tasks = [asyncio.create_task(bus.run()) for bus in (holder, sender)]
    try:
        await holder.listening.wait()
        await sender.listening.wait()
        await asyncio.to_thread(hold_call, url, "bench-call", holder.process, "a")
        one = []
        for n in range(commands):
            started = time.perf_counter()
            outcome = await sender.route("bench-call", "control", {"n": n})
            one.append((time.perf_counter() - started) * 1000)
            assert outcome.state == DONE and outcome.result == {"n": n}, outcome
        many: list[float] = []

        async def timed(n: int) -> None:
            started = time.perf_counter()
            outcome = await sender.route("bench-call", "control", {"n": n})
            many.append((time.perf_counter() - started) * 1000)
            assert outcome.state == DONE, outcome

        started = time.perf_counter()
        for batch in range(0, commands, 20):
            await asyncio.gather(*(timed(n) for n in range(batch, min(commands, batch + 20))))
        rate = commands / (time.perf_counter() - started)
        return {"one": one, "many": many, "rate": rate}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--pg-url", default=os.environ.get("CALLCENTER_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    args = parser.parse_args()
    configure_logging("warning", json=False)
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    for backend in backends:
        with scratch_database(backend, args.pg_url, "commands") as url:
            migrate(url)
            poll = 0.5 if backend == "postgresql" else 0.02
            figures = asyncio.run(_run(url, args.commands, poll))
        one, many = figures["one"], figures["many"]
        print(f"{backend:10} one at a time: p50 {statistics.median(one):6.1f} ms  p99 {_pct(one, 0.99):6.1f} ms"
              f" | 20 at once: p50 {statistics.median(many):6.1f} ms  p99 {_pct(many, 0.99):6.1f} ms"
              f" | {figures['rate']:.0f} commands/s  (poll {poll} s)")
    print("baseline: a call held here is acted on directly (no database): 0 ms added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
