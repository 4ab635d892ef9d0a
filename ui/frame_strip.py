"""The frame strip: thumbnails around a sentence; a click on a frame sets start or end.

A `st.components.v2` component: each thumbnail carries its time, is outlined when it falls in
the ASR window (said), the predicted window (shown) or the current edit, and has two small
buttons that send `{"which": "start"|"end", "time": s}` back as the trigger value `pick`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

FRAMES_PER_S = 1.0  # thumbnails per second of video in the strip
STRIP_MARGIN_S = 3.0  # seconds shown before and after the union of the windows
MAX_FRAMES = 48  # a very long window is sampled more sparsely instead

CSS = """
.strip { display: flex; gap: 4px; overflow-x: auto; padding-bottom: 4px; }
.frame { flex: 0 0 auto; width: 112px; border: 3px solid transparent; border-radius: 4px;
         font: 12px var(--st-font, sans-serif); text-align: center; }
.frame img { width: 100%; display: block; border-radius: 2px; }
.frame.said { border-bottom-color: #f0a202; }
.frame.shown { border-top-color: #1f77b4; }
.frame.edit { background: #c8f0c8; }
.frame button { font-size: 11px; padding: 0 4px; margin: 1px; cursor: pointer; }
.legend { font: 12px var(--st-font, sans-serif); margin-top: 2px; color: #555; }
"""

HTML = """<div class="strip"></div>
<div class="legend">orange bottom edge: said (ASR) · blue top edge: shown (prediction) ·
green: your start–end · buttons set start / end</div>"""

JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const strip = parentElement.querySelector(".strip");
  const keep = strip.scrollLeft;
  const sameSentence = parentElement.__sentence === data.sentence;
  parentElement.__sentence = data.sentence;
  strip.replaceChildren();
  for (const f of data.frames) {
    const box = document.createElement("div");
    box.className = "frame" + (f.said ? " said" : "") + (f.shown ? " shown" : "")
      + (f.edit ? " edit" : "");
    box.dataset.time = f.t.toFixed(1);
    const img = document.createElement("img");
    img.src = f.src; img.alt = f.t.toFixed(1) + " s";
    const label = document.createElement("div");
    label.textContent = f.t.toFixed(1) + " s";
    const start = document.createElement("button");
    start.textContent = "start"; start.className = "set-start";
    start.onclick = () => setTriggerValue("pick", { which: "start", time: f.t, n: Date.now() });
    const end = document.createElement("button");
    end.textContent = "end"; end.className = "set-end";
    end.onclick = () => setTriggerValue("pick", { which: "end", time: f.t, n: Date.now() });
    box.append(img, label, start, end);
    strip.appendChild(box);
  }
  // same sentence: stay where the curator scrolled; a new one: start just before "said"
  const said = strip.querySelector(".said");
  strip.scrollLeft = sameSentence ? keep : (said ? Math.max(0, said.offsetLeft - 120) : 0);
}
"""


@functools.cache
def _component():
    import streamlit as st

    return st.components.v2.component("aligner_frames", html=HTML, css=CSS, js=JS)


def strip_times(windows: list[tuple[float, float]], duration: float | None) -> list[float]:
    """Thumbnail times (s) covering all `windows` with `STRIP_MARGIN_S` margin."""
    lo = max(0.0, min(w[0] for w in windows) - STRIP_MARGIN_S)
    hi = max(w[1] for w in windows) + STRIP_MARGIN_S
    if duration:
        hi = min(hi, max(duration - 0.1, lo))
    step = max(1.0 / FRAMES_PER_S, (hi - lo) / MAX_FRAMES)
    n = int((hi - lo) / step) + 1
    return [round(lo + i * step, 2) for i in range(n)]


def frame_strip(*, key: str, sentence: int, frames: list[dict], on_pick: Callable[[], None]):
    """Mount the strip for `sentence` (id); `frames`: dicts t, src (data URL), said, shown, edit.

    `result.pick` is `{"which", "time"}` in the run after a click, else None.
    """
    return _component()(
        key=key, data={"frames": frames, "sentence": sentence}, on_pick_change=on_pick
    )
