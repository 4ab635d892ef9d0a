"""Review page: one video, one sentence at a time, mostly by keyboard.

Left: the player and the frame strip. Right: the sentence, its said / shown / edited windows and
the actions. Below: the alignment picture, all sentences, and the sentence's history.
"""

from __future__ import annotations

import streamlit as st
from aligner.ui import review_actions as act
from aligner.ui import review_media, review_tables, state

from aligner.store.review import REASONS

REASON_LABELS = {"talking_head": "talking head", "off_screen": "off-screen",
                 "b_roll": "B-roll", "other": "other"}  # fmt: skip


def _pick_video(s) -> str | None:
    progress = s.video_progress()
    if not progress:
        st.info("No videos in the store yet: run `aligner ingest DATASET` first.")
        return None
    by_id = {p["video_id"]: p for p in progress}
    if st.session_state.get("video_id") not in by_id:
        st.session_state["video_id"] = progress[0]["video_id"]
    cols = st.columns([2, 3], vertical_alignment="bottom")
    cols[0].selectbox("Video", list(by_id), key="video_id",
                      on_change=lambda: st.session_state.update(idx=0, goto_sentence=None))  # fmt: skip
    video_id = st.session_state["video_id"]
    done, total = by_id[video_id]["n_reviewed"], by_id[video_id]["n_sentences"]
    cols[1].progress(done / max(total, 1), text=f"{done} of {total} sentences reviewed")
    previous = st.session_state.get("_claimed")
    if previous and previous != video_id:  # let others see this curator has moved on
        s.release_claim(previous, curator=state.curator())
    other = s.claim_video(video_id, curator=state.curator())
    st.session_state["_claimed"] = video_id
    slot = st.empty()  # always present, so the player below keeps its place
    if other:
        slot.warning(f"{other} is working on this video now. You can go on: a decision they made"
                   " after you opened a sentence is never overwritten.")  # fmt: skip
    return video_id


def _current_idx(rows: list[dict]) -> int:
    goto = st.session_state.pop("goto_sentence", None)
    if goto is not None:
        st.session_state["idx"] = next(
            (i for i, r in enumerate(rows) if r["sentence_id"] == goto), 0
        )
    idx = min(max(int(st.session_state.get("idx", 0)), 0), len(rows) - 1)
    st.session_state["idx"] = idx
    return idx


def _apply_picks(player_result, strip_result) -> None:
    """A "mark" from the player or a "pick" from the strip sets a boundary, then re-renders so
    the player's loop and the strip's highlights follow (trigger values last one run only)."""
    changed = False
    for result, name in ((player_result, "mark"), (strip_result, "pick")):
        value = getattr(result, name, None) if result is not None else None
        if isinstance(value, dict) and value.get("which") in ("start", "end"):
            act.set_boundary(value["which"], float(value["time"]))
            changed = True
    if changed:
        st.rerun()


def _spans(row: dict) -> None:
    """Said, shown and the edited window, aligned as plain text (no markup from the data)."""
    start, end = act.edit_window()
    lines = [f"said   {row['asr_start']:7.1f} – {row['asr_end']:7.1f} s   (ASR)"]
    if row["pred_start"] is not None:
        lines.append(f"shown  {row['pred_start']:7.1f} – {row['pred_end']:7.1f} s   (model"
                     f" {row['alignability']:.2f})")  # fmt: skip
    lines.append(f"yours  {start:7.1f} – {end:7.1f} s   ({start - row['asr_start']:+.1f} s"
                 " from said)")  # fmt: skip
    st.code("\n".join(lines), language=None)


def _decision_line(row: dict) -> None:
    if row["status"] is None:
        st.caption("Not decided yet.")
        return
    what = row["status"].replace("_", " ")
    if row["reason"]:
        what += f" ({REASON_LABELS.get(row['reason'], row['reason'])})"
    if row["label_start"] is not None:
        what += f", {row['label_start']:.1f}–{row['label_end']:.1f} s"
    st.caption(f"Decided: {what} by {row['curator']} (version {row['version']}).")


def _edit_controls() -> None:
    for which, keys in (("start", ("Q", "W")), ("end", ("O", "P"))):
        cols = st.columns([3, 2, 3, 3, 2], vertical_alignment="bottom")
        cols[0].number_input(f"{which} (s)", key=f"edit_{which}", min_value=0.0, step=0.1,
                             format="%.1f")  # fmt: skip
        for col, delta in zip(cols[1:], act.NUDGES_S, strict=True):
            shortcut = None if abs(delta) == 1.0 else keys[delta > 0]
            col.button(f"{delta:+g}", key=f"nudge_{which}_{delta:+g}", on_click=act.nudge,
                       args=(which, delta), shortcut=shortcut, use_container_width=True)  # fmt: skip


def _button(col, label: str, key: str, shortcut: str, fn, args, primary: bool = False) -> None:
    col.button(label, key=key, shortcut=shortcut, on_click=fn, args=args,
               type="primary" if primary else "secondary", use_container_width=True)  # fmt: skip


def _action_buttons(video_id: str, rows: list[dict], row: dict) -> None:
    n, idx = len(rows), st.session_state["idx"]
    c = st.columns(2)
    _button(c[0], "Accept", "accept", "A", act.decide, ("accept", row, rows), primary=True)
    _button(c[1], "Save correction", "correct", "E", act.decide, ("correct", row, rows))
    c = st.columns(2)
    _button(c[0], "Not alignable", "not_alignable", "N", act.decide, ("not_alignable", row, rows))
    _button(c[1], "Skip", "skip", "S", act.decide, ("skip", row, rows))
    st.segmented_control("Reason when not alignable", REASONS, key="reason",
                         format_func=REASON_LABELS.get, default="talking_head")  # fmt: skip
    c = st.columns(4)
    _button(c[0], "◀ Prev", "prev", "left", act.go_to, (idx - 1, n))
    _button(c[1], "Next ▶", "next", "right", act.go_to, (idx + 1, n))
    _button(c[2], "Next open", "next_open", "J", act.next_undecided, (rows, idx))
    _button(c[3], "Undo", "undo", "U", act.undo, (video_id, rows))
    st.caption("Player keys: [ mark start, ] mark end, , and . step one frame.")


def render() -> None:
    s = state.store()
    run = state.current_run()
    video_id = _pick_video(s)
    if video_id is None:
        return
    rows = s.review_rows(video_id, run["run_id"] if run else None)
    if not rows:
        st.info("This video has no sentences.")
        return
    idx = _current_idx(rows)
    row = rows[idx]
    if st.session_state.get("edit_sid") != row["sentence_id"]:
        act.reset_edit(row)
    video = s.video(video_id)
    left, right = st.columns([5, 4], gap="medium")
    with left:
        path = review_media.video_file(video)
        if path is not None:
            played = review_media.show_player(path, video, rows, row, act.edit_window())
            strip = review_media.show_strip(path, video, row, act.edit_window())
            _apply_picks(played, strip)
    with right:
        st.caption(f"Sentence #{row['idx']} of {len(rows)}")
        st.text(row["text"])
        _spans(row)
        _decision_line(row)
        _edit_controls()
        _action_buttons(video_id, rows, row)
    _details(run, video, rows, idx)


def _details(run, video: dict, rows: list[dict], idx: int) -> None:
    picture, table, history = st.tabs(["Alignment picture", "Sentences", "History"])
    with picture:
        review_media.show_alignment(run, video, rows, idx)
    with table:
        review_tables.sentences_table(rows, idx)
    with history:
        review_tables.history_table(state.store(), rows[idx]["sentence_id"])
