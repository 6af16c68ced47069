"""Fixtures for the hostile-input tests: the media corpus and a run with a model to ask."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.hardening.corpus import media_corpus, model_run

MEASURE = Path(__file__).resolve().parent / "measure.py"
# Pages run alone under AppTest import app/_bootstrap.py from app/, as in tests/app/conftest.py.
APP = str(Path(__file__).resolve().parents[2] / "app")
if APP not in sys.path:
    sys.path.append(APP)


from tests.engine.conftest import _one_torch_thread  # noqa: E402,F401  (autouse: one torch thread, as in tests/engine)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    """(folder, {file name: refusal words or None}) of hostile media made at test time."""
    folder = tmp_path_factory.mktemp("hostile-media")
    return folder, media_corpus(folder)


@pytest.fixture(scope="session")
def model_home(tmp_path_factory) -> Path:
    """A run store holding run "hostile": one untrained lab-preset dgl model."""
    home = tmp_path_factory.mktemp("hostile-home")
    model_run(home)
    return home


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under `folder` (to see that nothing changed)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="session")
def measured(corpus, model_home, tmp_path_factory) -> dict:
    """{"results": {file: measure.py's result}, "cwd": the (empty) folder it ran in, "home"
    before/after}: every corpus file through the CLI's predict, each in its own process."""
    import subprocess

    folder, expected = corpus
    cwd = tmp_path_factory.mktemp("hostile-cwd")
    before = tree(model_home)
    r = subprocess.run([sys.executable, str(MEASURE), "--home", str(model_home), "--run", "hostile",
                        *[str(folder / name) for name in sorted(expected)]],
                       cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = {d["file"]: d for d in map(json.loads, r.stdout.splitlines())}
    return {"results": results, "cwd": cwd, "before": before, "after": tree(model_home)}
