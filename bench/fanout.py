"""Events everywhere: how long a flush takes under the centre's flush lock, and how soon another process's page
has it (calls.fanout: NOTIFY, LISTEN, read by id).

    .venv/bin/python bench/fanout.py                  # 500 single-event flushes, 2 x 100 flushes of 20 events
    .venv/bin/python bench/fanout.py --flushes 100    # quicker

Two timelines stand for two ``callcenter serve`` processes on one PostgreSQL database (a scratch database
created and dropped on the server CALLCENTER_TEST_POSTGRES_URL or --pg-url names). Prints the p50/p99 of:

* ``flush``: one timeline flush of one event (the advisory lock, the insert, the notification, the commit);
* ``flush → other process``: from the start of that flush to its event coming out of the other process's
  feed subscription (what a page on the other process waits, before the websocket send);

then two writers flush 20 events at a time together and the other process's feed must deliver them all in id
order, once each: the events per second delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from callcenter.calls import events as ev
from callcenter.calls.fanout import PostgresFeed
from callcenter.calls.timeline import Timeline
from callcenter.logs import configure_logging
from callcenter.store import dispose_all, migrate

DEFAULT_PG = "postgresql+psycopg://callcenter:callcenter@127.0.0.1:5432/postgres"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def measure(url: str, flushes: int, batches: int) -> None:
    a, b, c = Timeline(url), Timeline(url), Timeline(url)
    feed = PostgresFeed(b)
    await feed.start()
    runner = asyncio.create_task(feed.run())
    queue = feed.subscribe()
    flush_ms: list[float] = []
    reach_ms: list[float] = []
    for i in range(flushes):
        a.append(f"call-{i % 7}", ev.DTMF, {"digit": str(i % 10)})
        t0 = time.perf_counter()
        await a.flush()
        t1 = time.perf_counter()
        await queue.get()
        flush_ms.append((t1 - t0) * 1000)
        reach_ms.append((time.perf_counter() - t0) * 1000)
    print(f"flush                  p50 {percentile(flush_ms, .5):6.2f} ms  p99 {percentile(flush_ms, .99):6.2f} ms")
    print(f"flush → other process  p50 {percentile(reach_ms, .5):6.2f} ms  p99 {percentile(reach_ms, .99):6.2f} ms")

    async def write(timeline: Timeline, name: str) -> None:
        for k in range(batches):
            for _ in range(20):
                timeline.append(f"{name}-{k % 5}", ev.DTMF, {"digit": "2"})
            await timeline.flush()

    t0 = time.perf_counter()
    await asyncio.gather(write(a, "x"), write(c, "y"))
    got = [await queue.get() for _ in range(2 * batches * 20)]
    seconds = time.perf_counter() - t0
    ids = [e.id for e in got]
    if ids != sorted(set(ids)):
        raise SystemExit("the feed delivered out of id order or twice")
    print(f"two writers: {len(got)} events in {2 * batches} flushes delivered in id order, once each, in "
          f"{seconds:.2f} s ({len(got) / seconds:,.0f} events/s)")
    runner.cancel()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flushes", type=int, default=500)
    ap.add_argument("--batches", type=int, default=100, help="flushes of 20 events per writer")
    ap.add_argument("--pg-url", default=os.environ.get("CALLCENTER_TEST_POSTGRES_URL", DEFAULT_PG))
    args = ap.parse_args()
    if args.flushes < 10 or args.batches < 1:
        ap.error("--flushes at least 10, --batches at least 1")
    configure_logging("warning", json=False)
    name = f"cc_bench_fanout_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
        migrate(url)
        asyncio.run(measure(url, args.flushes, args.batches))
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
