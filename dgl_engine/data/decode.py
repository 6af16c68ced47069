"""Media files -> tensors: uploads and dataset files decoded into a ``DecodedClip``.

Decoding goes through PyAV (FFmpeg) for audio and video and Pillow for still images; it never
uses ``torchaudio.load`` or ``torchvision.io``, which cannot work in this environment. Every
way a file can fail to decode ends in a ``MediaError`` whose message is one line naming the
file, so the app can show it as is. Writing media is ``encode.py``; turning a clip into model
inputs is ``inputs.py``.

Shapes: a waveform is (L,) float32 mono in [-1, 1]; frames are (T, H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
import av
from PIL import Image, ImageOps

from dgl_engine.data.demux import DecodePass, declared_seconds, demux, drop_audio_padding, scaled_size, start_pass

SUPPORTED_VIDEO = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".flv", ".mpg", ".mpeg")
SUPPORTED_AUDIO = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
SUPPORTED_IMAGE = (".png", ".jpg", ".jpeg")
DEFAULT_MAX_BYTES = 200 * 2**20

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]


class MediaError(ValueError):
    """A file could not be read; the message is one line, ``"<basename>: <reason>"``."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors field by field is meaningless
class DecodedClip:
    """What ``decode_clip`` read from one file."""

    waveform: torch.Tensor | None  # (L,) float32 mono in [-1, 1] at sample_rate; None: no audio
    sample_rate: int
    frames: torch.Tensor | None  # (T, H, W, 3) uint8, sampled at fps; None: no picture
    fps: float
    duration: float  # seconds actually decoded (longer of the two modalities)
    source: str  # basename of the file
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the UI, e.g. "clip.mp4: 2.00 s, audio 16000 Hz, 2 frames 256x455"."""
        parts = [f"{self.duration:.2f} s"]
        if self.waveform is not None:
            parts.append(f"audio {self.sample_rate} Hz")
        if self.frames is not None:
            t, h, w, _ = self.frames.shape
            parts.append(f"{t} frame{'s' if t != 1 else ''} {h}x{w}")
        return f"{self.source}: " + ", ".join(parts)


# ----------------------------------------------------------------------------- opening


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fmt_size(n: float) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.0f} MB" if n >= 10 * 2**20 else f"{n / 2**20:.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:.0f} KB"
    return f"{int(n)} bytes"


def _open_source(source: Source, name: str | None, max_bytes: int | None) -> tuple[object, str, int]:
    """-> (a path string or a seekable binary file, basename, size in bytes). Checks the
    type, existence, extension and size."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "upload"
        handle: object = io.BytesIO(bytes(source))
        size = len(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise MediaError(f"{name}: file not found")
        if not path.is_file():
            raise MediaError(f"{name}: not a file")
        handle, size = str(path), path.stat().st_size
    elif hasattr(source, "read"):
        name = name or os.path.basename(str(getattr(source, "name", "") or "upload"))
        if getattr(source, "seekable", lambda: False)():
            # FFmpeg seeks to absolute offsets, so a file object is read from its start.
            size = source.seek(0, io.SEEK_END)
            source.seek(0)
            handle = source
        else:  # a pipe: read it (one byte past the limit is enough to know it is too big)
            data = source.read(-1 if max_bytes is None else max_bytes + 1)
            handle, size = io.BytesIO(data), len(data)
    else:
        raise TypeError(f"expected a path, bytes or a binary file, got {type(source).__name__}")
    ext = os.path.splitext(name)[1].lower()
    if ext not in SUPPORTED_VIDEO + SUPPORTED_AUDIO + SUPPORTED_IMAGE:
        what = f"'{ext}'" if ext else "(no extension)"
        raise MediaError(
            f"{name}: unsupported file type {what}; supported: "
            + " ".join(SUPPORTED_VIDEO + SUPPORTED_AUDIO + SUPPORTED_IMAGE)
        )
    if size == 0:
        raise MediaError(f"{name}: empty file")
    if max_bytes is not None and size > max_bytes:
        raise MediaError(f"{name}: file is {_fmt_size(size)}, over the {_fmt_size(max_bytes)} limit")
    return handle, name, size


def _head(handle: object, n: int = 64) -> bytes:
    """The first `n` bytes of a path or a seekable file."""
    if isinstance(handle, str):
        with open(handle, "rb") as f:
            return f.read(n)
    handle.seek(0)
    return handle.read(n)


def _looks_like_media(head: bytes) -> bool:
    """True when the first bytes carry a known container signature: a file that starts like
    media but does not open is truncated or corrupt rather than "not media at all"."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head.startswith((b"\x1a\x45\xdf\xa3", b"RIFF", b"FLV", b"OggS", b"fLaC", b"ID3"))
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"\x89PNG", b"\xff\xd8\xff"))
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG audio sync
    )


def _open_container(handle: object, name: str):
    """``av.open`` whose every failure is a one-line MediaError saying which kind it is."""
    try:
        return av.open(handle, metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - every failure becomes a MediaError
        if isinstance(exc, av.error.DecoderNotFoundError):
            raise MediaError(f"{name}: unsupported codec ({_one_line(exc)})") from exc
        if _looks_like_media(_head(handle)):
            detail = _one_line(getattr(exc, "strerror", None) or exc)
            raise MediaError(f"{name}: truncated or corrupt file ({detail})") from exc
        raise MediaError(f"{name}: not a media file PyAV can read (invalid data)") from exc


def _image_error(name: str, handle: object, exc: Exception) -> MediaError:
    if isinstance(exc, Image.DecompressionBombError):
        return MediaError(f"{name}: image too large ({_one_line(exc)})")
    if "truncated" in str(exc) or _looks_like_media(_head(handle)):
        return MediaError(f"{name}: truncated or corrupt image")
    return MediaError(f"{name}: not an image Pillow can read")


def _pick(container, kind: str, warnings: list[str], unsupported: list[str]):
    """The default stream of `kind`, skipping cover images; warns when there was a choice.
    None when there is none, or when its codec is unknown (then `kind` goes to `unsupported`)."""
    streams = [s for s in getattr(container.streams, kind)
               if not (kind == "video" and s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        return None
    best = container.streams.best(kind)
    chosen = best if best in streams else streams[0]
    if len(streams) > 1:
        warnings.append(f"{len(streams)} {kind} streams: used the default one (#{chosen.index})")
    if chosen.codec_context is None:  # a codec this FFmpeg build does not know
        unsupported.append(kind)
        return None
    return chosen


# ----------------------------------------------------------------------------- probe


def _probe_image(handle, name: str, size: int) -> dict:
    try:
        with Image.open(handle) as img:  # reads the header only
            w, h = img.size
            if img.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation: a quarter turn
                w, h = h, w
            fmt = str(img.format).lower()
    except (OSError, Image.DecompressionBombError) as exc:
        raise _image_error(name, handle, exc) from exc
    return {"name": name, "kind": "image", "format": fmt, "size_bytes": size,
            "duration": None, "has_audio": False, "has_video": True, "codecs": [fmt],
            "audio": None, "video": {"codec": fmt, "width": w, "height": h, "fps": None},
            "unsupported": [], "warnings": []}


def _probe_av(handle, name: str, ext: str, size: int) -> dict:
    with _open_container(handle, name) as container:
        warnings: list[str] = []
        unsupported: list[str] = []
        a = _pick(container, "audio", warnings, unsupported)
        v = _pick(container, "video", warnings, unsupported) if ext not in SUPPORTED_AUDIO else None
        audio = video = None
        if a is not None:
            audio = {"codec": a.codec_context.name, "sample_rate": a.codec_context.sample_rate,
                     "channels": a.codec_context.channels}
        if v is not None:
            rate = v.average_rate or v.guessed_rate
            video = {"codec": v.codec_context.name, "width": v.codec_context.width,
                     "height": v.codec_context.height, "fps": float(rate) if rate else None}
        return {"name": name, "kind": "audio" if ext in SUPPORTED_AUDIO else "video",
                "format": container.format.name, "size_bytes": size,
                "duration": container.duration / av.time_base if container.duration else None,
                "has_audio": a is not None, "has_video": v is not None,
                "codecs": [s.codec_context.name if s.codec_context else "unknown"
                           for s in container.streams if s.type in ("audio", "video")],
                "audio": audio, "video": video, "unsupported": unsupported, "warnings": warnings}


def probe(
    source: Source, *, name: str | None = None, max_bytes: int | None = DEFAULT_MAX_BYTES
) -> dict:
    """Stream facts without decoding, for display: name, kind ("video" | "audio" | "image"),
    format, size_bytes, duration (s or None), has_audio, has_video (True for images too: they
    give frames), codecs, and "audio"/"video" dicts (codec, sample_rate/channels or
    width/height/fps) for the streams ``decode_clip`` would use."""
    handle, name, size = _open_source(source, name, max_bytes)
    ext = os.path.splitext(name)[1].lower()
    try:
        if ext in SUPPORTED_IMAGE:
            return _probe_image(handle, name, size)
        return _probe_av(handle, name, ext, size)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise MediaError(f"{name}: could not be read ({type(exc).__name__}: {_one_line(exc)})") from exc


# ----------------------------------------------------------------------------- decoding


def _decode_image(handle, name: str, sample_rate: int, fps: float, max_side: int | None) -> DecodedClip:
    """A still image -> frames (1, H, W, 3), upright per EXIF, shorter side <= max_side."""
    try:
        with Image.open(handle) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")  # phone photos store rotation in EXIF
    except (OSError, Image.DecompressionBombError) as exc:
        raise _image_error(name, handle, exc) from exc
    w, h = scaled_size(*img.size, max_side)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BOX)  # BOX: area average, like video frames
    frames = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).unsqueeze(0)
    return DecodedClip(None, sample_rate, frames, fps, 0.0, name, ())


def _pick_streams(container, name: str, ext: str, warnings: list[str]) -> tuple[object, object]:
    """(audio stream, video stream) to decode, either None where missing: a file with neither
    is a MediaError, one with only one of them decodes with a warning saying which is missing.
    Audio files are never read for pictures (an MP3's cover image is not a video)."""
    unsupported: list[str] = []
    a = _pick(container, "audio", warnings, unsupported)
    v = None if ext in SUPPORTED_AUDIO else _pick(container, "video", warnings, unsupported)
    if a is None and v is None:
        if unsupported:
            raise MediaError(f"{name}: unsupported codec in the {' and '.join(unsupported)} "
                             + ("streams" if len(unsupported) > 1 else "stream"))
        raise MediaError(f"{name}: no audio or video stream")
    if v is None and ext not in SUPPORTED_AUDIO:
        why = "unsupported video codec" if "video" in unsupported else "no video stream"
        warnings.append(f"{why}: audio only")
    if a is None:
        why = "unsupported audio codec" if "audio" in unsupported else "no audio stream"
        warnings.append(f"{why}: visual only")
    return a, v


def _short_of(p: DecodePass, got_audio: float, got_video: float) -> list[float]:
    """Seconds each stream's header promised where far less was decoded: a file cut short
    usually just ends (no error), and this is how it is noticed. A video stream stopped by
    max_frames is not short."""
    cap = math.inf if p.max_seconds is None else p.max_seconds
    short = []
    for stream, got in ((p.a, got_audio), (p.v, got_video)):
        if stream is None or (stream is p.v and p.max_frames is not None and len(p.video.out) >= p.max_frames):
            continue
        want = min(p.declared[stream] or 0.0, cap)
        if want - got > max(0.25, 0.1 * want):
            short.append(want)
    return short


def _assemble(p: DecodePass, name: str, sample_rate: int, fps: float, warnings: list[str]) -> DecodedClip:
    """The clip from what the pass kept: a MediaError saying why when nothing at all was
    decoded, otherwise warnings for what is missing or was cut short."""
    waveform = p.audio.waveform() if p.audio is not None else None
    frames = p.video.frames() if p.video is not None else None
    got_audio = waveform.shape[0] / sample_rate if waveform is not None else 0.0
    got_video = p.video.end if frames is not None else 0.0
    short = _short_of(p, got_audio, got_video)
    if waveform is None and frames is None:
        if p.failure is not None or short:
            reason = f" ({_one_line(p.failure)})" if p.failure is not None else ": nothing could be decoded"
            raise MediaError(f"{name}: truncated or corrupt stream{reason}")
        if p.v is not None:
            raise MediaError(f"{name}: clip shorter than one video frame")
        raise MediaError(f"{name}: empty audio stream")
    if p.failure is not None or short:
        of = f" of {max(short):.2f} s" if short else ""
        kept = max(got_audio, got_video)
        warnings.append(f"truncated or corrupt stream: kept the first {kept:.2f} s{of}")
    if p.a is not None and waveform is None:
        warnings.append("audio stream gave no samples: visual only")
    if p.v is not None and frames is None:
        warnings.append("video stream gave no frames: audio only")
    duration = max(got_audio, got_video)
    return DecodedClip(waveform, sample_rate, frames, fps, duration, name, tuple(warnings))


def _decode_av(handle, name, ext, sample_rate, fps, max_frames, max_seconds, max_side) -> DecodedClip:
    """A video or audio file: pick its streams, decode them in one pass, trim the audio to
    its exact length, then assemble the clip (noticing a file cut short)."""
    warnings: list[str] = []
    with _open_container(handle, name) as container:
        a, v = _pick_streams(container, name, ext, warnings)
        p = start_pass(a, v, sample_rate, fps, max_frames, max_seconds, max_side)
        demux(container, p)
        p.declared = {s: declared_seconds(container, s) for s in (a, v) if s is not None}
        drop_audio_padding(container, p, sample_rate)
    return _assemble(p, name, sample_rate, fps, warnings)


def decode_clip(
    source: Source,
    sample_rate: int,
    fps: float,
    max_frames: int | None = None,
    max_seconds: float | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    *,
    name: str | None = None,
    max_side: int | None = 256,
) -> DecodedClip:
    """Decode a video, audio or image file into a ``DecodedClip``.

    source: a path, or bytes / a binary file (then `name`, e.g. "clip.mp4", gives the type
    and the name used in messages). Audio: the default stream, channels averaged, resampled
    to `sample_rate`. Video: the default stream sampled at `fps` (frame at or before each
    k / fps, at least one), shorter side downscaled to `max_side` (None: keep). Images give
    frames (1, H, W, 3) and no audio. Decoding stops at `max_seconds` / `max_frames`.
    Raises MediaError (one line, naming the file) for anything unreadable.
    """
    if sample_rate <= 0 or fps <= 0 or (max_seconds is not None and max_seconds <= 0):
        raise ValueError(f"sample_rate, fps, max_seconds must be > 0: {sample_rate}, {fps}, {max_seconds}")
    handle, name, _ = _open_source(source, name, max_bytes)
    ext = os.path.splitext(name)[1].lower()
    try:
        if ext in SUPPORTED_IMAGE:
            return _decode_image(handle, name, sample_rate, fps, max_side)
        return _decode_av(handle, name, ext, sample_rate, fps, max_frames, max_seconds, max_side)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - nothing but MediaError leaves this function
        raise MediaError(f"{name}: could not be read ({type(exc).__name__}: {_one_line(exc)})") from exc
