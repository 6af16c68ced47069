"""Real datasets through the registry: layouts, labels, splits, subsets, data roots, features.

Real files come from ../shared/data (CREMA-D, FSDD, MNIST samples), arranged in temporary
roots with symlinks in each dataset's release layout; folder and AVE datasets are written by
the synthetic exporter. Every test runs with DGL_LAB_DATA set to the temporary data root.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgl_engine.config import DataConfig
from dgl_engine.errors import ConfigError
from dgl_engine.data import registry
from dgl_engine.data.avmnist import read_idx
from dgl_engine.data.catalog import Sample, hold_out, select
from dgl_engine.data.export import write_ave, write_folder
from dgl_engine.data.features import IMAGENET_MEAN, IMAGENET_STD
from dgl_engine.data.inputs import load_inputs
from dgl_engine.data.decode import decode_clip
from dgl_engine.data.preprocess import feature_specs

EMOTIONS = {"ANG", "DIS", "FEA", "HAP", "NEU", "SAD"}


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src, target_is_directory=src.is_dir())


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Path:
    """A data root with exported (synthetic) folder and AVE datasets; real ones are added by
    the `real` fixture."""
    base = tmp_path_factory.mktemp("data")
    write_folder(base / "clips", num_classes=3, per_class=6, seed=0)
    write_ave(base / "ave", num_classes=3, per_class=6, seed=1)
    return base


@pytest.fixture(scope="module")
def real(roots: Path, shared_data: Path) -> Path:
    """CREMA-D in the release layout (AudioWAV = the resampled WAVs), CREMA-D without AudioWAV
    (FLV sound), CREMA-D in the official code's layout (Image-01-FPS), and AV-MNIST."""
    c = shared_data / "cremad"
    if not (roots / "cremad").exists():
        _link(c / "AudioWAV_resampled", roots / "cremad" / "AudioWAV")
        _link(c / "VideoFlash", roots / "cremad" / "VideoFlash")
        _link(c / "splits", roots / "cremad" / "splits")
        _link(c / "VideoFlash", roots / "cremad_flv" / "VideoFlash")
        _link(c / "splits" / "train.csv", roots / "cremad_flv" / "train.csv")
        _link(c / "splits" / "test.csv", roots / "cremad_flv" / "test.csv")
        official = roots / "cremad_official"
        for flv in sorted((c / "VideoFlash").glob("*.flv")):
            _link(c / "AudioWAV_resampled" / f"{flv.stem}.wav", official / f"{flv.stem}.wav")
            frames = decode_clip(flv, 16000, 1.0).frames
            (official / "Image-01-FPS" / flv.stem).mkdir(parents=True)
            for k, frame in enumerate(frames):
                Image.fromarray(frame.numpy()).save(official / "Image-01-FPS" / flv.stem / f"{k + 1:05d}.jpg")
        _link(shared_data / "fsdd-test" / "recordings", roots / "avmnist" / "recordings")
        for f in (shared_data / "mnist-test").glob("t10k-*"):
            _link(f, roots / "avmnist" / f.name)
    return roots


@pytest.fixture(autouse=True)
def data_env(roots: Path, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(roots))


def cfg(dataset: str, root: str, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, preprocessing=kw.pop("preset", "lab"), root=root, **kw)


def clips_by_split(info: dict) -> dict[str, int]:
    return {s: sum(c.values()) for s, c in info["counts"].items()}


# ----------------------------------------------------------------------------- CREMA-D


def test_cremad_labels_and_ogm_splits(real: Path):
    info = registry.describe(cfg("cremad", "cremad"))
    assert info["dataset"] == "cremad" and info["classes"] == ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]
    assert "AudioWAV" in info["layout"] and "VideoFlash" in info["layout"] and "train.csv" in info["layout"]
    # Actor 1001 (video + audio): ANG/DIS/FEA/NEU in train (one carved off for validation), HAP/SAD in test.
    split_of = {p["clip"]: p["split"] for ps in info["previews"].values() for p in ps}
    assert {c[9:12] for c, s in split_of.items() if s == "test"} == {"HAP", "SAD"}
    assert {c[9:12] for c, s in split_of.items() if s != "test"} == {"ANG", "DIS", "FEA", "NEU"}
    assert all(c.startswith("1001_") for c in split_of)
    assert clips_by_split(info) == {"train": 3, "val": 1, "test": 2}
    # The 1002 clips have audio only: skipped with the reason; the CSVs' other clips are counted.
    assert sorted(s["file"] for s in info["skipped"]) == [f"AudioWAV/1002_DFA_{e}_XX.wav" for e in sorted(EMOTIONS)]
    assert all("no video" in s["reason"] for s in info["skipped"])
    assert info["split_files"]["missing"] == {"train": 6698 - 4, "test": 744 - 2}
    assert any("7436 clips listed" in n for n in info["notes"])


def test_cremad_previews_name_real_files(real: Path):
    info = registry.describe(cfg("cremad", "cremad"))
    for label, previews in info["previews"].items():
        for p in previews:
            assert p["clip"][9:12] == label
            assert Path(p["audio"]).is_file() and p["audio"].endswith(".wav")
            assert Path(p["visual"]).is_file() and p["visual"].endswith(".flv")


def test_cremad_features_lab(real: Path, tmp_path: Path):
    data = registry.load_real(cfg("cremad", "cremad"), seed=0, home=tmp_path)
    a_spec, v_spec = feature_specs("lab", "cremad")
    assert data.train.audio.shape[1:] == a_spec.shape == (1, 64, 188)
    assert data.train.visual.shape[1:] == v_spec.shape == (2, 3, 64, 64)
    assert [len(data.train), len(data.val), len(data.test)] == [3, 1, 2]
    assert sorted(data.classes[i] for i in data.test.labels.tolist()) == ["HAP", "SAD"]
    # lab: the training split's statistics
    assert abs(float(data.train.audio.mean())) < 1e-4 and abs(float(data.train.audio.std()) - 1) < 1e-3
    assert data.info["skipped_total"] == 6 and data.info["failed"] == 0
    assert data.summary()["clips"] == {"train": 3, "val": 1, "test": 2}


def test_cremad_paper_preset_matches_the_official_pipeline(real: Path, tmp_path: Path):
    data = registry.load_real(cfg("cremad", "cremad", preset="paper"), seed=0, home=tmp_path)
    assert data.train.audio.shape[1:] == (1, 257, 188)  # 22,050 Hz x 3 s, STFT 512/353
    assert data.train.visual.shape[1:] == (1, 3, 224, 224)
    assert data.audio_spec.sample_rate == 22050 and data.audio_spec.kind == "logstft"
    n = data.normalization
    assert n.visual_mean == IMAGENET_MEAN and n.visual_std == IMAGENET_STD
    assert data.visual_spec.mean == IMAGENET_MEAN and data.visual_spec.std == IMAGENET_STD
    assert (n.audio_mean, n.audio_std) == (0.0, 1.0)  # the official code feeds the log-STFT as is


def test_cached_features_equal_what_prediction_computes(real: Path, tmp_path: Path, shared_data: Path):
    """A clip in the dataset and the same clip uploaded for prediction give the same inputs."""
    data = registry.load_real(cfg("cremad", "cremad_flv"), seed=0, home=tmp_path)
    clip = "1001_DFA_HAP_XX"
    (i,) = [k for k, label in enumerate(data.test.labels.tolist()) if data.classes[label] == "HAP"]
    audio, visual, _ = load_inputs(shared_data / "cremad" / "VideoFlash" / f"{clip}.flv", data.audio_spec, data.visual_spec)
    norm = data.normalization
    assert torch.allclose(data.test.audio[i], norm.audio(audio), atol=1e-4)
    assert (data.test.visual[i] - norm.visual(visual)).abs().max() < 1.0 / 255 / min(norm.visual_std) + 1e-4


def test_cremad_sound_from_the_flv_when_audiowav_is_absent(real: Path, tmp_path: Path):
    info = registry.describe(cfg("cremad", "cremad_flv"))
    assert "FLV audio track" in info["layout"] and info["skipped"] == []
    assert clips_by_split(info) == {"train": 3, "val": 1, "test": 2}  # CSVs in the root
    flv = registry.load_real(cfg("cremad", "cremad_flv"), seed=0, home=tmp_path)
    wav = registry.load_real(cfg("cremad", "cremad"), seed=0, home=tmp_path)
    # Same recordings (FLV's MP3 at 44.1 kHz vs the 16 kHz WAV): spectrograms agree closely.
    a = flv.test.audio * flv.normalization.audio_std + flv.normalization.audio_mean
    b = wav.test.audio * wav.normalization.audio_std + wav.normalization.audio_mean
    corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
    assert corr > 0.9, corr


def test_cremad_official_code_layout(real: Path, tmp_path: Path):
    info = registry.describe(cfg("cremad", "cremad_official"))
    assert "Image-01-FPS" in info["layout"] and "seeded split" in info["layout"]
    assert info["total"] == 6
    assert all(Path(p["visual"]).is_dir() for ps in info["previews"].values() for p in ps)
    data = registry.load_real(cfg("cremad", "cremad_official"), seed=0, home=tmp_path)
    assert len(data.train) + len(data.val) + len(data.test) == 6
    assert data.train.visual.shape[1:] == (2, 3, 64, 64)


def test_cremad_split_file_errors(real: Path, tmp_path: Path, monkeypatch, shared_data: Path):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = tmp_path / "cremad"
    _link(shared_data / "cremad" / "VideoFlash", root / "VideoFlash")
    (root / "splits").mkdir()
    (root / "splits" / "train.csv").write_text("1001_DFA_ANG_XX,ANG\n")
    with pytest.raises(ConfigError, match="found train.csv but not test.csv"):
        registry.check_root(cfg("cremad", str(root)))
    # Malformed rows are skipped and reported (which line, why); the usable ones are used.
    (root / "splits" / "train.csv").write_text("1001_DFA_ANG_XX,ANG\r\n1001_DFA_DIS_XX,DIS\r\n\r\n1001_DFA_FEA_XX,FEA\r\n"
                                               "1001_DFA_NEU_XX,NEU\r\n\r\n")
    (root / "splits" / "test.csv").write_text("1001_DFA_HAP_XX,HAP\nnot a row\n1001_DFA_SAD_XX,HAP\n1001_DFA_ANG_XX,ANG\n")
    info = registry.describe(cfg("cremad", str(root)))
    skipped = {s["file"]: s["reason"] for s in info["skipped"]}
    assert "expected 'clip,EMOTION'" in skipped["test.csv line 2"]
    assert skipped["test.csv line 3"] == "1001_DFA_SAD_XX is labelled HAP, but its name says SAD"
    assert skipped["train.csv line 3"] == "empty line" and "train.csv line 6" not in skipped  # a trailing one is not
    assert "listed in both" in skipped["1001_DFA_ANG_XX"]
    assert any(n.startswith("4 rows of train.csv / test.csv skipped (e.g. ") for n in info["notes"])
    assert info["split_files"]["skipped_rows"] == 4
    assert clips_by_split(info) == {"train": 2, "val": 1, "test": 1}  # DIS FEA NEU, HAP
    (root / "splits" / "train.csv").write_text("not a row\n")
    (root / "splits" / "test.csv").write_text("1001_DFA_HAP_XX,SAD\n")
    with pytest.raises(ConfigError, match="list 0 clips, none of the 6 CREMA-D clips"):  # nothing usable is left
        registry.check_root(cfg("cremad", str(root)))
    (root / "splits" / "train.csv").write_text("1090_DFA_ANG_XX,ANG\n")
    (root / "splits" / "test.csv").write_text("1091_DFA_HAP_XX,HAP\n")
    with pytest.raises(ConfigError, match="none of the 6 CREMA-D clips"):
        registry.check_root(cfg("cremad", str(root)))
    with pytest.raises(ConfigError, match="splits folder 'elsewhere' not found in .*; expected a folder with train.csv"):
        registry.check_root(cfg("cremad", str(root), splits="elsewhere"))
    (root / "empty").mkdir()
    with pytest.raises(ConfigError, match="expected train.csv and test.csv .rows clip,EMOTION. in .*empty"):
        registry.check_root(cfg("cremad", str(root), splits="empty"))


def test_cremad_splits_folder_by_name(real: Path, tmp_path: Path, monkeypatch, shared_data: Path):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = tmp_path / "cremad"
    _link(shared_data / "cremad" / "VideoFlash", root / "VideoFlash")
    _link(shared_data / "cremad" / "splits", root / "ogm")
    assert "seeded split" in registry.describe(cfg("cremad", str(root)))["layout"]
    info = registry.describe(cfg("cremad", str(root), splits="ogm"))
    assert "ogm/train.csv" in info["layout"] and clips_by_split(info)["test"] == 2


# ----------------------------------------------------------------------------- splits


def _actors(n_actors: int, per_actor: int = 6) -> list[Sample]:
    return [Sample(clip=f"{1000 + a}_DFA_{e}_XX", label=e, group=str(1000 + a))
            for a in range(n_actors) for e in sorted(EMOTIONS)[:per_actor]]


def test_hold_out_keeps_groups_whole_and_is_seeded():
    samples = _actors(20)
    held = hold_out(samples, 0.1, seed=3, purpose="test")
    actors = {c[:4] for c in held}
    assert len(held) == 12 and len(actors) == 2  # two whole actors, ~10% of clips
    assert all(s.clip in held for s in samples if s.group in actors)
    assert hold_out(samples, 0.1, seed=3, purpose="test") == held
    assert hold_out(samples, 0.1, seed=4, purpose="test") != held


def test_hold_out_by_class_when_groups_are_few():
    samples = _actors(2)  # two actors: too few to hold out whole ones
    held = hold_out(samples, 0.1, seed=0, purpose="val")
    assert sorted(c[9:12] for c in held) == sorted(EMOTIONS)  # one clip of each class


# ----------------------------------------------------------------------------- AV-MNIST


def test_avmnist_pairs_each_recording_with_an_image_of_its_digit(real: Path, shared_data: Path):
    catalog = registry._catalog(cfg("avmnist", "avmnist"), seed=0)
    labels = read_idx(shared_data / "mnist-test" / "t10k-labels-idx1-ubyte.gz")
    assert len(catalog.samples) == 300
    for s in catalog.samples:
        assert s.clip.startswith(f"{s.label}_") and int(labels[s.image]) == int(s.label)
    train_images = {s.image for s in catalog.samples if s.split != "test"}
    test_images = {s.image for s in catalog.samples if s.split == "test"}
    assert not train_images & test_images  # an image never appears in two splits
    again = registry._catalog(cfg("avmnist", "avmnist"), seed=0)
    assert [s.image for s in again.samples] == [s.image for s in catalog.samples]  # seeded
    other = registry._catalog(cfg("avmnist", "avmnist"), seed=1)
    assert [s.image for s in other.samples] != [s.image for s in catalog.samples]


def test_avmnist_holds_out_speakers(real: Path):
    info = registry.describe(cfg("avmnist", "avmnist"))
    assert info["test_speakers"] == ["george"]  # default: the first speaker, alphabetically
    assert clips_by_split(info)["test"] == 50
    catalog = registry._catalog(cfg("avmnist", "avmnist", test_speakers=("theo", "lucas")), seed=0)
    speakers = {split: {s.group for s in catalog.samples if s.split == split} for split in ("train", "val", "test")}
    assert speakers["test"] == {"theo", "lucas"}
    assert not speakers["test"] & (speakers["train"] | speakers["val"])
    # Four training speakers are too few to hold one out for validation; five are enough.
    assert speakers["train"] == speakers["val"] == {"george", "jackson", "nicolas", "yweweler"}
    default = registry._catalog(cfg("avmnist", "avmnist"), seed=0)
    train, val = ({s.group for s in default.samples if s.split == split} for split in ("train", "val"))
    assert len(val) == 1 and len(train) == 4 and not train & val
    with pytest.raises(ConfigError, match="unknown test speaker bob .* found: george, jackson"):
        registry.check_root(cfg("avmnist", "avmnist", test_speakers=("bob",)))


def test_avmnist_features_are_the_spoken_and_written_digit(real: Path, tmp_path: Path, shared_data: Path):
    d = cfg("avmnist", "avmnist", per_class=3)
    data = registry.load_real(d, seed=0, home=tmp_path)
    assert data.train.visual.shape[1:] == (1, 3, 28, 28) and data.train.audio.shape[1:] == (1, 64, 188)
    assert data.train.class_counts(10) == [3] * 10
    catalog = registry._catalog(d, seed=0)
    images = read_idx(shared_data / "mnist-test" / "t10k-images-idx3-ubyte.gz")
    first = next(s for s in catalog.samples if s.split == "test")
    expected = torch.from_numpy(images[first.image].astype(np.float32) / 255)
    got = data.test.visual[0, 0] * torch.tensor(data.normalization.visual_std).view(3, 1, 1) \
        + torch.tensor(data.normalization.visual_mean).view(3, 1, 1)
    for channel in got:  # grey on all three channels
        assert (channel - expected).abs().max() < 2.5 / 255


# ----------------------------------------------------------------------------- folder


def test_folder_written_by_the_synthetic_exporter(roots: Path, tmp_path: Path):
    info = registry.describe(cfg("folder", "clips"))
    assert info["classes"] == ["disk-low-up", "square-high-up", "triangle-low-down"]
    for split, n in (("train", 4), ("val", 1), ("test", 1)):
        assert set(info["counts"][split].values()) == {n}
    data = registry.load_real(cfg("folder", "clips"), seed=0, home=tmp_path)
    assert [len(data.train), len(data.val), len(data.test)] == [12, 3, 3]
    assert data.train.visual.shape[1:] == (2, 3, 64, 64)


def test_folder_with_split_folders(tmp_path: Path, monkeypatch, roots: Path):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    for clip in sorted((roots / "clips").glob("*/*.mp4")):
        k = int(clip.stem[-3:])
        split = "test" if k > 4 else "train"
        _link(clip, tmp_path / "ds" / split / clip.parent.name / clip.name)
    info = registry.describe(cfg("folder", "ds"))
    assert "given splits" in info["layout"]
    assert clips_by_split(info) == {"train": 9, "val": 3, "test": 6}  # val carved from train
    (tmp_path / "ds" / "test").rename(tmp_path / "ds" / "other")
    with pytest.raises(ConfigError, match="found train/ but no test/"):
        registry.check_root(cfg("folder", "ds"))


def test_kinetics_sounds_classes_are_checked(tmp_path: Path, monkeypatch, roots: Path):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    clips = sorted((roots / "clips").glob("*/*.mp4"))
    for i, name in enumerate(["playing_guitar", "Tap Dancing", "blowing-out", "my_dog"]):
        for clip in clips[i * 4: i * 4 + 4]:
            _link(clip, tmp_path / "ks" / name / clip.name)
    assert [d["dataset"] for d in registry.discover()] == ["kinetics-sounds"]
    info = registry.describe(cfg("folder", "ks"))  # detected: most folders are KS classes
    ks = info["kinetics_sounds"]
    assert ks["found"] == ["blowing out candles", "playing guitar", "tap dancing"]
    assert ks["not_kinetics_sounds"] == ["my_dog"] and len(ks["missing"]) == 34 - 3
    assert any("3 of 34 classes found" in n for n in info["notes"])
    (tmp_path / "mine" / "dog").mkdir(parents=True)
    (tmp_path / "mine" / "cat").mkdir()
    for clip in clips[:2]:
        _link(clip, tmp_path / "mine" / "dog" / clip.name)
        _link(clip, tmp_path / "mine" / "cat" / clip.name)
    assert "kinetics_sounds" not in registry.describe(cfg("folder", "mine"))
    with pytest.raises(ConfigError, match="none of the 2 class folders is a Kinetics-Sounds class"):
        registry.check_root(cfg("kinetics-sounds", "mine"))


def test_corrupt_clips_are_skipped_and_reported(tmp_path: Path, monkeypatch, roots: Path):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = tmp_path / "broken"
    shutil.copytree(roots / "clips", root)
    victim = sorted(root.glob("disk-low-up/*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[:300])  # cut inside its header
    (root / "square-high-up" / "notes.mp4").write_text("this is not a video")
    data = registry.load_real(cfg("folder", "broken"), seed=0, home=tmp_path / "home")
    bad = {s["file"]: s["reason"] for s in data.info["skipped"]}
    assert set(bad) == {f"disk-low-up/{victim.name}", "square-high-up/notes.mp4"}
    assert bad[f"disk-low-up/{victim.name}"].startswith(f"{victim.name}: ")
    assert "not a media file" in bad["square-high-up/notes.mp4"]
    assert data.info["failed"] == 2
    assert len(data.train) + len(data.val) + len(data.test) == 18 + 1 - 2


# ----------------------------------------------------------------------------- AVE


def test_ave_annotation_format(roots: Path, tmp_path: Path):
    info = registry.describe(cfg("ave", "ave"))
    assert "official split files" in info["layout"]
    assert clips_by_split(info) == {"train": 12, "val": 3, "test": 3}
    assert info["annotations"] == {"rows": 18, "missing_videos": 0, "missing_examples": [], "unannotated_videos": 0,
                                   "skipped_rows": 0}
    assert all(p["window"] == (0.0, 1.0) for ps in info["previews"].values() for p in ps)
    data = registry.load_real(cfg("ave", "ave"), seed=0, home=tmp_path)
    assert [len(data.train), len(data.val), len(data.test)] == [12, 3, 3]


def test_ave_missing_videos_windows_and_errors(tmp_path: Path, monkeypatch, roots: Path):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = tmp_path / "ave"
    shutil.copytree(roots / "ave", root)
    lines = (root / "Annotations.txt").read_text().splitlines()
    lines.append("Church bell&RUhOCu3LNXM&good&0&10")  # a video the folder lacks
    (root / "Annotations.txt").write_text("\r\n".join(lines) + "\r\n")
    for f in ("trainSet.txt", "valSet.txt", "testSet.txt"):
        (root / f).unlink()
    info = registry.describe(cfg("ave", "ave"))
    assert "seeded split" in info["layout"] and info["total"] == 18
    assert info["annotations"]["missing_videos"] == 1 and any("1 annotated videos" in n for n in info["notes"])
    (root / "Annotations.txt").write_text("Category&VideoID&Quality&StartTime&EndTime\nChurch bell&abc&good&5\n")
    with pytest.raises(ConfigError, match=r"Annotations.txt: no usable rows \(e.g. Annotations.txt line 2: expected 5 fields"):
        registry.check_root(cfg("ave", "ave"))


def test_ave_event_window_selects_the_frames(tmp_path: Path):
    """A window keeps the audio and frames inside it (the event), not the whole video."""
    from dgl_engine.data.encode import write_mp4
    from dgl_engine.data.preprocess import decode_sample

    frames = np.zeros((4, 32, 32, 3), np.uint8)
    frames[2:] = 255  # black for 2 s, then white for 2 s (1 fps)
    wave = np.concatenate([np.zeros(16000), 0.5 * np.sin(np.arange(16000) / 3)])  # silence, then sound
    write_mp4(tmp_path / "v.mp4", frames, 1.0, np.tile(wave, 2)[:64000].astype(np.float32), 16000)
    clip = decode_sample(Sample(clip="v", label="x", visual=str(tmp_path / "v.mp4"), window=(2.0, 4.0)), 16000, 1.0)
    assert clip.frames.shape[0] == 2 and float(clip.frames.float().mean()) > 200
    assert abs(clip.waveform.shape[0] - 32000) <= 1


# ----------------------------------------------------------------------------- subsets


def test_subsets_classes_per_class_fraction(real: Path):
    full = registry._catalog(cfg("avmnist", "avmnist"), seed=0)
    some = registry.describe(cfg("avmnist", "avmnist", classes=("3", "7")))
    assert some["classes"] == ["3", "7"] and set(some["counts"]["train"]) == {"3", "7"}
    few = registry._catalog(cfg("avmnist", "avmnist", per_class=4), seed=0)
    more = registry._catalog(cfg("avmnist", "avmnist", per_class=8), seed=0)
    assert few.counts()["train"] == {str(d): 4 for d in range(10)}
    assert few.counts()["test"] == {str(d): 1 for d in range(10)}  # shrinks in proportion (5 of 20 -> 1 of 4)
    assert {s.clip for s in few.samples} <= {s.clip for s in more.samples}  # nested: cache reuse
    half = registry._catalog(cfg("avmnist", "avmnist", fraction=0.5), seed=0)
    assert half.counts()["train"]["0"] == 10 and half.counts()["test"]["0"] == 3  # 2.5 rounds up
    assert {s.clip: s.split for s in half.samples}.items() <= {s.clip: s.split for s in full.samples}.items()
    with pytest.raises(ConfigError, match="unknown class '11' in .*avmnist; found: 0, 1, 2"):
        registry.check_root(cfg("avmnist", "avmnist", classes=("3", "11")))


def test_class_names_match_loosely(roots: Path):
    catalog = registry._catalog(cfg("folder", "clips", classes=("Disk_Low_Up",)), seed=0)
    assert catalog.classes == ("disk-low-up",)
    assert select(catalog, ("disk low up",)).classes == ("disk-low-up",)


# ----------------------------------------------------------------------------- data roots


def test_real_data_needs_data_roots(monkeypatch, roots: Path):
    monkeypatch.delenv("DGL_LAB_DATA")
    with pytest.raises(ConfigError, match="DGL_LAB_DATA, which is not set"):
        registry.check_root(cfg("folder", str(roots / "clips")))
    assert registry.discover() == []


def test_paths_outside_the_data_roots_are_refused(roots: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    write_folder(outside, num_classes=2, per_class=2)
    for path in (str(outside), f"{roots}/../{outside.parent.name}/{outside.parent.name}", "/etc"):
        with pytest.raises(ConfigError, match="outside the data roots"):
            registry.check_root(cfg("folder", path))
    with pytest.raises(ConfigError, match="no such folder"):
        registry.check_root(cfg("folder", "nothing-here"))
    assert registry.resolve_root("clips") == roots / "clips"  # relative: inside a data root


def test_wrong_layout_and_unknown_dataset(roots: Path):
    with pytest.raises(ConfigError, match=r"not a cremad dataset \(it looks like a folder dataset\); expected AudioWAV"):
        registry.check_root(cfg("cremad", "clips"))
    with pytest.raises(ConfigError, match="unknown dataset 'kinetics'; valid: synthetic, cremad"):
        registry.check_root(cfg("kinetics", "clips"))
    with pytest.raises(ConfigError, match="preset 'default'"):
        registry.check_root(dataclasses.replace(cfg("folder", "clips"), preprocessing="default"))


def test_discover_finds_each_layout(real: Path):
    found = {Path(d["root"]).name: d["dataset"] for d in registry.discover()}
    assert found == {"ave": "ave", "avmnist": "avmnist", "clips": "folder", "cremad": "cremad",
                     "cremad_flv": "cremad", "cremad_official": "cremad"}


# ----------------------------------------------------------------------------- engine


def test_engine_trains_on_a_folder_dataset(roots: Path, tmp_path: Path):
    """The app's path: Engine.submit checks the root, the worker caches (progress events) and trains."""
    from dgl_engine.config import ExperimentConfig, TrainConfig
    from dgl_engine.engine import Engine

    config = ExperimentConfig(data=cfg("folder", "clips"), methods=("joint", "dgl"), device="cpu",
                              train=TrainConfig(epochs=1, batch_size=8, precise_bn_samples=16))
    engine = Engine(home=tmp_path)
    try:
        with pytest.raises(ConfigError, match="unknown class"):
            engine.submit(dataclasses.replace(config, data=cfg("folder", "clips", classes=("x",))))
        run_id = engine.submit(config)
        assert engine.wait(run_id, timeout=300).status == "finished", engine.snapshot(run_id).error
        snap = engine.snapshot(run_id)
        assert any(e.get("phase") == "data" and e.get("message") == "caching features: 18/18 clips"
                   and (e.get("done"), e.get("total")) == (18, 18) for e in snap.events)
    finally:
        engine.shutdown()
