"""A fresh database for one benchmark run on one back-end: a temporary SQLite file, or a new PostgreSQL database
dropped afterwards (the benchmarks never touch a centre's data)."""

from __future__ import annotations

import tempfile
import uuid

import sqlalchemy as sa

from callcenter.store import dispose_all


class scratch_database:
    def __init__(self, backend: str, pg_url: str, name: str) -> None:
        self.backend, self.pg_url, self.name = backend, pg_url, name

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            self._dir = tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-")
            return f"sqlite:///{self._dir.name}/{self.name}.sqlite3"
        self._name = f"bench_{self.name}_{uuid.uuid4().hex[:8]}"
        self._admin = sa.create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self._name}"'))
        return self.pg_url.rsplit("/", 1)[0] + f"/{self._name}"

    def __exit__(self, *exc: object) -> None:
        dispose_all()
        if self.backend == "sqlite":
            self._dir.cleanup()
            return
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
        self._admin.dispose()
