"""The review app's pages driven by Streamlit's AppTest (no browser, no JavaScript).

Each test opens a private copy of a tiny real dataset (ffmpeg mp4s, DuckDB store with a "tan"
run and similarity matrices) and checks what lands in the store.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `ui` is an app folder, not an installed package
from tests.conftest import require  # noqa: E402

require("streamlit", "'aligner[ui]'")  # a skip locally, a failure under CI
from aligner.ui.demo_data import make_demo_dataset  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from aligner.store import Store  # noqa: E402

APP = REPO / "ui" / "app.py"
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review") / "demo"
    make_demo_dataset(root, n_videos=2, duration_s=20.0, sentences_per_video=4)
    return root


@pytest.fixture
def dataset(template, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(template, root)
    monkeypatch.setenv("ALIGNER_DATASET", str(root))
    monkeypatch.delenv("ALIGNER_DB", raising=False)
    return root


def _start(curator: str = "ana", page: str | None = "Review") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    at.text_input(key="curator_name").input(curator)
    at.button[0].click().run()
    if page:
        at.session_state["page"] = page
        at.run()
    assert not at.exception, at.exception
    return at


def _store(at: AppTest) -> Store:
    return at.session_state["_store"]


def _label(at: AppTest, sentence_id: int) -> dict | None:
    found = [x for x in _store(at).current_labels() if x["sentence_id"] == sentence_id]
    return found[0] if found else None


def _first_ids(at: AppTest, video_id: str = "demo0") -> list[int]:
    return [r.sentence_id for r in _store(at).sentences(video_id)]


def test_name_is_asked_first_and_kept(dataset):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    assert at.text_input(key="curator_name") is not None
    assert not at.radio  # no pages before a name
    at.button[0].click().run()  # empty name: still asked
    assert "curator" not in at.session_state
    at.text_input(key="curator_name").input("ana")
    at.button[0].click().run()
    assert at.session_state["curator"] == "ana"
    assert [t.value for t in at.title] == ["Review queue"]


def test_accept_stores_the_predicted_window_and_moves_on(dataset):
    at = _start()
    sid = _first_ids(at)[0]
    pred = _store(at).review_rows("demo0", _store(at).latest_run()["run_id"])[0]
    at.button(key="accept").click().run()
    label = _label(at, sid)
    assert label["status"] == "accepted" and label["curator"] == "ana"
    assert (label["start"], label["end"]) == (pred["pred_start"], pred["pred_end"])
    assert at.session_state["idx"] == 1
    assert "Saved #0: accept" in [s.value for s in at.success]


def test_correct_with_nudges_and_typed_boundaries(dataset):
    at = _start()
    sid = _first_ids(at)[0]
    start = at.session_state["edit_start"]
    at.button(key="nudge_start_+0.5").click().run()
    assert at.session_state["edit_start"] == pytest.approx(start + 0.5)
    at.number_input(key="edit_end").set_value(9.3).run()
    at.button(key="nudge_end_-1").click().run()
    at.button(key="correct").click().run()
    label = _label(at, sid)
    assert label["status"] == "corrected" and label["alignable"] is True
    assert label["start"] == pytest.approx(start + 0.5) and label["end"] == pytest.approx(8.3)


def test_not_alignable_with_reason(dataset):
    at = _start()
    sid = _first_ids(at)[0]
    at.session_state["reason"] = "b_roll"
    at.button(key="not_alignable").click().run()
    label = _label(at, sid)
    assert (label["status"], label["alignable"], label["reason"]) == (
        "not_alignable",
        False,
        "b_roll",
    )


def test_skip_then_undo_and_history(dataset):
    at = _start()
    first, second = _first_ids(at)[:2]
    at.button(key="accept").click().run()
    at.button(key="skip").click().run()
    assert _label(at, second)["status"] == "skipped"
    at.button(key="undo").click().run()
    assert _label(at, second) is None and at.session_state["idx"] == 1
    at.button(key="undo").click().run()
    assert _label(at, first) is None and at.session_state["idx"] == 0
    at.button(key="undo").click().run()
    assert "Nothing of yours to undo" in [i.value for i in at.info][0]
    history = at.dataframe[-1].value  # the History tab of sentence #0
    assert list(history["action"]) == ["undo", "accept"]
    assert list(history["after"]) == ["(none)", history["after"][1]]
    assert history["after"][1].startswith("accepted")


def test_stale_write_is_reported_not_written(dataset):
    at = _start("ana")
    sid = _first_ids(at)[0]
    # ben decides the same sentence after ana opened it
    _store(at).session_view().record_decision(
        sid, action="not_alignable", curator="ben", reason="off_screen"
    )
    at.button(key="accept").click().run()
    errors = [e.value for e in at.error]
    assert any("changed by someone else" in e for e in errors), errors
    label = _label(at, sid)
    assert (label["curator"], label["status"]) == ("ben", "not_alignable")
    at.run()  # the reloaded page shows ben's decision; now ana can overrule knowingly
    at.button(key="accept").click().run()
    assert _label(at, sid)["curator"] == "ana"


def test_claims_show_another_curator(dataset):
    at = _start("ana")
    _store(at).session_view().claim_video("demo1", curator="ben")
    at.selectbox(key="video_id").set_value("demo1").run()
    assert any("ben is working on this video" in w.value for w in at.warning)


def test_queue_opens_the_most_doubtful_sentence(dataset):
    at = _start(page=None)
    s = _store(at)
    top = s.review_queue(s.latest_run()["run_id"], limit=1)[0]
    at.button(key="open_doubtful").click().run()
    assert at.session_state["page"] == "Review"
    assert at.session_state["video_id"] == top["video_id"]
    assert at.session_state["idx"] == top["idx"]


def test_stats_numbers_on_known_labels(dataset):
    at = _start(page=None)
    s = _store(at).session_view()
    run_id = s.latest_run()["run_id"]
    rows = s.review_rows("demo0", run_id)
    a, b, c = rows[0], rows[1], rows[2]
    # a: window = prediction exactly -> hit, IoU 1; b: 2 s later than predicted -> peak outside
    s.record_decision(a["sentence_id"], action="accept", curator="ana")
    s.record_decision(b["sentence_id"], action="correct", curator="ana",
                      start=b["pred_end"] + 2, end=b["pred_end"] + 4)  # fmt: skip
    s.record_decision(c["sentence_id"], action="not_alignable", curator="ana")
    s.record_decision(c["sentence_id"], action="accept", curator="ben")  # disagrees with ana
    at.session_state["page"] = "Stats"
    at.run()
    values = [(m.label, m.value) for m in at.metric]
    model, curators = dict(values[:5]), dict(values[5:])
    assert model["Labels compared"] == "3"
    assert model["R@1"] == f"{2 / 3:.2f}"  # b's predicted peak lies before its corrected window
    # boundary error: a 0, c 0 (ben's accept = prediction), b ((end+2 - start) + 4) / 2
    expected = ((b["pred_end"] + 2 - b["pred_start"]) + 4) / 2 / 3
    assert model["Boundary error"] == f"{expected:.2f} s"
    assert curators["Sentences with 2+ curators"] == "1"
    assert curators["Alignability kappa"] == "0.00"  # one pair, and it disagrees


def test_paths_outside_the_dataset_are_refused(dataset, tmp_path):
    secret = tmp_path / "secret.mp4"
    shutil.copy(dataset / "videos" / "demo0.mp4", secret)
    at = _start()
    _store(at).upsert_video("demo0", path="../secret.mp4", status="ok")
    at.run()
    assert any("refused" in e.value and "outside" in e.value for e in at.error)
    assert not at.exception


def test_subtitle_text_is_shown_as_text(dataset):
    at = _start(page=None)
    evil = "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))"
    _store(at).replace_sentences("demo1", [(1.0, 3.0, evil)])
    at.selectbox(key="queue_video").set_value("demo1")
    at.button(key="open_video").click().run()
    assert at.session_state["page"] == "Review"
    assert evil in [t.value for t in at.text]  # st.text: never markdown or HTML
    assert not any(evil in m.value for m in at.markdown)


def test_clip_thumbnails_and_subtitles_for_the_player(template, tmp_path):
    import av

    from ui import media

    path = media.safe_video_path(template, "videos/demo0.mp4")
    data, offset = media.clip(path, 7.3, 12.0, tmp_path / "clips")
    (tmp_path / "c.mp4").write_bytes(data)
    with av.open(str(tmp_path / "c.mp4")) as c:
        first = next(c.decode(video=0))
        # the clip's first frame is the keyframe at 6.0 s (one every 2 s) before 7.3 s
        assert offset + float(first.pts * first.time_base) == pytest.approx(6.0, abs=0.001)
        assert offset + float(c.duration / 1e6) == pytest.approx(12.0, abs=0.3)
    thumbs = media.thumbnails(path, [1.0, 2.5, 19.5, 25.0], tmp_path / "thumbs")
    assert [t[:2] for t in thumbs[:3]] == [b"\xff\xd8"] * 3 and thumbs[3] == b""  # JPEG; past end
    vtt = media.vtt_for([(7.0, 9.5, "a <b>bold</b> & -->"), (1.0, 2.0, "gone")], 6.0)
    assert "00:00:01.000 --> 00:00:03.500\na &lt;b&gt;bold&lt;/b&gt; &amp; --&gt;" in vtt
    assert "gone" not in vtt
    with pytest.raises(Exception, match="outside"):
        media.safe_video_path(template, "../../etc/passwd")
