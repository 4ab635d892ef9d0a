"""`aligner ingest` end to end on tiny real datasets: rows stored, idempotent, re-ingest, ASR."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import aligner
from aligner.cli import main
from aligner.ingest import ingest_dataset
from aligner.store import Store
from aligner.subtitles import Cue, Word
from aligner.workspace import open_workspace

TABLES = ["videos", "sentences", "runs", "predictions", "labels", "label_events"]
VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nCut the onion.\n\n00:00:02.500 --> 00:00:04.000\nFry it.\n"
SRT = "1\n00:00:01,000 --> 00:00:02,000\nfirst we mix\n\n2\n00:00:02,000 --> 00:00:03,500\nthe flour.\n"


@pytest.fixture
def dataset(tmp_path, mp4) -> Path:
    """a (VTT), b (SRT, nested), c (caption.json), d (no subtitles)."""
    ds = tmp_path / "ds"
    for rel in ["videos/a.mp4", "videos/deep/er/b.mp4", "videos/c.mp4", "videos/d.mp4"]:
        (ds / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mp4, ds / rel)
    (ds / "subtitles").mkdir()
    (ds / "subtitles/a.vtt").write_text(VTT)
    (ds / "subtitles/b.srt").write_text(SRT)
    caption = {"c": {"start": [0.0, 1.5], "end": [2.0, 3.0], "text": ["pour the", "milk"]}}
    (ds / "caption.json").write_text(json.dumps(caption))
    return ds


def ingest(ds: Path, **kw):
    lines: list[str] = []
    summary = ingest_dataset(open_workspace(ds), report=lines.append, progress=False, **kw)
    return summary, lines


def snapshot(ds: Path) -> dict[str, list]:
    with Store(ds / ".aligner" / "aligner.duckdb", read_only=True) as s:
        return {t: s.query(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


def test_ingest_stores_videos_and_sentences(dataset):
    summary, lines = ingest(dataset)
    assert (summary.videos, summary.ok, summary.no_subtitles, summary.errors) == (4, 3, 1, 0)
    assert summary.sentences == 4
    assert lines == [
        f"{dataset / 'videos/d.mp4'}: no subtitles (ASR is off; run `aligner ingest --asr` to transcribe it)"
    ]
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        videos = {v["video_id"]: v for v in s.videos(status=None)}
        assert videos["b"]["path"] == "videos/deep/er/b.mp4"
        assert videos["b"]["subtitle_path"] == "subtitles/b.srt"
        assert [videos[v]["subtitle_source"] for v in "abcd"] == [
            "vtt",
            "srt",
            "caption.json",
            None,
        ]
        assert videos["d"]["status"] == "no_subtitles"
        assert videos["a"]["duration"] == pytest.approx(5.0, abs=0.05) and videos["a"]["fps"] == 10
        assert [(r.start, r.end, r.text) for r in s.sentences("a")] == [
            (0.5, 2.0, "Cut the onion."), (2.5, 4.0, "Fry it."),
        ]  # fmt: skip
        assert [r.text for r in s.sentences("b")] == ["first we mix the flour."]
        assert [(r.start, r.end, r.text) for r in s.sentences("c")] == [(0.0, 3.0, "pour the milk")]


def test_second_run_changes_nothing(dataset):
    first, _ = ingest(dataset)
    before = snapshot(dataset)
    second, _ = ingest(dataset)
    assert snapshot(dataset) == before
    assert second.unchanged == 4 and second.sentences == first.sentences


def test_edited_subtitles_are_reingested_and_labels_survive(dataset):
    ingest(dataset)
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        old = {r.text: r.sentence_id for r in s.sentences("a")}
        s.con.execute(
            "INSERT INTO labels (sentence_id, status, alignable, curator, version)"
            " VALUES (?, 'accepted', true, 'ann', 1)",
            [old["Fry it."]],
        )
    (dataset / "subtitles/a.vtt").write_text(VTT.replace("Cut the onion.", "Slice the onion."))
    summary, _ = ingest(dataset)
    assert summary.unchanged == 3
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        rows = s.sentences("a")
        assert [r.text for r in rows] == ["Slice the onion.", "Fry it."]
        assert rows[1].sentence_id == old["Fry it."]  # unchanged sentence kept its id
        assert rows[0].sentence_id not in old.values()
        assert s.query("SELECT sentence_id FROM labels") == [(old["Fry it."],)]


def test_changed_sentencify_params_reingest(dataset):
    from aligner.sentencify import SentencifyParams

    ingest(dataset)
    summary, _ = ingest(dataset, params=SentencifyParams(hard_max_words=3))
    assert summary.unchanged == 0  # the parameters are part of every video's input key
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        assert [r.text for r in s.sentences("b")] == ["first we mix", "the flour."]


def test_asr_transcribes_videos_without_subtitles(dataset, monkeypatch):
    calls = []

    def transcribe(path, *, model=None, beam_size=1):
        calls.append((Path(path).name, model))
        return [Cue(0.2, 1.4, "hello there.", (Word(0.2, "hello"), Word(0.7, "there.")))]

    fake = types.ModuleType("aligner.asr")
    fake.transcribe = transcribe
    monkeypatch.setitem(sys.modules, "aligner.asr", fake)
    monkeypatch.setattr(aligner, "asr", fake, raising=False)
    ingest(dataset)  # ASR off: d has no subtitles
    summary, lines = ingest(dataset, asr=True, asr_model="tiny")
    assert calls == [("d.mp4", "tiny")] and lines == []
    assert (summary.ok, summary.no_subtitles, summary.unchanged) == (4, 0, 3)
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        assert s.video("d")["subtitle_source"] == "asr"
        assert [(r.start, r.end, r.text) for r in s.sentences("d")] == [(0.2, 1.4, "hello there.")]
    summary, _ = ingest(dataset)  # ASR off again: the transcript stays
    assert summary.ok == 4 and summary.unchanged == 4 and calls == [("d.mp4", "tiny")]


def test_cli_prints_one_summary_line(dataset, capsys):
    assert main(["ingest", str(dataset), "--db", str(dataset / "x.duckdb")]) == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines() == [out.strip()]
    assert out.startswith(
        "ingest: 4 videos (3 ok, 1 no subtitles, 0 errors; 0 unchanged), 4 sentences"
    )
    assert "d.mp4: no subtitles" in err
    assert (dataset / "x.duckdb").is_file() and not (dataset / ".aligner/aligner.duckdb").exists()


def test_cli_missing_dataset_folder(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "missing: dataset folder does not exist" in err


def test_sample_dataset_ingests_and_reingest_is_identical(sample_dataset):
    summary, lines = ingest(sample_dataset)
    n_videos = len([p for p in (sample_dataset / "videos").rglob("*") if p.suffix == ".mp4"])
    assert summary.videos == n_videos and summary.errors == 0, lines
    assert summary.ok >= n_videos - 1 and summary.sentences > 0
    before = snapshot(sample_dataset)
    assert len(before["videos"]) == n_videos
    again, _ = ingest(sample_dataset)
    assert again.unchanged == n_videos and snapshot(sample_dataset) == before


def test_console_script_runs(dataset):
    exe = Path(sys.executable).with_name("aligner")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "aligner"]
    env = {**os.environ, "PYTHONPATH": str(Path(aligner.__file__).parents[1])}
    out = subprocess.run([*cmd, "ingest", str(dataset)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ingest: 4 videos")


def test_cues_past_the_video_end_are_dropped_or_cut_with_one_line(dataset):
    vtt = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nMix it.\n\n00:00:04.000 --> 00:00:08.000\nBake it.\n\n"
        "00:01:40.000 --> 00:01:41.000\nLate.\n\n01:00:00.000 --> 01:00:01.000\nLater.\n"
    )
    (dataset / "subtitles/a.vtt").write_text(vtt)
    _, lines = ingest(dataset)
    (line,) = [x for x in lines if "a.vtt" in x]
    assert "3 cue(s) past the video's end (5.0 s): 2 dropped, 1 cut at the end" in line
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        duration = s.video("a")["duration"]
        rows = [(r.start, r.end, r.text) for r in s.sentences("a")]
    assert rows == [(1.0, 2.0, "Mix it."), (4.0, duration, "Bake it.")]


def test_a_half_second_video_keeps_its_sentence_inside_it(tmp_path):
    from tests.media import ffmpeg_video

    ds = tmp_path / "short"
    ffmpeg_video(ds / "videos/s.mp4", seconds=0.5)
    (ds / "subtitles").mkdir()
    (ds / "subtitles/s.srt").write_text("1\n00:00:00,000 --> 00:00:04,000\nstir the sauce\n")
    summary, lines = ingest(ds)
    assert summary.ok == 1
    with Store(ds / ".aligner/aligner.duckdb") as s:
        duration = s.video("s")["duration"]
        (row,) = s.sentences("s")
    assert duration < 1.0 and 0.0 <= row.start < row.end <= duration
    assert len(lines) == 1 and "s.srt: 1 cue(s) past the video's end" in lines[0]


def test_raw_howto100m_captions_are_stored_without_repeated_words(dataset):
    raw = {
        "c": {
            "start": [0.0, 1.0, 2.0, 3.0],
            "end": [2.0, 3.0, 4.0, 4.5],
            "text": [
                "so first we",
                "so first we\ntake the eggs",
                "take the eggs\n[Music]",
                "and whisk them",
            ],
        }
    }
    (dataset / "caption.json").write_text(json.dumps(raw))
    ingest(dataset)
    with Store(dataset / ".aligner/aligner.duckdb") as s:
        words = " ".join(" ".join(r.text for r in s.sentences("c")).split())
    assert words == "so first we take the eggs and whisk them"


def test_sentences_as_cues_keeps_unpunctuated_cues_apart(dataset, capsys):
    srt = (
        "1\n00:00:00,500 --> 00:00:01,500\npour the milk into the bowl\n\n"
        "2\n00:00:01,500 --> 00:00:03,000\nwhisk until smooth\n"
    )
    (dataset / "subtitles/b.srt").write_text(srt)
    db = dataset / ".aligner/aligner.duckdb"
    assert main(["ingest", str(dataset)]) == 0
    with Store(db) as s:
        assert [r.text for r in s.sentences("b")] == [
            "pour the milk into the bowl whisk until smooth"
        ]
    assert main(["ingest", str(dataset), "--sentences-as-cues"]) == 0
    with Store(db) as s:
        rows = [(r.start, r.end, r.text) for r in s.sentences("b")]
    assert rows == [(0.5, 1.5, "pour the milk into the bowl"), (1.5, 3.0, "whisk until smooth")]


def test_auto_align_passes_sentences_as_cues_to_ingest(monkeypatch, tmp_path):
    import aligner.pipeline

    seen = {}
    monkeypatch.setattr(aligner.pipeline, "auto_align", lambda ws, **kw: seen.update(kw) or "done")
    assert main(["auto-align", str(tmp_path), "--sentences-as-cues", "--no-asr"]) == 0
    assert seen["sentences"].already_sentences is True
