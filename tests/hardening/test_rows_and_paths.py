"""One bad row never blocks a dataset; a dataset folder must really lie inside a data root.

The official AVE Annotations.txt (4,143 rows) holds ``Church bell&VWi2ENBuTbw&good&0&0``, an empty
event window, and the loader used to refuse the whole dataset for it. Rows are now skipped and
reported (which line, why) in the catalog's ``skipped`` and ``notes``. The CREMA-D rows are the
real OGM-GE split files (../shared/data/cremad/splits) with bad rows put in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dgl_engine.cli import main
from dgl_engine.config import DataConfig
from dgl_engine.data import registry
from dgl_engine.data.export import write_ave, write_folder
from dgl_engine.errors import ConfigError

OFFICIAL_HEADER = "Category&VideoID&Quality&StartTime&EndTime"
OFFICIAL_BAD_ROW = "Church bell&VWi2ENBuTbw&good&0&0"  # line 2,941 of the official file


def _skipped(info: dict) -> dict[str, str]:
    return {s["file"]: s["reason"] for s in info["skipped"]}


def test_ave_rows_that_cannot_be_used_are_skipped_and_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = write_ave(tmp_path / "ave", num_classes=3, per_class=6, seed=1)
    lines = (root / "Annotations.txt").read_text().splitlines()
    assert lines[0] == OFFICIAL_HEADER  # the exporter writes the official format
    good = lines[1:]
    bad = [OFFICIAL_BAD_ROW, "Church bell&abc&good&5", "Dog&xyz&good&nan&3", "Dog&xyz&good&-1&3", "&xyz&good&0&3",
           "Dog&xyz&good&zero&ten", "Dog&xyz&good&5&3"]
    # Windows line endings, as in the release; an empty line in the middle; trailing ones.
    text = [OFFICIAL_HEADER, *good[:5], bad[0], "", *bad[1:], *good[5:]]
    (root / "Annotations.txt").write_text("\r\n".join(text) + "\r\n\r\n")
    with open(root / "trainSet.txt", "a") as f:
        f.write(OFFICIAL_BAD_ROW + "\n")
    info = registry.describe(DataConfig(dataset="ave", root="ave"))
    skipped = _skipped(info)
    assert skipped["Annotations.txt line 7"] == "empty event window (0-0 s)"
    assert skipped["Annotations.txt line 8"] == "empty line"
    assert skipped["Annotations.txt line 9"].startswith("expected 5 fields")
    assert "seconds from 0" in skipped["Annotations.txt line 10"] and "seconds from 0" in skipped["Annotations.txt line 11"]
    assert skipped["Annotations.txt line 12"] == "empty category or video id"
    assert "must be seconds" in skipped["Annotations.txt line 13"]
    assert skipped["Annotations.txt line 14"] == "the event window ends before it starts (5-3 s)"
    assert any(k.startswith("trainSet.txt line") and v.startswith("empty event window") for k, v in skipped.items())
    assert len(skipped) == 9 and info["annotations"]["skipped_rows"] == 9
    assert any(n.startswith("9 rows of the annotation and split files skipped (e.g. Annotations.txt line 7: empty event window")
               for n in info["notes"])
    assert info["total"] == 18  # every good row is still there
    registry.check_root(DataConfig(dataset="ave", root="ave"))


def test_ave_with_no_usable_row_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = write_ave(tmp_path / "ave", num_classes=2, per_class=6, seed=1)
    (root / "Annotations.txt").write_text(f"{OFFICIAL_HEADER}\n{OFFICIAL_BAD_ROW}\n")
    with pytest.raises(ConfigError, match=r"no usable rows \(e.g. Annotations.txt line 2: empty event window"):
        registry.check_root(DataConfig(dataset="ave", root="ave"))


def test_cremad_real_split_files_with_bad_rows(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    root = tmp_path / "cremad"
    (root / "splits").mkdir(parents=True)
    (root / "VideoFlash").symlink_to(shared_data / "cremad" / "VideoFlash", target_is_directory=True)
    (root / "AudioWAV").symlink_to(shared_data / "cremad" / "AudioWAV_resampled", target_is_directory=True)
    train = (shared_data / "cremad" / "splits" / "train.csv").read_bytes().split(b"\r\n")
    assert len(train) == 6698 + 1  # the real file: rows clip,EMOTION with CRLF
    train[100:100] = [b"1001_DFA_ANG_XX;ANG", b"", b"1001_DFA_NEU_XX,SAD"]  # lines 101-103
    (root / "splits" / "train.csv").write_bytes(b"\r\n".join(train))
    shutil.copy(shared_data / "cremad" / "splits" / "test.csv", root / "splits" / "test.csv")
    info = registry.describe(DataConfig(dataset="cremad", root="cremad"))
    skipped = _skipped(info)
    assert "expected 'clip,EMOTION'" in skipped["train.csv line 101"]
    assert skipped["train.csv line 102"] == "empty line"
    assert skipped["train.csv line 103"] == "1001_DFA_NEU_XX is labelled SAD, but its name says NEU"
    assert info["split_files"]["skipped_rows"] == 3
    assert info["counts"]["train"]["ANG"] + info["counts"]["val"]["ANG"] == 1  # the real rows still count
    assert info["split_files"]["missing"] == {"train": 6698 - 4, "test": 744 - 2}


def test_avmnist_recordings_with_bad_names_are_reported(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path))
    rec = tmp_path / "avmnist" / "recordings"
    rec.mkdir(parents=True)
    for wav in sorted((shared_data / "fsdd-test" / "recordings").glob("*.wav"))[:60]:
        (rec / wav.name).symlink_to(wav)
    (rec / "hello.wav").write_bytes(b"")
    (rec / "1_x.wav").write_bytes(b"")
    for f in (shared_data / "mnist-test").glob("t10k-*"):
        (tmp_path / "avmnist" / f.name).symlink_to(f)
    info = registry.describe(DataConfig(dataset="avmnist", root="avmnist"))
    assert {s["file"] for s in info["skipped"]} == {"recordings/hello.wav", "recordings/1_x.wav"}
    assert any(n.startswith("2 files in recordings/ skipped") for n in info["notes"])


def test_an_mnist_gzip_bomb_is_refused(tmp_path, monkeypatch):
    import gzip

    from dgl_engine import limits
    from dgl_engine.data.avmnist import read_idx

    monkeypatch.setattr(limits, "MAX_IDX_BYTES", 1000)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01" + (5000).to_bytes(4, "big") + bytes(5000))
    with pytest.raises(ConfigError, match="once decompressed"):
        read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz")


# ----------------------------------------------------------------------------- paths


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data, outside = tmp_path / "data", tmp_path / "outside"
    write_folder(data / "mine", num_classes=2, per_class=4)
    write_folder(outside / "theirs", num_classes=2, per_class=4)
    (data / "evil").symlink_to(outside / "theirs", target_is_directory=True)  # escapes the root
    (data / "alias").symlink_to(data / "mine", target_is_directory=True)  # stays inside
    monkeypatch.setenv("DGL_LAB_DATA", str(data))
    return data, outside


def test_a_link_out_of_the_data_root_is_neither_offered_nor_accepted(roots, tmp_path, capsys):
    data, outside = roots
    offered = {Path(d["root"]).name for d in registry.discover()}
    assert offered == {"mine", "alias"}
    for typed in ("evil", str(data / "evil"), "evil/.", "mine/../evil"):
        with pytest.raises(ConfigError, match=r"outside the data roots \(a link to .*theirs\)"):
            registry.resolve_root(typed)
    assert registry.resolve_root("alias") == data / "alias"
    home = tmp_path / "home"
    home.mkdir()
    assert main(["train", "--dataset", "folder", "--root", "evil", "--home", str(home)]) == 2
    assert "outside the data roots" in capsys.readouterr().err and list(home.iterdir()) == []


def test_files_inside_a_dataset_folder_may_link_elsewhere(roots):
    """A dataset's own layout may use links (a shared AudioWAV/, a split folder kept apart):
    the dataset folder is what is vouched for by being in a data root."""
    data, outside = roots
    some_class = next(d for d in sorted((outside / "theirs").iterdir()) if d.is_dir())
    (data / "mine" / "extra").symlink_to(some_class, target_is_directory=True)
    info = registry.describe(DataConfig(dataset="folder", root="mine"))
    assert "extra" in info["classes"]


def test_a_splits_folder_may_not_climb_out_of_the_dataset(tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path / "data"))
    root = tmp_path / "data" / "cremad"
    root.mkdir(parents=True)
    (root / "VideoFlash").symlink_to(shared_data / "cremad" / "VideoFlash", target_is_directory=True)
    shutil.copytree(shared_data / "cremad" / "splits", tmp_path / "splits")
    with pytest.raises(ConfigError, match="splits folder '../../splits' not found"):
        registry.check_root(DataConfig(dataset="cremad", root="cremad", splits="../../splits"))
