"""A job's lock: held by one process at a time, and gone the moment its holder is.

- **PostgreSQL**: ``pg_try_advisory_lock`` on a connection of its own, kept open for the job's life. The server
  drops the lock with the session, so a holder killed with ``kill -9`` (its socket closed by the kernel) frees
  it at once, and a holder cut off by the network frees it when the server's keepalives give up on the session
  (set on the connection from the poll interval, so the holder has seen its own connection fail before that).
  Connect directly, not through a transaction-pooling PgBouncer: an advisory lock belongs to a session.
- **SQLite** (one machine): ``flock`` on ``<database file>.job-<name>.lock`` beside the database. The kernel
  drops it with the holder's file descriptor, so a dead process frees it as well.

Each lock names its holder (``host:pid``) where the other processes can read it: the PostgreSQL session's
``application_name``, the lock file's content.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import socket
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy.engine import make_url

from callcenter.store import is_embedded

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_APP_PREFIX = "callcenter job "


def process_identity() -> str:
    """Who holds a lock, as the other processes and the logs see it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def lock_key(name: str) -> int:
    """The advisory lock key of job ``name``: stable across processes and versions (not Python's hash)."""
    digest = hashlib.blake2b(f"callcenter.jobs:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class JobLock(Protocol):
    """One job's lock as one process sees it; every method returns soon (a non-blocking try, never a wait)."""

    name: str
    identity: str

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool:
        """False once the lock may have passed to another process (the connection is gone, the file replaced)."""
        ...

    async def holder(self) -> str | None:
        """Who holds the lock now, when it can be read."""
        ...

    async def watch(self, seconds: float) -> bool:
        """Wait up to ``seconds``; False as soon as the lock is known to be lost (its connection closed)."""
        ...

    async def release(self) -> None:
        """Let the lock go (idempotent); the process may try again later."""
        ...


def lock_for(url: str, name: str, *, timeout: float = 5.0, identity: str | None = None) -> JobLock:
    """Job ``name``'s lock in the database at ``url``; ``timeout`` bounds each talk with the server."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"job name {name!r}: use lower-case letters, digits and '-' (at most 40)")
    who = identity or process_identity()
    if is_embedded(url):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if not path or path == ":memory:":
            return ProcessJobLock(f"{url}#{name}", name, who)
        return FileJobLock(Path(f"{path}.job-{name}.lock"), name, who)
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"no job lock for the database {make_url(url).get_backend_name()} (SQLite or PostgreSQL)")
    return PgJobLock(url, name, who, timeout=timeout)


def pg_connect_params(url: str, identity: str, timeout: float) -> dict[str, Any]:
    """libpq parameters of a lock connection: the URL's own, its name for the other processes, and keepalives
    on both ends (the server's from ``timeout``: it drops a silent holder after about 5 × ``timeout``, by which
    time the holder's own check, every ``timeout`` and bounded by it, has failed and stopped the job)."""
    u = make_url(url)
    params: dict[str, Any] = {k: v for k, v in {"host": u.host, "port": u.port, "user": u.username,
                                                 "password": u.password, "dbname": u.database}.items()
                              if v is not None}
    params.update({k: v if isinstance(v, str) else v[-1] for k, v in u.query.items()})
    step = max(1, round(timeout))
    server = f"-c tcp_keepalives_idle={2 * step} -c tcp_keepalives_interval={step} -c tcp_keepalives_count=3"
    params["options"] = f"{params.get('options', '')} {server}".strip()
    params["application_name"] = (_APP_PREFIX + identity)[:63]
    params.setdefault("connect_timeout", str(max(2, step)))
    params.update(keepalives="1", keepalives_idle=str(2 * step), keepalives_interval=str(step), keepalives_count="3")
    return params


_HELD = """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
           AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1)"""
_HOLDER = """SELECT a.application_name, l.pid FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s
             AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""


class PgJobLock:
    """A session advisory lock on a dedicated connection (kept open while standing by as well)."""

    def __init__(self, url: str, name: str, identity: str, *, timeout: float = 5.0) -> None:
        self.name, self.identity, self.timeout = name, identity, timeout
        self.key = lock_key(name)
        # pg_locks shows a bigint key as its high half (classid) and low half (objid), unsigned.
        self._halves = ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF)
        self._params = pg_connect_params(url, identity, timeout)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.backend_pid: int | None = None  # the holding session, for pg_terminate_backend in tests and logs

    async def _query(self, sql: str, args: tuple[int, ...]) -> list[tuple[Any, ...]]:
        try:
            async with asyncio.timeout(self.timeout):
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
                    self.backend_pid = self._conn.info.backend_pid
                cur = await self._conn.execute(sql, args)
                return await cur.fetchall()
        except BaseException:
            await self.release()  # a connection in doubt is closed: whatever it held goes with it
            raise

    async def try_acquire(self) -> bool:
        rows = await self._query("SELECT pg_try_advisory_lock(%s)", (self.key,))
        return bool(rows[0][0])

    async def still_held(self) -> bool:
        if self._conn is None or self._conn.closed:
            return False
        try:
            rows = await self._query(_HELD, self._halves)
        except Exception:
            return False
        return bool(rows[0][0])

    async def holder(self) -> str | None:
        rows = await self._query(_HOLDER, self._halves)
        if not rows:
            return None
        app, pid = rows[0]
        return app[len(_APP_PREFIX):] if app and app.startswith(_APP_PREFIX) else f"PostgreSQL session {pid}"

    async def watch(self, seconds: float) -> bool:
        """Wait on the connection's socket: a session the server ends (a restart, ``pg_terminate_backend``) is
        seen at once, not at the next check."""
        conn = self._conn
        if conn is None or conn.closed:
            return False
        try:
            async for _ in conn.notifies(timeout=seconds):
                pass
        except psycopg.Error:
            await self.release()
            return False
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout):
                    await conn.close()


class FileJobLock:
    """``flock`` on a file beside the SQLite database: one machine's processes, as SQLite itself."""

    def __init__(self, path: Path, name: str, identity: str) -> None:
        self.path, self.name, self.identity = path, name, identity
        self._fd: int | None = None

    def _same_file(self, fd: int) -> bool:
        """True while ``path`` is still the file ``fd`` has locked (a deleted or replaced lock file could be
        locked again by another process beside ours)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except OSError:
            return False

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if not self._same_file(fd):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, self.identity.encode(), 0)
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._fd is not None and self._same_file(self._fd)

    async def holder(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    async def watch(self, seconds: float) -> bool:
        await asyncio.sleep(seconds)  # a flock ends only with its descriptor, which this process holds
        return await self.still_held()

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # the kernel drops the flock with its last descriptor


_process_locks: dict[str, str] = {}


class ProcessJobLock:
    """An in-memory SQLite database is one process's own: its jobs contend inside the process only."""

    def __init__(self, key: str, name: str, identity: str) -> None:
        self.key, self.name, self.identity = key, name, identity
        self._held = False

    async def try_acquire(self) -> bool:
        if not self._held and self.key not in _process_locks:
            _process_locks[self.key] = self.identity
            self._held = True
        return self._held

    async def still_held(self) -> bool:
        return self._held

    async def holder(self) -> str | None:
        return _process_locks.get(self.key)

    async def watch(self, seconds: float) -> bool:
        await asyncio.sleep(seconds)
        return self._held

    async def release(self) -> None:
        if self._held:
            self._held = False
            _process_locks.pop(self.key, None)
