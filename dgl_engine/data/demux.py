"""The PyAV decode pass: one demux over a file's audio and video streams, and what is kept.

``decode.py`` opens the file and picks its streams; here both streams are read in a single
pass in file order (``demux``), each decoded audio frame going to an ``AudioCollector``
(mono, one sample rate, NaN set to 0) and each video packet to a ``VideoFeeder``, which
decodes only the groups of pictures holding a time to sample and hands their frames to a
``FrameSampler`` (one picture every 1 / fps). Every loop is bounded by ``limits``: seconds,
packets read, frames and pixels decoded, pictures kept; a picture over the pixel limits
raises ``OverLimit``. Nothing here knows about file names or MediaError: what a failure means
for the clip is decided by ``decode.py`` from the ``DecodePass`` left behind.

Shapes: the waveform is (L,) float32 mono in [-1, 1]; frames are (T, H, W, 3) uint8 RGB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import av

from dgl_engine import limits

# Frame times closer than this count as equal (container timestamps are rounded, e.g. to 1 ms).
TIME_EPS = 1e-3
# Consecutive undecodable packets tolerated before a stream is declared corrupt.
_MAX_BAD_PACKETS = 25
# Sample formats that can hold NaN and inf (a float WAV written by a buggy program can).
_FLOAT_FORMATS = ("flt", "fltp", "dbl", "dblp")
# Full scale of the integer sample formats (u8 is offset binary: handled apart).
_INT_SCALE = {"s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}


class OverLimit(Exception):
    """The file asks for more than ``limits`` allow (a frame too large, ...): refused, not
    "corrupt". The message is a reason, without the file name."""


def check_picture(w: int, h: int, max_pixels: int, what: str) -> None:
    """OverLimit when a w x h picture has too many pixels or an absurd shape (a 60000 x 1
    strip costs as much as a large picture once its shorter side is scaled up to the model's)."""
    if w <= 0 or h <= 0:
        return  # not known before decoding
    if w * h > max_pixels:
        raise OverLimit(f"{what} is {w}x{h} px ({w * h / 1e6:.0f} Mpx), over the {max_pixels / 1e6:.0f} Mpx limit")
    if max(w, h) > limits.MAX_ASPECT_RATIO * min(w, h):
        raise OverLimit(f"{what} is {w}x{h} px, its longer side more than {limits.MAX_ASPECT_RATIO} times its shorter side")


class AudioCollector:
    """Resamples decoded audio frames to mono float32 at `rate`, keeping at most `limit`."""

    def __init__(self, rate: int, limit: int | None):
        self.rate, self.limit = rate, limit
        self.resampler: av.AudioResampler | None = None
        self.key = None
        self.chunks: list[np.ndarray] = []
        self.samples = 0
        self.nonfinite = 0  # NaN / inf samples (a float WAV can hold them) replaced by silence

    @property
    def done(self) -> bool:
        return self.limit is not None and self.samples >= self.limit

    def feed(self, frame: av.AudioFrame | None) -> None:
        if frame is not None and frame.layout.nb_channels > 2:
            frame = self._mono(frame)
        elif frame is not None and frame.format.name in _FLOAT_FORMATS:
            frame = self._finite(frame)
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

    def _mono(self, frame: av.AudioFrame) -> av.AudioFrame:
        """A frame of more than two channels averaged to one, in float32, before resampling:
        FFmpeg's resampler crashes the process (segfault) on frames of 8 or more channels in
        no known layout, which any WAV header can ask for. Averaging first is the same sum
        (resampling is linear), and NaN / inf samples are set to 0 on the way."""
        fmt, channels = frame.format, frame.layout.nb_channels
        x = frame.to_ndarray()
        x = x.astype(np.float32) if fmt.is_planar else x.reshape(-1, channels).T.astype(np.float32)  # (C, n)
        kind = fmt.name.rstrip("p")
        if kind == "u8":
            x = (x - 128.0) / 128.0
        elif kind in _INT_SCALE:
            x /= _INT_SCALE[kind]
        bad = ~np.isfinite(x)
        if bad.any():
            self.nonfinite += int(bad.sum())
            x[bad] = 0.0
        mono = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.mean(axis=0, keepdims=True)), format="fltp", layout="mono")
        mono.sample_rate, mono.pts, mono.time_base = frame.sample_rate, frame.pts, frame.time_base
        return mono

    def _finite(self, frame: av.AudioFrame) -> av.AudioFrame:
        """The frame with NaN / inf samples set to 0 before resampling, which would smear
        each of them over its neighbours (a NaN every 7 samples leaves no finite output)."""
        arr = frame.to_ndarray()
        bad = ~np.isfinite(arr)
        if not bad.any():
            return frame
        self.nonfinite += int(bad.sum())
        arr[bad] = 0.0
        try:
            clean = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=frame.format.name, layout=frame.layout.name)
        except Exception:  # noqa: BLE001 - a layout PyAV cannot rebuild: cleaned after resampling
            return frame
        clean.sample_rate, clean.pts, clean.time_base = frame.sample_rate, frame.pts, frame.time_base
        return clean

    def waveform(self) -> torch.Tensor | None:
        """(L,) float32 in [-1, 1], L <= limit; None when no sample was decoded."""
        if not self.samples:
            return None
        wav = np.concatenate(self.chunks)[: self.limit]
        bad = ~np.isfinite(wav)
        if bad.any():  # NaN would pass np.clip and reach the model: probabilities of NaN
            self.nonfinite = max(self.nonfinite, int(bad.sum()))
            wav[bad] = 0.0
        return torch.from_numpy(np.clip(wav, -1.0, 1.0, out=wav))


class FrameSampler:
    """Keeps the frame at or before each time k / fps (k = 0, 1, ...), counted from the first
    decoded frame, downscaled so the shorter side is at most `max_side`. Stops at
    `max_frames` kept, at `max_seconds`, or when the decode budget (``limits``: frames and
    pixels decoded) is spent; ``stopped`` then says why, for a warning."""

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
        self.decoded = self.pixels = 0  # what decoding has cost so far
        self.stopped: str | None = None  # "budget": decoding stopped early to stay within limits

    def _due(self, before: float) -> bool:
        k = len(self.out)
        return (self.max_frames is None or k < self.max_frames) and k / self.fps < before - TIME_EPS

    def next_due(self) -> float | None:
        """The stream time of the next picture to keep (None before the first frame)."""
        return None if self.t0 is None or self.done else self.t0 + len(self.out) / self.fps

    def _emit(self) -> None:
        if self.prev_rgb is None:  # converted once even when picked for several times
            self.prev_rgb = to_rgb(self.prev, self.max_side)
        self.out.append(self.prev_rgb)

    def feed(self, frame: av.VideoFrame) -> None:
        if self.done:
            return
        check_picture(frame.width, frame.height, limits.MAX_VIDEO_PIXELS, "a video frame")
        self.decoded += 1
        self.pixels += frame.width * frame.height
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
                # The previous picture lasts until this one: up to the limit (frames 600 s
                # apart give max_seconds of it, not a "truncated" stream).
                self.finish(until=self.max_seconds)
                return
            while self._due(rel):
                self._emit()
            if self.max_frames is not None and len(self.out) >= self.max_frames:
                self.end, self.done = len(self.out) / self.fps, True
                return
        self.prev, self.prev_t, self.prev_rgb = frame, rel, None
        if self.decoded >= limits.MAX_DECODED_FRAMES or self.pixels >= limits.MAX_DECODED_PIXELS:
            self.stopped = "budget"
            self.finish()

    def finish(self, until: float | None = None) -> None:
        if self.done or self.prev is None:
            return
        end = until if until is not None else self.prev_t + (self.step or 1 / self.fps)
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


class VideoFeeder:
    """Decodes only the video packets the sampler needs: whole groups of pictures (a keyframe
    and the frames that depend on it) that hold no time to sample are dropped undecoded.

    Packets since the last keyframe wait in ``pending`` while none of them is later than the
    next time to sample. A keyframe at or before that time makes them useless (it is itself a
    better picture for that time), so they are dropped and the decoder is reset; a packet
    later than that time means the picture to keep is among them, so they are decoded. A
    500 fps clip of short groups, sampled at 1 fps, decodes a few frames a second, not 500;
    a clip with one keyframe is decoded whole (then the decode budget bounds it)."""

    def __init__(self, stream, sampler: FrameSampler):
        self.stream, self.sampler = stream, sampler
        self.pending: list = []
        self.bad = 0
        self.skipped = 0  # packets never decoded

    def feed(self, packet) -> None:
        t = None if packet.pts is None or packet.time_base is None else float(packet.pts * packet.time_base)
        due = self.sampler.next_due()
        if packet.is_keyframe and t is not None and due is not None and t <= due + TIME_EPS:
            if self.pending:  # the decoder has seen the start of their group: start afresh
                self.skipped += len(self.pending)
                self.stream.codec_context.flush_buffers()
            self.pending = [packet]
            return
        self.pending.append(packet)
        if t is None or due is None or t > due + TIME_EPS:
            self.decode_pending()

    def decode_pending(self) -> None:
        pending, self.pending = self.pending, []
        for packet in pending:
            if self.sampler.done:
                return
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:  # one bad packet: skip it, as ffmpeg does
                self.bad += 1
                if self.bad > _MAX_BAD_PACKETS:
                    raise
                continue
            self.bad = 0
            for frame in frames:
                self.sampler.feed(frame)


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
    packets: int = 0  # packets read
    packet_limit: bool = False  # reading stopped at limits.MAX_PACKETS


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


def _both_done(p: DecodePass) -> bool:
    return (p.audio is None or p.audio.done) and (p.video is None or p.video.done)


def demux(container, p: DecodePass) -> None:
    """Read both streams in one pass, in file order, feeding each decoded frame to its
    collector, until both are done, the file ends or ``limits.MAX_PACKETS`` were read. Video
    packets go through a ``VideoFeeder``, which skips what the sampler does not need. A few
    bad packets are skipped, as ffmpeg does; anything worse (truncated or corrupt data) ends
    the pass but keeps what was decoded: the error goes to ``p.failure`` and the decoders'
    buffered frames are drained, so a cut file still gives its first seconds. A picture over
    the limits raises OverLimit (a refusal, not damage)."""
    bad = 0
    feeder = VideoFeeder(p.v, p.video) if p.v is not None else None
    try:
        for packet in container.demux([s for s in (p.a, p.v) if s is not None]):
            p.packets += 1
            if p.packets > limits.MAX_PACKETS:  # a file of millions of one-sample packets
                p.packet_limit = True
                break
            is_audio = packet.stream is p.a
            if (p.audio.done if is_audio else p.video.done):
                if _both_done(p):
                    break
                continue
            if not is_audio:
                feeder.feed(packet)
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
                p.audio.feed(frame)
        if feeder is not None and not p.video.done:
            feeder.decode_pending()  # the last group may hold the last pictures
    except OverLimit:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt data: keep what we have
        p.failure = exc
        for stream in (p.a, p.v):
            try:
                if stream is p.v:
                    feeder.decode_pending()
                if stream is not None:
                    for frame in stream.codec_context.decode(None):  # flush the decoder
                        (p.audio if stream is p.a else p.video).feed(frame)
            except OverLimit:
                raise
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
