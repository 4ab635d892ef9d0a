"""The review app's pages driven by Streamlit's AppTest (no browser, no JavaScript).

Each test opens a private copy of a tiny real dataset (ffmpeg mp4s, DuckDB store with a "tan"
run and similarity matrices) with a users file, signs in through the form and checks what lands
in the store. The desk's JavaScript does not run here: its operations are fed the way the page
sends them (the component's state value `client`), and what Python sends it is read back from
the component's JSON. Keys, latency and layout are the browser test's.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `ui` is an app folder, not an installed package
from tests.conftest import require  # noqa: E402

require("streamlit", "'aligner[ui]'")  # a skip locally, a failure under CI
from streamlit.testing.v1 import AppTest  # noqa: E402

from aligner.store import Store  # noqa: E402
from aligner.users import add_user, check_sign_in  # noqa: E402
from tests.demo_data import make_demo_dataset  # noqa: E402

APP = REPO / "ui" / "app.py"
TIMEOUT_S = 30
MD_NAME = "**md** [l](http://e.test)"
PASSWORD = "long-enough"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review") / "demo"
    make_demo_dataset(root, n_videos=2, duration_s=20.0, sentences_per_video=4)
    users = root / ".aligner" / "users.json"
    for name, role in (("ana", "curator"), ("ben", "curator"), ("boss", "admin"),
                       (MD_NAME, "curator")):  # fmt: skip
        add_user(users, name, PASSWORD, role=role)
    return root


@pytest.fixture
def dataset(template, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(template, root)
    for name in ("ALIGNER_DB", "ALIGNER_USERS", "ALIGNER_REVIEW_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIGNER_DATASET", str(root))
    return root


def _sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def _start(curator: str = "ana", page: str | None = "Review") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    _sign_in(at, curator)
    if page:
        at.session_state["page"] = page
        at.run()
    assert not at.exception, at.exception
    return at


def _store(at: AppTest) -> Store:
    return at.session_state["_store"]


def _desk(at: AppTest) -> dict:
    """The data the Review page sent to the desk component in the last run."""
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "aligner_desk"]
    assert found, "no desk on the page"
    return json.loads(found[0].proto.json)


def _send(at: AppTest, *ops: dict, place: int | None = None) -> dict:
    """What the desk does on a key: report its pending operations and place; returns the
    desk data of the run that follows."""
    data = _desk(at)
    client = {"ops": list(ops), "place": place or data["nav"]["sid"],
              "nav_token": data["nav"]["token"]}  # fmt: skip
    at.session_state["desk"] = {"client": client}
    at.run()
    assert not at.exception, at.exception
    return _desk(at)


def _op(op_id: str, row: dict, action: str, **extra) -> dict:
    return {"id": op_id, "kind": "decide", "sid": row["sid"], "action": action,
            "expected_version": row["version"], **extra}  # fmt: skip


def _ack(data: dict, op_id: str) -> dict:
    return next(a for a in data["acks"] if a["id"] == op_id)


# -- sign-in ------------------------------------------------------------------------------------
def test_sign_in_needs_the_password_and_the_url_sets_nobody(dataset):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.query_params["curator"] = "eve"
    at.run()
    assert not at.radio and "curator" not in at.session_state  # no pages before sign-in
    _sign_in(at, "ana", "wrong-password")
    assert "curator" not in at.session_state
    assert "Wrong name or password." in [e.value for e in at.error]
    _sign_in(at, "ana")
    assert at.session_state["curator"] == "ana" and at.session_state["role"] == "curator"
    assert [t.value for t in at.title] == ["Review queue"]
    assert "Adjudicate" not in at.radio(key="page").options  # admins only
    token = at.session_state["_token"]
    assert _store(at).session_user(token) == {"curator": "ana", "role": "curator"}
    at.button(key="logout").click().run()
    assert "curator" not in at.session_state and _store(at).session_user(token) is None


def test_without_users_the_app_says_how_to_add_one(dataset):
    (dataset / ".aligner" / "users.json").unlink()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()
    assert any("aligner users add NAME \\-\\-file" in i.value for i in at.info)  # escaped
    assert not at.text_input


def test_users_command_stores_a_salted_hash(tmp_path, monkeypatch):
    from aligner import cli

    users = tmp_path / "users.json"
    for name in ("ana", "ana"):  # twice: replaced, with a new salt
        monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-pass\n"))
        assert cli.main(["users", "add", name, "--file", str(users), "--password-stdin"]) == 0
    text = users.read_text()
    assert "s3cret-pass" not in text and json.loads(text)["users"]["ana"]["password"].startswith(
        "scrypt$"
    )
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert check_sign_in(users, "ana", "s3cret-pass") == "curator"
    assert check_sign_in(users, "ana", "s3cret-pasS") is None
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert cli.main(["users", "add", "bo", "--file", str(users), "--password-stdin"]) == 1


# -- the desk's operations ---------------------------------------------------------------------
def test_accept_through_the_desk_stores_the_prediction_once(dataset):
    at = _start()
    data = _desk(at)
    row = data["rows"][0]
    assert [r["n"] for r in data["rows"]] == [1, 2, 3, 4]  # 1-based, as curators count
    pred = _store(at).review_rows("demo0", _store(at).latest_run()["run_id"])[0]
    op = _op("c-1", row, "accept")
    data = _send(at, op)
    assert _ack(data, "c-1")["ok"] and _ack(data, "c-1")["message"] == "Saved #1: accept"
    data = _send(at, op)  # sent again (the desk resends until it sees the ack): applied once
    label = _store(at).label(row["sid"])
    assert (label["status"], label["curator"]) == ("accepted", "ana")
    assert (label["start"], label["end"]) == (pred["pred_start"], pred["pred_end"])
    assert len(_store(at).label_history(row["sid"])) == 1
    assert data["rows"][0]["status"] == "accepted" and data["rows"][0]["version"] == 1


def test_correct_not_alignable_skip_and_undo(dataset):
    at = _start()
    rows = _desk(at)["rows"]
    _send(at, _op("c-1", rows[0], "correct", start=2.5, end=6.1),
          _op("c-2", rows[1], "not_alignable", reason="b_roll"), _op("c-3", rows[2], "skip"))  # fmt: skip
    s = _store(at)
    assert (s.label(rows[0]["sid"])["start"], s.label(rows[0]["sid"])["end"]) == (2.5, 6.1)
    assert (s.label(rows[1]["sid"])["alignable"], s.label(rows[1]["sid"])["reason"]) == (
        False,
        "b_roll",
    )
    data = _send(at, {"id": "c-4", "kind": "undo"})
    assert _ack(data, "c-4")["message"] == "Undid your last decision on #3."
    assert s.label(rows[2]["sid"]) is None and s.label(rows[1]["sid"]) is not None
    bad = _send(at, _op("c-5", rows[3], "correct", start=5.0, end=4.0))
    assert not _ack(bad, "c-5")["ok"] and "Not saved #4" in _ack(bad, "c-5")["message"]


def test_stale_write_and_overwrite_need_a_confirm(dataset):
    at = _start("ana")
    row = _desk(at)["rows"][0]
    # ben decides the sentence after ana's page got it
    _store(at).session_view().record_decision(
        row["sid"], action="not_alignable", curator="ben", reason="off_screen"
    )
    data = _send(at, _op("c-1", row, "accept", overwrite=True))
    assert "changed by someone else" in _ack(data, "c-1")["message"]
    assert "52" not in _ack(data, "c-1")["message"] and "#1" in _ack(data, "c-1")["message"]
    fresh = data["rows"][0]
    assert (fresh["curator"], fresh["status"]) == ("ben", "not_alignable")
    data = _send(at, _op("c-2", fresh, "accept"))  # up to date, but ben's: asks first
    assert _ack(data, "c-2")["needs_confirm"] and _store(at).label(row["sid"])["curator"] == "ben"
    data = _send(at, _op("c-3", fresh, "accept", overwrite=True))  # confirmed
    assert _ack(data, "c-3")["ok"] and _store(at).label(row["sid"])["curator"] == "ana"


def test_the_overwritten_curator_is_told_and_sees_who_is_here(dataset):
    at = _start("ana")
    row = _desk(at)["rows"][0]
    _send(at, _op("c-1", row, "accept"))
    ben = _store(at).session_view()
    ben.touch_presence("demo0", "ben", row["sid"])
    ben.record_decision(row["sid"], action="skip", curator="ben")
    at.session_state["_others"] = None  # the next timed refresh, without waiting for it
    data = _send(at)
    assert {"curator": "ben", "n": 1} in data["presence"]
    assert data["notices"][0].startswith("ben changed your #1: accepted")


def test_unlikely_sentences_and_settings_reach_the_desk(dataset):
    (dataset / ".aligner" / "review.toml").write_text('nudge_s = 0.1\n[keys]\naccept = "y"\n')
    at = _start()
    s = _store(at)
    run = s.latest_run()["run_id"]
    first = s.predictions(run, "demo0")[0]
    s.save_predictions(run, [{**first, "alignability": 0.01}])
    at.run()
    data = _desk(at)
    assert data["rows"][0]["align"] == 0.01 and data["unlikely_below"] > 0.01
    assert data["keys"]["accept"] == "y" and data["nudge_s"] == 0.1


def test_a_bad_settings_file_is_one_line(dataset):
    (dataset / ".aligner" / "review.toml").write_text('[keys]\naccept = "n"\n')
    at = _start()
    errors = [e.value for e in at.error]
    assert any("review.toml" in e and "not_alignable and accept both use 'n'" in e for e in errors)


def test_fixed_words_have_history_and_reach_the_export(dataset, tmp_path):
    from aligner.export import export_dataset
    from aligner.workspace import open_workspace

    at = _start("ana")
    row = _desk(at)["rows"][1]
    edit = {"id": "c-1", "kind": "edit_text", "sid": row["sid"], "text": "cut  the  bored ",
            "expected_version": row["text_version"]}  # fmt: skip
    data = _send(at, edit)
    assert _ack(data, "c-1")["message"] == "Saved #2: words"
    fixed = data["rows"][1]
    assert (fixed["text"], fixed["asr_text"], fixed["text_version"]) == (
        "cut the bored", row["text"], 1
    )  # fmt: skip
    stale = _send(at, {**edit, "id": "c-2", "text": "cut the board!"})  # version 0 is old now
    assert "changed by someone else" in _ack(stale, "c-2")["message"]
    history = _store(at).text_history(row["sid"])
    assert [(h["before_text"], h["after_text"]) for h in history] == [(None, "cut the bored")]
    out = tmp_path / "out.jsonl"  # through the app's own connection (it holds the file)
    export_dataset(open_workspace(dataset), fmt="jsonl", out=out, store=_store(at))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    mine = next(r for r in records if r["sentence_id"] == row["sid"])
    assert (mine["text"], mine["asr_text"]) == ("cut the bored", row["text"])


def test_split_and_merge_are_edits_the_export_applies(dataset, tmp_path):
    from aligner.export import export_dataset
    from aligner.workspace import open_workspace

    at = _start("ana")
    rows = _desk(at)["rows"]  # demo0: 4 sentences, 5 s apart, 4 s long
    first, second = rows[0], rows[2]
    split = {"id": "c-1", "kind": "split", "sid": first["sid"], "first": "open it",
             "second": "the lid", "at_s": 2.0, "expected_version": 0}  # fmt: skip
    merge = {"id": "c-2", "kind": "merge", "sid": second["sid"], "expected_version": 0}
    bad = {**split, "id": "c-3", "sid": rows[1]["sid"], "at_s": 99.0}
    data = _send(at, split, merge, bad)
    assert _ack(data, "c-1")["message"] == "Saved #1: split in two"
    assert _ack(data, "c-2")["message"] == "Saved #3: merged with the next"
    assert "a split must lie inside the sentence" in _ack(data, "c-3")["message"]
    assert data["rows"][0]["text"] == "open it | the lid"
    assert data["rows"][2]["text"] == f"{second['text']} {rows[3]['text']}"
    assert data["rows"][3]["merged_into"] == 3
    out = tmp_path / "out.jsonl"
    export_dataset(open_workspace(dataset), fmt="jsonl", out=out, store=_store(at))
    got = [json.loads(line) for line in out.read_text().splitlines() if '"demo0"' in line]
    assert [(r["text"], r["asr_start"], r["asr_end"]) for r in got] == [
        ("open it", rows[0]["asr"][0], 2.0), ("the lid", 2.0, rows[0]["asr"][1]),
        (rows[1]["text"], *rows[1]["asr"]),
        (data["rows"][2]["text"], rows[2]["asr"][0], rows[3]["asr"][1]),
    ]  # fmt: skip
    assert got[0]["asr_text"] == got[1]["asr_text"] == rows[0]["text"]  # the original kept
    revert = {"id": "c-4", "kind": "edit_text", "sid": first["sid"], "text": rows[0]["text"],
              "expected_version": 1}  # fmt: skip
    assert _desk(at) and _ack(_send(at, revert), "c-4")["ok"]
    assert (
        _desk(at)["rows"][0]["text"] == rows[0]["text"] and _desk(at)["rows"][0]["asr_text"] is None
    )


def test_batch_marks_the_matching_sentences_one_history_row_each(dataset):
    at = _start("ana")
    s = _store(at).session_view()
    ids = [r.sentence_id for r in s.sentences("demo0")]
    s.record_decision(ids[3], action="accept", curator="ben")  # another curator's: left alone
    run = s.latest_run()["run_id"]
    preds = {p["sentence_id"]: p for p in s.predictions(run, "demo0")}
    s.save_predictions(run, [{**preds[i], "alignability": 0.05} for i in ids[1:]])
    at.checkbox(key="batch_use_below").check()
    at.checkbox(key="batch_undecided").uncheck().run()
    assert at.button(key="batch_go").label == "Mark 3 sentences"
    at.button(key="batch_go").click().run()
    for sid in ids[1:3]:
        label, events = s.label(sid), s.label_history(sid)
        assert (label["status"], label["reason"], label["curator"]) == (
            "not_alignable", "talking_head", "ana"
        )  # fmt: skip
        assert [e["action"] for e in events] == ["not_alignable"]
    assert s.label(ids[3])["curator"] == "ben" and s.label(ids[0]) is None
    at.text_input(key="batch_text").input("NO SUCH TEXT").run()
    assert any("No sentence matches" in c.value for c in at.caption)


# -- place, pages ------------------------------------------------------------------------------
def test_place_is_kept_across_sessions(dataset):
    at = _start("ana")
    at.selectbox(key="video_id").set_value("demo1").run()
    rows = _desk(at)["rows"]
    _send(at, place=rows[2]["sid"])  # the desk moved to #3
    again = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S).run()  # a reload
    _sign_in(again, "ana")
    assert again.session_state["page"] == "Review" and again.session_state["video_id"] == "demo1"
    assert _desk(again)["nav"]["sid"] == rows[2]["sid"]


def test_queue_opens_the_most_doubtful_sentence(dataset):
    at = _start(page=None)
    s = _store(at)
    top = s.review_queue(s.latest_run()["run_id"], limit=1)[0]
    at.button(key="open_doubtful").click().run()
    assert at.session_state["page"] == "Review"
    assert at.session_state["video_id"] == top["video_id"]
    assert _desk(at)["nav"]["sid"] == top["sentence_id"]


def test_adjudication_resolves_a_disagreement_and_stats_follow(dataset):
    at = _start("boss", page="Adjudicate")
    s = _store(at).session_view()
    sid = s.sentences("demo0")[1].sentence_id
    s.record_decision(sid, action="accept", curator="ana")
    s.record_decision(sid, action="not_alignable", curator="ben", reason="b_roll")
    at.run()
    texts = [t.value for t in at.text]
    assert "ana: accepted" in " ".join(texts) and "ben: not alignable (b_roll)" in texts
    at.button(key=f"take_{sid}_1").click().run()  # ben's (names sorted)
    label = s.label(sid)
    assert (label["curator"], label["alignable"], label["reason"]) == ("boss", False, "b_roll")
    assert any("No open disagreements" in i.value for i in at.info)
    at.session_state["page"] = "Stats"
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Open disagreements"], metrics["Resolved"]) == ("0", "1")
    assert metrics["Sentences with 2+ curators"] == "1"  # the resolution is not a third voice


def test_admins_export_with_the_fixed_words(dataset):
    at = _start("boss", page="Export")
    s = _store(at)
    sid = s.sentences("demo0")[0].sentence_id
    s.record_decision(sid, action="not_alignable", curator="ana", reason="b_roll")
    s.edit_text(sid, "opened the lid", curator="ana", expected_version=0)
    at.checkbox(key="export_reviewed").check()
    at.button(key="export_go").click().run()
    assert not at.exception
    assert any("exported 1 sentences of 1 videos as jsonl" in t.value for t in at.main.text)
    curator = _start("ana", page=None)  # not offered to curators
    assert "Export" not in curator.radio(key="page").options


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
    expected = ((b["pred_end"] + 2 - b["pred_start"]) + 4) / 2 / 3
    assert model["Boundary error"] == f"{expected:.2f} s"
    assert curators["Sentences with 2+ curators"] == "1"
    assert curators["Alignability kappa"] == "0.00"  # one pair, and it disagrees
    assert curators["Open disagreements"] == "1"


# -- text shown verbatim, files kept inside ---------------------------------------------------
def test_markdown_in_names_and_subtitles_is_never_rendered(dataset):
    at = _start(MD_NAME, page=None)
    evil = "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))"
    _store(at).replace_sentences("demo1", [(1.0, 3.0, evil)])
    s = _store(at).session_view()
    sid = s.sentences("demo1")[0].sentence_id
    s.record_decision(sid, action="accept", curator=MD_NAME)
    s.record_decision(sid, action="skip", curator="ana")
    at.selectbox(key="queue_video").set_value("demo1")
    at.button(key="open_video").click().run()
    assert _desk(at)["rows"][0]["text"] == evil  # the desk sets it as textContent
    assert "ana changed your #1: accepted" in _desk(at)["notices"][0]
    assert f"Signed in as {MD_NAME}" in [t.value for t in at.sidebar.text]
    rendered = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any(evil in m or MD_NAME in m for m in rendered)


def test_paths_outside_the_dataset_are_refused(dataset, tmp_path):
    secret = tmp_path / "secret.mp4"
    shutil.copy(dataset / "videos" / "demo0.mp4", secret)
    at = _start()
    _store(at).upsert_video("demo0", path="../secret.mp4", status="ok")
    at.session_state["_video"] = None
    at.run()
    assert any("refused" in e.value and "outside" in e.value for e in at.error)
    assert not at.exception and _desk(at)["clip"] is None


def test_waveform_is_decoded_once_and_cached(template, tmp_path):
    from aligner.ui import media

    path = media.safe_video_path(template, "videos/demo0.mp4")
    peaks = media.waveform(path, tmp_path / "waves")  # a 440 Hz tone for 20 s
    assert len(peaks) == pytest.approx(20 * media.WAVE_BINS_PER_S, abs=2)
    assert float(peaks.max()) == 1.0 and float(peaks[5:-5].min()) > 0.5  # a steady tone
    (cached,) = (tmp_path / "waves").glob("*.npy")
    assert (media.waveform(path, tmp_path / "waves") == peaks).all()
    silent = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-an", "-c", "copy", str(silent)],
                   check=True)  # fmt: skip
    assert media.waveform(silent, tmp_path / "waves") is None  # no audio track: no waveform


def test_clip_thumbnails_and_subtitles_for_the_player(template, tmp_path):
    import av
    from aligner.ui import media

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


def test_heatmap_is_drawn_from_the_stored_similarity(dataset):
    at = _start()
    assert not [c for c in at.caption if "No similarity matrix" in c.value]
    assert not at.warning and not at.exception
    assert _desk(at)["strip"]["sim"] is not None  # the desk's heat strip too


def test_an_unreadable_similarity_file_is_one_warning_and_a_timeline(dataset):
    for path in (dataset / ".aligner" / "similarity").rglob("*.npy"):
        path.write_bytes(b"not numpy")
    at = _start()
    assert [w for w in at.warning if "unreadable similarity file" in w.value]
    assert [c for c in at.caption if "No similarity matrix" in c.value]
    assert _desk(at)["strip"]["sim"] is None and not at.exception
