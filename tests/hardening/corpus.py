"""Hostile media, made at test time with PyAV, Pillow and numpy (nothing is checked in).

Each maker writes one small file that costs a naive decoder far more than its size suggests,
or that carries values a decoder should never pass on (NaN samples, absurd sample rates).
``media_corpus(folder)`` writes them all and returns {file name: what a correct answer says}:
the words its one-line refusal must hold, or None when it must decode to a sound prediction.
Used by ``tests/hardening/test_hostile.py`` and ``benchmarks/bench_limits.py``.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------- WAV by hand


def raw_wav(path: Path, samples: np.ndarray, rate: int, *, float32: bool = False) -> Path:
    """A WAV of `samples` (n, channels) with any header values the format can hold (Python's
    ``wave`` refuses float data and writes only what it thinks sane)."""
    samples = np.asarray(samples)
    channels = samples.shape[1]
    if float32:
        data, tag, bits = samples.astype("<f4").tobytes(), 3, 32
    else:
        data, tag, bits = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes(), 1, 16
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _tone(n: int, rate: float, hz: float = 440.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)[:, None]


# ----------------------------------------------------------------------------- video


def _video(path: Path, fmt: str, codec: str, times: list[float], size=(64, 48), gop: int | None = None,
           time_base: Fraction = Fraction(1, 1000), rate: int = 25) -> Path:
    """A video of one frame at each of `times` (seconds); the picture changes once a second.
    Frames are converted once and reused: a 10,000-frame clip takes a fraction of a second."""
    import av

    w, h = size
    palette = {k: av.VideoFrame.from_ndarray(np.full((h, w, 3), 16 + 28 * k, np.uint8), format="rgb24").reformat(
        format="yuv420p") for k in {int(t) % 8 for t in times}}
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=rate, options={"preset": "ultrafast"} if codec == "libx264" else {})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.time_base = time_base
        if gop is not None:
            s.codec_context.gop_size = gop
        for t in times:
            frame = palette[int(t) % 8]
            frame.pts, frame.time_base = round(t / time_base), time_base
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


def far_apart_mkv(path: Path) -> Path:
    """Two frames 600 s apart: a sampler that fills every 1/fps between them keeps 600 frames."""
    return _video(path, "matroska", "libx264", [0.0, 600.0])


def many_frames_mp4(path: Path, n: int = 10_000, fps: int = 500, gop: int | None = 100_000) -> Path:
    """n tiny frames at a high rate (20 s at 500 fps): decoding each one costs time, not bytes.
    With one keyframe (gop 100,000) every frame must be decoded to reach the last: over three
    times the decode limit. With x264's default (a keyframe every 250 frames) the groups that
    hold no sampled time are skipped undecoded."""
    return _video(path, "mp4", "libx264", [k / fps for k in range(n)], size=(32, 32),
                  time_base=Fraction(1, fps), rate=fps, gop=gop)


# ----------------------------------------------------------------------------- images


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _zero_rows(row_bytes: int, rows: int) -> bytes:
    """A zlib stream of `rows` rows of zeros, each with its PNG filter byte, built in a blink:
    one chunk of rows is deflated and ended with a full flush (which resets the compressor's
    history, so the chunk's bytes can be repeated as they are), then the stream is closed
    with the checksum of the whole."""
    chunk_rows = 64
    chunk = b"\x00" * (row_bytes * chunk_rows)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: header and checksum written here
    block = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(rows, chunk_rows)
    adler = 1
    for _ in range(full):
        adler = zlib.adler32(chunk, adler)
    tail_data = b"\x00" * (row_bytes * rest)
    adler = zlib.adler32(tail_data, adler)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    end = tail.compress(tail_data) + tail.flush(zlib.Z_FINISH)
    return b"\x78\xda" + block * full + end + struct.pack(">I", adler & 0xFFFFFFFF)


def huge_png(path: Path, side: int = 12_000) -> Path:
    """A side x side RGB PNG of one colour, a few hundred KB: zeros compress 1000 to 1."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    body = _zero_rows(1 + 3 * side, side)  # filter byte + pixels
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b""))
    return path


def bomb_png(path: Path, side: int = 100_000) -> Path:
    """A header claiming side x side pixels (10 Gpx) over a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    return path


def gif_as_png(path: Path) -> Path:
    """A GIF named .png: Pillow opens any format it knows, whatever the name says."""
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 10, 10)).save(path, format="GIF")
    return path


def wide_png(path: Path) -> Path:
    """1 x 60000 pixels: few pixels, an absurd shape."""
    from PIL import Image

    Image.new("RGB", (60_000, 1), (0, 128, 0)).save(path, format="PNG")
    return path


def tiny_packets_mkv(path: Path, n: int = 30_000) -> Path:
    """n one-sample PCM packets (3.75 s at 8 kHz): each packet costs a trip through the decoder."""
    import av

    with av.open(str(path), "w", format="matroska") as out:
        s = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        x = np.zeros((1, 1), np.int16)
        for i in range(n):
            frame = av.AudioFrame.from_ndarray(x, format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 8000, i, Fraction(1, 8000)
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode(None):
            out.mux(packet)
    return path


def av_mkv(path: Path, seconds: float = 4.0) -> Path:
    """An ordinary small clip with sound and picture (cut copies of it are made from it)."""
    import av

    rate, fps = 16000, 10
    with av.open(str(path), "w", format="matroska") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=rate, layout="mono")
        wave = _tone(int(seconds * rate), rate)[:, 0]
        for k in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * k % 255, np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            out.mux(v.encode(frame))
            chunk = wave[k * rate // fps: (k + 1) * rate // fps].reshape(1, -1)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
            af.sample_rate, af.pts, af.time_base = rate, k * rate // fps, Fraction(1, rate)
            out.mux(a.encode(af))
        out.mux(v.encode(None))
        out.mux(a.encode(None))
    return path


# ----------------------------------------------------------------------------- the corpus

# What a correct answer says, by file: words its one-line refusal must hold, or None: a sound
# prediction (finite probabilities; warnings allowed, and `warn` words required where given).
REFUSED = {
    "one_hz.wav": "sample rate 1 Hz",
    "huge_rate.wav": "sample rate 2000000000 Hz",
    "many_channels.wav": "channels",
    "ch64.wav": "64 channels",
    "huge.png": "12000x12000 px",
    "bomb.png": "too large",
    "cut.png": "12000x12000 px",
    "gif.png": "not an image",
    "wide.png": "60000x1 px",
    "bigframe.mp4": "4000x3000 px",
    "strip.mp4": "2000x16 px",
    "cut.mp4": "truncated or corrupt",
    "zeros.wav": "truncated or corrupt",
    "empty.mp4": "empty file",
    "notes.mp4": "not a media file",
}
SOUND = {  # name -> words one of its warnings must hold ("" for none required)
    "far_apart.mkv": "long clip",
    "many_frames.mp4": "decode limit",
    "short_gops.mp4": "",
    "nan.wav": "NaN or infinite",
    "all_nan.wav": "NaN or infinite",
    "loud.wav": "",
    "tiny_packets.mkv": "packets",
    "big_ok.png": "",
    "cut.mkv": "truncated",
    "clip.mkv": "",
}


def media_corpus(folder: Path) -> dict[str, str | None]:
    """Write every hostile file into `folder` (about 2 s): {name: words its refusal must
    hold, or None when it must give a sound prediction}."""
    folder.mkdir(parents=True, exist_ok=True)
    far_apart_mkv(folder / "far_apart.mkv")
    many_frames_mp4(folder / "many_frames.mp4")
    many_frames_mp4(folder / "short_gops.mp4", gop=None)
    raw_wav(folder / "one_hz.wav", _tone(3500, 1.0, 0.1), 1)
    raw_wav(folder / "huge_rate.wav", _tone(4000, 2_000_000_000), 2_000_000_000)
    raw_wav(folder / "many_channels.wav", np.repeat(_tone(800, 8000), 1000, axis=1), 8000)
    raw_wav(folder / "ch64.wav", np.repeat(_tone(800, 8000), 64, axis=1), 8000)
    nan = _tone(16000, 16000)
    nan[::7], nan[3::11] = np.nan, np.inf
    raw_wav(folder / "nan.wav", nan, 16000, float32=True)
    raw_wav(folder / "all_nan.wav", np.full((16000, 1), np.nan, np.float32), 16000, float32=True)
    raw_wav(folder / "loud.wav", _tone(16000, 16000) * 1e30, 16000, float32=True)
    huge_png(folder / "huge.png")
    huge_png(folder / "big_ok.png", side=7000)  # 49 Mpx: the largest kind of picture accepted
    bomb_png(folder / "bomb.png")
    gif_as_png(folder / "gif.png")
    wide_png(folder / "wide.png")
    (folder / "cut.png").write_bytes((folder / "huge.png").read_bytes()[:2000])
    data = (folder / "many_frames.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    av_mkv(folder / "clip.mkv")
    data = (folder / "clip.mkv").read_bytes()
    (folder / "cut.mkv").write_bytes(data[: len(data) // 2])  # Matroska streams: its first half plays
    _video(folder / "bigframe.mp4", "mp4", "mpeg4", [0.0], size=(4000, 3000))
    _video(folder / "strip.mp4", "mp4", "libx264", [0.0, 0.04], size=(2000, 16))
    tiny_packets_mkv(folder / "tiny_packets.mkv")
    (folder / "zeros.wav").write_bytes(b"RIFF" + b"\x00" * 200)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_bytes(b"shopping list\n- milk\n" * 20)
    return {**{name: words for name, words in REFUSED.items()}, **{name: None for name in SOUND}}


# ----------------------------------------------------------------------------- a model to ask


def model_run(home: Path, run_id: str = "hostile", preprocessing: str = "lab", encoder: str = "tiny") -> str:
    """A run holding one untrained ``dgl`` model with a real preset's sidecar (weights do not
    change what decoding costs): lab = tiny encoders, 16 kHz log-mel, 2 frames of 64 px;
    paper = ResNet-18, 22.05 kHz log-STFT, 224 px (the costliest model we make)."""
    from dgl_engine.config import ModelConfig
    from dgl_engine.data.dataset import Normalization
    from dgl_engine.data.preprocess import feature_specs
    from dgl_engine.models.av_model import build_model
    from dgl_engine.store import RunStore

    store = RunStore(home)
    store.create({}, run_id=run_id, status="finished")
    audio_spec, visual_spec = feature_specs(preprocessing, "folder")
    classes = ["bell", "dog", "drum", "guitar"]
    model = build_model(ModelConfig(encoder=encoder), len(classes), seed=0)
    norm = Normalization(-4.0, 3.0, (0.45, 0.45, 0.45), (0.25, 0.25, 0.25))
    sidecar = {"method": "dgl", "modalities": ["audio", "visual"], "classes": classes,
               "model": {"encoder": encoder, "fusion": "concat", "num_classes": len(classes)},
               "audio_features": audio_spec.to_dict(), "visual_features": visual_spec.to_dict(),
               "normalization": norm.to_dict()}
    store.save_model(run_id, "dgl", model.state_dict(), sidecar)
    return run_id
