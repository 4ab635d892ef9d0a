"""Bad inputs: each gives one clear line naming the file, the batch completes, and nothing
already stored is lost or duplicated."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aligner.cli import main
from aligner.ingest import ingest_dataset
from aligner.store import Store
from aligner.workspace import open_workspace

REPO = Path(__file__).resolve().parents[1]
HOLDER = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
GOOD_VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nCut the onion.\n\n00:00:02.500 --> 00:00:04.000\nFry it.\n"


def put(ds: Path, rel: str, content: str | bytes) -> Path:
    path = ds / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def add_video(ds: Path, mp4: Path, video_id: str, subtitle: tuple[str, str | bytes] | None = None):
    put(ds, f"videos/{video_id}.mp4", mp4.read_bytes())
    if subtitle:
        put(ds, f"subtitles/{video_id}{subtitle[0]}", subtitle[1])


@pytest.fixture
def bad_dataset(tmp_path, mp4) -> Path:
    ds = tmp_path / "bad"
    data = mp4.read_bytes()
    add_video(ds, mp4, "good", (".vtt", GOOD_VTT))
    put(ds, "videos/zero.mp4", b"")
    put(ds, "videos/cut.mp4", data[: len(data) * 6 // 10])
    put(ds, "videos/text.mp4", "this is a text file, not a video\n" * 20)
    add_video(ds, mp4, "emptyvtt", (".vtt", ""))
    add_video(ds, mp4, "headeronly", (".vtt", "WEBVTT\nKind: captions\nLanguage: en\n\n"))
    times = {
        "start": [3.0, -1.0, 2.0, 4.0],
        "end": [2.0, 1.5, 3.5, 5.0],
        "text": ["c.", "a.", "b.", "d."],
    }
    add_video(ds, mp4, "times", (".json", json.dumps(times)))
    srt = "1\n00:00:01,000 --> 00:00:02,000\nCrème brûlée à la française.\n"
    add_video(ds, mp4, "latin", (".srt", srt.encode("cp1252")))
    add_video(ds, mp4, "badjson", (".json", '{"start": [1.0], "end": [2.0], "text": ["x"'))
    add_video(ds, mp4, "mismatch")
    add_video(ds, mp4, "caption ok")
    add_video(ds, mp4, "vidéo avec espaces ☕", (".vtt", GOOD_VTT))
    caption = {
        "mismatch": {"start": [0.0, 1.0], "end": [1.0, 2.0], "text": ["one"]},
        "caption ok": {"start": [0.0], "end": [1.0], "text": ["Stir."]},
    }
    put(ds, "caption.json", json.dumps(caption))
    return ds


def run_ingest(ds: Path, **kw):
    lines: list[str] = []
    summary = ingest_dataset(open_workspace(ds), report=lines.append, progress=False, **kw)
    return summary, lines


def line_for(lines: list[str], name: str) -> str:
    found = [line for line in lines if name in line]
    assert len(found) == 1, (name, lines)
    return found[0]


def test_each_bad_input_gives_one_line_and_the_batch_completes(bad_dataset):
    summary, lines = run_ingest(bad_dataset)
    ds = bad_dataset
    assert "zero.mp4: empty file (0 bytes)" in line_for(lines, "zero.mp4")
    assert "cut.mp4: " in line_for(lines, "cut.mp4")
    assert "text.mp4: not a readable video" in line_for(lines, "text.mp4")
    assert "emptyvtt.vtt: empty subtitle file" in line_for(lines, "emptyvtt.vtt")
    assert "headeronly.vtt: no cues" in line_for(lines, "headeronly.vtt")
    assert "times.json: 1 cue(s) with reversed times" in line_for(lines, "reversed")
    assert "times.json: 1 cue(s) with negative times" in line_for(lines, "negative")
    assert "latin.srt: not UTF-8" in line_for(lines, "latin.srt")
    assert "badjson.json: malformed JSON" in line_for(lines, "badjson.json")
    mismatch = line_for(lines, "'mismatch'")
    assert f"{ds / 'caption.json'}: entry 'mismatch'" in mismatch and "(2, 2, 1)" in mismatch
    assert all("\n" not in line for line in lines)

    with Store(ds / ".aligner/aligner.duckdb") as s:
        status = {v["video_id"]: v["status"] for v in s.videos(status=None)}
        assert status == {
            "good": "ok", "zero": "error", "cut": "error", "text": "error", "emptyvtt": "error",
            "headeronly": "error", "times": "ok", "latin": "ok", "badjson": "error",
            "mismatch": "error", "caption ok": "ok", "vidéo avec espaces ☕": "ok",
        }  # fmt: skip
        assert s.video("zero")["error"].endswith("zero.mp4: empty file (0 bytes), not a video")
        # repaired times: negative clamped, reversed swapped, sorted; c (swapped to 2-3) and b
        # (2-3.5) start together, so they share 2-3.5 in file order, one word each
        assert [(r.start, r.end, r.text) for r in s.sentences("times")] == [
            (0.0, 1.5, "a."), (2.0, 2.75, "c."), (2.75, 3.5, "b."), (4.0, 5.0, "d."),
        ]  # fmt: skip
        assert [r.text for r in s.sentences("latin")] == ["Crème brûlée à la française."]
        assert [r.text for r in s.sentences("vidéo avec espaces ☕")] == [
            "Cut the onion.",
            "Fry it.",
        ]
        assert s.sentence_count(["zero", "cut", "text", "emptyvtt", "badjson", "mismatch"]) == 0
    assert (summary.ok, summary.errors, summary.no_subtitles) == (5, 7, 0)

    # a second run: unchanged bad files are not opened again but still reported, store unchanged
    again, lines2 = run_ingest(ds)
    assert again.unchanged == 12 and (again.ok, again.errors) == (5, 7)
    assert sum("unchanged since the last run" in line for line in lines2) == 7


def test_malformed_caption_json_is_one_line_and_the_rest_is_ingested(tmp_path, mp4):
    ds = tmp_path / "ds"
    add_video(ds, mp4, "a", (".vtt", GOOD_VTT))
    add_video(ds, mp4, "b")
    put(ds, "caption.json", '{"b": {"start": [0.0], "end": [1.0], "text": ["x"]')
    summary, lines = run_ingest(ds)
    assert "caption.json: cannot be read" in line_for(lines, "caption.json")
    assert (summary.ok, summary.no_subtitles) == (1, 1)


def test_an_unpaired_surrogate_in_json_text_is_replaced_and_named(tmp_path, mp4):
    # JSON's "\\ud800" escape decodes to a lone surrogate, which neither DuckDB nor UTF-8 holds
    ds = tmp_path / "ds"
    lone = '{"start": [0.0, 1.0], "end": [1.0, 2.0], "text": ["Stir \\ud800 well.", "Fry it."]}'
    add_video(ds, mp4, "lone", (".json", lone))
    add_video(ds, mp4, "entry")
    put(
        ds, "caption.json", '{"entry": {"start": [0.5], "end": [1.5], "text": ["Cut \\udfff it."]}}'
    )
    summary, lines = run_ingest(ds)
    assert "lone.json: 1 cue(s) with unpaired UTF-16 surrogates" in line_for(lines, "lone.json")
    assert "1 cue(s) with unpaired UTF-16 surrogates" in line_for(lines, "caption.json")
    assert (summary.ok, summary.errors) == (2, 0)
    with Store(ds / ".aligner/aligner.duckdb") as s:
        assert [r.text for r in s.sentences("lone")] == ["Stir \ufffd well.", "Fry it."]
        assert [r.text for r in s.sentences("entry")] == ["Cut \ufffd it."]


def test_breaking_files_after_a_good_run_loses_nothing(tmp_path, mp4):
    ds = tmp_path / "ds"
    add_video(ds, mp4, "a", (".vtt", GOOD_VTT))
    add_video(ds, mp4, "b", (".vtt", GOOD_VTT))
    add_video(ds, mp4, "c", (".vtt", GOOD_VTT))
    run_ingest(ds)
    with Store(ds / ".aligner/aligner.duckdb") as s:
        before = {v: s.sentences(v) for v in "abc"}
    put(ds, "subtitles/a.vtt", "WEBVTT\n")  # subtitles emptied
    put(ds, "videos/b.mp4", b"")  # video wiped
    (ds / "subtitles/c.vtt").unlink()  # subtitles deleted
    summary, lines = run_ingest(ds)
    assert summary.errors == 3 and all("kept the 2 sentences stored before" in x for x in lines)
    with Store(ds / ".aligner/aligner.duckdb") as s:
        assert {v: s.sentences(v) for v in "abc"} == before  # same rows, same ids, no duplicates
        assert s.counts()["sentences"] == 6
        assert [v["status"] for v in s.videos(status=None)] == ["ok", "ok", "ok"]
        assert "b.mp4: empty file" in s.video("b")["error"]
    put(ds, "subtitles/a.vtt", GOOD_VTT)  # fixed again: ingested, ids kept, error cleared
    run_ingest(ds)
    with Store(ds / ".aligner/aligner.duckdb") as s:
        assert s.sentences("a") == before["a"] and s.video("a")["error"] is None


def test_missing_dataset_folder(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"aligner ingest: error: {tmp_path / 'nowhere'}: dataset folder does not exist"


def test_missing_videos_folder(tmp_path, capsys):
    assert main(["ingest", str(tmp_path)]) == 1
    assert "videos: no videos folder" in capsys.readouterr().err


def test_locked_store_gives_one_line_and_changes_nothing(tmp_path, mp4):
    ds = tmp_path / "ds"
    add_video(ds, mp4, "a", (".vtt", GOOD_VTT))
    db = ds / ".aligner/aligner.duckdb"
    assert main(["ingest", str(ds)]) == 0
    put(ds, "subtitles/a.vtt", GOOD_VTT.replace("Fry", "Bake"))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        cmd = [sys.executable, "-m", "aligner", "ingest", str(ds)]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert out.returncode == 1 and out.stdout == ""
    err = out.stderr.strip()
    assert err.splitlines() == [err]
    assert str(db) in err and f"PID {holder.pid}" in err and "locked by another process" in err
    with Store(db) as s:
        assert [r.text for r in s.sentences("a")] == ["Cut the onion.", "Fry it."]


def test_a_video_removed_from_the_folder_keeps_its_rows(tmp_path, mp4):
    ds = tmp_path / "ds"
    add_video(ds, mp4, "a", (".vtt", GOOD_VTT))
    add_video(ds, mp4, "b", (".vtt", GOOD_VTT))
    run_ingest(ds)
    shutil.move(ds / "videos/b.mp4", tmp_path / "b.mp4")
    summary, _ = run_ingest(ds)
    assert summary.videos == 1
    with Store(ds / ".aligner/aligner.duckdb") as s:
        assert s.counts()["sentences"] == 4


# -- hostile subtitle inputs (issue 12), generated here -----------------------------------------
def _crowded_vtt(n: int = 10_000) -> str:
    """n cues inside one second (1.000 s to 2.000 s), one distinct word each."""
    lines = ["WEBVTT", ""]
    for i in range(n):
        start = 1.0 + i / n
        lines += [f"00:00:{start:06.3f} --> 00:00:{start + 0.0005:06.3f}", f"w{i}", ""]
    return "\n".join(lines)


def test_hostile_subtitles_each_give_one_line_and_the_batch_goes_on(tmp_path, mp4):
    ds = tmp_path / "hostile"
    add_video(ds, mp4, "good", (".vtt", GOOD_VTT))
    add_video(ds, mp4, "crowded", (".vtt", _crowded_vtt()))
    nan = '{"start": [NaN, 1.0, 1.5, -Infinity], "end": [1, Infinity, 2, 3], "text": ["a", "b", "c", "d"]}'
    add_video(ds, mp4, "nan", (".json", nan))
    add_video(ds, mp4, "strtimes", (".json", '{"start": "0", "end": "1", "text": "x"}'))
    add_video(ds, mp4, "nested", (".json", '{"start": [0], "end": [1], "text": [["x"]]}'))
    add_video(ds, mp4, "booltime", (".json", '{"start": [true], "end": [1], "text": ["x"]}'))
    add_video(ds, mp4, "jsonlist", (".json", '[{"start": [0], "end": [1], "text": ["x"]}]'))
    add_video(ds, mp4, "deep", (".json", "[" * 100_000))
    add_video(ds, mp4, "late", (".srt", "1\n10:00:00,000 --> 10:00:01,000\ntoo late\n"))
    add_video(ds, mp4, "entrytypes")
    put(ds, "caption.json", json.dumps({"entrytypes": {"start": 0, "end": 1, "text": "x"}}))
    summary, lines = run_ingest(ds)

    assert "nan.json: 3 cue(s) with not finite times (dropped)" in line_for(lines, "nan.json")
    assert '"start", "end" and "text" must be lists' in line_for(lines, "strtimes.json")
    assert "item 0: text must be a string, got list" in line_for(lines, "nested.json")
    assert "item 0: times must be numbers" in line_for(lines, "booltime.json")
    assert "expected an object" in line_for(lines, "jsonlist.json")
    assert "deep.json: malformed JSON" in line_for(lines, "deep.json")
    assert "every cue starts after the video's end" in line_for(lines, "late.srt")
    entry_line = line_for(lines, "'entrytypes'")
    assert (
        f"{ds / 'caption.json'}: entry 'entrytypes': " in entry_line
        and "must be lists" in entry_line
    )
    assert all("\n" not in line for line in lines) and not any("crowded" in x for x in lines)
    with Store(ds / ".aligner/aligner.duckdb") as s:
        status = {v["video_id"]: v["status"] for v in s.videos(status=None)}
        assert status == {
            "good": "ok", "crowded": "ok", "nan": "ok", "strtimes": "error", "nested": "error",
            "booltime": "error", "jsonlist": "error", "deep": "error", "late": "error",
            "entrytypes": "error",
        }  # fmt: skip
        assert [r.text for r in s.sentences("nan")] == ["c"]  # a, b and d had no finite time
        crowded = s.sentences("crowded")
    words = " ".join(r.text for r in crowded).split()
    assert sorted(words) == sorted(f"w{i}" for i in range(10_000))  # every word once
    assert all(1.0 <= r.start <= r.end <= 2.001 for r in crowded)
    assert [r.start for r in crowded] == sorted(r.start for r in crowded)
    assert (summary.ok, summary.errors) == (3, 7)


def test_hostile_files_replacing_good_ones_lose_nothing(tmp_path, mp4):
    ds = tmp_path / "ds"
    add_video(ds, mp4, "a", (".json", '{"start": [0.5], "end": [2.0], "text": ["Stir."]}'))
    add_video(ds, mp4, "b", (".vtt", GOOD_VTT))
    run_ingest(ds)
    with Store(ds / ".aligner/aligner.duckdb") as s:
        before = {v: s.sentences(v) for v in "ab"}
    put(ds, "subtitles/a.json", '{"start": [NaN], "end": [Infinity], "text": ["Stir."]}')
    put(ds, "subtitles/b.vtt", "WEBVTT\n\n10:00:00.000 --> 10:00:01.000\nFar too late.\n")
    summary, lines = run_ingest(ds)
    assert summary.errors == 2 and all("kept the" in x for x in lines if "stored before" in x)
    assert sum("stored before" in x for x in lines) == 2
    with Store(ds / ".aligner/aligner.duckdb") as s:
        assert {v: s.sentences(v) for v in "ab"} == before
