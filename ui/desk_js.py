"""The review desk's HTML, CSS and JavaScript (see `aligner.ui.desk` for what it does).

Every piece of data (sentence text, curator names) reaches the page through `textContent`,
attributes or the escaped VTT track: never as HTML.
"""

HTML = """
<div class="desk">
  <div class="left">
    <video playsinline preload="auto"></video>
    <div class="bar">
      <button data-act="play" title="play / pause">▶︎/❚❚</button>
      <button data-act="frame_back" title="one frame back">⟨ frame</button>
      <button data-act="frame_forward" title="one frame forward">frame ⟩</button>
      <select class="rate" title="playback speed">
        <option value="0.25">0.25×</option><option value="0.5">0.5×</option>
        <option value="1" selected>1×</option><option value="1.5">1.5×</option>
      </select>
      <label><input type="checkbox" class="loop" checked> loop</label>
      <span class="time">0.0 s</span>
      <button data-act="mark_start" class="mark">[ mark start</button>
      <button data-act="mark_end" class="mark">mark end ]</button>
    </div>
    <div class="timeline"><div class="axis"></div>
      <div class="lane"><span class="lab">said</span><div class="track"><div class="span asr"></div></div></div>
      <div class="lane"><span class="lab">shown</span><div class="track"><div class="span pred"></div></div></div>
      <div class="lane"><span class="lab">yours</span><div class="track yours-track">
        <div class="span yours"><i class="handle h-start"></i><i class="handle h-end"></i></div>
        <div class="playhead"></div></div></div>
      <div class="lane tall"><span class="lab">frames</span><div class="track thumbs"></div></div>
      <div class="lane"><span class="lab">audio</span><div class="track"><canvas class="wave"></canvas></div></div>
      <div class="lane"><span class="lab">match</span><div class="track"><canvas class="heat"></canvas></div></div>
      <div class="lane"><span class="lab">tags</span><div class="track tags"></div></div>
    </div>
    <div class="strip"></div>
  </div>
  <div class="right">
    <div class="status" role="status"></div>
    <div class="presence"></div>
    <div class="head"><span class="num"></span><span class="verdict"></span></div>
    <div class="text"></div>
    <div class="asr-text"></div>
    <div class="text-edit" hidden><input type="text" class="text-input" aria-label="sentence words">
      <button data-act="text_save" class="primary">Save words</button>
      <button data-act="text_cancel">Cancel</button></div>
    <div class="spans"></div>
    <div class="decided"></div>
    <div class="notices"></div>
    <div class="edit">
      <span class="elab">start</span><button data-act="start_earlier">−</button>
      <span class="val start-val"></span><button data-act="start_later">+</button>
      <span class="elab">end</span><button data-act="end_earlier">−</button>
      <span class="val end-val"></span><button data-act="end_later">+</button>
    </div>
    <div class="confirm" hidden><span class="confirm-text"></span>
      <button data-act="confirm" class="primary">Overwrite</button>
      <button data-act="cancel">Cancel</button></div>
    <div class="actions">
      <button data-act="accept" class="primary">Accept</button>
      <button data-act="correct">Save correction</button>
      <button data-act="not_alignable">Not alignable</button>
      <button data-act="skip">Skip</button>
    </div>
    <div class="reasons"></div>
    <div class="nav">
      <button data-act="prev">◀ Prev</button><button data-act="next">Next ▶</button>
      <button data-act="next_open">Next open</button><button data-act="undo">Undo</button>
    </div>
    <div class="nav textops">
      <button data-act="edit_text">Fix words (type "a | b" to split)</button>
      <button data-act="merge_next">Merge with next</button>
    </div>
    <div class="help"></div>
  </div>
</div>
"""

CSS = """
.desk { display: grid; grid-template-columns: minmax(0, 11fr) minmax(0, 9fr); gap: 16px;
        font-family: var(--st-font, sans-serif); font-size: 14px; color: var(--st-text-color, #222); }
video { width: 100%; max-height: 340px; background: #000; border-radius: 6px; }
button, select { padding: 3px 8px; border-radius: 5px; border: 1px solid #bbb; cursor: pointer;
                 background: var(--st-secondary-background-color, #f0f2f6); font-size: 13px;
                 white-space: nowrap; }
button.primary { background: #ff4b4b; color: #fff; border-color: #ff4b4b; }
.bar, .actions, .nav, .edit, .reasons, .confirm { display: flex; flex-wrap: wrap; gap: 6px;
                 align-items: center; margin-top: 6px; }
.actions button, .nav button { flex: 1 1 auto; }
.confirm[hidden], .text-edit[hidden] { display: none; }
.asr-text { color: #888; font-size: 12px; min-height: 1.2em; overflow: hidden; white-space: nowrap;
            text-overflow: ellipsis; }
.text-edit { display: flex; gap: 6px; margin: 4px 0; }
.text-input { flex: 1; font-size: 15px; padding: 3px 6px; }
.mark { font-weight: 600; }
.time { font-variant-numeric: tabular-nums; min-width: 5em; }
.status { height: 1.6em; line-height: 1.6em; overflow: hidden; text-overflow: ellipsis;
          white-space: nowrap; border-radius: 4px; padding: 0 6px; }
.status.ok { background: #dff3e3; } .status.err { background: #fde2e2; }
.status.info { background: #e6effa; }
.presence, .notices { color: #8a5300; font-size: 13px; overflow: hidden; }
.presence { height: 1.4em; white-space: nowrap; text-overflow: ellipsis; }
.notices { height: 2.8em; line-height: 1.4em; }
.head { display: flex; gap: 10px; align-items: baseline; margin-top: 2px; }
.num { color: #666; font-size: 13px; }
.verdict { font-size: 13px; padding: 0 6px; border-radius: 4px; }
.verdict.no { background: #fde2e2; } .verdict.maybe { background: #fff3cd; }
.verdict.yes { background: #dff3e3; }
.text { font-size: 17px; margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.spans { font-family: var(--st-code-font, monospace); font-size: 12.5px; white-space: pre-wrap;
         background: var(--st-secondary-background-color, #f6f6f6); padding: 4px 6px;
         border-radius: 4px; overflow-wrap: anywhere; }
.spans .dim { color: #888; }
.decided { color: #555; font-size: 13px; height: 1.4em; margin-top: 2px; overflow: hidden;
           white-space: nowrap; text-overflow: ellipsis; }
.val { font-variant-numeric: tabular-nums; min-width: 4em; text-align: center; }
.elab { color: #666; margin-left: 4px; }
.confirm { background: #fff3cd; padding: 4px 6px; border-radius: 4px; }
.reasons label { font-size: 13px; white-space: nowrap; }
.help { color: #777; font-size: 12px; margin-top: 6px; }
.timeline { margin-top: 6px; user-select: none; }
.lane { display: flex; align-items: center; height: 16px; margin: 2px 0; }
.lab { width: 3.6em; font-size: 11px; color: #666; }
.track { position: relative; flex: 1; height: 12px; background: #f0f0f0; border-radius: 3px; }
.span { position: absolute; top: 0; bottom: 0; border-radius: 3px; }
.asr { background: #f0a202; } .pred { background: #1f77b4; } .yours { background: #2ca02c; }
.handle { position: absolute; top: -3px; bottom: -3px; width: 8px; background: #145214;
          border-radius: 2px; cursor: ew-resize; }
.h-start { left: -4px; } .h-end { right: -4px; }
.playhead { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #d00; }
.lane.tall { height: 44px; }
.tags .tag { position: absolute; top: 0; bottom: 0; overflow: hidden; white-space: nowrap;
  font-size: 10px; line-height: 12px; padding: 0 2px; background: #dbe7f7;
  border-left: 1px solid #7a9cc6; }
.thumbs { height: 40px; overflow: hidden; background: #222; }
.thumbs img { position: absolute; top: 0; height: 40px; object-fit: cover; }
canvas { width: 100%; height: 100%; display: block; }
.axis { height: 12px; position: relative; font-size: 10px; color: #888; margin-left: 3.6em; }
.axis span { position: absolute; transform: translateX(-50%); }
.strip { display: flex; gap: 4px; overflow-x: auto; padding: 4px 0; min-height: 90px; }
.frame { flex: 0 0 auto; width: 112px; border: 3px solid transparent; border-radius: 4px;
         font-size: 11px; text-align: center; }
.frame img { width: 100%; display: block; border-radius: 2px; }
.frame.said { border-bottom-color: #f0a202; } .frame.shown { border-top-color: #1f77b4; }
.frame.edit { background: #c8f0c8; }
.frame button { font-size: 11px; padding: 0 4px; margin: 1px; }
"""

JS = r"""
const VERB = { accept: "accept", correct: "correct", not_alignable: "not alignable",
               skip: "skip", undo: "undo" };
const TEXT_ENTRY = ["text", "number", "password", "search", "email", "url", "tel"];

function fmt(t) { return (Math.round(t * 10) / 10).toFixed(1); }
function snap(t) { return Math.round(Math.max(0, t) * 10) / 10; }
function el(root, sel) { return root.querySelector(sel); }

export default function (component) {
  const { data, parentElement: root, setStateValue } = component;
  const S = root.__desk || (root.__desk = {
    idx: 0, navToken: null, pending: [], seen: new Set(), edits: {}, optimistic: {},
    versions: {}, counter: 0, client: Math.random().toString(36).slice(2, 8),
    reason: data.reasons[0][0], confirm: null, log: [], status: ["", ""], haveClip: null,
    haveStrip: null, sends: 0, optimisticText: {}, textVersions: {},
  });
  S.data = data;
  window.__alignerDesk = S;  // read by the browser test (latency log)
  const rows = data.rows;
  const video = el(root, "video");

  const row = () => rows[S.idx];
  const view = (r) => Object.assign({}, r, S.optimistic[r.sid] || {});
  const known = (r) => Math.max(r.version, S.versions[r.sid] || 0);
  const unlikely = (r) => r.align !== null && r.align < data.unlikely_below;

  function editOf(r) {
    if (!S.edits[r.sid]) {
      const v = view(r);
      let w = v.lstart !== null ? [v.lstart, v.lend]
            : (r.pred && !unlikely(r)) ? r.pred : r.asr;
      S.edits[r.sid] = [snap(w[0]), snap(w[1])];
    }
    return S.edits[r.sid];
  }
  function setBoundary(which, t) {
    const e = editOf(row()); t = snap(t);
    if (which === "start") { e[0] = t; e[1] = Math.max(e[1], snap(t + 0.1)); }
    else { e[1] = Math.max(t, 0.1); e[0] = Math.min(e[0], snap(e[1] - 0.1)); }
    seekToSegment(); render();
  }
  function send() {
    S.sends += 1;
    setStateValue("client", { ops: S.pending, place: row().sid, nav_token: S.navToken,
                              have_clip: S.haveClip, have_strip: S.haveStrip, n: S.sends });
  }
  function status(kind, text) { S.status = [kind, text]; }
  function go(i, { silent } = {}) {
    S.idx = Math.max(0, Math.min(rows.length - 1, i));
    S.confirm = null; closeText(); seekToSegment(); render();
    if (!silent) send();
  }
  function nextOpen() {
    for (let k = 1; k <= rows.length; k++) {
      const i = (S.idx + k) % rows.length;
      const st = view(rows[i]).status;
      if (st === null || st === "skipped") return i;
    }
    return -1;
  }
  function decide(action, tKey, overwrite) {
    const r = row(), v = view(r);
    if (!overwrite && v.status !== null && v.curator !== data.curator) {
      S.confirm = { action, tKey };
      render(); return;
    }
    const op = { id: S.client + "-" + (++S.counter), kind: "decide", sid: r.sid, n: r.n,
                 action, expected_version: known(r), overwrite: !!overwrite, t_key: tKey };
    if (action === "correct") [op.start, op.end] = editOf(r);
    if (action === "not_alignable") op.reason = S.reason;
    S.pending.push(op);
    const w = action === "correct" ? editOf(r) : [null, null];
    S.optimistic[r.sid] = { status: { accept: "accepted", correct: "corrected",
      not_alignable: "not_alignable", skip: "skipped" }[action], curator: data.curator,
      lstart: w[0], lend: w[1], reason: op.reason || null };
    S.log.push({ op: op.id, action, n: r.n, t_key: tKey, t_shown: null, t_acked: null });
    status("info", "Saving #" + r.n + ": " + VERB[action] + " …");
    const nxt = nextOpen();
    if (nxt >= 0) S.idx = nxt;
    S.confirm = null; seekToSegment(); render(); send();
    const entry = S.log[S.log.length - 1];
    requestAnimationFrame(() => { entry.t_shown = performance.now(); });
  }
  const shownText = (r) => (r.sid in S.optimisticText ? S.optimisticText[r.sid] : r.text);
  function editText() {
    const box = el(root, ".text-edit"), input = el(root, ".text-input");
    box.hidden = false; input.value = shownText(row()); input.focus(); input.select();
    input.onkeydown = (ev) => {
      if (ev.key === "Enter") { ev.preventDefault(); saveText(ev.timeStamp); }
      else if (ev.key === "Escape") { ev.preventDefault(); closeText(); }
      ev.stopPropagation();
    };
  }
  function closeText() { el(root, ".text-edit").hidden = true; el(root, ".text-input").blur(); }
  function textOp(kind, r, extra, tKey) {
    return Object.assign({ id: S.client + "-" + (++S.counter), kind, sid: r.sid, t_key: tKey,
      expected_version: Math.max(r.text_version, S.textVersions[r.sid] || 0) }, extra);
  }
  function saveText(tKey) {
    const r = row(), text = el(root, ".text-input").value;
    closeText();
    if (text.trim() === "" || text === shownText(r)) return;
    const parts = text.split("|");
    let op;
    if (parts.length === 2 && parts[0].trim() && parts[1].trim()) {
      // "first | second": split where the player is when that lies inside, else by length
      const t = now(), [a, b] = r.asr;
      const at = t > a + 0.1 && t < b - 0.1 ? t
        : snap(a + (b - a) * parts[0].trim().length / (parts[0].trim().length + parts[1].trim().length));
      op = textOp("split", r, { first: parts[0].trim(), second: parts[1].trim(), at_s: at }, tKey);
    } else op = textOp("edit_text", r, { text }, tKey);
    S.pending.push(op); S.optimisticText[r.sid] = text;
    status("info", "Saving the words of #" + r.n + " …"); render(); send();
  }
  function mergeNext(tKey) {
    const r = row();
    if (S.idx >= rows.length - 1) { status("err", "The last sentence has no next one."); render(); return; }
    S.pending.push(textOp("merge", r, {}, tKey));
    S.optimisticText[r.sid] = shownText(r) + " " + shownText(rows[S.idx + 1]);
    status("info", "Merging #" + r.n + " with #" + (r.n + 1) + " …"); render(); send();
  }
  function undo(tKey) {
    const op = { id: S.client + "-" + (++S.counter), kind: "undo", t_key: tKey };
    S.pending.push(op);
    status("info", "Undoing your last decision …"); render(); send();
  }
  function applyAcks() {
    for (const ack of data.acks) {
      if (S.seen.has(ack.id)) continue;
      S.seen.add(ack.id);
      S.pending = S.pending.filter((op) => op.id !== ack.id);
      if (ack.action === "edit_text") {
        delete S.optimisticText[ack.sid];
        if (ack.ok) S.textVersions[ack.sid] = ack.text_version;
      } else delete S.optimistic[ack.sid];
      const entry = S.log.find((e) => e.op === ack.id);
      if (entry) { entry.t_acked = performance.now(); entry.server_ms = data.server_ms; }
      if (ack.ok) S.versions[ack.sid] = Math.max(S.versions[ack.sid] || 0, ack.version);
      status(ack.ok ? "ok" : "err", ack.message);
      if (ack.kind === "undo" && ack.ok) {
        delete S.edits[ack.sid];
        const i = rows.findIndex((r) => r.sid === ack.sid);
        if (i >= 0) S.idx = i;
      }
      if (!ack.ok && ack.kind === "decide") {  // back to it: the curator decides again
        const i = rows.findIndex((r) => r.sid === ack.sid);
        if (i >= 0) {
          S.idx = i;
          if (ack.needs_confirm) S.confirm = { action: ack.action, tKey: null };
        }
      }
    }
  }

  // -- player ---------------------------------------------------------------------------
  const clipHas = (t) => S.clip && t >= S.clip.offset && t <= S.clip.hi;
  function seekToSegment() {
    const e = editOf(row());
    if (clipHas(e[0]) && video.readyState > 0) video.currentTime = Math.max(0, e[0] - S.clip.offset);
  }
  function loadClip() {
    const c = data.clip;
    if (!c || !c.src || S.haveClip === c.key) return;
    S.clip = c; S.haveClip = c.key;
    for (const t of video.querySelectorAll("track")) t.remove();
    if (S.vtt) URL.revokeObjectURL(S.vtt);
    video.src = c.src;
    const track = document.createElement("track");
    track.kind = "subtitles"; track.label = "ASR"; track.srclang = "en"; track.default = true;
    S.vtt = URL.createObjectURL(new Blob([c.vtt], { type: "text/vtt" }));
    track.src = S.vtt; video.appendChild(track);
    video.addEventListener("loadedmetadata", () => {
      seekToSegment();
      if (video.textTracks[0]) video.textTracks[0].mode = "showing";
    }, { once: true });
  }
  const now = () => snap(S.clip ? S.clip.offset + video.currentTime : 0);
  const step = (sign) => { video.pause(); video.currentTime += sign / (data.fps || 25); };
  video.ontimeupdate = () => {
    if (!S.clip) return;
    const t = S.clip.offset + video.currentTime, e = editOf(row());
    el(root, ".time").textContent = t.toFixed(2) + " s";
    if (el(root, ".loop").checked && !video.paused && t > e[1]) {
      video.currentTime = Math.max(0, e[0] - S.clip.offset);
    }
    placePlayhead(t);
  };
  el(root, ".rate").onchange = (ev) => { video.playbackRate = parseFloat(ev.target.value); };

  // -- timeline: said / shown / yours on one axis; drag yours' handles (0.1 s) ------------
  function range() {
    const r = row(), e = editOf(r);
    const pts = [r.asr[0], r.asr[1], e[0], e[1]].concat(r.pred && !unlikely(r) ? r.pred : []);
    const lo = Math.max(0, Math.floor(Math.min(...pts) - 3));
    return [lo, Math.ceil(Math.max(...pts) + 3)];
  }
  function placeSpan(node, w, rg) {
    if (!w) { node.style.display = "none"; return; }
    node.style.display = "";
    node.style.left = (100 * (w[0] - rg[0]) / (rg[1] - rg[0])) + "%";
    node.style.width = (100 * (w[1] - w[0]) / (rg[1] - rg[0])) + "%";
  }
  function placePlayhead(t) {
    const rg = range(), ph = el(root, ".playhead");
    ph.style.left = (100 * (t - rg[0]) / (rg[1] - rg[0])) + "%";
  }
  // runs of seconds with the same best entity tag (aligner tags), as labelled bars
  function drawTags(rg, tags) {
    const lane = el(root, ".tags");
    lane.replaceChildren();
    if (!tags) return;
    let sec = Math.floor(rg[0]);
    while (sec < rg[1]) {
      const name = tags[sec];
      let end = sec + 1;
      while (end < rg[1] && name && tags[end] === name) end++;
      if (name) {
        const bar = document.createElement("div");
        bar.className = "tag"; bar.textContent = name; bar.title = name;
        placeSpan(bar, [sec, end], rg);
        lane.appendChild(bar);
      }
      sec = end;
    }
  }
  function drawSignals(rg) {
    const r = row(), span = rg[1] - rg[0];
    const wave = el(root, ".wave"), heat = el(root, ".heat");
    for (const c of [wave, heat]) {
      c.width = Math.max(1, Math.round(c.clientWidth)); c.height = Math.max(1, c.clientHeight);
      c.getContext("2d").clearRect(0, 0, c.width, c.height);
    }
    const w = wave.getContext("2d"), peaks = S.clip && S.clip.wave;
    if (peaks) {
      w.fillStyle = "#555";
      for (let x = 0; x < wave.width; x++) {
        const t = rg[0] + span * x / wave.width;
        const v = peaks[Math.floor((t - S.clip.lo) * S.clip.wave_per_s)];
        if (v === undefined) continue;
        const h = Math.max(1, v * wave.height);
        w.fillRect(x, (wave.height - h) / 2, 1, h);
      }
    }
    const sim = S.stripFrames && S.stripFrames.sid === r.sid ? S.stripFrames.sim : null;
    if (sim) {
      const h = heat.getContext("2d");
      for (let sec = Math.floor(rg[0]); sec < rg[1]; sec++) {
        const v = sim[sec];
        if (v === undefined) continue;
        h.fillStyle = "rgb(" + Math.round(40 + 213 * v) + "," + Math.round(30 + 200 * v) + "," + Math.round(110 - 80 * v) + ")";
        const x0 = (sec - rg[0]) / span * heat.width, x1 = (sec + 1 - rg[0]) / span * heat.width;
        h.fillRect(x0, 0, Math.ceil(x1 - x0), heat.height);
      }
    }
    drawTags(rg, S.stripFrames && S.stripFrames.sid === r.sid ? S.stripFrames.tags : null);
    const thumbs = el(root, ".thumbs"), frames = S.stripFrames && S.stripFrames.sid === r.sid ? S.stripFrames.frames : [];
    const key = r.sid + ":" + rg.join(":") + ":" + frames.length;
    if (thumbs.dataset.key !== key) {
      thumbs.dataset.key = key; thumbs.replaceChildren();
      for (const f of frames) {
        if (f.t < rg[0] || f.t > rg[1]) continue;
        const img = document.createElement("img"); img.src = f.src; img.alt = "";
        img.style.left = (100 * (f.t - rg[0]) / span) + "%";
        img.style.width = Math.max(100 / span, 2) + "%";
        thumbs.appendChild(img);
      }
    }
  }
  function drawTimeline() {
    const r = row(), rg = range();
    drawSignals(rg);
    placeSpan(el(root, ".asr"), r.asr, rg);
    placeSpan(el(root, ".pred"), r.pred && !unlikely(r) ? r.pred : null, rg);
    placeSpan(el(root, ".yours"), editOf(r), rg);
    const axis = el(root, ".axis"); axis.replaceChildren();
    const every = Math.max(1, Math.ceil((rg[1] - rg[0]) / 8));
    for (let t = rg[0]; t <= rg[1]; t += every) {
      const s = document.createElement("span");
      s.style.left = (100 * (t - rg[0]) / (rg[1] - rg[0])) + "%"; s.textContent = t + "s";
      axis.appendChild(s);
    }
  }
  for (const [cls, which] of [[".h-start", "start"], [".h-end", "end"]]) {
    el(root, cls).onpointerdown = (ev) => {
      ev.preventDefault(); ev.stopPropagation();
      const track = el(root, ".yours-track"), rg = range(), box = track.getBoundingClientRect();
      const move = (m) => {
        const t = rg[0] + (rg[1] - rg[0]) * (m.clientX - box.left) / box.width;
        setBoundary(which, t);
      };
      const up = () => { window.removeEventListener("pointermove", move);
                         window.removeEventListener("pointerup", up); };
      window.addEventListener("pointermove", move); window.addEventListener("pointerup", up);
    };
  }

  // -- frame strip (thumbnails of the sentence the server last saw) ----------------------
  function drawStrip() {
    const strip = el(root, ".strip"), r = row(), e = editOf(r);
    const frames = S.stripFrames && S.stripFrames.sid === r.sid ? S.stripFrames.frames : [];
    const key = r.sid + ":" + e.join(":") + ":" + frames.length;
    if (S.stripKey === key) return;
    const sameSentence = S.stripSid === r.sid;
    const keep = strip.scrollLeft;
    S.stripKey = key; S.stripSid = r.sid;
    strip.replaceChildren();
    const inside = (t, w) => w && w[0] - 0.5 < t && t < w[1] + 0.5;
    for (const f of frames) {
      const box = document.createElement("div");
      box.className = "frame" + (inside(f.t, r.asr) ? " said" : "")
        + (inside(f.t, r.pred && !unlikely(r) ? r.pred : null) ? " shown" : "")
        + (inside(f.t, e) ? " edit" : "");
      box.dataset.time = f.t.toFixed(1);
      const img = document.createElement("img"); img.src = f.src; img.alt = f.t.toFixed(1) + " s";
      const label = document.createElement("div"); label.textContent = f.t.toFixed(1) + " s";
      const b1 = document.createElement("button"); b1.textContent = "start"; b1.className = "set-start";
      b1.onclick = () => setBoundary("start", f.t);
      const b2 = document.createElement("button"); b2.textContent = "end"; b2.className = "set-end";
      b2.onclick = () => setBoundary("end", f.t);
      box.append(img, label, b1, b2); strip.appendChild(box);
    }
    const said = strip.querySelector(".said");
    strip.scrollLeft = sameSentence ? keep : (said ? Math.max(0, said.offsetLeft - 120) : 0);
  }

  // -- the sentence panel -----------------------------------------------------------------
  function spansText(r, e) {
    const lines = [["said   " + fmt(r.asr[0]).padStart(7) + " – " + fmt(r.asr[1]).padStart(7) + " s (ASR)", ""]];
    if (r.pred && !unlikely(r)) {
      lines.push(["shown  " + fmt(r.pred[0]).padStart(7) + " – " + fmt(r.pred[1]).padStart(7) + " s (model)", ""]);
    } else if (r.pred) {
      lines.push(["shown  none: the model's best guess " + fmt(r.pred[0]) + " – " + fmt(r.pred[1]) + " s is unlikely", "dim"]);
    }
    const d = e[0] - r.asr[0];
    lines.push(["yours  " + fmt(e[0]).padStart(7) + " – " + fmt(e[1]).padStart(7) + " s (" + (d >= 0 ? "+" : "") + d.toFixed(1) + " s from said)", ""]);
    return lines;
  }
  function render() {
    const r = row(), v = view(r), e = editOf(r);
    const reviewed = rows.filter((x) => { const st = view(x).status; return st !== null && st !== "skipped"; }).length;
    el(root, ".num").textContent = "Sentence " + r.n + " of " + rows.length + " · " + reviewed + " reviewed";
    const verdict = el(root, ".verdict");
    if (r.align === null) { verdict.textContent = "no prediction"; verdict.className = "verdict"; }
    else {
      const p = r.align.toFixed(2);
      const [word, cls] = unlikely(r) ? ["likely not alignable", "no"]
        : r.align < 0.5 ? ["uncertain", "maybe"] : ["likely alignable", "yes"];
      verdict.textContent = word + " (model " + p + ")"; verdict.className = "verdict " + cls;
    }
    el(root, ".text").textContent = shownText(r);
    const original = r.asr_text !== null ? r.asr_text : (r.sid in S.optimisticText ? r.text : null);
    el(root, ".asr-text").textContent = r.merged_into ? "merged into #" + r.merged_into
      : original !== null ? "ASR said: " + original : "";
    const spans = el(root, ".spans"); spans.replaceChildren();
    for (const [line, cls] of spansText(r, e)) {
      const d = document.createElement("div"); d.textContent = line; if (cls) d.className = cls;
      spans.appendChild(d);
    }
    let decided = "Not decided yet.";
    if (v.status !== null) {
      decided = "Decided: " + v.status.replace("_", " ");
      if (v.reason) decided += " (" + (data.reason_labels[v.reason] || v.reason) + ")";
      if (v.lstart !== null && v.lstart !== undefined) decided += ", " + fmt(v.lstart) + "–" + fmt(v.lend) + " s";
      decided += " by " + v.curator + (S.optimistic[r.sid] ? " (saving…)" : "");
    }
    el(root, ".decided").textContent = decided; el(root, ".decided").title = decided;
    el(root, ".start-val").textContent = fmt(e[0]) + " s";
    el(root, ".end-val").textContent = fmt(e[1]) + " s";
    const st = el(root, ".status"); st.textContent = S.status[1]; st.className = "status " + S.status[0];
    const others = data.presence.filter((p) => p.curator !== data.curator)
      .map((p) => p.curator + (p.n ? " (at " + p.n + ")" : ""));
    el(root, ".presence").textContent = others.length ? "Also on this video: " + others.join(", ") : "";
    el(root, ".notices").textContent = data.notices.join(" · ");
    const box = el(root, ".confirm");
    box.hidden = !S.confirm;
    if (S.confirm) {
      el(root, ".confirm-text").textContent = v.curator + " decided this (" + v.status.replace("_", " ")
        + "). Overwrite with " + VERB[S.confirm.action] + "?";
    }
    for (const input of root.querySelectorAll(".reasons input")) input.checked = input.value === S.reason;
    drawTimeline(); drawStrip();
    el(root, ".desk").dataset.sentence = String(r.n);
    el(root, ".desk").dataset.pending = String(S.pending.length);
  }

  // -- actions (buttons and keys share them) ----------------------------------------------
  const act = {
    accept: (t) => decide("accept", t), correct: (t) => decide("correct", t),
    not_alignable: (t) => decide("not_alignable", t), skip: (t) => decide("skip", t),
    prev: () => go(S.idx - 1), next: () => go(S.idx + 1),
    next_open: () => { const i = nextOpen(); if (i >= 0) go(i); else { status("info", "Every sentence of this video is decided."); render(); } },
    undo: (t) => undo(t),
    start_earlier: () => setBoundary("start", editOf(row())[0] - data.nudge_s),
    start_later: () => setBoundary("start", editOf(row())[0] + data.nudge_s),
    end_earlier: () => setBoundary("end", editOf(row())[1] - data.nudge_s),
    end_later: () => setBoundary("end", editOf(row())[1] + data.nudge_s),
    mark_start: () => setBoundary("start", now()), mark_end: () => setBoundary("end", now()),
    frame_back: () => step(-1), frame_forward: () => step(1),
    play: () => (video.paused ? video.play() : video.pause()),
    edit_text: () => editText(), text_save: (t) => saveText(t), text_cancel: () => closeText(),
    merge_next: (t) => mergeNext(t),
    confirm: (t) => { if (S.confirm) decide(S.confirm.action, S.confirm.tKey || t, true); },
    cancel: () => { S.confirm = null; render(); },
  };
  data.reasons.forEach(([value], i) => {
    act["reason_" + (i + 1)] = () => { S.reason = value; render(); };
  });
  for (const b of root.querySelectorAll("button[data-act]")) {
    b.onclick = (ev) => act[b.dataset.act](ev.timeStamp);
  }
  const reasons = el(root, ".reasons");
  if (!reasons.childElementCount) {
    const cap = document.createElement("span"); cap.textContent = "Reason when not alignable:";
    reasons.appendChild(cap);
    data.reasons.forEach(([value, label], i) => {
      const l = document.createElement("label"), input = document.createElement("input");
      input.type = "radio"; input.name = "reason"; input.value = value;
      input.onchange = () => { S.reason = value; };
      l.append(input, " " + label + " (" + (i + 1) + ")"); reasons.appendChild(l);
    });
  }
  const byKey = {};
  for (const [action, key] of Object.entries(data.keys)) byKey[key.length === 1 ? key.toLowerCase() : key] = action;
  el(root, ".help").textContent = "Keys: " + Object.entries(data.keys)
    .filter(([a]) => !a.startsWith("reason_")).map(([a, k]) => (k === " " ? "space" : k) + " " + a.replace(/_/g, " ")).join(" · ")
    + " · 1–4 reason";
  // keys act on the review wherever focus is (sidebar included), except while typing
  if (S.onKey) window.removeEventListener("keydown", S.onKey, true);
  S.onKey = (ev) => {
    const t = ev.target, tag = (t && t.tagName) || "";
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    if (tag === "INPUT" && TEXT_ENTRY.includes((t.type || "text").toLowerCase())) return;
    const action = byKey[ev.key.length === 1 ? ev.key.toLowerCase() : ev.key];
    if (!action || (action === "confirm" && !S.confirm)) return;
    if (!root.isConnected) return;
    ev.preventDefault(); ev.stopPropagation();
    if (ev.repeat && !action.startsWith("start_") && !action.startsWith("end_")) return;
    act[action](ev.timeStamp);
  };
  window.addEventListener("keydown", S.onKey, true);

  // -- apply what the server sent -------------------------------------------------------
  if (data.nav.token !== S.navToken) {
    // a jump (other video, a row picked in a table): leave the picker, so keys act here again
    const active = document.activeElement;
    if (S.navToken !== null && active && active.getAttribute("role") === "combobox") active.blur();
    S.navToken = data.nav.token;
    const i = rows.findIndex((r) => r.sid === data.nav.sid);
    S.idx = i >= 0 ? i : 0;
    S.confirm = null;
  }
  S.idx = Math.min(S.idx, rows.length - 1);
  applyAcks();
  loadClip();
  if (data.strip && data.strip.frames) { S.stripFrames = data.strip; S.haveStrip = data.strip.sid; }
  render();
  if (!S.mounted) { S.mounted = true; send(); }  // tell the server what this page holds
  return () => { window.removeEventListener("keydown", S.onKey, true); S.onKey = null; };
}
"""
