"""The PyAV decode pass: one demux over a file's audio and video streams, and what is kept.

``decode.py`` opens the file and picks its streams; here both streams are read in a single
pass in file order (``demux``), each decoded audio frame going to an ``AudioCollector``
(mono, one sample rate) and each video frame to a ``FrameSampler`` (one picture every
1 / fps). Nothing here knows about file names or MediaError: what a failure means for the
clip is decided by ``decode.py`` from the ``DecodePass`` left behind.

Shapes: the waveform is (L,) float32 mono in [-1, 1]; frames are (T, H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import av

# Frame times closer than this count as equal (container timestamps are rounded, e.g. to 1 ms).
TIME_EPS = 1e-3
# Consecutive undecodable packets tolerated before a stream is declared corrupt.
_MAX_BAD_PACKETS = 25


class AudioCollector:
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
        """(L,) float32 in [-1, 1], L <= limit; None when no sample was decoded."""
        if not self.samples:
            return None
        wav = np.concatenate(self.chunks)[: self.limit]
        return torch.from_numpy(np.clip(wav, -1.0, 1.0, out=wav))


class FrameSampler:
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
        return (self.max_frames is None or k < self.max_frames) and k / self.fps < before - TIME_EPS

    def _emit(self) -> None:
        if self.prev_rgb is None:  # converted once even when picked for several times
            self.prev_rgb = to_rgb(self.prev, self.max_side)
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
            if self.max_seconds is not None and rel >= self.max_seconds - TIME_EPS:
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
        """(T, H, W, 3) uint8; None when no frame was decoded."""
        return torch.from_numpy(np.stack(self.out)) if self.out else None


def scaled_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) shrunk so the shorter side is at most `max_side` (None: unchanged)."""
    if max_side is None or min(w, h) <= max_side:
        return w, h
    s = max_side / min(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def to_rgb(frame: av.VideoFrame, max_side: int | None) -> np.ndarray:
    """-> (H, W, 3) uint8, downscaled (area average) and turned upright per the display matrix."""
    w, h = scaled_size(frame.width, frame.height, max_side)
    rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    quarter_turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise turns for display
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


# ----------------------------------------------------------------------------- the pass


@dataclass(eq=False)
class DecodePass:
    """One decode pass over a container: the streams read, where to stop, what was kept."""

    a: object | None  # the audio stream decoded; None: no (decodable) audio
    v: object | None  # the video stream decoded; None: no (decodable) video, or an audio file
    audio: AudioCollector | None
    video: FrameSampler | None
    max_frames: int | None
    max_seconds: float | None
    failure: Exception | None = None  # what ended the pass early (corrupt data), if anything
    declared: dict = field(default_factory=dict)  # {stream: seconds its header announces, or None}


def start_pass(a, v, sample_rate: int, fps: float, max_frames: int | None,
               max_seconds: float | None, max_side: int | None) -> DecodePass:
    """A collector per stream, each told where to stop, so decoding ends at the limits
    rather than reading a long upload to its end."""
    limit = None if max_seconds is None else math.ceil(max_seconds * sample_rate)
    audio = AudioCollector(sample_rate, limit) if a is not None else None
    video = None
    if v is not None:
        v.thread_type = "AUTO"  # frame threads: several times faster on HD h264
        rate = v.average_rate or v.guessed_rate
        step = 1 / float(rate) if rate else None
        video = FrameSampler(fps, max_frames, max_seconds, max_side, step)
    return DecodePass(a, v, audio, video, max_frames, max_seconds)


def demux(container, p: DecodePass) -> None:
    """Read both streams in one pass, in file order, feeding each decoded frame to its
    collector, until both are done or the file ends. A few bad packets are skipped, as
    ffmpeg does; anything worse (truncated or corrupt data) ends the pass but keeps what was
    decoded: the error goes to ``p.failure`` and the decoders' buffered frames are drained,
    so a cut file still gives its first seconds."""
    bad = 0
    try:
        for packet in container.demux([s for s in (p.a, p.v) if s is not None]):
            is_audio = packet.stream is p.a
            if (p.audio.done if is_audio else p.video.done):
                if (p.audio is None or p.audio.done) and (p.video is None or p.video.done):
                    break
                continue
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:  # one bad packet: skip it, as ffmpeg does
                bad += 1
                if bad > _MAX_BAD_PACKETS:
                    raise
                continue
            bad = 0
            for frame in decoded:
                (p.audio if is_audio else p.video).feed(frame)
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt data: keep what we have
        p.failure = exc
        for stream in (p.a, p.v):
            try:
                if stream is not None:
                    for frame in stream.codec_context.decode(None):  # flush the decoder
                        (p.audio if stream is p.a else p.video).feed(frame)
            except Exception:  # noqa: BLE001
                pass
    if p.audio is not None:
        p.audio.feed(None)  # flush the resampler's buffered tail
    if p.video is not None:
        p.video.finish()


def declared_seconds(container, stream) -> float | None:
    """Duration the file's header announces for `stream` (else for the container), seconds."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else None


def drop_audio_padding(container, p: DecodePass, sample_rate: int) -> None:
    """MP4's sample table gives the exact audio length, but decoders still emit the encoder's
    padding of the last frame (AAC: up to 1024 samples): cut the waveform to that length
    (unless far more was decoded than the table says: then the table is not to be trusted)."""
    a = p.a
    if a is None or not a.duration or "mp4" not in container.format.name:
        return
    exact = round(float(a.duration * a.time_base) * sample_rate)
    pad = 2048 * sample_rate / max(a.codec_context.sample_rate or sample_rate, 1)
    if p.audio.samples - pad <= exact:
        p.audio.limit = exact if p.audio.limit is None else min(p.audio.limit, exact)
