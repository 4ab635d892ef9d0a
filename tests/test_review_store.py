"""Labels, history, undo, stale writes, claims, queue and stats in a real DuckDB file."""

from __future__ import annotations

import pytest

from aligner.errors import AlignerError
from aligner.store import Store
from aligner.store.review import StaleWriteError
from tests.demo_data import fill_benchmark_rows


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "aligner.duckdb")
    s.upsert_video("v1", path="videos/v1.mp4", duration=60.0, status="ok")
    s.upsert_video("v2", path="videos/v2.mp4", duration=60.0, status="ok")
    s.replace_sentences("v1", [(0.0, 4.0, "open the box"), (5.0, 9.0, "cut the wood"),
                               (10.0, 14.0, "thanks for watching")])  # fmt: skip
    s.replace_sentences("v2", [(1.0, 3.0, "mix the flour")])
    run = s.start_run("predict", model="tan")
    ids = [r.sentence_id for r in s.sentences()]
    s.save_predictions(run, [
        {"sentence_id": ids[0], "alignability": 0.9, "start": 1.0, "end": 5.0, "peak": 3.0,
         "dual_alignability": 0.8, "dual_peak": 3.0},
        {"sentence_id": ids[1], "alignability": 0.5, "start": 20.0, "end": 24.0, "peak": 22.0,
         "dual_alignability": 0.1, "dual_peak": 40.0},
        {"sentence_id": ids[2], "alignability": 0.05, "start": 10.0, "end": 14.0, "peak": 12.0,
         "dual_alignability": 0.05, "dual_peak": 12.0},
        {"sentence_id": ids[3], "alignability": 0.7, "start": 1.0, "end": 3.0, "peak": 2.0,
         "dual_alignability": 0.6, "dual_peak": 2.0},
    ])  # fmt: skip
    s.finish_run(run)
    yield s
    s.close()


def _ids(store):
    return [r.sentence_id for r in store.sentences()]


def test_record_decision_writes_label_and_event(store):
    sid = _ids(store)[1]
    version = store.record_decision(sid, action="correct", curator="ana", start=6.25, end=8.5)
    assert version == 1
    [label] = [x for x in store.current_labels("v1") if x["sentence_id"] == sid]
    assert label["status"] == "corrected" and label["alignable"] is True
    assert (label["start"], label["end"], label["curator"]) == (6.25, 8.5, "ana")
    [event] = store.label_history(sid)
    assert event["action"] == "correct" and event["before_value"] is None
    assert event["after_value"]["start"] == 6.25 and event["version"] == 1


def test_accept_takes_the_predicted_window(store):
    sid = _ids(store)[0]
    store.record_decision(sid, action="accept", curator="ana")
    [label] = store.current_labels("v1")
    assert (label["start"], label["end"], label["status"]) == (1.0, 5.0, "accepted")


def test_not_alignable_needs_a_known_reason(store):
    sid = _ids(store)[2]
    with pytest.raises(AlignerError, match="unknown reason"):
        store.record_decision(sid, action="not_alignable", curator="ana", reason="boring")
    store.record_decision(sid, action="not_alignable", curator="ana", reason="talking_head")
    [label] = store.current_labels("v1")
    assert label["alignable"] is False and label["reason"] == "talking_head"
    assert label["start"] is None


def test_bad_input_is_one_readable_error(store):
    sid = _ids(store)[0]
    with pytest.raises(AlignerError, match="before end"):
        store.record_decision(sid, action="correct", curator="ana", start=5, end=2)
    with pytest.raises(AlignerError, match="curator"):
        store.record_decision(sid, action="accept", curator="  ")
    with pytest.raises(AlignerError, match="does not exist"):
        store.record_decision(99999, action="accept", curator="ana")
    assert store.counts()["label_events"] == 0


def test_stale_write_is_refused_and_changes_nothing(store):
    sid = _ids(store)[0]
    assert store.label_version(sid) == 0
    store.record_decision(sid, action="accept", curator="ana", expected_version=0)
    with pytest.raises(StaleWriteError, match="changed by someone else"):
        store.record_decision(
            sid, action="not_alignable", curator="ben", reason="b_roll", expected_version=0
        )
    assert isinstance(StaleWriteError("x"), AlignerError)
    [label] = store.current_labels("v1")
    assert label["curator"] == "ana" and label["version"] == 1
    assert store.record_decision(sid, action="skip", curator="ben", expected_version=1) == 2


def test_undo_restores_previous_values_and_versions_keep_growing(store):
    sid = _ids(store)[1]
    store.record_decision(sid, action="accept", curator="ana")
    store.record_decision(sid, action="correct", curator="ana", start=6.0, end=7.5)
    assert store.undo_last(sid, curator="ana") == 3
    [label] = [x for x in store.current_labels() if x["sentence_id"] == sid]
    assert (label["status"], label["start"], label["version"]) == ("accepted", 20.0, 3)
    assert store.undo_last(sid, curator="ana") == 4
    assert [x for x in store.current_labels() if x["sentence_id"] == sid] == []
    assert store.label_version(sid) == 4  # a client holding version 0 is now stale
    assert store.undo_last(sid, curator="ana") is None
    with pytest.raises(StaleWriteError):
        store.record_decision(sid, action="accept", curator="ben", expected_version=0)
    actions = [e["action"] for e in store.label_history(sid)]
    assert actions == ["accept", "correct", "undo", "undo"]


def test_last_decision_by_skips_undone_and_other_curators(store):
    a, b = _ids(store)[:2]
    store.record_decision(a, action="accept", curator="ana")
    store.record_decision(b, action="accept", curator="ana")
    store.undo_last(b, curator="ana")
    assert store.last_decision_by("ana") == a
    store.record_decision(a, action="skip", curator="ben")
    assert store.last_decision_by("ana") is None
    assert store.last_decision_by("ben") == a


def test_session_views_share_the_file_and_see_each_others_writes(store):
    one, two = store.session_view(), store.session_view()
    sid = _ids(store)[0]
    one.record_decision(sid, action="accept", curator="ana")
    assert two.label_version(sid) == 1
    with pytest.raises(StaleWriteError):
        two.record_decision(sid, action="skip", curator="ben", expected_version=0)


def test_queue_puts_undecided_and_doubtful_first(store):
    run = store.latest_run()["run_id"]
    ids = _ids(store)
    queue = store.review_queue(run, limit=10)
    # sentence 2 of v1: alignability 0.5, dual disagrees, prediction 15 s from the ASR time
    assert queue[0]["sentence_id"] == ids[1]
    assert queue[-1]["sentence_id"] == ids[2]  # confident, agreeing, on time
    store.record_decision(ids[1], action="accept", curator="ana")
    queue = store.review_queue(run, limit=10)
    assert queue[-1]["sentence_id"] == ids[1] and queue[-1]["decided"] == 1
    assert [r["sentence_id"] for r in store.review_queue(run, video_id="v2")] == [ids[3]]


def test_video_progress_and_claims(store):
    ids = _ids(store)
    store.record_decision(ids[0], action="accept", curator="ana")
    store.record_decision(ids[1], action="skip", curator="ana")
    assert store.claim_video("v1", curator="ana") is None
    assert store.claim_video("v1", curator="ben") == "ana"  # held: ben is told, gets nothing
    progress = {p["video_id"]: p for p in store.video_progress()}
    assert (progress["v1"]["n_sentences"], progress["v1"]["n_reviewed"]) == (3, 1)
    assert progress["v1"]["claimed_by"] == "ana" and progress["v2"]["claimed_by"] is None
    assert store.claim_video("v2", curator="ben", ttl_s=-1) is None  # already expired
    assert store.claim_video("v2", curator="ana") is None
    store.release_claim("v1", curator="ana")
    assert store.active_claims() == {"v2": "ana"}


def test_version_in_rows_survives_undo_to_nothing(store):
    sid = _ids(store)[0]
    store.record_decision(sid, action="accept", curator="ana")
    store.undo_last(sid, curator="ana")
    [row] = [r for r in store.review_rows("v1", None) if r["sentence_id"] == sid]
    assert row["version"] == 2 and row["status"] is None and row["alignability"] is None


def test_standing_decisions_per_curator(store):
    a = _ids(store)[0]
    store.record_decision(a, action="accept", curator="ana")
    store.record_decision(a, action="correct", curator="ben", start=2.0, end=4.0)
    store.record_decision(a, action="not_alignable", curator="ben", reason="b_roll")
    store.undo_last(a, curator="ben")
    got = sorted(store.standing_decisions(), key=lambda d: d["curator"])
    assert [(d["curator"], d["alignable"], d["start"]) for d in got] == [
        ("ana", True, 1.0), ("ben", True, 2.0)
    ]  # fmt: skip


def test_benchmark_rows_feed_the_queue(tmp_path):
    with Store(tmp_path / "b.duckdb") as s:
        run = fill_benchmark_rows(s, 2000, per_video=600)
        assert s.counts()["sentences"] == 2000 and len(s.videos()) == 4
        queue = s.review_queue(run, limit=20)
        assert len(queue) == 20
        assert queue[0]["doubt"] >= queue[-1]["doubt"]


def test_agreement_metrics_on_hand_made_numbers():
    from aligner.agreement import cohen_kappa, curator_agreement, model_agreement, temporal_iou

    assert temporal_iou((0, 4), (2, 6)) == pytest.approx(2 / 6)
    assert temporal_iou((0, 1), (2, 3)) == 0.0
    # 4 items, raters agree on 3: po = .75, pe = .5 -> kappa .5
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
    rows = [
        {"alignable": True, "label_start": 2.0, "label_end": 4.0, "alignability": 0.9,
         "pred_start": 2.0, "pred_end": 6.0, "peak": 3.0},
        {"alignable": True, "label_start": 10.0, "label_end": 12.0, "alignability": 0.4,
         "pred_start": 0.0, "pred_end": 2.0, "peak": 1.0},
        {"alignable": False, "label_start": None, "label_end": None, "alignability": 0.2,
         "pred_start": 5.0, "pred_end": 6.0, "peak": 5.0},
    ]  # fmt: skip
    got = model_agreement(rows)
    assert got["r_at_1"] == 0.5 and got["roc_auc"] == 1.0
    assert got["boundary_error_s"] == pytest.approx((1.0 + 10.0) / 2)
    assert got["iou"] == pytest.approx((0.5 + 0.0) / 2)
    decisions = [
        {"sentence_id": 1, "curator": "a", "alignable": True, "start": 0.0, "end": 2.0},
        {"sentence_id": 1, "curator": "b", "alignable": True, "start": 1.0, "end": 2.0},
        {"sentence_id": 2, "curator": "a", "alignable": False, "start": None, "end": None},
    ]  # fmt: skip
    both = curator_agreement(decisions)
    assert (both["n_sentences"], both["n_pairs"], both["kappa"]) == (1, 1, 1.0)
    assert both["boundary_error_s"] == 0.5 and both["iou"] == 0.5


def test_doubt_cache_follows_new_predictions(store):
    run = store.latest_run()["run_id"]
    assert len(store.review_queue(run, limit=10)) == 4
    store.replace_sentences("v2", [(1.0, 3.0, "mix the flour"), (4.0, 6.0, "knead it")])
    new_id = _ids(store)[-1]
    store.save_predictions(run, [{"sentence_id": new_id, "alignability": 0.5, "start": 50.0,
                                  "end": 52.0, "peak": 51.0, "dual_alignability": 0.0,
                                  "dual_peak": 0.0}])  # fmt: skip
    queue = store.review_queue(run, limit=10)
    assert queue[0]["sentence_id"] == new_id and len(queue) == 5


def test_concurrent_sessions_never_lose_or_overwrite_a_decision(store):
    from concurrent.futures import ThreadPoolExecutor

    ids = _ids(store)
    views = [store.session_view() for _ in range(4)]

    def decide(i: int) -> str:
        try:  # all four curators race on sentence 0 from version 0; one wins
            views[i].record_decision(ids[0], action="accept", curator=f"c{i}", expected_version=0)
            return "saved"
        except StaleWriteError:
            return "stale"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(decide, range(4)))
    assert outcomes == ["saved", "stale", "stale", "stale"]
    assert store.label_version(ids[0]) == 1 and len(store.label_history(ids[0])) == 1
    with ThreadPoolExecutor(3) as pool:  # different sentences at once: all land
        list(pool.map(lambda i: views[i].record_decision(ids[i + 1], action="skip",
                                                          curator=f"c{i}"), range(3)))  # fmt: skip
    assert store.counts()["label_events"] == 4


def test_queue_on_a_big_run_is_exactly_the_full_ordering(tmp_path):
    """The doubt floor (a top-k cut before the 4-key sort) never changes what the queue shows:
    with many tied doubts and decided sentences among the most doubtful, it equals the full
    sort, for the dataset and for one video."""
    with Store(tmp_path / "big.duckdb") as store:
        run = fill_benchmark_rows(store, 3000, per_video=300)
        store.review_queue(run, limit=1)  # computes the doubt cache
        top = [r[0] for r in store.query(
            "SELECT sentence_id FROM review_doubt WHERE run_id = ? ORDER BY doubt DESC LIMIT 40",
            [run])]  # fmt: skip
        for sid in top[::2]:  # half of the most doubtful are decided, one is only skipped
            store.record_decision(sid, action="accept", curator="ana")
        store.record_decision(top[1], action="skip", curator="ana")
        for video_id, limit in [(None, 25), (None, 3000), ("bench-3", 50), (None, 0)]:
            full = [r[0] for r in store.query(
                "SELECT d.sentence_id FROM review_doubt d LEFT JOIN labels l USING (sentence_id)"
                " WHERE d.run_id = ? AND (? IS NULL OR d.video_id = ?)"
                " ORDER BY (l.status IS NOT NULL AND l.status <> 'skipped'), d.doubt DESC,"
                " d.video_id, d.idx LIMIT ?", [run, video_id, video_id, limit])]  # fmt: skip
            got = store.review_queue(run, limit=limit, video_id=video_id)
            assert [r["sentence_id"] for r in got] == full
