"""Work-order store benchmark: bulk load, then the overdue queries with and without the store's indexes.

    .venv/bin/python bench/tickets.py                  # 1,000,000 orders on SQLite and PostgreSQL
    .venv/bin/python bench/tickets.py --orders 20000   # quick run while developing

Data: orders accepted in time order over the 700 days before NOW, closed with every clock met (a real store's
history) except an open backlog — 90 % of the last three days, 30 % of the week before, 0.5 % stragglers of
any age — so thousands of deadlines are overdue (a badly behind centre: the stress case for these queries). Each order
carries its real deadlines from the SLA engine (policy call_center_003, Chinese calendar), so about four
deadline rows per order. Prints the insert rate (orders per second, deadline rows included) and the p50/p99 of:

* ``overdue page (SQL)``: the query of ``tickets list --overdue`` — the first 100 orders past an unmet
  deadline that an agent may see (confidential orders filtered, R-82); this is "the overdue query";
* ``list_orders (API)``: the same page through the query API, with the orders' deadlines, links and callbacks
  loaded into views (ORM work included);
* ``wallboard count``: count_open_and_overdue();
* ``escalation scan``: the overdue job's candidate query (overdue.overdue_candidates, 500 rows);

then drops the tickets indexes this store chose (the partial "unmet deadline" and "open order" indexes and the
plain due/closed indexes), runs the same queries again, and restores them. Target: p99 < 50 ms with indexes.
PostgreSQL: CALLCENTER_TEST_POSTGRES_URL (or --pg-url) names a server where a scratch database is created and
dropped.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from scratch import scratch_database  # bench/scratch.py

from callcenter.config import load_settings
from callcenter.logs import configure_logging
from callcenter.store import engine_for, migrate, session_factory, session_scope
from callcenter.tickets import service as svc
from callcenter.tickets.deadlines import SlaEngine
from callcenter.tickets.models import WorkOrder, WorkOrderDeadline
from callcenter.tickets.overdue import overdue_candidates

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in the centre; UTC keeps datetime arithmetic cheap
SPAN = timedelta(days=700)
BATCH = 10_000
CENTRE_OFFSET = timedelta(hours=8)  # Asia/Shanghai has had no DST since 1991: the local day of a UTC instant
CATEGORIES = [("complaint", 40), ("consultation", 25), ("repair", 20), ("opinion", 5), ("suggestion", 5),
              ("report", 5)]
INDEXES = {  # name -> (table, columns, partial WHERE or None): what the tickets migration creates
    "ix_work_order_deadlines_open_due": ("work_order_deadlines", "due_at, order_id", "met_at IS NULL"),
    "ix_work_order_deadlines_due_at": ("work_order_deadlines", "due_at", None),
    "ix_work_orders_open": ("work_orders", "accepted_at", "closed_at IS NULL"),
    "ix_work_orders_closed_at": ("work_orders", "closed_at", None),
}
DEFAULT_PG = "postgresql+psycopg://callcenter:callcenter@127.0.0.1:5432/postgres"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200, help="timed runs of each query with the indexes")
    ap.add_argument("--unindexed-queries", type=int, default=5, help="timed runs of each query without them")
    ap.add_argument("--api-orders", type=int, default=1000, help="orders created through create_order()")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("CALLCENTER_TEST_POSTGRES_URL", DEFAULT_PG))
    args = ap.parse_args()
    configure_logging("warning", json=False)
    if args.orders < 100 or args.queries < 1 or args.unindexed_queries < 1:
        ap.error("--orders must be at least 100 and the query counts at least 1")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        ap.error(f"--backends: unknown {', '.join(sorted(unknown))}")
    print(f"work-order store benchmark: {args.orders:,} orders, now = {NOW.isoformat()}")
    for backend in backends:
        with scratch_database(backend, args.pg_url, "tickets") as url:
            run_backend(backend, url, args)
    return 0


def run_backend(backend: str, url: str, args: argparse.Namespace) -> None:
    migrate(url)
    eng = engine_for(url)
    started = time.perf_counter()
    deadlines = load(eng, args.orders)
    seconds = time.perf_counter() - started
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if backend == "postgresql":
            # The bulk load gave explicit ids: move the sequences past them. VACUUM sets the visibility map as
            # autovacuum does on a live server (index-only scans need it) — a fresh bulk load has none yet.
            for table in ("work_orders", "work_order_deadlines"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"))
                conn.execute(sa.text(f"VACUUM {table}"))
        conn.execute(sa.text("ANALYZE"))
    overdue = count_overdue(url)
    print(f"\n[{backend}] bulk load (Core executemany, indexes live): {args.orders:,} orders + {deadlines:,} "
          f"deadline rows in {seconds:.1f} s = {args.orders / seconds:,.0f} orders/s "
          f"({(args.orders + deadlines) / seconds:,.0f} rows/s); open/overdue now: {overdue}")
    api = api_insert_rate(url, args.api_orders)
    print(f"  create_order() one transaction per order, on top of that: {api:,.0f} orders/s "
          f"({args.api_orders:,} orders)")
    queries = overdue_queries(url)
    with_ix = {name: timed(q, args.queries) for name, q in queries.items()}
    drop_indexes(eng)
    without = {name: timed(q, args.unindexed_queries) for name, q in queries.items()}
    restore_indexes(eng)
    print(f"  {'query':<20}{'p50 ms':>10}{'p99 ms':>10}   {'without indexes: p50':>22}{'p99 ms':>10}{'ratio':>9}")
    for name in queries:
        a, b = with_ix[name], without[name]
        verdict = "ok" if a[1] < 50 else "OVER 50 ms"
        print(f"  {name:<20}{a[0]:>10.2f}{a[1]:>10.2f}   {b[0]:>22.2f}{b[1]:>10.2f}{b[1] / a[1]:>8.1f}x  {verdict}")


# ---------------------------------------------------------------------------------------------- data


def load(eng: sa.Engine, n: int) -> int:
    """Insert n orders and their deadlines in batches through SQLAlchemy Core (executemany)."""
    settings = load_settings(environ={})
    sla = SlaEngine.from_settings(settings)
    cache: dict[tuple[str, bool, object, str], datetime | None] = {}
    rng = random.Random(5)
    cats = [c for c, w in CATEGORIES for _ in range(w)]
    total_deadlines = 0
    next_deadline_id = 1
    for start in range(0, n, BATCH):
        orders, deadlines = [], []
        for i in range(start, min(n, start + BATCH)):
            order, rows = fake_order(i + 1, n, rng, cats, sla, cache)
            orders.append(order)
            for row in rows:
                row["id"] = next_deadline_id
                next_deadline_id += 1
            deadlines.extend(rows)
        with eng.begin() as conn:
            conn.execute(sa.insert(WorkOrder.__table__), orders)
            conn.execute(sa.insert(WorkOrderDeadline.__table__), deadlines)
        total_deadlines += len(deadlines)
        if (start // BATCH) % 20 == 19:
            print(f"  … {start + BATCH:,} orders", flush=True)
    return total_deadlines


def fake_order(
    oid: int, n: int, rng: random.Random, cats: list[str], sla: SlaEngine, cache: dict
) -> tuple[dict[str, object], list[dict[str, object]]]:
    # Orders arrive in time order, as in a real centre (the index inserts are then mostly appends).
    age = SPAN * (1 - oid / n) + timedelta(seconds=rng.uniform(0, 60))
    accepted = NOW - age
    # The open backlog: most of the last three days, a third of the week before, 0.5 % stragglers of any age.
    is_open = rng.random() < (0.9 if age < timedelta(days=3) else 0.3 if age < timedelta(days=10) else 0.005)
    category = rng.choice(cats)
    major = category == "complaint" and rng.random() < 0.05
    closed = None if is_open else accepted + timedelta(hours=rng.uniform(1, 100))
    deadlines = []
    for d in due_for(sla, cache, category, major, accepted, closed):
        met = None if is_open else min(closed, d["due_at"]) if d["due_at"] else None  # type: ignore[type-var]
        if d["name"] == "callback" and closed is not None:
            met = closed + timedelta(hours=rng.uniform(1, 40))
        deadlines.append(d | {"order_id": oid, "met_at": met, "escalated_at": None})
    order = {
        "id": oid, "number": f"GD{accepted + CENTRE_OFFSET:%Y%m%d}-{oid:07d}", "category": category,
        "subcategory": None, "major": major, "status": "accepted" if is_open else "called_back", "channel": "hotline",
        "caller_number": f"138{oid:08d}", "caller_name": None, "summary": "bench", "details": "", "owner": "a1",
        "department": None, "assignee": None, "confidential": rng.random() < 0.03, "policy": sla.policy.name,
        "accepted_at": accepted, "first_contacted_at": closed, "replied_at": closed, "closed_at": closed,
        "updated_at": closed or accepted, "version": 1,
    }
    return order, deadlines


def due_for(sla: SlaEngine, cache: dict, category: str, major: bool, accepted: datetime,
            closed: datetime | None) -> list[dict[str, object]]:
    """The SLA engine's deadlines; day-based ones memoised per local day (they depend only on the day)."""
    out = []
    for limit in sla.policy.limits_for(category, major):
        anchor = accepted if limit.anchor == "accepted" else closed
        if anchor is None:
            due = None
        elif limit.unit in ("minutes", "hours"):
            due = sla.due(limit, anchor)[0]
        else:
            key = (limit.name, limit.unit, limit.amount, (anchor + CENTRE_OFFSET).date())
            if key not in cache:
                cache[key] = sla.due(limit, anchor)[0].astimezone(UTC)
            due = cache[key]
        out.append({"name": limit.name, "title": limit.title, "limit_text": limit.text, "clock": limit.clock,
                    "anchor": limit.anchor, "due_at": due, "provisional": False, "source": limit.source[:64]})
    return out


def api_insert_rate(url: str, n: int) -> float:
    """The store's own path: create_order (numbering, SLA engine, history row), one commit per order."""
    settings = load_settings(environ={})
    rng = random.Random(7)
    started = time.perf_counter()
    for i in range(n):
        with session_scope(url) as s:
            svc.create_order(s, settings, category=rng.choice(["complaint", "repair", "consultation"]),
                             summary="bench", accepted_at=NOW - timedelta(minutes=i), actor="bench")
    return n / (time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------- queries


def overdue_queries(url: str) -> dict[str, Callable[[int], object]]:
    make = session_factory(url)
    agent = svc.Viewer("bench", "agent")

    def overdue_page(i: int) -> object:
        # The query of `tickets list --overdue`: the first 100 overdue orders an agent may see (R-82 filter).
        with make() as s:
            return svc.overdue_page(s, NOW + timedelta(seconds=i), agent, limit=100)

    def list_api(i: int) -> object:
        with make() as s:
            return svc.list_orders(s, agent, overdue_at=NOW + timedelta(seconds=i), limit=100)

    def wallboard(i: int) -> object:
        with make() as s:
            return svc.count_open_and_overdue(s, NOW + timedelta(seconds=i))

    def escalation_scan(i: int) -> object:
        with make() as s:
            return s.execute(overdue_candidates(NOW + timedelta(seconds=i), 500)).all()

    return {"overdue page (SQL)": overdue_page, "list_orders (API)": list_api, "wallboard count": wallboard,
            "escalation scan": escalation_scan}


def timed(query: Callable[[int], object], runs: int) -> tuple[float, float]:
    query(0)  # warm the connection pool and caches once
    gc.collect()  # start every series without a pending collection of the load's garbage
    samples = []
    for i in range(runs):
        t = time.perf_counter()
        query(i)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples), p99


def count_overdue(url: str) -> tuple[int, int]:
    with session_factory(url)() as s:
        return svc.count_open_and_overdue(s, NOW)


def drop_indexes(eng: sa.Engine) -> None:
    with eng.begin() as conn:
        for name in INDEXES:
            conn.execute(sa.text(f"DROP INDEX {name}"))
        conn.execute(sa.text("ANALYZE"))


def restore_indexes(eng: sa.Engine) -> None:
    with eng.begin() as conn:
        for name, (table, column, where) in INDEXES.items():
            clause = f" WHERE {where}" if where else ""
            conn.execute(sa.text(f"CREATE INDEX {name} ON {table} ({column}){clause}"))
        conn.execute(sa.text("ANALYZE"))


if __name__ == "__main__":
    sys.exit(main())
