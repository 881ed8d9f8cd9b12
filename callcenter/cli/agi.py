"""``callcenter agi``: one call as a classic AGI script, run by Asterisk on stdin/stdout (pyst2).

Dialplan: ``same => n,AGI(/opt/callcenter/.venv/bin/callcenter,agi,main)``: Asterisk runs the program with
the AGI arguments, so this is ``callcenter agi main`` and ``main`` is the entry (``telephony.entries``).

Asterisk starts one process per call. The call runs the same script session, channel and timeline as
FastAGI, and the centre's seats: they live in the database (issue 17), so a transfer reserves an agent seat as
a ``callcenter serve`` process does, under this process's lease, renewed while the call lasts.
SIGHUP from Asterisk (the caller hung up) is handled on the event loop, not by pyst2's handler.
"""

from __future__ import annotations

import argparse

from callcenter.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("agi", help="run one call as a classic AGI script on stdin/stdout (Asterisk AGI())")
    p.add_argument("entry", nargs="?", default=None, help="entry point of telephony.entries (default: agi_arg_1)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import signal
    import sys

    from callcenter.calls.seat_pool import SeatPool
    from callcenter.calls.timeline import Timeline
    from callcenter.store import ensure_schema
    from callcenter.telephony.agi.classic import ClassicTransport
    from callcenter.telephony.agi.server import CallContext, run_script_call

    async def call() -> None:
        transport = ClassicTransport(
            sys.stdin.buffer, sys.stdout.buffer, command_timeout=settings.telephony.agi_command_timeout_seconds
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, transport.mark_hung_up)
        env = await transport.read_environment()
        if args.entry:
            env = {**env, "agi_network_script": args.entry}  # the same entry lookup as FastAGI
        timeline = Timeline(settings.database.url)
        pool = SeatPool.for_settings(settings, timeline)
        upkeep = asyncio.create_task(pool.run_upkeep())  # renews this call's seat lease while it lasts
        try:
            await run_script_call(CallContext(settings, timeline, pool), transport, env)
        finally:
            upkeep.cancel()
            await pool.settle()
            await timeline.flush()

    ensure_schema(settings.database.url)  # before the call: a missing table must not end it halfway
    asyncio.run(call())
    return 0
