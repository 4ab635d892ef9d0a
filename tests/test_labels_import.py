"""`aligner labels import`: HTM-Align JSON and the tool's own JSONL export become curator labels
in a real DuckDB file, through the store's decision API, idempotently."""

from __future__ import annotations

import json

import pytest

from aligner import cli
from aligner.errors import InputError
from aligner.export import export_dataset
from aligner.labels_import import (
    FileLabel,
    import_labels,
    match_labels,
    read_label_file,
    span_iou,
)
from aligner.store import Store
from aligner.store.catalog import SentenceRow
from aligner.workspace import open_workspace

V1 = [(2.0, 6.0, "Hi guys, welcome back!"), (8.0, 12.0, "Add extra virgin olive oil and garlic."),
      (14.0, 18.5, "Let me know in the comments"), (20.0, 24.0, "Stir it."),
      (30.0, 33.0, "Stir it."), (36.0, 39.0, "Serve it hot.")]  # fmt: skip
V2 = [(1.0, 4.0, "So yeah, that's it."), (6.0, 9.0, "Bye.")]
# the real file's style: lower case, no punctuation; non-alignable rows keep their ASR times
HTM = {
    "v1": [[0, 2.0, 6.0, "hi guys welcome back"],
           [1, 10.739, 17.535, "add extra virgin olive oil and garlic"],
           [0, 14.2, 18.0, "let me know down in the comments"],  # other words, same ASR span
           [1, 21.0, 25.0, "stir it"], [1, 31.0, 34.0, "stir it"],
           [1, 40.0, 44.0, "garnish with parsley"]],  # no such sentence
    "v2": [[1, 5.0, 5.0, "so yeah thats it"]],  # an empty window: invalid
    "v3": [[1, 1.0, 2.0, "a video this store does not have"]],
}  # fmt: skip


def _dataset(root, videos):
    root.mkdir(parents=True, exist_ok=True)
    ws = open_workspace(root)
    with Store(ws.db_path) as store:
        for video_id, sentences in videos.items():
            store.upsert_video(video_id, path=f"videos/{video_id}.mp4", status="ok", duration=60.0)
            store.replace_sentences(video_id, sentences)
    return ws


def _by_text(store, video_id):
    return {(s.idx, s.text): s.sentence_id for s in store.sentences(video_id)}


def test_htm_align_file_imports_as_curator_labels_and_again_changes_nothing(tmp_path):
    ws = _dataset(tmp_path / "ds", {"v1": V1, "v2": V2})
    path = tmp_path / "htm_align.json"
    path.write_text(json.dumps(HTM))
    summary = import_labels(ws, path, progress=False)
    assert (summary.imported, summary.unmatched, summary.invalid, summary.already) == (5, 2, 1, 0)
    assert "garnish with parsley" in str(summary) and "import:htm_align.json" in str(summary)
    with Store(ws.db_path) as store:
        ids = [s.sentence_id for s in store.sentences("v1")]
        labels = {r["sentence_id"]: r for r in store.current_labels()}
        assert set(labels) == set(ids[:5])  # "serve it hot" got nothing
        assert {r["curator"] for r in labels.values()} == {"import:htm_align.json"}
        assert (labels[ids[0]]["status"], labels[ids[0]]["alignable"], labels[ids[0]]["reason"]) \
            == ("not_alignable", False, "other")  # fmt: skip
        first = labels[ids[1]]
        assert (first["status"], first["start"], first["end"]) == ("corrected", 10.739, 17.535)
        assert labels[ids[2]]["status"] == "not_alignable"  # matched by its ASR span
        # the repeated "stir it" rows go to the repeated sentences in order
        assert (labels[ids[3]]["start"], labels[ids[4]]["start"]) == (21.0, 31.0)
        history = store.label_history(ids[1])
        assert [(e["action"], e["curator"]) for e in history] == [
            ("correct", "import:htm_align.json")
        ]
        assert history[0]["before_value"] is None and history[0]["after_value"]["end"] == 17.535
        events = store.query("SELECT count(*) FROM label_events")[0][0]
    again = import_labels(ws, path, progress=False)
    assert (again.imported, again.already, again.unmatched, again.invalid) == (0, 5, 2, 1)
    with Store(ws.db_path) as store:
        assert store.query("SELECT count(*) FROM label_events")[0][0] == events == 5


def test_someone_elses_different_decision_is_kept_unless_overwrite(tmp_path):
    ws = _dataset(tmp_path / "ds", {"v1": V1})
    path = tmp_path / "htm_align.json"
    path.write_text(json.dumps({"v1": HTM["v1"][:2]}))
    with Store(ws.db_path) as store:
        oil = store.sentences("v1")[1].sentence_id
        store.record_decision(oil, action="correct", curator="ann", start=9.0, end=15.0)
    summary = import_labels(ws, path, progress=False)
    assert (summary.imported, summary.kept) == (1, 1)
    with Store(ws.db_path) as store:
        assert store.current_labels()[1]["curator"] == "ann"
    summary = import_labels(ws, path, overwrite=True, progress=False)
    assert (summary.imported, summary.already) == (1, 1)
    with Store(ws.db_path) as store:
        label = next(r for r in store.current_labels() if r["sentence_id"] == oil)
        assert (label["curator"], label["start"], label["version"]) == (
            "import:htm_align.json",
            10.739,
            2,
        )
        assert [e["curator"] for e in store.label_history(oil)] == ["ann", "import:htm_align.json"]


def test_jsonl_export_of_one_workspace_imports_into_another(tmp_path):
    """Decisions made in one workspace travel through `export --format jsonl` to a store whose
    sentences are cut a little differently."""
    source = _dataset(tmp_path / "a", {"v1": V1, "v2": V2})
    with Store(source.db_path) as store:
        s = store.sentences("v1")
        store.record_decision(
            s[1].sentence_id, action="correct", curator="ann", start=9.5, end=13.25
        )
        store.record_decision(s[2].sentence_id, action="not_alignable", curator="bob",
                              reason="talking_head")  # fmt: skip
        store.record_decision(
            s[5].sentence_id, action="accept", curator="ann", start=36.0, end=40.0
        )
        store.record_decision(s[0].sentence_id, action="skip", curator="ann")
    out = tmp_path / "cleaned.jsonl"
    export_dataset(source, fmt="jsonl", out=out)
    target_v1 = [*V1[:2], (14.1, 18.4, "let me know in the comments below"), *V1[3:]]
    target = _dataset(tmp_path / "b", {"v1": target_v1})
    assert cli.main(["labels", "import", str(target.dataset), str(out)]) == 0
    with Store(target.db_path) as store:
        s = store.sentences("v1")
        labels = {r["sentence_id"]: r for r in store.current_labels()}
    assert set(labels) == {s[1].sentence_id, s[2].sentence_id, s[5].sentence_id}
    assert (labels[s[1].sentence_id]["status"], labels[s[1].sentence_id]["start"],
            labels[s[1].sentence_id]["end"]) == ("corrected", 9.5, 13.25)  # fmt: skip
    # matched by ASR overlap (IoU 4.3 / 4.5), the reason carried over
    assert (labels[s[2].sentence_id]["reason"], labels[s[2].sentence_id]["curator"]) \
        == ("talking_head", "import:cleaned.jsonl")  # fmt: skip
    assert labels[s[5].sentence_id]["status"] == "accepted"
    summary = import_labels(target, out, progress=False)
    # 8 records: 3 decisions (already there now), the skip and 4 undecided ignored, v2 unmatched
    assert (summary.imported, summary.already, summary.ignored, summary.unmatched) == (0, 3, 5, 0)


def test_cli_prints_the_summary_and_bad_files_name_themselves(tmp_path, capsys):
    ws = _dataset(tmp_path / "ds", {"v1": V1})
    good = tmp_path / "htm_align.json"
    good.write_text(json.dumps({"v1": HTM["v1"][:1]}))
    assert cli.main(["labels", "import", str(ws.dataset), str(good), "--curator", "team-a"]) == 0
    assert "imported 1 labels" in capsys.readouterr().out
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"video_id": "v1", "text": "Stir it.", "label_status": "accepted"}\n{oops\n')
    assert cli.main(["labels", "import", str(ws.dataset), str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("broken.jsonl: line 2: not JSON (Expecting property name enclosed in"
                        " double quotes)") and "\n" not in err  # fmt: skip
    foreign = tmp_path / "other.jsonl"
    foreign.write_text('{"video": "v1", "caption": "x"}\n')
    with pytest.raises(InputError, match="other.jsonl: line 1: no video_id, text, label_status"):
        read_label_file(foreign)
    not_htm = tmp_path / "list.json"
    not_htm.write_text("[1, 2]")
    with pytest.raises(InputError, match="list.json: not HTM-Align JSON"):
        read_label_file(not_htm)
    with pytest.raises(InputError, match="nope.json: label file not found"):
        read_label_file(tmp_path / "nope.json")
    with Store(ws.db_path) as store:  # the bad files wrote nothing
        assert store.query("SELECT count(*), min(curator) FROM label_events")[0] == (1, "team-a")


def test_matching_prefers_text_then_asr_overlap():
    stored = [SentenceRow(1, "v", 0, 0.0, 4.0, "Crack the eggs."), SentenceRow(2, "v", 1, 5.0, 9.0, "Whisk."),
              SentenceRow(3, "v", 2, 10.0, 14.0, "Crack the eggs")]  # fmt: skip
    labels = [
        FileLabel("v", "whisk them well", "not_alignable", asr_start=5.5, asr_end=9.0),
        FileLabel("v", "crack the eggs", "correct", 1, 2),
        FileLabel("v", "crack the eggs", "correct", 11, 12),
        FileLabel("v", "whisk", "correct", 6, 7),  # text wins: the overlap match waits
        FileLabel("v", "something else", "correct", 0.5, 4.0),
    ]  # shown times: no overlap use
    assert match_labels(labels, stored) == [None, 1, 3, 2, None]
    assert span_iou(0, 4, 2, 6) == pytest.approx(2 / 6) and span_iou(0, 1, 2, 3) == 0.0
