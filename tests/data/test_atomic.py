"""dgl_engine.files.atomic_write: readers see the old file or the whole new one, never a part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from dgl_engine.files import atomic_write, atomic_write_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_writes_through_a_temporary_file_in_the_same_folder(tmp_path):
    seen = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.pt.") and tmp.name.endswith(".tmp")
        assert not (tmp_path / "out.pt").exists()  # the target appears only once complete
        torch.save({"x": torch.arange(3)}, tmp)

    atomic_write(tmp_path / "out.pt", write)
    assert torch.equal(torch.load(tmp_path / "out.pt", weights_only=True)["x"], torch.arange(3))
    assert len(seen) == 1 and _leftovers(tmp_path) == []
    mode = (tmp_path / "out.pt").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # the usual permissions, not mkstemp's private 0600


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "run.json"
    target.write_text("old")

    def write(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise error

    with pytest.raises(type(error)):
        atomic_write(target, write)
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_atomic_write_text_replaces_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "run.json"
    atomic_write_text(target, '{"status": "queued"}')
    atomic_write_text(target, '{"status": "finished", "note": "é"}')
    assert target.read_text(encoding="utf-8") == '{"status": "finished", "note": "é"}'
    assert _leftovers(target.parent) == []
