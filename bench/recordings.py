"""Recordings benchmark: the retention sweep over many metadata rows, and transcoding speed.

    ./run bench recordings                 # 1,000,000 rows (1,000 with real files) on SQLite
    .venv/bin/python bench/recordings.py --quick
    .venv/bin/python bench/recordings.py --postgres postgresql+psycopg://user:pw@127.0.0.1:5432/postgres

Sweep: rows are 90 % due (call ended more than 183 days ago), 4 % linked to an open work order, 3 % under legal
hold, 3 % not yet due; a sample of the due rows has real WAV + MP3 files on disk. Printed: rows judged per
second, and the process's resident memory sampled after every batch (flat means it does not grow with rows).
Baseline to compare against: the claim/decide/unlink/finish protocol must stay above 2,000 rows/s on SQLite.

Transcoding: one 60 s stereo 8 kHz call through process_recording (decode + analysis + browser MP3, and each
compressed storage format), printed as a multiple of real time (audio seconds per wall second).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydub import AudioSegment
from pydub.generators import Sine, WhiteNoise
from sqlalchemy import func, insert, select

from callcenter.config import load_settings
from callcenter.recordings.models import Recording, RecordingTombstone, RecordingWorkOrder
from callcenter.recordings.processing import ProcessingOptions, process_recording
from callcenter.recordings.retention import OrderFacts, RetentionPolicy, purge_allowed_from
from callcenter.recordings.sweeper import Sweeper
from callcenter.store import dispose_all, engine_for, migrate, session_scope

ENDED = datetime(2026, 1, 10, 7, 0, tzinfo=UTC)
NOW = datetime(2026, 9, 1, tzinfo=UTC)
MIN_ROWS_PER_SECOND = 2000


def rss_mib() -> float:
    """Current resident set size of this process (Linux /proc), MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * 4096 / 2**20


def open_orders(_session: object, numbers: Sequence[str]) -> list[OrderFacts]:
    return [OrderFacts(n, False, ENDED, None) for n in numbers]


def kind_of(i: int) -> str:
    bucket = i % 100
    return "open" if bucket < 4 else "held" if bucket < 7 else "recent" if bucket < 10 else "due"


def fill(url: str, root: Path, rows: int, files: int) -> int:
    """Insert ``rows`` recordings in chunks (memory flat); returns how many are due."""
    policy = RetentionPolicy()
    wav = root / "sample.wav"
    AudioSegment.silent(duration=1000, frame_rate=8000).export(wav, format="wav").close()
    audio = wav.read_bytes()
    due, with_files, chunk = 0, 0, 20_000
    engine = engine_for(url)
    for start in range(0, rows, chunk):
        batch, links = [], []
        for i in range(start, min(rows, start + chunk)):
            kind = kind_of(i)
            ended = NOW - timedelta(days=30) if kind == "recent" else ENDED - timedelta(minutes=i % 5000)
            rel = f"{ended:%Y/%m/%d}/b{i}.wav"
            if kind == "due":
                due += 1
                if with_files < files:
                    with_files += 1
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    (root / rel).write_bytes(audio)
                    (root / rel.replace(".wav", ".mp3")).write_bytes(audio[:512])
            batch.append({
                "id": i + 1, "call_id": f"b{i}", "agent": f"{1000 + i % 50}", "started_at": ended, "ended_at": ended,
                "format": "wav", "path": rel, "browser_path": rel.replace(".wav", ".mp3"), "browser_format": "mp3",
                "bytes": len(audio), "status": "ready", "confidential": False, "legal_hold": kind == "held",
                "retain_until": purge_allowed_from(ended, policy.retention_days, policy.tz), "created_at": ended,
            })
            if kind == "open":
                links.append({"recording_id": i + 1, "order_number": f"GD{i}", "linked_at": ended, "linked_by": "b"})
        with engine.begin() as conn:
            conn.execute(insert(Recording), batch)
            if links:
                conn.execute(insert(RecordingWorkOrder), links)
    return due


def bench_sweep(url: str, rows: int, files: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rec"
        root.mkdir()
        base = load_settings(environ={})
        settings = replace(base, database=replace(base.database, url=url),
                           recordings=replace(base.recordings, root=root, sweep_batch=batch))
        migrate(url)
        t0 = time.perf_counter()
        due = fill(url, root, rows, files)
        print(f"filled {rows:,} rows ({files:,} with real files) in {time.perf_counter() - t0:.1f} s")
        samples: list[float] = []

        def sample_memory(step: str, _ids: Sequence[int]) -> None:
            if step == "finished":
                samples.append(rss_mib())

        sweeper = Sweeper(settings, open_orders, checkpoint=sample_memory)
        t0 = time.perf_counter()
        report = sweeper.run(NOW, keep_items=False)
        seconds = time.perf_counter() - t0
        judged = report.purged + report.deferred
        with session_scope(url) as s:
            tombstones = s.scalar(select(func.count()).select_from(RecordingTombstone))
        left = sum(1 for _ in root.rglob("b*.wav"))
        assert report.purged == due == tombstones, (report, due, tombstones)
        assert report.errors == 0 and left == 0, (report.errors, left)
        tenth = max(1, len(samples) // 10)
        early, late = samples[tenth - 1], samples[-1]
        print(f"sweep: {judged:,} rows judged ({report.purged:,} purged, {report.deferred:,} deferred) in "
              f"{seconds:.1f} s = {judged / seconds:,.0f} rows/s over {report.batches} batches "
              f"(baseline {MIN_ROWS_PER_SECOND:,} rows/s: {judged / seconds / MIN_ROWS_PER_SECOND:.1f}x)")
        print(f"memory (RSS after each batch): at 10 % {early:.1f} MiB, at 100 % {late:.1f} MiB, "
              f"max {max(samples):.1f} MiB, growth {late - early:+.1f} MiB")
        dispose_all()


def bench_transcoding(seconds: int) -> None:
    caller = Sine(440).to_audio_segment(duration=seconds * 1000, volume=-15).set_frame_rate(8000).set_channels(1)
    agent = WhiteNoise().to_audio_segment(duration=seconds * 1000, volume=-30).set_frame_rate(8000).set_channels(1)
    call = AudioSegment.from_mono_audiosegments(caller.set_sample_width(2), agent.set_sample_width(2))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "call.wav"
        call.export(src, format="wav").close()
        runs = [("analysis only", ProcessingOptions(), None, None),
                ("analysis + browser mp3", ProcessingOptions(), "c.mp3", None),
                ("analysis + browser webm/opus", ProcessingOptions(browser_format="webm"), "c.webm", None),
                ("analysis + mp3 + flac storage", ProcessingOptions(compressed_format="flac"), "c.mp3", "c.flac"),
                ("analysis + mp3 + opus storage", ProcessingOptions(compressed_format="opus"), "c.mp3", "c.opus")]
        for name, options, browser, compressed in runs:
            t0 = time.perf_counter()
            result = process_recording(src, options, browser_target=Path(tmp) / browser if browser else None,
                                       compressed_target=Path(tmp) / compressed if compressed else None)
            wall = time.perf_counter() - t0
            saving = f", storage saving {result.saving:.1%}" if result.saving is not None else ""
            print(f"transcode {seconds} s stereo call, {name}: {wall:.2f} s = {seconds / wall:.0f}x real time{saving}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--audio-seconds", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 100 files, 10 s of audio")
    parser.add_argument("--url", help="database URL (an empty database); default: a temporary SQLite file")
    parser.add_argument("--postgres", metavar="ADMIN_URL",
                        help="sweep on a temporary PostgreSQL database created (and dropped) through this URL")
    parser.add_argument("--no-transcode", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.files, args.audio_seconds = 20_000, 100, 10
    if args.postgres:
        with temporary_postgres(args.postgres) as url:
            print(f"database: PostgreSQL ({url.rsplit('/', 1)[-1]})")
            bench_sweep(url, args.rows, args.files, args.batch)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite:///{tmp}/bench.sqlite3"
            print(f"database: {url.split(':', 1)[0]}")
            bench_sweep(url, args.rows, args.files, args.batch)
    if not args.no_transcode:
        bench_transcoding(args.audio_seconds)
    return 0


@contextlib.contextmanager
def temporary_postgres(admin_url: str) -> Iterator[str]:
    """A fresh database for one run, dropped afterwards (the bench fills it with a million rows)."""
    import sqlalchemy as sa

    name = f"cc_bench_recordings_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
