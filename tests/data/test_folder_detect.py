"""Folder datasets are audio-visual: class folders of sounds alone are not offered as one."""

from pathlib import Path

from dgl_engine.data import folder


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_sound_only_class_folders_are_not_a_folder_dataset(tmp_path):
    _touch(tmp_path / "recordings" / "0_george_0.wav")
    assert not folder.detect(tmp_path)


def test_class_folders_with_videos_are_a_folder_dataset(tmp_path):
    _touch(tmp_path / "dog" / "a.mp4")
    _touch(tmp_path / "cat" / "b.wav")
    assert folder.detect(tmp_path)


def test_split_layout_with_pictures_is_a_folder_dataset(tmp_path):
    _touch(tmp_path / "train" / "dog" / "a.png")
    _touch(tmp_path / "train" / "dog" / "a.wav")
    assert folder.detect(tmp_path)
