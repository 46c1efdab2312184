"""Opening the database: the URL, SQLite's pragmas and locking, migrations, and the
:class:`Store` the engine, the command line and plugins use.

``ATTAIN_DATABASE_URL`` chooses the database; the default is a SQLite file in the user's data
directory. PostgreSQL is supported (``postgresql+psycopg://…``) and tested.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Connection, Engine

from .migrations import Migrations, migrate
from .schema import counters_table, deadletters_table, plugin_settings_table, stream_offsets_table
from .sql import fetch_all, lock_tenant, upsert

log = logging.getLogger("attain.store")

#: :meth:`Store.checkpoint_in_background`: write-ahead log frames (pages) past which the
#: checkpoint makes the log start over (SQLite's automatic checkpoint runs at 1,000)
WAL_RESTART_FRAMES = 4000
#: how long that restarting checkpoint waits for readers and the writer (then: next round)
RESTART_WAIT_MS = 50
#: how long a connection waits for another one's lock before "database is locked"
BUSY_TIMEOUT_MS = 30000


def default_url() -> str:
    url = os.environ.get("ATTAIN_DATABASE_URL")
    if url:
        return url
    import platformdirs

    data = Path(platformdirs.user_data_dir("attain"))
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'attain.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache: indexes of large logs stay hot
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    _sqlite_pragmas(dbapi_conn, record)


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for BEGIN IMMEDIATE: they take the write lock before reading what they will
    # change, so two processes writing at once are serialized instead of losing an update.
    if conn.get_execution_options().get("write_lock"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def write_locked(engine: Engine) -> Engine:
    """``engine`` whose transactions take the write lock before their first statement (SQLite's
    BEGIN IMMEDIATE; on PostgreSQL nothing changes). For a transaction that reads what it then
    writes: in SQLite's default deferred transaction that write fails at once ("database is
    locked", no waiting) when another process, say a stream worker on the same file, committed
    between the read and the write; with the lock taken first it waits its turn instead."""
    return engine.execution_options(write_lock=True)


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


@dataclass(frozen=True)
class DeadLetter:
    """A stored dead letter (a row of ``deadletters``): a rejected input with where it came from
    and why. ``payload`` is the input as text; when the input was bytes that are not valid UTF-8,
    or text the database cannot hold (a NUL character, a lone surrogate), ``payload`` shows it
    with replacement characters and ``raw`` keeps the original bytes exactly (see
    :attr:`original`)."""

    id: int
    tenant: str
    source: str
    line: int | None
    reason: str
    payload: str
    created_at: dt.datetime
    raw: bytes | None

    @property
    def original(self) -> bytes:
        """The rejected input's bytes exactly as received (UTF-8 for text inputs)."""
        return self.raw if self.raw is not None else self.payload.encode("utf-8")


class Store:
    """Database access for the engine and the command line."""

    @property
    def display_url(self) -> str:
        """The store's URL with its password hidden: the one to print or log."""
        from ..errors import redact

        return redact(self.url)

    def __init__(self, url: str | None = None, *, run_migrations: bool = True,
                 migrations: Iterable[Migrations] | None = None) -> None:
        """Open the database at ``url`` (default: :func:`default_url`) and, with
        ``run_migrations``, bring the core's tables and those of every migration set in
        ``migrations`` (default: every loaded plugin's, see :mod:`.migrations`) to their head."""
        self.url = url or default_url()
        self.engine = make_engine(self.url)
        self._writes = write_locked(self.engine)  # (the same pool and listeners; made once)
        self._checkpointer: tuple[threading.Thread, threading.Event] | None = None
        if run_migrations:
            if migrations is None:
                from ..plugins import get_plugins

                migrations = get_plugins().migrations.values()
            migrate(self.engine, migrations)

    @cached_property
    def session(self) -> Any:
        """An ORM ``sessionmaker`` on this store's engine (``expire_on_commit=False``), made on
        first use: the store itself reads and writes with Core statements, and importing
        ``sqlalchemy.orm`` costs every command's start."""
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False)

    def connect(self, *, write: bool = False) -> Connection:
        """A connection for a plugin's own queries (``with store.connect() as conn``); with
        ``write``, its transaction takes the write lock first (SQLite's BEGIN IMMEDIATE), so
        a read-then-write inside it cannot lose an update to another process."""
        return (self._writes if write else self.engine).connect()

    @contextmanager
    def transaction(self, tenant: str | None = None) -> Iterator[Connection]:
        """One write transaction (committed on success, rolled back on error); with ``tenant``,
        serialised with every other writer of that tenant (:func:`.sql.lock_tenant`)."""
        with self.connect(write=True) as conn, conn.begin():
            if tenant is not None:
                lock_tenant(conn, tenant)
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def checkpoint_in_background(self, interval: float = 1.0) -> None:
        """SQLite: copy the write-ahead log into the database file from a thread of its own,
        every ``interval`` seconds, instead of in the commit that fills the log past SQLite's
        1,000 pages (its default), which then waits for the copy and its fsync: measured, 9 of
        a 34 ms batch of 20 events. For a process whose commits are on a latency path (the
        stream worker); the checkpoint runs in SQLite's C code, without the GIL. No-op on other
        databases. :meth:`dispose` stops the thread."""
        if self.dialect != "sqlite" or self._checkpointer is not None:
            return
        event.listen(self.engine, "connect", _no_autocheckpoint)
        self.engine.dispose()  # connections made from now on get the pragma
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval):
                try:  # on the driver's connection: not inside a transaction SQLAlchemy began
                    raw = self.engine.raw_connection()
                    try:
                        db: Any = raw.driver_connection
                        (_, frames, _), = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        if frames > WAL_RESTART_FRAMES:
                            # A steady writer keeps adding frames while the passive copy runs,
                            # so the log would never start over and only grow: past this size
                            # the writer waits for the rest of the copy (little: the passive
                            # round did the bulk), then the log is reused from its start.
                            # It blocks new writers while it waits, so it waits briefly: a
                            # reader on an old snapshot (a CLI command's deferred transaction)
                            # would otherwise keep every writer out for the busy timeout, 30 s.
                            db.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                            try:
                                db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                            finally:
                                db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                    finally:
                        raw.close()
                except Exception as exc:  # the next round tries again; the log only grows meanwhile
                    log.warning("WAL checkpoint failed: %s", exc)

        thread = threading.Thread(target=run, name="attain-checkpoint", daemon=True)
        self._checkpointer = (thread, stop)
        thread.start()

    def dispose(self) -> None:
        if self._checkpointer is not None:
            thread, stop = self._checkpointer
            stop.set()
            thread.join(timeout=30)
            self._checkpointer = None
        self.engine.dispose()

    # -- plugin settings -----------------------------------------------------------------------

    def disabled_plugins(self, tenant: str) -> set[str]:
        # plain SQL: every command and batch asks, and compiling the ORM query was most of
        # `attain kpi`'s time outside the read itself
        with self.engine.connect() as conn:
            return {r[0] for r in fetch_all(
                conn, "SELECT plugin FROM plugin_settings WHERE tenant = ? AND enabled = ?",
                (tenant, False))}

    def set_plugin_enabled(self, tenant: str, plugin: str, enabled: bool) -> None:
        with self.engine.begin() as conn:
            upsert(conn, plugin_settings_table,
                   [{"tenant": tenant, "plugin": plugin, "enabled": enabled}],
                   ("tenant", "plugin"), ("enabled",))

    # -- reading -------------------------------------------------------------------------------

    def counters(self, tenant: str) -> dict[str, int]:
        t = counters_table
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.name, t.c.value).where(t.c.tenant == tenant))
            return {n: v for n, v in rows}

    def deadletters(self, tenant: str, limit: int | None = None) -> list[DeadLetter]:
        """The tenant's dead letters in the order they were stored (the first ``limit``)."""
        t = deadletters_table
        q = select(t).where(t.c.tenant == tenant).order_by(t.c.id)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [DeadLetter(**r._mapping) for r in conn.execute(q)]

    def stream_offsets(self, group_id: str, topic: str) -> dict[int, int]:
        """partition → next offset to process, as committed by :func:`save_stream_offsets`."""
        t = stream_offsets_table
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.partition, t.c.next_offset)
                                .where(t.c.group_id == group_id, t.c.topic == topic))
            return {p: o for p, o in rows}



def save_stream_offsets(conn: Connection, group_id: str, topic: str,
                        next_offsets: dict[int, int]) -> None:
    """Record, inside the caller's transaction, that every offset below ``next_offsets[p]`` of
    ``topic``'s partition ``p`` is processed. An offset never moves backwards."""
    if not next_offsets:
        return
    bigger = "GREATEST" if conn.dialect.name == "postgresql" else "MAX"
    conn.execute(
        text("INSERT INTO stream_offsets (group_id, topic, partition, next_offset) "
             "VALUES (:g, :t, :p, :o) ON CONFLICT (group_id, topic, partition) DO UPDATE SET "
             f"next_offset = {bigger}(stream_offsets.next_offset, excluded.next_offset)"),
        [{"g": group_id, "t": topic, "p": p, "o": o} for p, o in sorted(next_offsets.items())])
