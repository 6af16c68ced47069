"""The decoder's bounds, in process: what is skipped gives the same pictures as decoding all,
NaN samples are cleaned without silencing their neighbours, limits hold for bytes uploads too."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from dgl_engine import limits
from dgl_engine.data import demux
from dgl_engine.data.decode import MediaError, decode_clip
from tests.data.media_helpers import needs_data, real_clips
from tests.hardening.corpus import _tone, _video, many_frames_mp4, raw_wav


def _decode_all(monkeypatch):
    """Make the feeder decode every packet (the reference the skipping must agree with)."""
    def feed(self, packet):
        self.pending.append(packet)
        self.decode_pending()
    monkeypatch.setattr(demux.VideoFeeder, "feed", feed)


def _count_decoded(monkeypatch) -> list[int]:
    seen = [0]
    original = demux.FrameSampler.feed

    def feed(self, frame):
        seen[0] += 1
        return original(self, frame)
    monkeypatch.setattr(demux.FrameSampler, "feed", feed)
    return seen


def _made_clips(folder: Path) -> list[Path]:
    return [
        _video(folder / "intra.mp4", "mp4", "libx264", [k / 100 for k in range(400)], gop=1, time_base=Fraction(1, 100), rate=100),
        _video(folder / "gop7.mkv", "matroska", "libx264", [k / 50 for k in range(300)], gop=7),
        _video(folder / "mpeg4.avi", "avi", "mpeg4", [k / 25 for k in range(150)], gop=12, time_base=Fraction(1, 25)),
        many_frames_mp4(folder / "short_gops.mp4", n=2000, gop=None),
    ]


@pytest.mark.parametrize("fps", [0.5, 1.0, 3.0])
def test_skipping_groups_gives_the_frames_decoding_all_gives(tmp_path, monkeypatch, fps):
    clips = _made_clips(tmp_path) + [p for p in real_clips() if p.suffix != ".flv"][:3]
    skipped = {p.name: decode_clip(p, 16000, fps) for p in clips}
    _decode_all(monkeypatch)
    for p in clips:
        full = decode_clip(p, 16000, fps)
        assert torch.equal(full.frames, skipped[p.name].frames), p.name
        assert full.warnings == skipped[p.name].warnings and full.duration == skipped[p.name].duration


def test_groups_without_a_sampled_time_are_not_decoded(tmp_path, monkeypatch):
    path = many_frames_mp4(tmp_path / "short_gops.mp4", n=5000, gop=None)  # 10 s at 500 fps, keyframe every 250
    seen = _count_decoded(monkeypatch)
    clip = decode_clip(path, 16000, 1.0)
    assert clip.frames.shape[0] == 10 and clip.warnings == ("no audio stream: visual only",)
    # Of 5,000: two frames at each of 10 sampled times, and the last group whole (its frames
    # say where the clip ends).
    assert seen[0] <= 2 * 10 + 250


def test_decode_budget_stops_a_single_group(tmp_path, monkeypatch):
    path = many_frames_mp4(tmp_path / "one_gop.mp4", n=5000)  # one keyframe: nothing can be skipped
    seen = _count_decoded(monkeypatch)
    clip = decode_clip(path, 16000, 1.0)
    assert seen[0] == limits.MAX_DECODED_FRAMES
    assert any("decode limit" in w for w in clip.warnings) and clip.frames.shape[0] == 6


def test_kept_frames_are_capped(tmp_path):
    path = _video(tmp_path / "v.mkv", "matroska", "libx264", [k / 25 for k in range(25 * 12)])  # 12 s
    clip = decode_clip(path, 16000, 30.0)
    assert clip.frames.shape[0] == limits.MAX_KEPT_FRAMES
    assert any(f"first {limits.MAX_KEPT_FRAMES} pictures" in w for w in clip.warnings)
    assert decode_clip(path, 16000, 30.0, max_frames=10).frames.shape[0] == 10  # a caller's own cap: no warning
    assert decode_clip(path, 16000, 1.0, max_seconds=10**9).duration <= limits.MAX_DECODE_SECONDS


def test_nan_samples_are_cleaned_where_they_are(tmp_path):
    wave = _tone(16000, 16000)
    wave[5000:5010] = np.nan
    wave[9000] = np.inf
    raw_wav(tmp_path / "nan.wav", wave, 16000, float32=True)
    clip = decode_clip(tmp_path / "nan.wav", 16000, 1.0)
    got = clip.waveform.numpy()
    assert np.isfinite(got).all() and np.allclose(got[:5000], wave[:5000, 0], atol=1e-6)
    assert (got[5000:5010] == 0).all() and got[9000] == 0
    assert any(w.startswith("11 audio samples were NaN or infinite") for w in clip.warnings)
    resampled = decode_clip(tmp_path / "nan.wav", 8000, 1.0).waveform.numpy()  # the neighbours survive resampling
    assert np.isfinite(resampled).all() and np.abs(resampled).max() > 0.25


@pytest.mark.parametrize("rate, channels, words", [(1, 1, "sample rate 1 Hz"), (500_000, 1, "sample rate 500000 Hz"),
                                                   (8000, 33, "33 channels")])
def test_stream_limits_hold_for_uploads_as_bytes(tmp_path, rate, channels, words):
    raw_wav(tmp_path / "x.wav", np.repeat(_tone(800, max(rate, 1)), channels, axis=1), rate)
    with pytest.raises(MediaError, match=words):
        decode_clip(io.BytesIO((tmp_path / "x.wav").read_bytes()), 16000, 1.0, name="up.wav")


def test_the_largest_accepted_channels_and_rates_decode(tmp_path):
    raw_wav(tmp_path / "x.wav", np.repeat(_tone(4000, limits.MIN_SAMPLE_RATE), limits.MAX_CHANNELS, axis=1), limits.MIN_SAMPLE_RATE)
    clip = decode_clip(tmp_path / "x.wav", 16000, 1.0)
    assert clip.waveform.shape[0] == 16000 and clip.warnings == ()


def test_an_upright_photo_is_turned_as_exif_transpose_does(tmp_path):
    """EXIF rotation as ImageOps.exif_transpose, then the downscale: the pixels it always gave."""
    from PIL import Image, ImageOps

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8).repeat(1, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    img.save(tmp_path / "p.jpg", exif=exif, quality=95)
    clip = decode_clip(tmp_path / "p.jpg", 16000, 1.0, max_side=256)
    with Image.open(tmp_path / "p.jpg") as ref:
        ref = ImageOps.exif_transpose(ref).convert("RGB")
        ref = ref.resize((256, round(256 * 800 / 600)), Image.Resampling.BOX)
    assert tuple(clip.frames.shape) == (1, ref.size[1], ref.size[0], 3)
    assert np.array_equal(clip.frames[0].numpy(), np.asarray(ref))


@needs_data
def test_real_clips_still_decode_without_warnings():
    for path in real_clips():
        clip = decode_clip(path, 16000, 1.0)
        assert not any("limit" in w or "NaN" in w for w in clip.warnings), (path.name, clip.warnings)
