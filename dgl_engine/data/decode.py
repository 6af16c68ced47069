"""Media files -> tensors: uploads and dataset files decoded into a ``DecodedClip``.

Decoding goes through PyAV (FFmpeg) for audio and video (``demux.py``) and Pillow for still
images (``image.py``); it never uses ``torchaudio.load`` or ``torchvision.io``, which cannot
work in this environment. Opening a file is ``source.py``. Every way a file can fail to
decode ends in a ``MediaError`` whose message is one line naming the file, so the app can
show it as is. Every file, whether a dataset clip, a preview or an
upload, is decoded within the bounds of ``dgl_engine/limits.py`` (seconds, frames, pixels,
sample rates, channels): what exceeds them is refused in one line, or, for a clip that is
merely long, decoded up to the bound with a warning. Writing media is ``encode.py``; turning
a clip into model inputs is ``inputs.py``.

Shapes: a waveform is (L,) float32 mono in [-1, 1]; frames are (T, H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import torch
import av
from PIL import Image

from dgl_engine import limits
from dgl_engine.data.demux import DecodePass, OverLimit, check_picture, declared_seconds, demux, drop_audio_padding, start_pass
from dgl_engine.data.image import image_header, read_image
from dgl_engine.data.source import (  # noqa: F401  (SUPPORTED_*, DEFAULT_MAX_BYTES, Source: re-exported)
    DEFAULT_MAX_BYTES, SUPPORTED_AUDIO, SUPPORTED_IMAGE, SUPPORTED_VIDEO, MediaError, Source, looks_like_media, one_line,
    open_container, open_source, read_head,
)


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


def _image_error(name: str, handle: object, exc: Exception) -> MediaError:
    if isinstance(exc, Image.DecompressionBombError):  # "Image size (N pixels) exceeds limit ..."
        n = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(n.group(1)) / 1e6:.0f} Mpx)" if n else ""
        return MediaError(f"{name}: the image is too large{size}, over the {limits.MAX_IMAGE_PIXELS / 1e6:.0f} Mpx limit")
    if "truncated" in str(exc) or looks_like_media(read_head(handle)):
        return MediaError(f"{name}: truncated or corrupt image")
    return MediaError(f"{name}: not an image Pillow can read (PNG or JPEG)")


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
        w, h, fmt = image_header(handle)  # reads the header only
    except OverLimit as exc:
        raise MediaError(f"{name}: {exc}") from None
    except (OSError, Image.DecompressionBombError) as exc:
        raise _image_error(name, handle, exc) from exc
    return {"name": name, "kind": "image", "format": fmt, "size_bytes": size,
            "duration": None, "has_audio": False, "has_video": True, "codecs": [fmt],
            "audio": None, "video": {"codec": fmt, "width": w, "height": h, "fps": None},
            "unsupported": [], "warnings": []}


def _probe_av(handle, name: str, ext: str, size: int) -> dict:
    with open_container(handle, name) as container:
        warnings: list[str] = []
        unsupported: list[str] = []
        a = _pick(container, "audio", warnings, unsupported)
        v = _pick(container, "video", warnings, unsupported) if ext not in SUPPORTED_AUDIO else None
        _check_streams(name, a, v)  # what decode_clip would refuse, probe refuses too
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
    handle, name, size = open_source(source, name, max_bytes)
    ext = os.path.splitext(name)[1].lower()
    try:
        if ext in SUPPORTED_IMAGE:
            return _probe_image(handle, name, size)
        return _probe_av(handle, name, ext, size)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise MediaError(f"{name}: could not be read ({type(exc).__name__}: {one_line(exc)})") from exc


# ----------------------------------------------------------------------------- decoding


def _decode_image(handle, name: str, sample_rate: int, fps: float, max_side: int | None) -> DecodedClip:
    """A still image -> frames (1, H, W, 3), upright per EXIF, shorter side <= max_side."""
    try:
        pixels = read_image(handle, max_side)
    except OverLimit as exc:
        raise MediaError(f"{name}: {exc}") from None
    except (OSError, Image.DecompressionBombError) as exc:
        raise _image_error(name, handle, exc) from exc
    return DecodedClip(None, sample_rate, torch.from_numpy(pixels).unsqueeze(0), fps, 0.0, name, ())


def _check_streams(name: str, a, v) -> None:
    """Refuse, before decoding, streams whose header asks for more than ``limits`` allow: a
    1 Hz WAV of 3,500 samples is an hour of sound once resampled, FFmpeg gives up on a WAV of
    a thousand channels (it reports 0), a frame may hold a billion pixels."""
    if a is not None:
        rate, channels = a.codec_context.sample_rate or 0, a.codec_context.channels or 0
        if not limits.MIN_SAMPLE_RATE <= rate <= limits.MAX_SAMPLE_RATE:
            raise MediaError(f"{name}: audio sample rate {rate} Hz, outside the "
                             f"{limits.MIN_SAMPLE_RATE}-{limits.MAX_SAMPLE_RATE} Hz read")
        if not 1 <= channels <= limits.MAX_CHANNELS:
            what = f"{channels} channels" if channels else "an invalid number of channels"
            raise MediaError(f"{name}: audio with {what}; at most {limits.MAX_CHANNELS} channels are read")
    if v is not None:
        try:
            check_picture(v.codec_context.width or 0, v.codec_context.height or 0, limits.MAX_VIDEO_PIXELS, "a video frame")
        except OverLimit as exc:
            raise MediaError(f"{name}: {exc}") from None


def _pick_streams(container, name: str, ext: str, warnings: list[str]) -> tuple[object, object]:
    """(audio stream, video stream) to decode, either None where missing: a file with neither
    is a MediaError, one with only one of them decodes with a warning saying which is missing.
    Audio files are never read for pictures (an MP3's cover image is not a video)."""
    unsupported: list[str] = []
    a = _pick(container, "audio", warnings, unsupported)
    v = None if ext in SUPPORTED_AUDIO else _pick(container, "video", warnings, unsupported)
    _check_streams(name, a, v)
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
    if p.packet_limit:
        return short  # stopped by the limit, not by the file
    for stream, got in ((p.a, got_audio), (p.v, got_video)):
        if stream is None or (stream is p.v and (
                p.video.stopped or p.max_frames is not None and len(p.video.out) >= p.max_frames)):
            continue
        want = min(p.declared[stream] or 0.0, cap)
        if want - got > max(0.25, 0.1 * want):
            short.append(want)
    return short


def _limit_warnings(p: DecodePass) -> list[str]:
    """What the limits cut short, and what was cleaned, in words."""
    out = []
    if p.packet_limit:
        out.append(f"stopped reading after {limits.MAX_PACKETS} packets (the limit)")
    if p.video is not None and p.video.stopped:
        out.append(f"video decoding stopped after {p.video.decoded} frames (the decode limit): "
                   f"pictures from the first {p.video.end:.2f} s only")
    if p.video is not None and p.max_frames == limits.MAX_KEPT_FRAMES and len(p.video.out) >= p.max_frames:
        out.append(f"only the first {limits.MAX_KEPT_FRAMES} pictures kept (the limit): the first {p.video.end:.2f} s")
    if p.audio is not None and p.audio.nonfinite:
        out.append(f"{p.audio.nonfinite} audio samples were NaN or infinite: set to silence")
    return out


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
            reason = f" ({one_line(p.failure)})" if p.failure is not None else ": nothing could be decoded"
            raise MediaError(f"{name}: truncated or corrupt stream{reason}")
        if p.v is not None:
            raise MediaError(f"{name}: clip shorter than one video frame")
        raise MediaError(f"{name}: empty audio stream")
    if p.failure is not None or short:
        of = f" of {max(short):.2f} s" if short else ""
        kept = max(got_audio, got_video)
        warnings.append(f"truncated or corrupt stream: kept the first {kept:.2f} s{of}")
    warnings += _limit_warnings(p)
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
    with open_container(handle, name) as container:
        a, v = _pick_streams(container, name, ext, warnings)
        p = start_pass(a, v, sample_rate, fps, max_frames, max_seconds, max_side)
        try:
            demux(container, p)
        except OverLimit as exc:
            raise MediaError(f"{name}: {exc}") from None
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
    frames (1, H, W, 3) and no audio. Decoding stops at `max_seconds` / `max_frames`, and
    never goes past ``limits.MAX_DECODE_SECONDS`` / ``limits.MAX_KEPT_FRAMES`` (None: the
    limit). Raises MediaError (one line, naming the file) for anything unreadable or over a limit.
    """
    if not (0 < sample_rate <= limits.MAX_SAMPLE_RATE and 0 < fps <= limits.MAX_FPS) or (
            max_seconds is not None and max_seconds <= 0):
        raise ValueError(f"sample_rate in (0, {limits.MAX_SAMPLE_RATE}], fps in (0, {limits.MAX_FPS:g}], "
                         f"max_seconds > 0 expected: {sample_rate}, {fps}, {max_seconds}")
    max_seconds = min(max_seconds or limits.MAX_DECODE_SECONDS, limits.MAX_DECODE_SECONDS)
    max_frames = min(max_frames or limits.MAX_KEPT_FRAMES, limits.MAX_KEPT_FRAMES)
    handle, name, _ = open_source(source, name, max_bytes)
    ext = os.path.splitext(name)[1].lower()
    try:
        if ext in SUPPORTED_IMAGE:
            return _decode_image(handle, name, sample_rate, fps, max_side)
        return _decode_av(handle, name, ext, sample_rate, fps, max_frames, max_seconds, max_side)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - nothing but MediaError leaves this function
        raise MediaError(f"{name}: could not be read ({type(exc).__name__}: {one_line(exc)})") from exc
