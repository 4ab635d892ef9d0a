"""Set-based store queries for batch work, on a real DuckDB file: the manifest, importing
prediction shards through `read_parquet`, and the partitioned Parquet export, which must hold
exactly the records the row-by-row export writes."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aligner.export import ExportFilters, export_dataset
from aligner.store import Store
from aligner.workspace import open_workspace
from tests.demo_data import fill_benchmark_rows


@pytest.fixture
def ws(tmp_path):
    """A store with 3 videos x 40 sentences, a finished run, and one label of every kind."""
    ws = open_workspace(tmp_path)
    with Store(ws.db_path) as store:
        fill_benchmark_rows(store, 120, per_video=40)
        ids = [s.sentence_id for s in store.sentences()]
        store.record_decision(ids[0], action="accept", curator="ana")
        store.record_decision(ids[1], action="correct", curator="ana", start=2.5, end=7.25)
        store.record_decision(ids[2], action="not_alignable", curator="ben", reason="b_roll")
        store.record_decision(ids[3], action="skip", curator="ben")
    return ws


def _jsonl(ws, tmp_path, filters: ExportFilters) -> list[dict]:
    out = tmp_path / "rows.jsonl"
    export_dataset(ws, fmt="jsonl", out=out, **_options(filters))
    return [json.loads(line) for line in out.read_text().splitlines()]


def _partitioned(ws, tmp_path, filters: ExportFilters) -> tuple[list[dict], object, int]:
    out = tmp_path / "parts"
    summary = export_dataset(ws, fmt="parquet-partitioned", out=out, **_options(filters))
    files = sorted(out.glob("part=*/*.parquet"))
    assert files and all(f.parent.name.startswith("part=") for f in files)
    rows = duckdb.sql(
        f"SELECT * EXCLUDE (part) FROM read_parquet('{out}/*/*.parquet', hive_partitioning=true)"
        " ORDER BY video_id, idx"
    ).fetchall()
    names = [c for c in pq.read_schema(files[0]).names if c != "part"]
    return [dict(zip(names, r, strict=True)) for r in rows], summary, len(files)


def _options(filters: ExportFilters) -> dict:
    """The filters as `export_dataset` keywords (`tagged` is built from `tag=`, not passed)."""
    return {k: v for k, v in filters.__dict__.items() if k != "tagged"}


def _same(a: dict, b: dict) -> None:
    for key, value in a.items():
        other = b[key]
        if key == "decided_at" and value is not None:
            assert datetime.fromisoformat(value) == datetime.fromisoformat(other)
        elif isinstance(value, float):
            assert other == pytest.approx(value, abs=1e-9), key
        else:
            assert value == other, key


@pytest.mark.parametrize(
    "filters",
    [ExportFilters(), ExportFilters(min_alignability=0.5, exclude_not_alignable=True),
     ExportFilters(reviewed_only=True)],
)  # fmt: skip
def test_partitioned_export_equals_row_export(ws, tmp_path, filters):
    expected = _jsonl(ws, tmp_path, filters)
    got, summary, n_files = _partitioned(ws, tmp_path, filters)
    assert len(got) == len(expected) == summary.n_records > 0
    assert n_files > 1 or summary.n_videos == 1  # videos spread over part=<n> folders
    assert summary.n_videos == len({r["video_id"] for r in expected})
    for a, b in zip(expected, got, strict=True):
        _same(a, b)
    sources = {r["source"] for r in expected}
    assert summary.by_source == {s: sum(r["source"] == s for r in expected) for s in sources}


def test_manifest_rows_hold_each_video_in_order(ws):
    with Store(ws.db_path, read_only=True) as store:
        rows = store.manifest_rows()
        first = store.sentences(rows[0]["video_id"])
    assert [r["video_id"] for r in rows] == ["bench-0", "bench-1", "bench-2"]
    assert rows[0]["sentence_ids"] == [s.sentence_id for s in first]
    assert rows[0]["texts"] == [s.text for s in first] and rows[0]["starts"][1] == 6.0


def test_import_prediction_files_matches_sentences_by_video_idx_and_text(ws, tmp_path):
    with Store(ws.db_path) as store:
        sentences = store.sentences("bench-1")
        records = [{"video_id": s.video_id, "idx": s.idx, "text": s.text, "alignability": 0.25,
                    "start": s.start, "end": s.end + 1, "peak": s.start, "dual_alignability": 0.5,
                    "dual_peak": s.start} for s in sentences]  # fmt: skip
        records[5]["text"] = "a sentence edited since"  # stale: must not land on sentence 5
        records.append({**records[0], "video_id": "never-ingested"})
        path = tmp_path / "p.parquet"
        pq.write_table(pa.Table.from_pylist(records), path)
        run_id = store.start_run("predict", model="tan")
        counts = store.import_prediction_files(run_id, [path])
        stored = {p["sentence_id"]: p for p in store.predictions(run_id)}
    assert counts == {"imported": 39, "unmatched": 2}
    assert sentences[5].sentence_id not in stored
    row = stored[sentences[7].sentence_id]
    assert row["alignability"] == 0.25 and row["end"] == sentences[7].end + 1


def test_partitioned_export_replaces_its_parts_and_spares_other_folders(ws, tmp_path):
    from aligner.errors import AlignerError

    out = tmp_path / "parts"
    first = export_dataset(ws, fmt="parquet-partitioned", out=out)
    again = export_dataset(ws, fmt="parquet-partitioned", out=out, reviewed_only=True)
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet')").fetchall()[0][0]
    assert rows == again.n_records == 3 < first.n_records  # the first export's parts are gone
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(AlignerError, match="holds other files"):
        export_dataset(ws, fmt="parquet-partitioned", out=other)
    assert (other / "notes.txt").read_text() == "keep me"
