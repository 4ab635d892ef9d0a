"""A two-way video player: plays a sentence's clip, loops a segment, reports the time back.

`st.video` seeks only whole seconds and cannot say where it is, so this is a small
`st.components.v2` component around an HTML5 `<video>`: sub-second segment looping, the ASR as a
subtitle track, slow playback, frame stepping, and "mark start / end here" (buttons or the `[` / `]`
keys) which send the current source time (0.1 s) back to Python as a trigger value `mark`.
All text reaches the page through `textContent` or the VTT track, never as HTML.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

HTML = """
<div class="player">
  <video playsinline preload="auto"></video>
  <div class="bar">
    <button data-act="play" title="play / pause">▶︎/❚❚</button>
    <button data-act="back" title="one frame back (,)">⟨ frame</button>
    <button data-act="fwd" title="one frame forward (.)">frame ⟩</button>
    <select data-act="rate" title="playback speed">
      <option value="0.25">0.25×</option><option value="0.5">0.5×</option>
      <option value="1" selected>1×</option><option value="1.5">1.5×</option>
    </select>
    <label><input type="checkbox" data-act="loop" checked> loop</label>
    <span class="time">0.0 s</span>
    <button data-act="mark-start" class="mark" title="set start here ([)">[ mark start</button>
    <button data-act="mark-end" class="mark" title="set end here (])">mark end ]</button>
  </div>
</div>
"""

CSS = """
.player { font-family: var(--st-font, sans-serif); font-size: 14px; }
video { width: 100%; max-height: 360px; background: #000; border-radius: 6px; }
.bar { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin-top: 4px; }
button, select { padding: 2px 8px; border-radius: 4px; border: 1px solid #bbb;
                 background: var(--st-secondary-background-color, #f0f2f6); cursor: pointer; }
.mark { font-weight: 600; }
.time { font-variant-numeric: tabular-nums; min-width: 9em; }
"""

JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement;
  const video = root.querySelector("video");
  const timeEl = root.querySelector(".time");
  const state = root.__player || (root.__player = {});
  state.data = data;
  const now = () => Math.round((data.offset + video.currentTime) * 10) / 10;
  const mark = (which) => setTriggerValue("mark", { which, time: now(), n: Date.now() });

  if (state.key !== data.key) {
    state.key = data.key;
    for (const t of video.querySelectorAll("track")) t.remove();
    if (state.vtt) URL.revokeObjectURL(state.vtt);
    video.src = data.src;
    const track = document.createElement("track");
    track.kind = "subtitles"; track.label = "ASR"; track.srclang = "en"; track.default = true;
    state.vtt = URL.createObjectURL(new Blob([data.vtt], { type: "text/vtt" }));
    track.src = state.vtt;
    video.appendChild(track);
    video.addEventListener("loadedmetadata", () => {
      video.currentTime = Math.max(0, state.data.seg_start - state.data.offset);
      if (video.textTracks[0]) video.textTracks[0].mode = "showing";
    }, { once: true });
  }
  if (state.segKey !== data.seg_start + ":" + data.seg_end && video.readyState > 0) {
    video.currentTime = Math.max(0, data.seg_start - data.offset);
  }
  state.segKey = data.seg_start + ":" + data.seg_end;

  // handlers are (re)assigned as properties on every call, so re-renders never stack them
  video.ontimeupdate = () => {
    const d = state.data;
    timeEl.textContent = (d.offset + video.currentTime).toFixed(2) + " s";
    const loop = root.querySelector("[data-act=loop]").checked;
    if (loop && !video.paused && d.offset + video.currentTime > d.seg_end) {
      video.currentTime = Math.max(0, d.seg_start - d.offset);
    }
  };
  const step = (sign) => { video.pause(); video.currentTime += sign / (state.data.fps || 25); };
  const actions = {
    play: () => (video.paused ? video.play() : video.pause()),
    back: () => step(-1), fwd: () => step(1),
    "mark-start": () => mark("start"), "mark-end": () => mark("end"),
  };
  for (const b of root.querySelectorAll("button")) b.onclick = () => actions[b.dataset.act]();
  root.querySelector("[data-act=rate]").onchange = (e) => {
    video.playbackRate = parseFloat(e.target.value);
  };
  if (state.onKey) document.removeEventListener("keydown", state.onKey);
  state.onKey = (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || e.ctrlKey || e.metaKey) return;
    if (e.key === "[") mark("start");
    else if (e.key === "]") mark("end");
    else if (e.key === ",") step(-1);
    else if (e.key === ".") step(1);
    else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", state.onKey);
  return () => { document.removeEventListener("keydown", state.onKey); state.onKey = null; };
}
"""


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("aligner_player", html=HTML, css=CSS, js=JS)


def player(
    *,
    key: str,
    clip_url: str,
    clip_key: str,
    offset: float,
    seg_start: float,
    seg_end: float,
    fps: float,
    vtt: str,
    on_mark: Callable[[], None],
):
    """Mount the player; `offset` is the source time (s) of the clip's t=0.

    Returns the component result; `result.mark` is `{"which": "start"|"end", "time": s}` in the
    run after a mark, else None.
    """
    data = {"src": clip_url, "key": clip_key, "offset": offset, "seg_start": seg_start,
            "seg_end": seg_end, "fps": fps, "vtt": vtt}  # fmt: skip
    return _component()(key=key, data=data, on_mark_change=on_mark)
