"""Tensors -> media files: WAV, PNG and browser-playable MP4, as files or as bytes for the app.

The writers make the sample clips (``samples.py``), the exported synthetic datasets
(``data/export.py``) and the app's players (``wav_bytes``, ``mp4_bytes``, ``playable_video``).
Reading media back is ``decode.py``.

Shapes: a waveform is (L,) float in [-1, 1]; a frame (H, W, 3) uint8 RGB; frames (T, H, W, 3).
"""

from __future__ import annotations

import math
import os
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import av
from PIL import Image

from dgl_engine.data.decode import DEFAULT_MAX_BYTES, SUPPORTED_VIDEO, Source, decode_clip

# Containers browsers play as they are; other video uploads are transcoded for display.
BROWSER_PLAYABLE = (".mp4", ".webm", ".mov")


# ----------------------------------------------------------------------------- files


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def write_wav(path: str | os.PathLike, waveform, sample_rate: int) -> None:
    """Write a (L,) float waveform in [-1, 1] as mono 16-bit PCM WAV (values clipped)."""
    wav = _as_numpy(waveform).astype(np.float64).reshape(-1)
    pcm = np.round(np.clip(wav, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())


def write_png(path: str | os.PathLike, frame) -> None:
    """Write one (H, W, 3) uint8 frame as PNG."""
    arr = _as_numpy(frame)
    if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 frame, got {arr.shape} {arr.dtype}")
    Image.fromarray(arr, "RGB").save(str(path), format="PNG")


def _encoder(candidates: tuple[str, ...]) -> str:
    for name in candidates:
        if name in av.codecs_available:
            try:
                av.Codec(name, "w")
                return name
            except Exception:  # noqa: BLE001 - a decoder of that name but no encoder
                continue
    raise RuntimeError(f"none of the encoders {candidates} is available in this PyAV build")


def write_mp4(
    path: str | os.PathLike,
    frames,
    fps: float,
    waveform=None,
    sample_rate: int = 16000,
    *,
    min_side: int = 128,
) -> None:
    """Write (T, H, W, 3) uint8 frames at `fps`, plus an optional (L,) waveform in [-1, 1] at
    `sample_rate`, as a browser-playable MP4 (H.264 yuv420p + AAC, moov atom first).

    Frames whose longer side is under `min_side` are enlarged by a whole factor (nearest
    neighbour: each pixel becomes a block, so blocks survive compression and chroma
    subsampling); odd sizes are padded to even with the edge pixels. Falls back to MPEG-4
    Part 2 video / Opus or MP2 audio where h264 / AAC encoders are missing.
    """
    arr = _as_numpy(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or arr.shape[0] == 0:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {arr.shape} {arr.dtype}")
    factor = math.ceil(min_side / max(arr.shape[1:3]))
    if factor > 1:
        arr = arr.repeat(factor, axis=1).repeat(factor, axis=2)
    arr = np.pad(arr, ((0, 0), (0, arr.shape[1] % 2), (0, arr.shape[2] % 2), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)

    vcodec = _encoder(("libx264", "h264", "mpeg4"))
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        opts = {"crf": "18", "preset": "medium"} if vcodec == "libx264" else {}
        vs = out.add_stream(vcodec, rate=rate, options=opts)
        vs.width, vs.height, vs.pix_fmt = arr.shape[2], arr.shape[1], "yuv420p"
        if vcodec != "libx264":
            vs.bit_rate = 8_000_000
        wav = None
        if waveform is not None and _as_numpy(waveform).size > 0:
            wav = _as_numpy(waveform).astype(np.float32).reshape(1, -1)
            acodec = _encoder(("aac", "libopus", "mp2"))
            rates = av.Codec(acodec, "w").audio_rates
            # A rate the encoder lacks (AAC has no 10 kHz) is encoded at the next one up.
            enc_rate = sample_rate if not rates or sample_rate in rates else min(
                (r for r in rates if r >= sample_rate), default=max(rates))
            if enc_rate != sample_rate:
                wav, sample_rate = _resample(wav, sample_rate, enc_rate), enc_rate
            astream = out.add_stream(acodec, rate=enc_rate, layout="mono")
            astream.bit_rate = 128_000
        # Interleave in time order: the video frame i, then the audio up to its end.
        hop = 0
        for i, img in enumerate(arr):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(vs.encode(frame))
            if wav is not None:
                last = i == len(arr) - 1
                stop = wav.shape[1] if last else min(round((i + 1) / rate * sample_rate), wav.shape[1])
                hop = _mux_audio(out, astream, wav, hop, stop, sample_rate)
        out.mux(vs.encode(None))
        if wav is not None:
            _mux_audio(out, astream, wav, hop, wav.shape[1], sample_rate)
            out.mux(astream.encode(None))


def _resample(wav: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """(1, L) float32 at `rate` -> (1, L') float32 at `new_rate`, with FFmpeg's resampler."""
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wav), format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=new_rate)
    chunks = [f.to_ndarray() for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)


def _mux_audio(out, stream, wav: np.ndarray, start: int, stop: int, sample_rate: int) -> int:
    """Encode samples [start, stop) of a (1, L) float32 waveform; -> the new start."""
    if stop > start:
        chunk = np.ascontiguousarray(wav[:, start:stop])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, Fraction(1, sample_rate)
        out.mux(stream.encode(frame))
    return max(start, stop)


# ----------------------------------------------------------------------------- bytes, for the app


def wav_bytes(waveform: torch.Tensor, sample_rate: int) -> bytes:
    """A (L,) waveform in [-1, 1] as WAV file bytes, for a player in the app (written in a temporary
    folder, then removed: the writers take paths)."""
    with tempfile.TemporaryDirectory(prefix="dgl-predict-") as tmp:
        path = Path(tmp) / "audio.wav"
        write_wav(path, waveform, sample_rate)
        return path.read_bytes()


def mp4_bytes(frames, fps: float, waveform=None, sample_rate: int = 16000) -> bytes:
    """(T, H, W, 3) uint8 frames (+ waveform) as browser-playable MP4 bytes (temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="dgl-predict-") as tmp:
        path = Path(tmp) / "clip.mp4"
        write_mp4(path, frames, fps, waveform, sample_rate)
        return path.read_bytes()


def playable_video(source: Source, *, name: str | None = None, max_seconds: float = 10.0,
                   max_bytes: int | None = DEFAULT_MAX_BYTES) -> bytes | None:
    """An upload as a video a browser can play: the file itself when its container is one
    browsers play, else transcoded to MP4 (FLV, AVI, MPEG, MKV: first ``max_seconds`` at
    12 fps). None for audio files and images. Raises MediaError like ``decode_clip``."""
    if name is None and isinstance(source, (str, os.PathLike)):
        name = os.path.basename(source)
    ext = os.path.splitext(name or "")[1].lower()
    if ext not in SUPPORTED_VIDEO:
        return None
    if ext in BROWSER_PLAYABLE:
        if isinstance(source, (bytes, bytearray)):
            return bytes(source)
        return Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else None
    clip = decode_clip(source, 16000, 12.0, max_seconds=max_seconds, max_bytes=max_bytes, name=name, max_side=360)
    if clip.frames is None:
        return None
    return mp4_bytes(clip.frames, 12.0, clip.waveform, 16000)
