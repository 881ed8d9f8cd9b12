"""The database: one SQLAlchemy engine per URL, sessions, and Alembic migrations.

SQLite (WAL) is the embedded default; PostgreSQL is the multi-process deployment. Every package declares its
tables on :data:`Base` and ships its migrations as its own Alembic branch in ``callcenter/migrations/versions``
(``branch_labels=("<package>",)``), so packages evolve their schemas independently and :func:`migrate`
brings all of them to their heads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from callcenter.errors import CallcenterError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class StoreError(CallcenterError):
    """The database cannot be reached or is not at the schema this code expects."""


_engines: dict[str, Engine] = {}


def engine_for(url: str, *, echo: bool = False) -> Engine:
    """One engine per URL for the whole process (pools are per engine)."""
    eng = _engines.get(url)
    if eng is None:
        eng = _make_engine(url, echo)
        _engines[url] = eng
    return eng


def _make_engine(url: str, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets readers (panel, QA, metrics) run beside the writer; foreign keys are off by default.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return eng
    return create_engine(url, echo=echo, pool_pre_ping=True)


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A unit of work: committed on success, rolled back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str) -> None:
    """Bring every package's schema branch to its head (idempotent, safe to run at each start)."""
    from alembic import command

    command.upgrade(alembic_config(url), "heads")


def is_embedded(url: str) -> bool:
    """True for the embedded SQLite store, which one machine's processes own; False for a server database."""
    return url.startswith("sqlite")


def where(url: str) -> str:
    """The database's place for messages: a file path, or host/database without the credentials."""
    return url.split("///", 1)[-1] if is_embedded(url) else url.split("@")[-1]


@functools.cache
def migration_revisions() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """This version's migration heads (one per package branch), and what each revision needs before it (its
    down revisions and ``depends_on``)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    needs: dict[str, frozenset[str]] = {}
    for rev in script.walk_revisions():
        before: set[str] = set()
        for names in (rev.down_revision, rev.dependencies):
            before.update((names,) if isinstance(names, str) else names or ())
        needs[rev.revision] = frozenset(before)
    return frozenset(script.get_heads()), needs


def code_heads() -> frozenset[str]:
    return migration_revisions()[0]


def applied_revisions(current: set[str]) -> set[str]:
    """Every revision the database's current heads stand on: Alembic keeps only the tips in its version table
    (a branch that another depends on is no longer listed once the dependent is applied)."""
    needs = migration_revisions()[1]
    seen: set[str] = set()
    todo = [r for r in current if r in needs]
    while todo:
        rev = todo.pop()
        if rev not in seen:
            seen.add(rev)
            todo.extend(needs[rev])
    return seen


def ensure_schema(url: str) -> None:
    """Make sure the database has this version's schema before a command uses it: one behaviour on a fresh store.

    The embedded SQLite store is brought up to date here (a new data folder just works). A server database is
    shared by every process of the deployment, so its schema changes once, on purpose: when a migration is
    pending, the command stops with one line naming ``callcenter db upgrade``.
    """
    if is_embedded(url):
        migrate(url)
        return
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine_for(url).connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise StoreError(f"cannot reach the database at {where(url)}: {reason}") from None
    heads, needs = migration_revisions()
    unknown = sorted(current - set(needs))
    if unknown:
        raise StoreError(
            f"the database at {where(url)} has schema revisions this version does not know ({', '.join(unknown)}): "
            "a newer callcenter migrated it"
        )
    if not heads <= applied_revisions(current):
        state = "has no schema yet" if not current else "is not at this version's schema"
        raise StoreError(f"the database at {where(url)} {state}: run `callcenter db upgrade`")


def dispose_all() -> None:
    for eng in _engines.values():
        eng.dispose()
    _engines.clear()
