"""dgl_engine.data.encode: WAV / PNG / MP4 writers, read back through dgl_engine.data.decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dgl_engine import compat  # noqa: F401
import av

from dgl_engine.data import encode
from dgl_engine.data.decode import decode_clip, probe
from tests.data.media_helpers import blocky_frames, dominant_hz, sine


def test_write_mp4_round_trip(tmp_path: Path):
    fps, rate = 6.0, 16000
    frames = blocky_frames(12, 24, 32)
    wave = sine(440, 2.0, rate)
    path = tmp_path / "sample.mp4"
    encode.write_mp4(path, torch.from_numpy(frames), fps, torch.from_numpy(wave), rate)
    info = probe(path)
    assert info["codecs"] == ["h264", "aac"] and info["video"]["fps"] == 6.0
    assert (info["video"]["width"], info["video"]["height"]) == (128, 96)  # enlarged x4 to >= 128
    clip = decode_clip(path, rate, fps)
    assert clip.warnings == () and clip.frames.shape == (12, 96, 128, 3)
    back = clip.frames.numpy().astype(float).reshape(12, 24, 4, 32, 4, 3).mean(axis=(2, 4))
    assert np.abs(back - frames).mean() < 6
    assert abs(clip.waveform.shape[0] - wave.shape[0]) <= 0.05 * rate
    assert dominant_hz(clip.waveform, rate) == pytest.approx(440, abs=2)
    n = min(clip.waveform.shape[0], wave.shape[0])
    assert np.corrcoef(clip.waveform.numpy()[:n], wave[:n])[0, 1] > 0.99  # no time shift
    assert clip.duration == pytest.approx(2.0, abs=0.05)


def test_write_mp4_odd_sizes_and_rates(tmp_path: Path):
    frames = np.random.default_rng(1).integers(0, 256, (3, 301, 199, 3), dtype=np.uint8)
    # 11 kHz: AAC has no such rate, so it is encoded at 11025 Hz and resampled back on decode.
    encode.write_mp4(tmp_path / "odd.mp4", frames, 29.97, sine(300, 0.1, 11000), 11000)
    info = probe(tmp_path / "odd.mp4")
    assert (info["video"]["width"], info["video"]["height"]) == (200, 302)  # padded to even
    assert info["video"]["fps"] == pytest.approx(29.97, abs=0.01)
    clip = decode_clip(tmp_path / "odd.mp4", 11000, 29.97, max_side=None)
    assert clip.frames.shape == (3, 302, 200, 3) and abs(clip.waveform.shape[0] - 1100) < 50


@pytest.mark.parametrize("available", [("mpeg4", "libopus"), ("mpeg4", "mp2")])
def test_write_mp4_fallback_encoders(tmp_path: Path, monkeypatch, available):
    hidden = {"libx264", "h264", "aac", "libopus"} - set(available)
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - hidden)
    encode.write_mp4(tmp_path / "fb.mp4", blocky_frames(4, 32, 32), 4.0, sine(440, 1.0, 16000), 16000)
    # MP4 tags MP2 as "MPEG-1 audio", which FFmpeg hands to its mp3 decoder (it decodes layer II too).
    expected = {"libopus": ("opus",), "mp2": ("mp2", "mp3float")}[available[1]]
    codecs = probe(tmp_path / "fb.mp4")["codecs"]
    assert codecs[0] == "mpeg4" and codecs[1] in expected
    clip = decode_clip(tmp_path / "fb.mp4", 16000, 4.0)
    assert clip.frames.shape[0] == 4 and dominant_hz(clip.waveform, 16000) == pytest.approx(440, abs=3)
    assert abs(clip.waveform.shape[0] - 16000) <= 800


def test_write_wav_round_trip(tmp_path: Path):
    wave = sine(1000, 0.5, 8000, amp=0.9)
    wave[10] = 1.5  # clipped on write
    encode.write_wav(tmp_path / "tone.wav", torch.from_numpy(wave), 8000)
    clip = decode_clip(tmp_path / "tone.wav", 8000, 1.0)
    assert clip.waveform.shape == wave.shape and clip.frames is None
    assert np.abs(clip.waveform.numpy() - np.clip(wave, -1, 1)).max() < 1e-4
    up = decode_clip(tmp_path / "tone.wav", 22050, 1.0)  # resampled on decode
    assert up.waveform.shape[0] == pytest.approx(11025, abs=5)
    assert dominant_hz(up.waveform, 22050) == pytest.approx(1000, abs=3)
