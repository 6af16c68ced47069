"""The paper protocol's data on the real CREMA-D samples, against computations written from the
official loader (dataset/CramedDataset.py): the test image is a squash of the whole frame, the
training crops come from the whole frame, the frame is the clip's first, the sound its first
3 s tiled and clipped, every train.csv clip trains, and the test split knows test.csv's order."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgl_engine import compat  # noqa: F401  (before torchvision)
from torchvision import transforms

from dgl_engine.augment import crop_box, crop_whole_frames
from dgl_engine.config import DataConfig
from dgl_engine.data import registry
from dgl_engine.data.catalog import Sample
from dgl_engine.data.decode import decode_clip
from dgl_engine.data.features import fit_length
from dgl_engine.data.inputs import load_inputs
from dgl_engine.data.official import first_listed_frame
from dgl_engine.data.preprocess import feature_specs

PAPER = dict(dataset="cremad", preprocessing="paper-exact", val_fraction=0.0)


@pytest.fixture(scope="module")
def root(tmp_path_factory, shared_data: Path) -> Path:
    """A data root with the CREMA-D samples in the release layout (the resampled WAVs as AudioWAV)."""
    base = tmp_path_factory.mktemp("paper")
    c, r = shared_data / "cremad", base / "cremad"
    r.mkdir()
    for src, name in ((c / "AudioWAV_resampled", "AudioWAV"), (c / "VideoFlash", "VideoFlash"), (c / "splits", "splits")):
        (r / name).symlink_to(src, target_is_directory=True)
    return base


@pytest.fixture(scope="module")
def data(root: Path, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DGL_LAB_DATA", str(root))
    try:
        yield registry.load_real(DataConfig(root="cremad", **PAPER), seed=0, home=tmp_path_factory.mktemp("home"))
    finally:
        mp.undo()


def official_test_image(flv: Path) -> torch.Tensor:
    """CramedDataset's test transform on the extracted first frame: Resize((224, 224)), ToTensor."""
    frame = decode_clip(flv, 16000, 1.0, max_side=None).frames[0].numpy()  # 00000.jpg, native 480x360
    return transforms.ToTensor()(transforms.Resize(size=(224, 224))(Image.fromarray(frame)))


def unnormalised(x: torch.Tensor, data) -> torch.Tensor:
    n = data.normalization
    return x * torch.tensor(n.visual_std).view(3, 1, 1) + torch.tensor(n.visual_mean).view(3, 1, 1)


def test_every_train_csv_clip_trains_and_none_lands_in_validation(data, root: Path, shared_data: Path, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(root))
    with open(shared_data / "cremad" / "splits" / "train.csv", encoding="utf-8-sig") as f:
        listed = [row[0] for row in csv.reader(f) if row]
    on_disk = {p.stem for p in (shared_data / "cremad" / "VideoFlash").glob("*.flv")}
    official_train = [c for c in listed if c in on_disk]  # CramedDataset: rows whose files exist
    assert len(data.train) == len(official_train) == 4
    counts = registry.describe(DataConfig(root="cremad", **PAPER))["counts"]
    assert {split: sum(c.values()) for split, c in counts.items()} == {"train": 4, "val": 0, "test": 2}
    assert data.val is data.test  # the curves use the test split, as the official loop evaluates
    assert any("validation curves use the test split" in note for note in data.info["notes"])


def test_the_test_image_is_a_squash_of_the_whole_frame(data, shared_data: Path):
    for i, label in enumerate(data.test.labels.tolist()):
        clip = f"1001_DFA_{data.classes[label]}_XX"
        ours = unnormalised(data.test.visual[i, 0], data)  # (3, 224, 224)
        official = official_test_image(shared_data / "cremad" / "VideoFlash" / f"{clip}.flv")
        diff = (ours - official).abs()
        assert diff.mean() < 0.003 and diff.max() < 0.1, (clip, float(diff.mean()), float(diff.max()))
        # ... and not the centre crop the other presets take
        frame = decode_clip(shared_data / "cremad" / "VideoFlash" / f"{clip}.flv", 16000, 1.0, max_side=None).frames[0]
        centre = transforms.ToTensor()(transforms.CenterCrop(224)(transforms.Resize(224)(Image.fromarray(frame.numpy()))))
        assert (ours - centre).abs().mean() > 10 * diff.mean()


def test_the_frame_is_the_clips_first(data, shared_data: Path):
    clip = f"1001_DFA_{data.classes[data.test.labels[0]]}_XX"
    frames = decode_clip(shared_data / "cremad" / "VideoFlash" / f"{clip}.flv", 16000, 1.0, max_side=None).frames
    ours = unnormalised(data.test.visual[0, 0], data)
    squash = [transforms.ToTensor()(transforms.Resize((224, 224))(Image.fromarray(f.numpy()))) for f in frames]
    errors = [float((ours - s).abs().mean()) for s in squash]
    assert int(np.argmin(errors)) == 0, errors


def test_training_keeps_the_whole_frame_and_crops_it_as_torchvision(data):
    frames = data.train_frames
    assert frames.dtype == torch.uint8 and tuple(frames.shape[1:]) == (1, 3, 224, 299)  # 480x360 at 224 rows
    # The crop box: torchvision's RandomResizedCrop.get_params drawn from the same seed.
    for seed in range(20):
        torch.manual_seed(seed)
        official = transforms.RandomResizedCrop.get_params(torch.empty(3, 224, 299), scale=[0.08, 1.0], ratio=[3 / 4, 4 / 3])
        assert crop_box(224, 299, torch.Generator().manual_seed(seed)) == tuple(official)
    # The batch: the official Compose (crop, flip, ToTensor, Normalize) on the same picture.
    n = data.normalization
    official_tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                                      transforms.ToTensor(), transforms.Normalize(n.visual_mean, n.visual_std)])
    picture = Image.fromarray(frames[0, 0].permute(1, 2, 0).numpy())
    torch.manual_seed(3)
    official = official_tf(picture)
    ours = crop_whole_frames(frames[:1], torch.Generator().manual_seed(3), 224, n)[0, 0]
    assert ours.shape == official.shape == (3, 224, 224)
    assert (ours - official).abs().mean() < 0.02  # PIL's and torch's bilinear differ slightly (another seed: ~0.5)


def test_the_sound_is_the_first_three_seconds_tiled_and_clipped(data, shared_data: Path):
    """CramedDataset: np.tile(samples, 3)[:22050 * 3], clipped to [-1, 1], log|STFT(512, 353)| + 1e-7."""
    n = 22050 * 3
    long = torch.linspace(-2, 2, 22050 * 5)  # 5 s, over full scale
    assert torch.equal(fit_length(long, n, "tile", "start"), torch.from_numpy(np.clip(np.tile(long.numpy(), 3)[:n], -1, 1)))
    short = torch.rand(22050 * 2) - 0.5
    assert torch.equal(fit_length(short, n, "tile", "start"), torch.from_numpy(np.tile(short.numpy(), 3)[:n]))
    clip = f"1001_DFA_{data.classes[data.test.labels[0]]}_XX"
    wave = decode_clip(shared_data / "cremad" / "AudioWAV_resampled" / f"{clip}.wav", 22050, 1.0).waveform
    x = torch.from_numpy(np.clip(np.tile(wave.numpy(), 3)[:n], -1, 1))
    stft = torch.stft(x, 512, 353, window=torch.hann_window(512), center=True, pad_mode="reflect", return_complex=True)
    official = torch.log(stft.abs() + 1e-7)  # (257, 188)
    assert torch.allclose(data.test.audio[0, 0], official, atol=1e-3)  # fed as is: no normalisation


def test_the_test_split_knows_the_official_order(data, shared_data: Path):
    with open(shared_data / "cremad" / "splits" / "test.csv", encoding="utf-8-sig") as f:
        listed = [row[0] for row in csv.reader(f) if row]
    ours = [f"1001_DFA_{data.classes[y]}_XX" for y in data.test.labels.tolist()]
    in_file_order = [ours[i] for i in data.test_file_order.tolist()]
    assert in_file_order == [c for c in listed if c in ours]


def test_a_predicted_clip_gets_the_test_splits_input(data, shared_data: Path):
    clip = f"1001_DFA_{data.classes[data.test.labels[0]]}_XX"
    audio, visual, _ = load_inputs(shared_data / "cremad" / "VideoFlash" / f"{clip}.flv", data.audio_spec, data.visual_spec)
    assert visual.shape == (1, 3, 224, 224)
    assert (data.normalization.visual(visual) - data.test.visual[0]).abs().mean() < 0.02


def test_a_folder_of_frames_gives_the_file_os_listdir_lists_first(tmp_path: Path):
    """CramedDataset line 91/96: image_samples = os.listdir(folder); image_samples[0]."""
    folder = tmp_path / "Image-01-FPS" / "1001_DFA_ANG_XX"
    folder.mkdir(parents=True)
    for name in ("00058.jpg", "00000.jpg", "00029.jpg", "notes.txt"):
        (folder / name).write_bytes(b"x")
    spec = feature_specs("paper-exact")[1]
    sample = Sample(clip=folder.name, label="ANG", audio="a.wav", visual=str(folder))
    official = [n for n in os.listdir(folder) if n.endswith(".jpg")][0]
    assert first_listed_frame(sample, spec).visual == str(folder / official)
    assert first_listed_frame(sample, feature_specs("paper")[1]) == sample  # other presets read every frame


@pytest.mark.slow
def test_the_paper_protocol_runs_end_to_end_on_the_samples(root: Path, tmp_path: Path, monkeypatch, capsys):
    """`train --protocol paper --epochs 1` on the samples: two ResNet-18s per method on the CPU."""
    import json

    from dgl_engine.cli import main

    monkeypatch.setenv("DGL_LAB_DATA", str(root))
    code = main(["train", "--dataset", "cremad", "--root", "cremad", "--protocol", "paper", "--epochs", "1",
                 "--methods", "joint,dgl", "--device", "cpu", "--home", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 0 and out["status"] == "finished", out
    assert "train.epochs is 1 where the paper protocol uses 100" in captured.err
    for method in ("joint", "dgl"):
        assert out["methods"][method]["best_epoch"] == 1 and "acc_best_epoch" in out["methods"][method]
        assert "acc_official_subset" not in out["methods"][method]  # 2 test clips: fewer than one batch of 64
    config = json.loads((tmp_path / out["run_id"] / "run.json").read_text())["config"]
    assert config["protocol"] == "paper" and config["protocol_keep"] == ["train.epochs"]
    assert (config["train"]["lr"], config["model"]["encoder"], config["method_params"]["dgl"]["alpha"]) == (0.002, "resnet18", 4.0)
    assert config["data"]["preprocessing"] == "paper-exact" and config["data"]["val_fraction"] == 0.0
