"""Store core: migrations, transactions, the lock message, and the catalog writes ingest uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aligner.errors import AlignerError, StoreLockedError
from aligner.store import Store
from aligner.store.migrations import MIGRATIONS

# a second process that opens the DuckDB file read-write and holds it until stdin closes
HOLDER = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"

VIDEO = {"path": "videos/v.mp4", "status": "ok"}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "ws" / "aligner.duckdb") as s:
        yield s


class HeldStore:
    """Context manager: another Python process holds the file while the block runs."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> subprocess.Popen:
        cmd = [sys.executable, "-c", HOLDER, str(self.path)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        return self.proc

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "a.duckdb"
    with Store(path) as s:
        assert s.schema_version() == max(m.version for m in MIGRATIONS)
        assert s.counts() == dict.fromkeys(
            ["videos", "sentences", "runs", "predictions", "labels", "label_events"], 0
        )
        s.upsert_video("v", **VIDEO)
    with Store(path) as s:  # reopening applies nothing twice and keeps the data
        rows = s.query("SELECT version, count(*) FROM schema_migrations GROUP BY version")
        assert all(n == 1 for _v, n in rows) and len(rows) == len(MIGRATIONS)
        assert s.video("v")["status"] == "ok"


def test_a_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO videos (video_id, path, status) VALUES ('v', 'p', 'ok')")
        raise RuntimeError("boom")
    assert store.video("v") is None


def test_write_video_is_atomic(store):
    store.write_video("v", VIDEO, [(0.0, 1.0, "one"), (1.0, 2.0, "two")])
    before = store.sentences("v")
    with pytest.raises(duckdb.Error):  # a NULL text fails after the video row was updated
        store.write_video("v", {**VIDEO, "error": "x"}, [(0.0, 1.0, "one"), (1.0, 2.0, None)])
    assert store.sentences("v") == before and store.video("v")["error"] is None


def test_replace_sentences_keeps_ids_of_unchanged_sentences(store):
    ids = store.write_video("v", VIDEO, [(0.0, 1.0, "one"), (1.0, 2.0, "two"), (2.0, 3.0, "two")])
    new = store.write_video("v", VIDEO, [(0.0, 1.5, "two"), (2.0, 3.0, "new"), (3.0, 4.0, "one")])
    assert new[0] == ids[1] and new[2] == ids[0]  # same text keeps its id, even moved
    assert new[1] not in ids
    assert [(r.idx, r.text) for r in store.sentences("v")] == [(0, "two"), (1, "new"), (2, "one")]
    assert store.sentence_count(["v"]) == 3 and store.sentence_count(["other"]) == 0


def test_sentences_stream_in_batches_within_one_transaction(store, monkeypatch):
    """A generator of sentences goes in a batch at a time (3 rows here, 50k in use): ids and
    order hold across batches, kept ids survive, and a failure in a later batch (after earlier
    batches were inserted) leaves the video exactly as it was."""
    from aligner.store import catalog

    monkeypatch.setattr(catalog, "INSERT_BATCH_ROWS", 3)
    texts = [f"sentence {i}" for i in range(8)]
    ids = store.write_video("v", VIDEO, ((i, i + 1.0, t) for i, t in enumerate(texts)))
    assert len(set(ids)) == 8 and store.sentence_ids("v") == ids
    assert [(r.idx, r.start, r.text) for r in store.sentences("v")] == [
        (i, float(i), t) for i, t in enumerate(texts)
    ]

    def edited_then_broken():
        yield from ((i, i + 2.0, t) for i, t in enumerate(reversed(texts)))  # 8 rows: 3 batches
        raise OSError("disk went away")

    before = store.sentences("v")
    with pytest.raises(OSError, match="disk went away"):
        store.write_video("v", {**VIDEO, "error": "x"}, edited_then_broken())
    assert store.sentences("v") == before and store.video("v")["error"] is None
    assert store.write_video("v", VIDEO, [(0.0, 1.0, texts[5])], ids=False) == []
    assert store.sentence_ids("v") == [ids[5]]  # reused across the batches of the old rows


def test_unknown_video_columns_are_refused(store):
    with pytest.raises(ValueError, match="unknown videos columns"):
        store.upsert_video("v", **VIDEO, **{"status; DROP TABLE videos": 1})


def test_a_store_held_by_another_process_gives_one_clear_line(tmp_path):
    path = tmp_path / "held.duckdb"
    Store(path).close()
    with HeldStore(path) as proc, pytest.raises(StoreLockedError) as err:
        Store(path)
    message = str(err.value)
    assert str(path) in message and f"PID {proc.pid}" in message and "\n" not in message
    assert "stop it" in message
    Store(path).close()  # free again once the other process is gone


def _old_store(path: Path, versions: set[int]) -> None:
    """A DuckDB file as an older aligner left it: only the migrations in `versions` applied."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if migration.version in versions:
            con.execute(migration.sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                        [migration.version, migration.name])  # fmt: skip
    con.execute("INSERT INTO videos (video_id, path, status) VALUES ('v', 'videos/v.mp4', 'ok')")
    con.execute(
        'INSERT INTO sentences (video_id, idx, start, "end", text) VALUES'
        " ('v', 0, 1.0, 2.0, 'crack the eggs'), ('v', 1, 3.0, 4.0, 'whisk them')"
    )
    con.close()


def test_a_store_of_an_older_schema_is_migrated_and_keeps_its_rows(tmp_path):
    db = tmp_path / "old.duckdb"
    _old_store(db, {1})  # before the review doubt cache (migration 20)
    with Store(db, read_only=True) as store:  # a reader does not migrate, and need not
        later = sorted(m.version for m in MIGRATIONS if m.version != 1)
        assert store.pending_migrations() == later and len(store.sentences("v")) == 2
    with Store(db) as store:
        assert store.schema_version() == max(m.version for m in MIGRATIONS)
        assert [s.text for s in store.sentences("v")] == ["crack the eggs", "whisk them"]
        sid = store.sentences("v")[0].sentence_id
        store.record_decision(sid, action="correct", curator="ann", start=1.0, end=2.5)
        run = store.start_run("predict", model="tan")
        store.save_predictions(run, [{"sentence_id": sid, "alignability": 0.9, "start": 1.0,
                                      "end": 2.0, "peak": 1.5}])  # fmt: skip
        store.finish_run(run)
        assert store.review_queue(run, limit=5)  # the queue reads the new doubt table
        applied = [v for (v,) in store.query("SELECT version FROM schema_migrations")]
    assert sorted(applied) == sorted(m.version for m in MIGRATIONS)
    with Store(db, read_only=True) as store:  # migrated once: readers open it now
        assert store.current_labels("v")[0]["end"] == 2.5


def test_a_store_killed_while_being_created_opens_and_finishes_migrating(tmp_path):
    db = tmp_path / "blank.duckdb"
    duckdb.connect(str(db)).close()  # the file exists, no table yet
    with pytest.raises(AlignerError, match="never fully set up.*aligner ingest"):
        Store(db, read_only=True)  # one line instead of a catalog error on the first query
    with Store(db) as store:
        assert store.pending_migrations() == []
