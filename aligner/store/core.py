"""The DuckDB connection: opening (with a clear message when locked), migrations, transactions."""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from aligner.errors import (
    AlignerError,
    StoreBusyError,
    StoreLockedError,
    first_line,
    storage_reason,
)
from aligner.store.migrations import MIGRATIONS

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.*?) \(PID (?P<pid>\d+)\)")
# attempts for a transaction that hits a write-write conflict, and the wait between them:
# exponential with full jitter (random in [0, min(cap, base * 2^n)]), so writers that collided
# do not collide again in lock step. 8 curators saving on the same 12 sentences for 60 s ran
# out of 5 linear retries once in ~4,600 saves; see benchmarks/bench_curators.py.
CONFLICT_RETRIES = 12
CONFLICT_BACKOFF_S = 0.005
CONFLICT_BACKOFF_CAP_S = 0.25
# Locks for the writes that go through `retry_on_conflict`, one per (database file, what is
# written: a sentence's label, a video's claim ...). DuckDB lets a single process write a file,
# so these locks order every writer of the same thing. They are needed, not only faster:
# DuckDB's optimistic concurrency does not see every conflict (an INSERT OR REPLACE and a DELETE
# of the same row in two transactions both commit: a decision and an undo then wrote the same
# label version; tests/test_curators.py). One lock per file instead doubled save latency.
_WRITE_LOCKS: dict[tuple, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


class StoreCore:
    """Owns one DuckDB connection. Area mixins (catalog, runs, review) add the queries."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self.con = _connect(self.path, read_only=read_only)
        if not read_only:
            self._migrate()
        elif min(m.version for m in MIGRATIONS) in self.pending_migrations():
            # no tables at all (a run was killed while creating the file): a reader would fail
            # on its first query with a catalog error; newer migrations missing are harmless
            self.con.close()
            raise AlignerError(
                f"{self.path}: the store was never fully set up (a run killed while creating"
                " it?); run `aligner ingest DATASET` once to finish it"
            )

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread / one Streamlit session (DuckDB cursors are not thread-safe)."""
        return self.con.cursor()

    # -- queries ---------------------------------------------------------------------------
    def query(self, sql: str, params: list | tuple | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def query_dicts(self, sql: str, params: list | tuple | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT, rolled back on any error, so a failure leaves nothing half-written."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        try:
            self.con.execute("COMMIT")  # a conflict can surface here, at the end
        except duckdb.Error:
            with contextlib.suppress(duckdb.Error):  # DuckDB has usually rolled back already
                self.con.execute("ROLLBACK")
            raise

    def retry_on_conflict(self, fn, *args, lock: Hashable = None, **kwargs):
        """Run `fn` (which opens its own transaction) holding the write lock `lock` names (what
        `fn` writes, e.g. ("label", sentence_id); None: the whole file); retry a few times when
        another session wrote the same rows at once.

        DuckDB reports that race as a TransactionException (write-write conflict) or, when both
        inserted the same primary key, a ConstraintException; `fn` re-reads what it depends on.
        """
        for attempt in range(CONFLICT_RETRIES):
            try:
                with self.write_lock(lock):
                    return fn(*args, **kwargs)
            except (duckdb.TransactionException, duckdb.ConstraintException) as err:
                if attempt == CONFLICT_RETRIES - 1:
                    raise StoreBusyError(
                        f"the store was busy: {CONFLICT_RETRIES} tries conflicted with other"
                        f" writers ({type(err).__name__}); nothing was written, try again"
                    ) from err
                time.sleep(_backoff_s(attempt))
            except duckdb.Error as err:  # e.g. a full disk: one line for the page, not a traceback
                reason = storage_reason(err) or first_line(err)
                raise AlignerError(f"{self.path}: nothing was saved ({reason})") from err
        return None

    def write_lock(self, what: Hashable = None) -> threading.RLock:
        """The lock every `Store` of this process shares for writing `what` in this file."""
        key = (str(self.path.resolve()), what)
        with _WRITE_LOCKS_GUARD:
            return _WRITE_LOCKS.setdefault(key, threading.RLock())

    # -- schema ----------------------------------------------------------------------------
    def pending_migrations(self) -> list[int]:
        """Migration numbers this store has not applied yet (all of them on a blank file)."""
        known = self.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )[0][0]
        applied = set()
        if known:
            applied = {v for (v,) in self.query("SELECT version FROM schema_migrations")}
        return sorted(m.version for m in MIGRATIONS if m.version not in applied)

    def schema_version(self) -> int:
        rows = self.query("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(rows[0][0])

    def _migrate(self) -> None:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        # apply every missing number, not only those above the highest: areas own number ranges,
        # so a lower-numbered migration can ship after a higher one has run on a user's store
        pending = set(self.pending_migrations())
        for migration in sorted(MIGRATIONS, key=lambda m: m.version):
            if migration.version not in pending:
                continue
            with self.transaction() as con:
                con.execute(migration.sql)
                con.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [migration.version, migration.name],
                )


def _backoff_s(attempt: int) -> float:
    return random.uniform(0, min(CONFLICT_BACKOFF_CAP_S, CONFLICT_BACKOFF_S * 2**attempt))


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    if read_only and not path.exists():
        raise AlignerError(f"{path}: no store here yet (run `aligner ingest` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as err:
        raise _locked_error(path, err) from None
    except duckdb.Error as err:
        raise AlignerError(f"{path}: cannot open the store ({first_line(err)})") from None


def _locked_error(path: Path, err: Exception) -> AlignerError:
    message = str(err)
    holder = _LOCK_HOLDER.search(message)
    if holder is None:
        return AlignerError(f"{path}: cannot open the store ({first_line(err)})")
    return StoreLockedError(
        f"{path}: the store is locked by another process ({holder['prog']}, PID {holder['pid']}),"
        " probably a running `aligner review` or another aligner command; stop it"
        " (or wait for it to finish) and run this again"
    )
