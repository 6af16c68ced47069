"""The built-in synthetic dataset: seeded, balanced, and its reliability knob really removes
(or swaps) the class cue."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from dgl_engine.config import DataConfig, ExperimentConfig, ModalitySettings, SyntheticSettings
from dgl_engine.validate import validate
from dgl_engine.data.synthetic import REGIMES, SAMPLE_RATE, _cue_labels, class_names, generate_raw, load_synthetic, split_sizes

SMALL = SyntheticSettings(samples_per_class=20)


def test_same_seed_same_data_other_seed_other_data():
    for split in ("train", "val", "test"):
        w1, f1, y1 = generate_raw(SMALL, 5, split)
        w2, f2, y2 = generate_raw(SMALL, 5, split)
        assert torch.equal(w1, w2) and torch.equal(f1, f2) and torch.equal(y1, y2)
        w3, f3, _ = generate_raw(SMALL, 6, split)
        assert not torch.equal(w1, w3) and not torch.equal(f1, f3)
    # The three splits are different samples, not copies.
    assert not torch.equal(generate_raw(SMALL, 5, "val")[0], generate_raw(SMALL, 5, "test")[0][: split_sizes(SMALL)["val"] * 6])


def test_test_split_does_not_change_when_train_fraction_does():
    a = dataclasses.replace(SMALL, samples_per_class=40, split=(0.625, 0.125, 0.25))
    b = dataclasses.replace(SMALL, samples_per_class=40, split=(0.5, 0.25, 0.25))
    assert split_sizes(a)["test"] == split_sizes(b)["test"]
    wa, fa, ya = generate_raw(a, 0, "test")
    wb, fb, yb = generate_raw(b, 0, "test")
    assert torch.equal(wa, wb) and torch.equal(fa, fb) and torch.equal(ya, yb)


def test_classes_are_balanced_in_every_split():
    settings = dataclasses.replace(SMALL, num_classes=5)
    sizes = split_sizes(settings)
    for split in ("train", "val", "test"):
        _, _, labels = generate_raw(settings, 0, split)
        assert torch.bincount(labels, minlength=5).tolist() == [sizes[split]] * 5
        assert not torch.equal(labels, labels.sort().values)  # shuffled, not in class order
    assert sum(sizes.values()) == settings.samples_per_class


def test_feature_shapes_and_normalisation():
    data = load_synthetic(dataclasses.replace(SMALL, frames=2, num_classes=4), 0)
    assert data.num_classes == 4 and len(data.classes) == 4
    assert data.classes == class_names(4) and len(set(data.classes)) == 4
    for split in (data.train, data.val, data.test):
        n = len(split)
        assert split.audio.shape == (n, 1, 40, 63)
        assert split.visual.shape == (n, 2, 3, 32, 32)
        assert split.labels.shape == (n,) and split.labels.dtype == torch.long
        assert torch.isfinite(split.audio).all() and torch.isfinite(split.visual).all()
    # Normalised with training statistics: the training split is standardised.
    assert abs(float(data.train.audio.mean())) < 1e-3 and abs(float(data.train.audio.std()) - 1) < 1e-2
    assert data.summary()["audio_shape"] == [1, 40, 63]


@pytest.mark.parametrize("preset", ["default", "audio-dominant", "visual-dominant", "balanced"])
def test_presets_exist_validate_and_generate(preset):
    assert preset in REGIMES
    settings = dataclasses.replace(REGIMES[preset], samples_per_class=10)
    config = ExperimentConfig(data=DataConfig(regime=preset, synthetic=settings))
    validate(config)
    waves, frames, labels = generate_raw(settings, 0, "val")
    assert waves.shape == (labels.numel(), SAMPLE_RATE)
    assert frames.shape == (labels.numel(), settings.frames, 3, 32, 32)
    assert waves.abs().max() <= 1 and frames.min() >= 0 and frames.max() <= 1


def test_visual_dominant_is_the_mirror_of_the_default():
    d, v = REGIMES["default"], REGIMES["visual-dominant"]
    assert d.audio.reliability < 1 and d.visual.reliability == 1
    assert v.visual.reliability < 1 and v.audio.reliability == 1
    assert v.audio.difficulty > v.visual.difficulty
    assert REGIMES["balanced"].visual_colour_cue and not d.visual_colour_cue


def _band_energy(waves: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Fraction of each clip's energy inside each class band's octave (N, bands)."""
    n_bands = math.ceil(num_classes / 2)
    centres = torch.logspace(math.log10(350), math.log10(1800), n_bands)
    power = torch.fft.rfft(waves, dim=1).abs() ** 2
    freqs = torch.fft.rfftfreq(waves.shape[1], 1 / SAMPLE_RATE)
    bands = [power[:, (freqs >= c / math.sqrt(2)) & (freqs <= c * math.sqrt(2))].sum(1) for c in centres]
    return torch.stack(bands, 1) / power.sum(1, keepdim=True)


def test_audio_reliability_zero_with_drop_removes_the_chirp():
    def band_accuracy(reliability):
        settings = SyntheticSettings(audio=ModalitySettings(difficulty=0.5, reliability=reliability), samples_per_class=40)
        waves, _, labels = generate_raw(settings, 0, "train")
        energy = _band_energy(waves, settings.num_classes)  # 6 classes -> 3 bands, band = label % 3
        return float((energy.argmax(1) == labels % 3).float().mean())

    assert band_accuracy(1.0) > 0.65  # the class's chirp band carries the most energy
    assert band_accuracy(0.0) < 0.5  # no chirp: the band is chance (1/3)


def test_dropped_audio_cue_is_the_same_clip_without_its_chirp():
    # In drop mode the reliability changes no random draw, only whether the chirp is added:
    # the same seed gives the same clips (pips, noise) with and without chirps.
    def clips(reliability):
        settings = SyntheticSettings(audio=ModalitySettings(difficulty=0.5, reliability=reliability), samples_per_class=20)
        return generate_raw(settings, 0, "val")

    with_cue, frames_a, labels_a = clips(1.0)
    without, frames_b, labels_b = clips(0.0)
    assert torch.equal(labels_a, labels_b) and torch.equal(frames_a, frames_b)
    # Every clip lost something (a leftover chirp of some default class would leave some equal).
    assert ((with_cue - without).abs().amax(dim=1) > 0.05).all()
    # ... and what it lost sits in its class's band.
    own = _band_energy(with_cue, 6)[torch.arange(len(labels_a)), labels_a % 3]
    own_without = _band_energy(without, 6)[torch.arange(len(labels_a)), labels_a % 3]
    assert (own > own_without).float().mean() > 0.9


def test_visual_reliability_zero_with_drop_shows_no_shape():
    def frames_for(reliability):
        settings = SyntheticSettings(visual=ModalitySettings(difficulty=0.0, reliability=reliability), samples_per_class=10)
        return generate_raw(settings, 0, "train")[1]

    # Difficulty 0: no clutter, no noise; the background is a horizontal gradient, constant
    # down each column, so anything varying down a column is the shape.
    def varies_down_columns(frames):
        return (frames - frames[..., :1, :]).abs().amax(dim=(1, 2, 3, 4)) > 0.05

    assert varies_down_columns(frames_for(1.0)).float().mean() > 0.9
    assert not varies_down_columns(frames_for(0.0)).any()


def test_swap_mode_shows_another_class_cue():
    labels = torch.arange(6).repeat(50)
    g = torch.Generator().manual_seed(0)
    swapped = _cue_labels(labels, ModalitySettings(reliability=0.0, unreliable="swap"), 6, g)
    assert (swapped != labels).all() and ((swapped >= 0) & (swapped < 6)).all()
    dropped = _cue_labels(labels, ModalitySettings(reliability=0.0, unreliable="drop"), 6, g)
    assert (dropped == -1).all()
    half = _cue_labels(labels, ModalitySettings(reliability=0.5, unreliable="drop"), 6, g)
    kept = (half == labels).float().mean()
    assert 0.35 < kept < 0.65 and ((half == labels) | (half == -1)).all()
