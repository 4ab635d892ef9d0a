"""Store core: migrations, transactions, the lock message, and the catalog writes ingest uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aligner.errors import StoreLockedError
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
