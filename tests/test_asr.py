"""Whisper ASR on real speech: espeak-ng narration muxed into a real mp4 with ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from aligner import asr
from aligner.errors import AlignerError, InputError
from aligner.subtitles import Cue, Word

SPEECH = "now crack the eggs into the bowl and whisk them well"
SPEECH_AT_S = 5.0  # the narration starts this far into the video
VIDEO_S = 12

needs_tools = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("ffmpeg")), reason="needs espeak-ng and ffmpeg"
)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory) -> Path:
    """A 12 s H.264/AAC mp4 whose narration starts at 5 s."""
    folder = tmp_path_factory.mktemp("asr")
    wav, mp4 = folder / "speech.wav", folder / "speech.mp4"
    subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True)
    delay_ms = int(SPEECH_AT_S * 1000)
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c=blue:s=64x48:r=10:d={VIDEO_S}", "-i", str(wav),
        "-filter_complex", f"[1:a]adelay={delay_ms}|{delay_ms},apad[a]",
        "-map", "0:v", "-map", "[a]", "-t", str(VIDEO_S), "-c:v", "libx264", "-c:a", "aac", str(mp4),
    )  # fmt: skip
    return mp4


@needs_tools
def test_words_and_times_come_back(speech_video):
    cues = asr.transcribe(speech_video)
    text = " ".join(c.text for c in cues).lower()
    for word in ("crack", "bowl", "whisk"):
        assert word in text
    assert abs(cues[0].start - SPEECH_AT_S) <= 1.0
    assert cues[-1].end <= VIDEO_S + 0.5
    words = [w for c in cues for w in c.words]
    assert len(words) >= 8
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(c.start - 0.01 <= w.start <= c.end + 0.01 for c in cues for w in c.words)
    bowl = next(w for w in words if "bowl" in w.text.lower())
    assert SPEECH_AT_S < bowl.start < SPEECH_AT_S + 3.0  # said ~1.8 s into the sentence


@needs_tools
def test_model_by_local_folder_matches_default(speech_video):
    by_folder = asr.transcribe(speech_video, model=asr.default_model_path())
    assert by_folder == asr.transcribe(speech_video)


@needs_tools
def test_silence_gives_no_cues(tmp_path):
    silent = tmp_path / "silent.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:s=64x48:r=10:d=4",
        "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "4", "-c:v", "libx264",
        "-c:a", "aac", str(silent),
    )  # fmt: skip
    assert asr.transcribe(silent) == []


@needs_tools
def test_video_without_audio_is_one_readable_error(tmp_path):
    mute = tmp_path / "mute.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48:r=10:d=2", "-c:v", "libx264", str(mute))
    with pytest.raises(InputError, match="mute.mp4: no audio track"):
        asr.transcribe(mute)


def test_missing_or_broken_inputs_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nothere.mp4: file not found"):
        asr.transcribe(tmp_path / "nothere.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="junk.mp4: cannot read"):
        asr.transcribe(junk)


@needs_tools
def test_bad_model_folder_is_one_readable_error(speech_video, tmp_path):
    empty = tmp_path / "empty_model"
    empty.mkdir()
    with pytest.raises(AlignerError, match="empty_model: cannot load the Whisper model"):
        asr.transcribe(speech_video, model=empty)


@needs_tools
def test_openai_whisper_checkpoint_backend(speech_video, tmp_path, monkeypatch):
    """`.pt` checkpoints go to openai-whisper; its segment dicts become Cues with words."""
    checkpoint = tmp_path / "tiny.en.pt"
    checkpoint.write_bytes(b"stand-in checkpoint")
    asr._load_openai.cache_clear()
    if "whisper" not in sys.modules:
        try:
            import whisper  # noqa: F401
        except ImportError:
            with pytest.raises(AlignerError, match="tiny.en.pt: .*openai-whisper"):
                asr.transcribe(speech_video, model=checkpoint)
    # the real package pulls a CUDA torch, so the adapter is checked against its documented
    # result shape with a stand-in module
    seen = {}

    class FakeModel:
        def transcribe(self, audio, **options):
            seen.update(options, samples=len(audio))
            words = [{"word": " Crack", "start": 5.2, "end": 5.5}, {"word": " eggs.", "start": 5.6}]
            return {
                "segments": [{"start": 5.1, "end": 6.0, "text": " Crack eggs.", "words": words}]
            }

    def load_model(path):
        seen["path"] = path
        return FakeModel()

    fake = types.ModuleType("whisper")
    fake.load_model = load_model
    monkeypatch.setitem(sys.modules, "whisper", fake)
    asr._load_openai.cache_clear()
    cues = asr.transcribe(speech_video, model=checkpoint)
    asr._load_openai.cache_clear()
    assert seen["path"] == str(checkpoint) and seen["word_timestamps"] is True
    assert seen["samples"] == pytest.approx(VIDEO_S * asr.SAMPLE_RATE, rel=0.05)
    assert cues == [Cue(5.1, 6.0, "Crack eggs.", (Word(5.2, "Crack"), Word(5.6, "eggs.")))]
