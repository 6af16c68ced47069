"""Media files <-> tensors: decoding uploads and dataset files, writing synthetic samples.

Decoding goes through PyAV (FFmpeg) for audio and video and Pillow for still images; it never
uses ``torchaudio.load`` or ``torchvision.io``, which cannot work in this environment. Every
way a file can fail to decode ends in a ``MediaError`` whose message is one line naming the
file, so the app can show it as is.

Shapes: a waveform is (L,) float32 mono in [-1, 1]; frames are (T, H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import io
import math
import os
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch

from dgl_engine import compat  # noqa: F401  (before torchaudio, which features imports)
import av
from PIL import Image, ImageOps

from dgl_engine.data.features import AudioFeatures, VisualFeatures, audio_features, visual_features

SUPPORTED_VIDEO = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".flv", ".mpg", ".mpeg")
SUPPORTED_AUDIO = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
SUPPORTED_IMAGE = (".png", ".jpg", ".jpeg")
DEFAULT_MAX_BYTES = 200 * 2**20

Source = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

# Frame times closer than this count as equal (container timestamps are rounded, e.g. to 1 ms).
_TIME_EPS = 1e-3
# Consecutive undecodable packets tolerated before a stream is declared corrupt.
_MAX_BAD_PACKETS = 25


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


def _open_error(name: str, handle: object, exc: Exception) -> MediaError:
    if isinstance(exc, av.error.DecoderNotFoundError):
        return MediaError(f"{name}: unsupported codec ({_one_line(exc)})")
    if _looks_like_media(_head(handle)):
        detail = _one_line(getattr(exc, "strerror", None) or exc)
        return MediaError(f"{name}: truncated or corrupt file ({detail})")
    return MediaError(f"{name}: not a media file PyAV can read (invalid data)")


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
        try:
            container = av.open(handle, metadata_errors="ignore")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a MediaError
            raise _open_error(name, handle, exc) from exc
        with container:
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
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise MediaError(f"{name}: could not be read ({type(exc).__name__}: {_one_line(exc)})") from exc


# ----------------------------------------------------------------------------- decoding


class _AudioCollector:
    """Resamples decoded audio frames to mono float32 at `rate`, keeping at most `limit`."""

    def __init__(self, rate: int, limit: int | None):
        self.rate, self.limit = rate, limit
        self.resampler: av.AudioResampler | None = None
        self.key = None
        self.chunks: list[np.ndarray] = []
        self.samples = 0

    @property
    def done(self) -> bool:
        return self.limit is not None and self.samples >= self.limit

    def feed(self, frame: av.AudioFrame | None) -> None:
        key = None if frame is None else (frame.format.name, frame.layout.name, frame.sample_rate)
        if frame is not None and self.resampler is not None and key != self.key:
            self.feed(None)  # the input format changed mid-stream: flush, then start over
        if self.resampler is None:
            if frame is None:
                return
            # fltp at the source layout, channels averaged below: swresample's own downmix
            # weights stereo by 1/sqrt(2) and can leave [-1, 1].
            self.resampler, self.key = av.AudioResampler(format="fltp", rate=self.rate), key
        for out in self.resampler.resample(frame):
            chunk = out.to_ndarray().mean(axis=0, dtype=np.float32)  # (C, n) -> (n,)
            self.chunks.append(chunk)
            self.samples += chunk.shape[0]
        if frame is None:
            self.resampler = None

    def waveform(self) -> torch.Tensor | None:
        if not self.samples:
            return None
        wav = np.concatenate(self.chunks)[: self.limit]
        return torch.from_numpy(np.clip(wav, -1.0, 1.0, out=wav))


class _FrameSampler:
    """Keeps the frame at or before each time k / fps (k = 0, 1, ...), counted from the first
    decoded frame, downscaled so the shorter side is at most `max_side`."""

    def __init__(self, fps: float, max_frames: int | None, max_seconds: float | None,
                 max_side: int | None, step: float | None):
        self.fps, self.max_frames, self.max_seconds = fps, max_frames, max_seconds
        self.max_side = max_side
        self.step = step  # source frame duration, for where the last frame ends
        self.t0: float | None = None
        self.prev: av.VideoFrame | None = None
        self.prev_t = 0.0
        self.prev_rgb: np.ndarray | None = None
        self.out: list[np.ndarray] = []
        self.end = 0.0  # seconds of video covered
        self.done = False

    def _due(self, before: float) -> bool:
        k = len(self.out)
        return (self.max_frames is None or k < self.max_frames) and k / self.fps < before - _TIME_EPS

    def _emit(self) -> None:
        if self.prev_rgb is None:  # converted once even when picked for several times
            self.prev_rgb = _to_rgb(self.prev, self.max_side)
        self.out.append(self.prev_rgb)

    def feed(self, frame: av.VideoFrame) -> None:
        if self.done:
            return
        if frame.pts is None or frame.time is None:  # no timestamp: assume a constant rate
            rel = self.prev_t + (self.step or 1 / self.fps) if self.prev is not None else 0.0
        else:
            if self.t0 is None:
                self.t0 = frame.time
            rel = frame.time - self.t0
        if self.prev is not None:
            if self.step is None and rel > self.prev_t:
                self.step = rel - self.prev_t
            if self.max_seconds is not None and rel >= self.max_seconds - _TIME_EPS:
                self.finish()
                return
            while self._due(rel):
                self._emit()
            if self.max_frames is not None and len(self.out) >= self.max_frames:
                self.end, self.done = len(self.out) / self.fps, True
                return
        self.prev, self.prev_t, self.prev_rgb = frame, rel, None

    def finish(self) -> None:
        if self.done or self.prev is None:
            return
        end = self.prev_t + (self.step or 1 / self.fps)
        if self.max_seconds is not None:
            end = min(end, self.max_seconds)
        while self._due(end):
            self._emit()
        if not self.out:  # a clip shorter than 1/fps still gives its one frame
            self._emit()
        self.end, self.done = end, True

    def frames(self) -> torch.Tensor | None:
        return torch.from_numpy(np.stack(self.out)) if self.out else None


def _scaled(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or min(w, h) <= max_side:
        return w, h
    s = max_side / min(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def _to_rgb(frame: av.VideoFrame, max_side: int | None) -> np.ndarray:
    """-> (H, W, 3) uint8, downscaled (area average) and turned upright per the display matrix."""
    w, h = _scaled(frame.width, frame.height, max_side)
    rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    quarter_turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise turns for display
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _decode_image(handle, name: str, sample_rate: int, fps: float, max_side: int | None) -> DecodedClip:
    """A still image -> frames (1, H, W, 3), upright per EXIF, shorter side <= max_side."""
    try:
        with Image.open(handle) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")  # phone photos store rotation in EXIF
    except (OSError, Image.DecompressionBombError) as exc:
        raise _image_error(name, handle, exc) from exc
    w, h = _scaled(*img.size, max_side)
    if (w, h) != img.size:
        img = img.resize((w, h), Image.Resampling.BOX)  # BOX: area average, like video frames
    frames = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).unsqueeze(0)
    return DecodedClip(None, sample_rate, frames, fps, 0.0, name, ())


def _declared_seconds(container, stream) -> float | None:
    """Duration the file's header announces for `stream` (else for the container), seconds."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else None


def _decode_av(handle, name, ext, sample_rate, fps, max_frames, max_seconds, max_side) -> DecodedClip:
    try:
        container = av.open(handle, metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001
        raise _open_error(name, handle, exc) from exc
    warnings: list[str] = []
    unsupported: list[str] = []
    with container:
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
        limit = None if max_seconds is None else math.ceil(max_seconds * sample_rate)
        audio = _AudioCollector(sample_rate, limit) if a is not None else None
        video = None
        if v is not None:
            v.thread_type = "AUTO"  # frame threads: several times faster on HD h264
            rate = v.average_rate or v.guessed_rate
            step = 1 / float(rate) if rate else None
            video = _FrameSampler(fps, max_frames, max_seconds, max_side, step)

        failure = None
        bad = 0
        try:
            for packet in container.demux([s for s in (a, v) if s is not None]):
                is_audio = packet.stream is a
                if (audio.done if is_audio else video.done):
                    if (audio is None or audio.done) and (video is None or video.done):
                        break
                    continue
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as exc:  # one bad packet: skip it, as ffmpeg does
                    bad += 1
                    if bad > _MAX_BAD_PACKETS:
                        raise exc
                    continue
                bad = 0
                for frame in decoded:
                    (audio if is_audio else video).feed(frame)
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt data: keep what we have
            failure = exc
            for stream in (a, v):
                try:
                    if stream is not None:
                        for frame in stream.codec_context.decode(None):  # flush the decoder
                            (audio if stream is a else video).feed(frame)
                except Exception:  # noqa: BLE001
                    pass

        if audio is not None:
            audio.feed(None)  # flush the resampler's buffered tail
        if video is not None:
            video.finish()
        declared = {s: _declared_seconds(container, s) for s in (a, v) if s is not None}
        # MP4's sample table gives the exact audio length, but decoders still emit the
        # encoder's padding of the last frame (AAC: up to 1024 samples): cut it off.
        exact_audio = None
        if a is not None and a.duration and "mp4" in container.format.name:
            exact_audio = round(float(a.duration * a.time_base) * sample_rate)
            pad = 2048 * sample_rate / max(a.codec_context.sample_rate or sample_rate, 1)
            exact_audio = exact_audio if audio.samples - pad <= exact_audio else None
    if exact_audio is not None:
        audio.limit = exact_audio if audio.limit is None else min(audio.limit, exact_audio)
    waveform = audio.waveform() if audio is not None else None
    frames = video.frames() if video is not None else None
    got_audio = waveform.shape[0] / sample_rate if waveform is not None else 0.0
    got_video = video.end if frames is not None else 0.0
    # A file cut short usually just ends (no error): compare with what its header promised.
    cap = math.inf if max_seconds is None else max_seconds
    short = []
    for stream, got in ((a, got_audio), (v, got_video)):
        if stream is None or (stream is v and max_frames is not None and len(video.out) >= max_frames):
            continue
        want = min(declared[stream] or 0.0, cap)
        if want - got > max(0.25, 0.1 * want):
            short.append(want)
    if waveform is None and frames is None:
        if failure is not None or short:
            reason = f" ({_one_line(failure)})" if failure is not None else ": nothing could be decoded"
            raise MediaError(f"{name}: truncated or corrupt stream{reason}")
        if v is not None:
            raise MediaError(f"{name}: clip shorter than one video frame")
        raise MediaError(f"{name}: empty audio stream")
    if failure is not None or short:
        of = f" of {max(short):.2f} s" if short else ""
        kept = max(got_audio, got_video)
        warnings.append(f"truncated or corrupt stream: kept the first {kept:.2f} s{of}")
    if a is not None and waveform is None:
        warnings.append("audio stream gave no samples: visual only")
    if v is not None and frames is None:
        warnings.append("video stream gave no frames: audio only")
    duration = max(got_audio, got_video)
    return DecodedClip(waveform, sample_rate, frames, fps, duration, name, tuple(warnings))


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


def clip_to_inputs(
    clip: DecodedClip, audio_spec: AudioFeatures, visual_spec: VisualFeatures
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """-> (audio (1, F, T) log spectrogram or None, visual (frames, 3, size, size) in [0, 1]
    or None). Visual inputs are not normalised: the caller applies the stored statistics."""
    audio = visual = None
    if clip.waveform is not None and clip.waveform.numel() > 0:
        if clip.sample_rate != audio_spec.sample_rate:
            raise ValueError(
                f"{clip.source}: decoded at {clip.sample_rate} Hz but the features expect "
                f"{audio_spec.sample_rate} Hz; decode at audio_spec.sample_rate (load_inputs does)"
            )
        audio = audio_features(clip.waveform, audio_spec)
    if clip.frames is not None and clip.frames.shape[0] > 0:
        visual = visual_features(clip.frames, visual_spec)
    return audio, visual


def load_inputs(
    source: Source, audio_spec: AudioFeatures, visual_spec: VisualFeatures, **limits
) -> tuple[torch.Tensor | None, torch.Tensor | None, DecodedClip]:
    """Decode at the specs' sample rate and fps, then ``clip_to_inputs``: -> (audio, visual,
    clip). `limits`: max_frames, max_seconds, max_bytes, name, max_side for ``decode_clip``.
    The whole clip is decoded (the features choose their crop / frames over all of it, as for
    training data); a clip shorter than frames / fps gets repeated frames."""
    clip = decode_clip(source, audio_spec.sample_rate, visual_spec.fps, **limits)
    audio, visual = clip_to_inputs(clip, audio_spec, visual_spec)
    return audio, visual, clip


# ----------------------------------------------------------------------------- writing


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
