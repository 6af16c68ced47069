"""Decoded clip -> model inputs (dgl_engine.data.inputs) and the one normalisation (Normalization)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dgl_engine.data.dataset import Normalization, Split, normalized_data
from dgl_engine.data.decode import DecodedClip
from dgl_engine.data.features import AudioFeatures, VisualFeatures, audio_features, fit_length, visual_features
from dgl_engine.data.inputs import clip_to_inputs, heard_waveform, load_inputs
from dgl_engine.data.preprocess import build_avdata
from tests.data.media_helpers import data_path, needs_data

# ----------------------------------------------------------------------------- model inputs


@needs_data
def test_clip_to_inputs_shapes():
    flv = data_path("cremad", "VideoFlash", "1001_DFA_HAP_XX.flv")
    lab_a, lab_v = AudioFeatures(), VisualFeatures()
    audio, visual, clip = load_inputs(flv, lab_a, lab_v)
    assert audio.shape == lab_a.shape == (1, 40, 63) and torch.isfinite(audio).all()
    assert visual.shape == lab_v.shape == (1, 3, 32, 32) and 0 <= visual.min() and visual.max() <= 1

    paper_a = AudioFeatures(sample_rate=22050, clip_seconds=3, kind="logstft", n_fft=512,
                            hop_length=353, pad_mode="tile")
    paper_v = VisualFeatures(frames=3, fps=1.0, size=224)
    audio, visual, clip = load_inputs(flv, paper_a, paper_v)
    assert audio.shape == (1, 257, 188) and visual.shape == (3, 3, 224, 224)
    assert clip.sample_rate == 22050 and clip.frames.shape[0] == 2  # ~2 s at 1 fps, repeated to 3

    with pytest.raises(ValueError, match="decoded at 22050 Hz"):
        clip_to_inputs(clip, lab_a, lab_v)
    audio, visual, _ = load_inputs(data_path("clips", "no_audio_part_0.mp4"), lab_a, lab_v)
    assert audio is None and visual.shape == (1, 3, 32, 32)
    audio, visual, _ = load_inputs(data_path("cremad", "AudioMP3", "1002_DFA_SAD_XX.mp3"), lab_a, lab_v)
    assert audio.shape == (1, 40, 63) and visual is None


def test_clip_to_inputs_is_the_feature_code_and_heard_is_what_it_hears():
    g = torch.Generator().manual_seed(0)
    spec_a = AudioFeatures(pad_mode="tile")
    spec_v = VisualFeatures(frames=2, size=24)
    wave = torch.rand(5000, generator=g) * 2 - 1  # shorter than the 8000 samples: tiled
    frames = torch.randint(0, 256, (3, 40, 50, 3), generator=g, dtype=torch.uint8)
    clip = DecodedClip(wave, 8000, frames, 1.0, 1.0, "x.mp4")
    audio, visual = clip_to_inputs(clip, spec_a, spec_v)
    assert torch.equal(audio, audio_features(wave, spec_a)) and torch.equal(visual, visual_features(frames, spec_v))
    heard = heard_waveform(clip, spec_a)
    assert heard.shape == (8000,) and torch.equal(heard, fit_length(wave, 8000, "tile"))
    assert torch.equal(audio_features(heard, spec_a), audio)  # the spectrogram is of exactly these samples
    empty = dataclasses.replace(clip, waveform=torch.zeros(0), frames=None)
    assert clip_to_inputs(empty, spec_a, spec_v) == (None, None) and heard_waveform(empty, spec_a) is None


# ----------------------------------------------------------------------------- normalisation


def _raw(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(n, 1, 8, 9, generator=g) * 3 - 2  # (N, 1, F, T)
    visual = torch.rand(n, 2, 3, 6, 5, generator=g) * torch.tensor([1.0, 0.5, 0.25]).view(3, 1, 1)  # (N, T, 3, H, W)
    return Split(audio, visual, torch.zeros(n, dtype=torch.long))


def test_fit_is_the_training_split_statistics():
    raw = _raw(600)
    norm = Normalization.fit(raw.audio, raw.visual)
    per_channel = raw.visual.transpose(0, 2).reshape(3, -1).double()  # (3, N*T*H*W)
    assert norm.audio_mean == float(raw.audio.mean()) and norm.audio_std == float(raw.audio.std())
    # Small splits are fitted at once in float32 (as the published synthetic figures were), large
    # ones chunk by chunk in float64: float32 rounding, not a different statistic.
    assert norm.visual_mean == pytest.approx(per_channel.mean(1).tolist(), rel=1e-6)
    assert norm.visual_std == pytest.approx(per_channel.std(1).tolist(), rel=1e-6)
    two = [Normalization.fit(raw.audio, raw.visual[i: i + 300]) for i in (0, 300)]
    assert sum(n.visual_mean[0] for n in two) / 2 == pytest.approx(norm.visual_mean[0], rel=1e-6)

    fixed = Normalization.fit(raw.audio, raw.visual, audio_stats=(0.0, 1.0),
                              visual_stats=((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    assert fixed == Normalization(0.0, 1.0, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    flat = Normalization.fit(torch.ones(2, 1, 3, 3), torch.ones(2, 1, 3, 2, 2))
    assert flat.audio_std == pytest.approx(1e-6) and flat.visual_std == pytest.approx((1e-6,) * 3)


def test_apply_in_place_equals_a_copy():
    raw = _raw(40, seed=1)
    norm = Normalization.fit(raw.audio, raw.visual)
    copy = norm.apply(raw)
    work = Split(raw.audio.clone(), raw.visual.clone(), raw.labels)
    done = norm.apply(work, in_place=True)
    assert done.audio.data_ptr() == work.audio.data_ptr() and done.visual.data_ptr() == work.visual.data_ptr()
    assert torch.equal(done.audio, copy.audio) and torch.equal(done.visual, copy.visual)
    assert torch.equal(copy.audio, (raw.audio - norm.audio_mean) / norm.audio_std)
    assert abs(float(copy.visual.transpose(0, 2).reshape(3, -1).mean(1).abs().max())) < 1e-5


def test_synthetic_and_real_datasets_normalise_the_same_way():
    """normalized_data (synthetic) and build_avdata (real datasets, in place) fit and apply
    the one Normalization: same statistics, same tensors."""
    raw = {s: _raw(n, seed=k) for k, (s, n) in enumerate((("train", 50), ("val", 10), ("test", 10)))}
    a, v = AudioFeatures(), VisualFeatures(frames=2, size=6)
    synthetic = normalized_data("x", ["a"], raw, a, v)
    real = build_avdata("x", ["a"], {s: Split(x.audio.clone(), x.visual.clone(), x.labels) for s, x in raw.items()}, a, v, {})
    assert synthetic.normalization == real.normalization
    for s in ("train", "val", "test"):
        assert torch.equal(getattr(synthetic, s).audio, getattr(real, s).audio)
        assert torch.equal(getattr(synthetic, s).visual, getattr(real, s).visual)
    paper = build_avdata("x", ["a"], {s: Split(x.audio.clone(), x.visual.clone(), x.labels) for s, x in raw.items()},
                         dataclasses.replace(a, kind="logstft"), dataclasses.replace(v, mean=(0.4, 0.5, 0.6), std=(0.2, 0.2, 0.2)), {})
    assert paper.normalization == Normalization(0.0, 1.0, (0.4, 0.5, 0.6), (0.2, 0.2, 0.2))
