"""Search page: a text query -> the moments of the dataset that show it, each with a thumbnail
and a button that opens the Review page at the sentence of that moment; and the review queue
restricted to one entity tag (when `aligner tags` has run)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from aligner.ui import media, state

from aligner.errors import AlignerError

DEFAULT_TOP = 10
TAG_QUEUE_LENGTH = 30


def nearest_sentence(rows: list[dict], second: float) -> int | None:
    """The sentence whose window (predicted, else ASR) is nearest to `second` (0 inside it)."""

    def distance(r: dict) -> float:
        a = r["pred_start"] if r.get("pred_start") is not None else r["asr_start"]
        b = r["pred_end"] if r.get("pred_end") is not None else r["asr_end"]
        return max(a - second, second - b, 0.0)

    return min(rows, key=distance)["sentence_id"] if rows else None


def _open(video_id: str, second: float) -> None:
    """Callback: the Review page on the moment's video, at its nearest sentence."""
    run = state.current_run()
    rows = state.store().review_rows(video_id, run["run_id"] if run else None)
    st.session_state["video_id"] = video_id
    st.session_state["goto_sentence"] = nearest_sentence(rows, second)
    st.session_state["page"] = "Review"


@st.cache_data(show_spinner=False, max_entries=512)
def _thumb(path: str, mtime: float, second: float, cache_dir: str) -> bytes:
    return media.thumbnails(Path(path), [second], Path(cache_dir))[0]


def _thumbnail(video: dict | None, second: float):
    if video is None:
        return None
    try:
        path = media.safe_video_path(state.dataset_path(), video["path"])
    except AlignerError:
        return None
    cache = str(state.workspace().subdir("thumbs"))
    return _thumb(str(path), path.stat().st_mtime, second, cache) or None


def _tags_at(tags, video_id: str, second: float) -> str:
    from aligner.tags import top_tags

    if tags is None:
        return ""
    try:
        scores = tags.scores(video_id)
    except AlignerError:
        return ""
    t = min(int(second), len(scores) - 1)
    best = top_tags(tags.entities, scores[t : t + 1])[0] if t >= 0 else []
    return ", ".join(e for e, _ in best)


def _hit(i: int, moment, video: dict | None, tags) -> None:
    cols = st.columns([1, 3, 1], vertical_alignment="center")
    image = _thumbnail(video, moment.peak + 0.5)
    if image:
        cols[0].image(image)
    shown = _tags_at(tags, moment.video_id, moment.peak)
    cols[1].markdown(f"**{i}. {moment.video_id}** · {moment.start:.0f}–{moment.end:.0f} s")
    cols[1].text(f"score {moment.score:.3f}" + (f" · on screen: {shown}" if shown else ""))
    cols[2].button("Open in Review", key=f"search_open_{i}", on_click=_open,
                   args=(moment.video_id, moment.peak))  # fmt: skip


def _load_tags():
    from aligner.tags import load_tags

    try:
        return load_tags(state.workspace())
    except AlignerError:
        return None


@st.cache_data(show_spinner=False, ttl=600, max_entries=64)
def _moments(query: str, top: int, run_id: str | None) -> list:
    """Cached per query and run: the index check reads every video's features."""
    from aligner.search import search_texts

    return search_texts(state.workspace(), [query], top=top, store=state.store())[0]


def _results(query: str, top: int, tags) -> None:
    s = state.store()
    run = state.current_run()
    try:
        with st.spinner("Searching (the index is brought up to date first)..."):
            moments = _moments(query, top, run["run_id"] if run else None)
    except AlignerError as err:
        st.warning(str(err))
        return
    if not moments:
        st.info("No moments: the search index is empty.")
        return
    videos = {v["video_id"]: v for v in s.videos(status="ok")}
    for i, moment in enumerate(moments, 1):
        _hit(i, moment, videos.get(moment.video_id), tags)


def _tag_queue(tags) -> None:
    from aligner.tags import tagged_queue

    st.subheader("Sentences that show a tag")
    entity = st.selectbox("Tag", tags.entities, key="search_tag")
    run = state.current_run()
    rows = tagged_queue(state.workspace(), state.store(), entity, run["run_id"] if run else None,
                        limit=TAG_QUEUE_LENGTH)  # fmt: skip
    if not rows:
        st.info(f"No sentence window shows {entity!r}.")
        return
    for row in rows:
        cols = st.columns([4, 1], vertical_alignment="center")
        cols[0].text(f"{row['video_id']} #{row['idx']}: {row['text']}")
        second = row["pred_start"] if row.get("pred_start") is not None else row["asr_start"]
        cols[1].button("Open", key=f"search_tag_open_{row['sentence_id']}", on_click=_open,
                       args=(row["video_id"], float(second)))  # fmt: skip


def render() -> None:
    st.title("Search")
    cols = st.columns([4, 1], vertical_alignment="bottom")
    query = cols[0].text_input("Find moments that show...", key="search_query",
                               placeholder="e.g. knead the dough")  # fmt: skip
    top = cols[1].number_input("Moments", 1, 100, DEFAULT_TOP, key="search_top")
    tags = _load_tags()
    if query.strip():
        _results(query.strip(), int(top), tags)
    if tags is not None:
        _tag_queue(tags)
    else:
        st.caption("Run `aligner tags DATASET` to tag every second with what it shows.")
