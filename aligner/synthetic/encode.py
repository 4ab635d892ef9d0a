"""Encode a planned video: frames piped as raw BGR into `ffmpeg -c:v libx264`, plus the narration.

x264 runs with its defaults apart from the quality (CRF), so the stream has B-frames and a
250-frame GOP like most real H.264 video; the narration is mono AAC.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from aligner.errors import AlignerError
from aligner.synthetic.audio import write_narration
from aligner.synthetic.draw import iter_frames
from aligner.synthetic.plan import VideoPlan

CRF = 30  # x264 quality: higher is smaller; 30 keeps the drawn shapes clean at ~150 kbit/s
AUDIO_KBPS = 32  # mono AAC bitrate, kbit/s
PRESET = "medium"  # x264 speed/size trade-off


def ffmpeg_command(out: Path, wav: Path, width: int, height: int, fps: float) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
        "-i", "-", "-i", str(wav), "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "1",
        "-movflags", "+faststart", "-metadata", "comment=aligner synthetic sample", str(out),
    ]  # fmt: skip


def render_video(
    plan: VideoPlan,
    out: str | Path,
    *,
    width: int,
    height: int,
    fps: float,
    speech: bool = True,
    progress=None,
) -> Path:
    """Render `plan` to the mp4 `out` (frames streamed, never all in memory).

    `progress`, when given, is a tqdm-like bar updated with seconds of video rendered.
    """
    if width % 2 or height % 2:
        raise AlignerError(f"video size {width}x{height}: width and height must be even for H.264")
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "narration.wav"
        write_narration(plan, wav, speech=speech)
        cmd = ffmpeg_command(out, wav, width, height, fps)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _feed(proc, plan, width, height, fps, progress)
        finally:
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace").strip()
            proc.wait()
    if proc.returncode != 0:
        raise AlignerError(
            f"{out}: ffmpeg failed: {err.splitlines()[-1] if err else proc.returncode}"
        )
    return out


def _feed(proc: subprocess.Popen, plan: VideoPlan, width: int, height: int, fps: float, progress):
    for i, frame in enumerate(iter_frames(plan, width, height, fps)):
        try:
            proc.stdin.write(frame.tobytes())
        except BrokenPipeError:
            return  # ffmpeg died; its stderr says why
        if progress is not None and (i + 1) % max(1, round(fps)) == 0:
            progress.update(1)
