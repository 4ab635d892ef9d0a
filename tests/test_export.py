"""Cleaned-dataset export: provenance, filters, every format read back, determinism, round trip."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aligner.cli import main
from aligner.errors import AlignerError
from aligner.export import FIELDS, FORMATS, export_dataset
from aligner.store import Store
from aligner.workspace import open_workspace

# (start, end, text) per video; ASR times
SENTENCES = {
    "vid_a": [
        (1.0, 4.0, "Crack the eggs into the bowl."),
        (5.0, 8.0, "Whisk them until smooth."),
        (9.0, 12.0, "Thanks for watching my channel."),
        (13.0, 16.0, "Pour the batter into the pan."),
    ],
    "vid_b": [(2.0, 5.0, "Cut the onion in half."), (6.0, 9.0, "Slice it thinly.")],
}
# prediction per (video, idx): alignability, start, end, peak; vid_b's second sentence has none.
# The final windows do not overlap: ingest trims overlapping cues, which the round trip would see.
PREDICTED = {
    ("vid_a", 0): (0.9, 2.5, 6.0, 4.0),
    ("vid_a", 1): (0.8, 7.0, 10.5, 9.0),
    ("vid_a", 2): (0.3, 9.5, 11.0, 10.0),
    ("vid_a", 3): (0.6, 14.0, 18.25, 16.0),
    ("vid_b", 0): (0.45, 2.0, 5.5, 4.0),
}


def _build_store(ws) -> dict[tuple[str, int], int]:
    """Videos, sentences, one finished `tan` run and four kinds of human label."""
    with Store(ws.db_path) as store:
        ids = {}
        for video_id, sentences in SENTENCES.items():
            store.upsert_video(video_id, path=f"videos/{video_id}.mp4", duration=30.0, status="ok")
            for idx, sid in enumerate(store.replace_sentences(video_id, sentences)):
                ids[(video_id, idx)] = sid
        store.upsert_video("vid_bad", path="videos/vid_bad.mp4", status="error", error="broken")
        _add_run(store, ids, PREDICTED)
        store.record_decision(ids[("vid_a", 0)], action="accept", curator="ann")
        store.record_decision(
            ids[("vid_a", 1)], action="correct", curator="bob", start=6.5, end=8.75
        )
        store.record_decision(
            ids[("vid_a", 2)], action="not_alignable", curator="ann", reason="talking_head"
        )
        store.record_decision(ids[("vid_a", 3)], action="skip", curator="bob")
    return ids


def _add_run(store, ids, predicted) -> str:
    run_id = store.start_run("predict", model="tan")
    rows = [
        {"sentence_id": ids[key], "alignability": a, "start": s, "end": e, "peak": p}
        for key, (a, s, e, p) in predicted.items()
    ]
    store.save_predictions(run_id, rows)
    store.finish_run(run_id)
    return run_id


@pytest.fixture
def ws(tmp_path):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    workspace = open_workspace(dataset)
    _build_store(workspace)
    return workspace


def _jsonl(ws, tmp_path, **filters) -> list[dict]:
    out = tmp_path / "out.jsonl"
    export_dataset(ws, fmt="jsonl", out=out, **filters)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_records_carry_final_times_and_provenance(ws, tmp_path):
    records = {(r["video_id"], r["idx"]): r for r in _jsonl(ws, tmp_path)}
    assert len(records) == 6  # the error video has no sentences to export
    accepted = records[("vid_a", 0)]
    assert (accepted["source"], accepted["curator"], accepted["label_status"]) == (
        "curator", "ann", "accepted",
    )  # fmt: skip
    assert (accepted["start"], accepted["end"], accepted["alignable"]) == (2.5, 6.0, True)
    assert (accepted["asr_start"], accepted["asr_end"]) == (1.0, 4.0)
    assert accepted["decided_at"] and accepted["run_id"]
    corrected = records[("vid_a", 1)]
    assert (corrected["start"], corrected["end"], corrected["curator"]) == (6.5, 8.75, "bob")
    assert (corrected["pred_start"], corrected["pred_end"], corrected["pred_peak"]) == (7, 10.5, 9)
    refused = records[("vid_a", 2)]
    assert (refused["alignable"], refused["alignability"], refused["label_reason"]) == (
        False, 0.0, "talking_head",
    )  # fmt: skip
    assert (refused["start"], refused["end"]) == (9.0, 12.0)  # no visual window: the ASR times
    skipped = records[("vid_a", 3)]  # a skip is no decision: the model's answer stands
    assert (skipped["source"], skipped["start"], skipped["end"]) == ("model", 14.0, 18.25)
    assert skipped["label_status"] == "skipped" and skipped["alignable"] is True
    unsure = records[("vid_b", 0)]
    assert (unsure["source"], unsure["alignable"], unsure["alignability"]) == ("model", False, 0.45)
    bare = records[("vid_b", 1)]
    assert (bare["source"], bare["start"], bare["alignable"], bare["run_id"]) == (
        "asr", 6.0, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"reviewed_only": True}, [("vid_a", 0), ("vid_a", 1), ("vid_a", 2)]),
        ({"accepted_only": True}, [("vid_a", 0), ("vid_a", 1)]),
        ({"exclude_not_alignable": True}, [("vid_a", 0), ("vid_a", 1), ("vid_a", 3), ("vid_b", 1)]),
        ({"min_alignability": 0.5}, [("vid_a", 0), ("vid_a", 1), ("vid_a", 3)]),
        ({"min_alignability": 0.4, "exclude_not_alignable": True}, [("vid_a", 0), ("vid_a", 1), ("vid_a", 3)]),
    ],
)  # fmt: skip
def test_filters(ws, tmp_path, filters, expected):
    assert [(r["video_id"], r["idx"]) for r in _jsonl(ws, tmp_path, **filters)] == expected


def test_run_choice(ws, tmp_path):
    first_run = _jsonl(ws, tmp_path)[0]["run_id"]
    with Store(ws.db_path) as store:
        ids = {(s.video_id, s.idx): s.sentence_id for s in store.sentences()}
        newer = _add_run(store, ids, {("vid_b", 1): (0.99, 7.0, 8.0, 7.5)})
    latest = {(r["video_id"], r["idx"]): r for r in _jsonl(ws, tmp_path)}
    assert latest[("vid_b", 1)]["run_id"] == newer and latest[("vid_b", 1)]["start"] == 7.0
    assert latest[("vid_b", 0)]["source"] == "asr"  # not predicted in the newer run
    older = {(r["video_id"], r["idx"]): r for r in _jsonl(ws, tmp_path, run_id=first_run)}
    assert older[("vid_b", 0)]["source"] == "model" and older[("vid_b", 1)]["source"] == "asr"
    with pytest.raises(AlignerError, match="no run 'nope'"):
        export_dataset(ws, fmt="csv", out=tmp_path / "x.csv", run_id="nope")


def test_export_through_an_open_store(ws, tmp_path):
    """The review app holds the store open read-write; it can export through that connection."""
    standalone, through = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    export_dataset(ws, fmt="jsonl", out=standalone)
    with Store(ws.db_path) as store:
        summary = export_dataset(ws, fmt="jsonl", out=through, store=store)
        assert store.counts()["sentences"] == 6  # the connection is still usable afterwards
    assert summary.n_records == 6 and through.read_bytes() == standalone.read_bytes()


def test_store_without_predictions_exports_asr_times(tmp_path):
    dataset = tmp_path / "bare"
    dataset.mkdir()
    ws = open_workspace(dataset)
    with Store(ws.db_path) as store:
        store.upsert_video("v", path="videos/v.mp4", status="ok")
        store.replace_sentences("v", SENTENCES["vid_b"])
    records = _jsonl(ws, tmp_path)
    assert [(r["source"], r["start"], r["end"]) for r in records] == [
        ("asr", 2.0, 5.0), ("asr", 6.0, 9.0),
    ]  # fmt: skip


# -- every format, read back with a standard reader ---------------------------------------------
def _read_back(fmt: str, out: Path) -> dict[tuple[str, str], tuple]:
    """{(video_id, text): (start, end, alignable or None)} from an exported file or folder."""
    if fmt == "howto100m":
        data = json.loads(out.read_text())
        return {
            (vid, t): (s, e, a)
            for vid, d in data.items()
            for s, e, t, a in zip(d["start"], d["end"], d["text"], d["alignable"], strict=True)
        }
    if fmt == "htm-align":
        data = json.loads(out.read_text())
        return {(vid, t): (s, e, bool(a)) for vid, rows in data.items() for a, s, e, t in rows}
    if fmt in ("jsonl", "parquet", "csv"):
        return {
            (r["video_id"], r["text"]): (r["start"], r["end"], r["alignable"])
            for r in _rows(fmt, out)
        }
    import webvtt

    read = webvtt.read if fmt == "vtt" else webvtt.from_srt
    return {
        (path.stem, cue.text): (_secs(cue.start), _secs(cue.end), None)
        for path in sorted(out.glob(f"*.{fmt}"))
        for cue in read(str(path))
    }  # fmt: skip


def _rows(fmt: str, out: Path) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in out.read_text().splitlines()]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.column_names == list(FIELDS)
        assert str(table.schema.field("start").type) == "double"
        return table.to_pylist()
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(FIELDS)
    conv = {"true": True, "false": False, "": None}
    return [
        {**r, "start": float(r["start"]), "end": float(r["end"]), "alignable": conv[r["alignable"]]}
        for r in rows
    ]


def _secs(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return round(int(h) * 3600 + int(m) * 60 + float(s), 3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_reads_back_and_is_byte_identical(ws, tmp_path, fmt):
    reference = {(r["video_id"], r["text"]): r for r in _jsonl(ws, tmp_path)}
    first, second = tmp_path / f"first.{fmt}", tmp_path / f"second.{fmt}"
    summary = export_dataset(ws, fmt=fmt, out=first)
    export_dataset(ws, fmt=fmt, out=second)
    assert _tree_bytes(first) == _tree_bytes(second)
    got = _read_back(fmt, first)
    # htm-align cannot say "unknown": the one sentence with neither prediction nor label is left out
    expected = {
        k: r for k, r in reference.items() if fmt != "htm-align" or r["alignable"] is not None
    }
    assert set(got) == set(expected)
    for key, (start, end, alignable) in got.items():
        assert (start, end) == (expected[key]["start"], expected[key]["end"])
        if fmt not in ("vtt", "srt"):
            assert alignable == expected[key]["alignable"]
    assert summary.n_records == 6 and summary.n_videos == 2
    assert not list(tmp_path.rglob("*.tmp"))


def _tree_bytes(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_cli_export_with_filters(ws, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    code = main(
        ["export", str(ws.dataset), "--format", "csv", "--out", str(out), "--accepted-only"]
    )
    assert code == 0
    assert "exported 2 sentences of 1 videos as csv" in capsys.readouterr().out
    with out.open(newline="") as fh:
        assert [r["curator"] for r in csv.DictReader(fh)] == ["ann", "bob"]
    assert (
        main(["export", str(ws.dataset), "--format", "csv", "--out", str(out), "--run-id", "x"])
        == 1
    )
    assert "no run 'x'" in capsys.readouterr().err


# -- round trip: exported caption.json ingested as a new dataset ----------------------------------
@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_howto100m_round_trip_through_ingest(ws, tmp_path):
    from aligner import ingest

    copy = tmp_path / "copy"
    (copy / "videos").mkdir(parents=True)
    for video_id in SENTENCES:
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
             "color=c=green:s=64x48:r=5:d=30", "-c:v", "libx264", str(copy / "videos" / f"{video_id}.mp4")],
            check=True,
        )  # fmt: skip
    export_dataset(ws, fmt="howto100m", out=copy / "caption.json")
    exported = json.loads((copy / "caption.json").read_text())
    copy_ws = open_workspace(copy)
    ingest.ingest_dataset(copy_ws)
    with Store(copy_ws.db_path, read_only=True) as store:
        stored = {v: [(s.start, s.end, s.text) for s in store.sentences(v)] for v in SENTENCES}
    for video_id, entry in exported.items():
        assert stored[video_id] == list(
            zip(entry["start"], entry["end"], entry["text"], strict=True)
        )
