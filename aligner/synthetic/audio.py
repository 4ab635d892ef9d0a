"""The narration track: espeak-ng speech for each sentence at its ASR start, silence between.

The track is written to a mono 16-bit WAV as it is made (silence in chunks, one sentence at a
time), so a one-hour video needs no more memory than one sentence.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from aligner.synthetic.plan import VideoPlan

SAMPLE_RATE = 16_000  # Hz, what Whisper wants
ESPEAK_WPM = 160  # espeak-ng speaking rate, words per minute
ESPEAK_MAX_WPM = 320  # fastest we squeeze a sentence that overran its slot
PITCHES = (35, 45, 55, 65)  # espeak-ng -p, one per video for some variety
SILENCE_LEVEL = 0.01  # |sample| below this (of full scale) counts as silence when trimming
CHUNK = SAMPLE_RATE * 10  # samples of silence written at a time


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=256)
def synthesize(text: str, *, wpm: int = ESPEAK_WPM, pitch: int = 50) -> np.ndarray:
    """espeak-ng speech for `text`: float32 (n,) in [-1, 1] at SAMPLE_RATE, silence trimmed."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        cmd = ["espeak-ng", "-v", "en-us", "-s", str(wpm), "-p", str(pitch), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True)
        with wave.open(str(wav)) as f:
            rate = f.getframerate()
            samples = np.frombuffer(f.readframes(f.getnframes()), np.int16)
    x = samples.astype(np.float32) / 32768.0
    x = _resample(x, rate, SAMPLE_RATE)
    loud = np.flatnonzero(np.abs(x) > SILENCE_LEVEL)
    return x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]


def _resample(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Linear-interpolation resampling after a short moving-average low-pass (speech only)."""
    if rate == new_rate:
        return x
    if new_rate < rate:
        x = np.convolve(x, np.ones(3, np.float32) / 3, mode="same")
    n = int(round(len(x) * new_rate / rate))
    return np.interp(np.arange(n) * (rate / new_rate), np.arange(len(x)), x).astype(np.float32)


def sentence_audio(text: str, slot_s: float, pitch: int) -> np.ndarray:
    """Speech that fits in `slot_s` seconds: said faster when the normal rate overruns."""
    x = synthesize(text, pitch=pitch)
    if len(x) > slot_s * SAMPLE_RATE:
        wpm = min(ESPEAK_MAX_WPM, int(ESPEAK_WPM * len(x) / (slot_s * SAMPLE_RATE) * 1.05) + 1)
        x = synthesize(text, wpm=wpm, pitch=pitch)[: int(slot_s * SAMPLE_RATE)]
    return x


def write_narration(plan: VideoPlan, path: str | Path, *, speech: bool = True) -> None:
    """Write the video's narration track (mono, SAMPLE_RATE, `plan.duration` seconds) to `path`.

    With `speech=False` (or no espeak-ng) the track is silent, but just as long.
    """
    pitch = PITCHES[plan.voice_seed % len(PITCHES)]
    total = int(round(plan.duration * SAMPLE_RATE))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        cursor = 0
        for s in plan.sentences if speech else ():
            begin = int(round(s.start * SAMPLE_RATE))
            cursor = _silence(out, cursor, begin)
            x = sentence_audio(s.text, s.end - s.start, pitch)[: max(0, total - cursor)]
            out.writeframes((np.clip(x * 0.9, -1, 1) * 32767).astype(np.int16).tobytes())
            cursor += len(x)
        _silence(out, cursor, total)


def _silence(out: wave.Wave_write, cursor: int, until: int) -> int:
    while cursor < until:
        n = min(CHUNK, until - cursor)
        out.writeframes(np.zeros(n, np.int16).tobytes())
        cursor += n
    return cursor
