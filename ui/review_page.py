"""Review page: one video, one sentence at a time, by keyboard.

The desk (player, timeline, frame strip, the sentence and its actions) lives in a fragment: a
decision or a move reruns only that fragment, and it reruns by itself every few seconds so
presence and other curators' decisions show up. Below it, outside the fragment: the alignment
picture, every sentence, and the current sentence's history.
"""

from __future__ import annotations

import itertools
import time

import streamlit as st
from aligner.ui import batch, desk, review_media, review_tables, state
from aligner.ui import review_actions as act

from aligner.frames import FALLBACK_FPS
from aligner.store.review import REASONS

REASON_LABELS = {"talking_head": "talking head", "off_screen": "off-screen",
                 "b_roll": "B-roll", "other": "other"}  # fmt: skip
PRESENCE_REFRESH_S = 4.0  # the desk fragment reruns this often to show who else is here
RUN_MAX_AGE_S = 30.0  # the desk looks up the newest run at most this often
BUSY_S = 3.0  # a curator who pressed a key this recently is busy: timed refreshes wait
_NAV_TOKENS = itertools.count(1)


def jump_to(video_id: str, sentence_id: int | None) -> None:
    """Make the desk open `video_id` at `sentence_id` (the first open one when None)."""
    st.session_state["video_id"] = video_id
    st.session_state["goto_sentence"] = sentence_id


def _restore_place(s) -> None:
    """A new session (reload, restart) starts where this curator last was."""
    if "video_id" in st.session_state:
        return
    place = s.place(state.curator())
    if place is not None:
        jump_to(place["video_id"], place["sentence_id"])


def _pick_video(s) -> str | None:
    progress = s.video_progress()
    if not progress:
        st.info("No videos in the store yet: run `aligner ingest DATASET` first.")
        return None
    by_id = {p["video_id"]: p for p in progress}
    if st.session_state.get("video_id") not in by_id:
        jump_to(progress[0]["video_id"], None)
    cols = st.columns([2, 3], vertical_alignment="bottom")
    cols[0].selectbox("Video", list(by_id), key="video_id",
                      on_change=lambda: st.session_state.update(goto_sentence=None))  # fmt: skip
    return st.session_state["video_id"]  # its progress is counted live in the desk


def _nav(rows: list[dict], video_id: str) -> dict:
    """The desk's jump target: renewed when the video changes or a jump was asked for."""
    nav = st.session_state.get("_nav")
    goto = st.session_state.pop("goto_sentence", "none")
    if nav is None or nav["video_id"] != video_id or goto != "none":
        ids = [r["sentence_id"] for r in rows]
        if goto not in ids:
            goto = next((r["sentence_id"] for r in rows if not r["decided"]), ids[0])
        nav = {"token": next(_NAV_TOKENS), "sid": int(goto), "video_id": video_id}
        st.session_state["_nav"] = nav
    return nav


def _place(rows: list[dict], nav: dict, client: dict) -> dict:
    """The row the desk is on: its own report, unless it has not seen the newest jump yet."""
    by_id = {r["sentence_id"]: r for r in rows}
    sid = client.get("place") if client.get("nav_token") == nav["token"] else nav["sid"]
    return by_id.get(sid) or by_id[nav["sid"]]


def _notices(s, video_id: str) -> list[str]:
    return [
        f"{o['curator']} changed your #{o['number']}: {act.describe(o['before_value'])} →"
        f" {act.describe(o['after_value'])}"
        for o in s.overwrites_of(state.curator(), video_id, limit=3)
    ]


def _others(s, video_id: str, rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Who else is on the video, and overwrites of this curator's decisions: re-read at most
    every `PRESENCE_REFRESH_S` - 0.5 s (a decision's rerun reuses them: it must be quick)."""
    cached, now = st.session_state.get("_others"), time.monotonic()
    if cached and cached[0] == video_id and now - cached[1] < PRESENCE_REFRESH_S - 0.5:
        return cached[2], cached[3]
    numbers = {r["sentence_id"]: r["idx"] + 1 for r in rows}
    present = [{"curator": p["curator"], "n": numbers.get(p["sentence_id"])}
               for p in s.present(video_id)]  # fmt: skip
    notices = _notices(s, video_id)
    st.session_state["_others"] = (video_id, now, present, notices)
    return present, notices


def _desk_data(s, video: dict, rows: list[dict], row: dict, nav: dict, client: dict) -> dict:
    present, notices = _others(s, video["video_id"], rows)
    edits = s.edited_texts(video["video_id"])
    numbers = {r["sentence_id"]: r["idx"] + 1 for r in rows}
    merged = {e["merged_with"]: numbers.get(sid) for sid, e in edits.items()
              if e["kind"] == "merge" and e["text"] is not None}  # fmt: skip
    path = review_media.video_file(video)
    settings = state.settings()
    clip = strip = None
    if path is not None:
        clip = review_media.clip_data(path, video, rows, row, client.get("have_clip"))
        strip = review_media.strip_data(path, video, row, client.get("have_strip"))
        if strip["frames"] is not None:  # the heat strip travels with the frames
            run = state.current_run(max_age_s=RUN_MAX_AGE_S)
            strip["sim"] = review_media.similarity_row(run, video["video_id"], int(row["idx"]))
            strip["tags"] = review_media.tag_row(video["video_id"])
    return {
        "rows": [desk.desk_row(r, edits.get(r["sentence_id"]), merged.get(r["sentence_id"]))
                 for r in rows],
        "nav": {"token": nav["token"], "sid": nav["sid"]},
        "clip": clip, "strip": strip, "acks": act.recent_acks(), "curator": state.curator(),
        "presence": present, "notices": notices, "keys": settings.keys,
        "nudge_s": settings.nudge_s, "reasons": [[r, REASON_LABELS[r]] for r in REASONS],
        "reason_labels": REASON_LABELS, "fps": float(video.get("fps") or FALLBACK_FPS),
        "unlikely_below": desk.UNLIKELY_BELOW, "page_runs": st.session_state.get("_page_runs", 0),
    }  # fmt: skip


def _touch(s, video_id: str, sid: int) -> None:
    """Presence (and place, when it moved) in one write; unmoved, at most every
    `PRESENCE_REFRESH_S` - 0.5 s, which spares a write per timed rerun."""
    last, now = st.session_state.get("_presence"), time.monotonic()
    moved = st.session_state.get("_saved_place") != (video_id, sid)
    if not moved and last and now - last < PRESENCE_REFRESH_S - 0.5:
        return
    s.touch_presence(video_id, state.curator(), sid, place=moved)
    st.session_state["_presence"] = now
    st.session_state["_saved_place"] = (video_id, sid)


@st.fragment(run_every=PRESENCE_REFRESH_S)
def _desk_fragment() -> None:
    started = time.perf_counter()
    video_id = st.session_state["video_id"]
    if _repeat_while_busy(video_id):
        return
    s, run = state.store(), state.current_run(max_age_s=RUN_MAX_AGE_S)
    run_id = run["run_id"] if run else None
    rows = s.desk_rows(video_id, run_id)
    if not rows:
        st.info("This video has no sentences.")
        return
    nav, client = _nav(rows, video_id), desk.client_state()
    if act.apply_ops(client.get("ops") or []):  # normally done by the callback already
        rows = s.desk_rows(video_id, run_id)
    row = _place(rows, nav, client)
    sid = int(row["sentence_id"])
    st.session_state["place_sid"] = sid
    data = _desk_data(s, _video(s, video_id), rows, row, nav, client)
    # server time of this run (callback + fragment), shown in the browser test's latency log
    data["server_ms"] = (time.perf_counter() - st.session_state.pop("_applied_at", started)) * 1e3
    desk.mount(data, act.apply_client)
    st.session_state["_desk_last"] = {"video_id": video_id, "data": data, **_trigger()}
    _touch(s, video_id, sid)  # after the mount: the acknowledgement is on its way already


def _trigger() -> dict:
    """What makes a desk run more than a timed refresh: the desk reported, or the page ran."""
    return {"trigger": (desk.client_state().get("n"), st.session_state.get("_page_runs"))}


def _repeat_while_busy(video_id: str) -> bool:
    """A timed refresh within `BUSY_S` of the curator's last key sends the same data again
    (cheap), so it never holds up the next key's save; when they pause, it refreshes."""
    last = st.session_state.get("_desk_last")
    now = time.monotonic()
    if last is None or last["video_id"] != video_id or last["trigger"] != _trigger()["trigger"]:
        st.session_state["_active_at"] = now
        return False
    if now - st.session_state.get("_active_at", 0.0) >= BUSY_S:
        return False
    desk.mount(last["data"], act.apply_client)
    return True


def _video(s, video_id: str) -> dict:
    cached = st.session_state.get("_video")
    if not cached or cached["video_id"] != video_id:
        cached = st.session_state["_video"] = s.video(video_id)
    return cached


def render() -> None:
    s = state.store()
    _restore_place(s)
    video_id = _pick_video(s)
    if video_id is None:
        return
    _desk_fragment()
    _details(s, video_id)


def _details(s, video_id: str) -> None:
    run = state.current_run()
    rows = s.review_rows(video_id, run["run_id"] if run else None)
    if not rows:
        return
    sid = st.session_state.get("place_sid")
    idx = next((i for i, r in enumerate(rows) if r["sentence_id"] == sid), 0)
    batch.batch_panel(rows)
    picture, table, history = st.tabs(["Alignment picture", "Sentences", "History"])
    with picture:
        review_media.show_alignment(run, s.video(video_id), rows, idx)
    with table:
        review_tables.sentences_table(rows, idx, on_open=jump_to)
    with history:
        review_tables.history_table(s, rows[idx]["sentence_id"], rows[idx]["idx"] + 1)
        review_tables.text_history_table(s, rows[idx]["sentence_id"])
