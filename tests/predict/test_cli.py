"""`python -m dgl_engine predict | samples`: exit 0 with an answer, or exit 2 with one line.

Every real clip and every bad input goes through the CLI's ``main`` in this process (a
subprocess costs seconds of torch import each on a busy 2-core machine); a few representative
calls run the real ``python -m dgl_engine`` in subprocesses, concurrently.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dgl_engine import cli
from dgl_engine.store import RunStore

from tests.predict.conftest import bad_files

REPO = Path(__file__).resolve().parents[2]


def _main(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _real_clips(shared: Path) -> list[Path]:
    return sorted((shared / "clips").iterdir()) + sorted((shared / "cremad" / "VideoFlash").glob("*.flv"))


def _check(rc: int, out: str, err: str, as_json: bool) -> dict | None:
    """Exit 0 with one JSON object (or a readable summary), or exit 2 with one line on stderr."""
    assert rc in (0, 2), (rc, out, err)
    if rc == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
        return None
    if not as_json:
        assert out.strip() and "%" in out.splitlines()[0]
        return None
    assert out.count("\n") == 1
    d = json.loads(out)
    assert {"classes", "fused", "audio", "visual", "used", "warnings"} <= set(d)
    for key in ("fused", "audio", "visual"):
        if d[key] is not None:
            assert abs(sum(d[key]["probs"]) - 1) < 1e-9 and d[key]["label"] in d["classes"]
    return d


def test_every_real_clip_gets_an_answer_or_one_line(capsys, trained_run, shared_data):
    home, run_id = trained_run
    answers = {}
    for path in _real_clips(shared_data):
        rc, out, err = _main(capsys, "predict", "--run", run_id, "--method", "dgl", "--home", home, path, "--json")
        answers[path.name] = _check(rc, out, err, as_json=True)
    assert all(a is not None for a in answers.values()), answers  # all of them are readable clips
    no_audio = answers.pop("no_audio_part_0.mp4")
    assert no_audio["used"] == ["visual"] and no_audio["fused"] is None and no_audio["audio"] is None
    assert any(w.startswith("no sound: answered from visual alone") for w in no_audio["warnings"])
    assert all(a["used"] == ["audio", "visual"] and a["fused"] is not None for a in answers.values())
    multi = answers["nasa_13013.mp4"]["warnings"]
    assert "2 audio streams: used the default one (#4)" in multi


def test_readable_summary(capsys, trained_run, shared_data):
    home, run_id = trained_run
    rc, out, err = _main(capsys, "predict", "--run", run_id, "--method", "joint", "--home", home,
                         shared_data / "clips" / "no_audio_part_0.mp4")
    _check(rc, out, err, as_json=False)
    lines = out.splitlines()
    assert lines[0].startswith("no_audio_part_0.mp4: ") and "from visual alone" in lines[0]
    assert lines[1].lstrip().startswith("visual") and lines[-1].startswith("warning: no sound")


def test_bad_inputs_exit_2_with_one_line(capsys, trained_run, tmp_path, shared_data):
    home, run_id = trained_run
    for path, words in bad_files(tmp_path, shared_data).items():
        for extra in ((), ("--json",)):
            rc, out, err = _main(capsys, "predict", "--run", run_id, "--method", "dgl", "--home", home, path, *extra)
            _check(rc, out, err, as_json=bool(extra))
            assert rc == 2 and words in err, (path.name, err)


@pytest.mark.parametrize("argv, words", [
    (["--run", "nope", "--method", "dgl"], "no run 'nope'"),
    (["--run", "{run}", "--method", "ogm-ge"], "no trained model for method 'ogm-ge'; trained: dgl, joint"),
    (["--run", "{run}", "--method", "dgl", "--image", "{missing}"], "missing.png: file not found"),
    (["--method", "dgl"], "required: --run"),
])
def test_unknown_run_method_or_arguments(capsys, trained_run, tmp_path, shared_data, argv, words):
    home, run_id = trained_run
    argv = [a.format(run=run_id, missing=tmp_path / "missing.png") for a in argv]
    rc, out, err = _main(capsys, "predict", *argv, "--home", home, shared_data / "clips" / "example2.mp4")
    _check(rc, out, err, as_json=False)
    assert rc == 2 and words in err, err


def test_sound_and_image(capsys, trained_run, tmp_path):
    from dgl_engine.data import encode
    import numpy as np

    home, run_id = trained_run
    encode.write_wav(tmp_path / "tone.wav", 0.3 * np.sin(np.arange(8000) * 0.3), 8000)
    encode.write_png(tmp_path / "grey.png", np.full((48, 64, 3), 120, np.uint8))
    rc, out, err = _main(capsys, "predict", "--run", run_id, "--method", "dgl", "--home", home,
                         tmp_path / "tone.wav", "--image", tmp_path / "grey.png", "--json")
    d = _check(rc, out, err, as_json=True)
    assert d["used"] == ["audio", "visual"] and d["fused"] is not None and d["warnings"] == []


def test_samples_for_a_real_dataset_run_is_unavailable(capsys, tmp_path):
    from tests.conftest import small_config
    import dataclasses

    store = RunStore(tmp_path / "home")
    config = small_config()
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, dataset="cremad", root=str(tmp_path / "gone")))
    store.create(config.to_dict(), run_id="real")
    rc, out, err = _main(capsys, "samples", "--run", "real", "--out", tmp_path / "out", "--home", tmp_path / "home")
    _check(rc, out, err, as_json=False)
    assert rc == 2 and "sample clips are not available" in err
    assert not (tmp_path / "out").exists()
    rc, out, err = _main(capsys, "samples", "--run", "nope", "--out", tmp_path / "out", "--home", tmp_path / "home")
    assert rc == 2 and "no run 'nope'" in err and not (tmp_path / "out").exists()


def test_samples_for_a_real_dataset_run(capsys, tmp_path, shared_data, monkeypatch):
    """CREMA-D clips (FLV video + MP3) found through the dataset registry, transcoded to MP4."""
    from tests.conftest import small_config
    import dataclasses
    from dgl_engine.config import DataConfig
    from dgl_engine.data import decode

    monkeypatch.setenv("DGL_LAB_DATA", str(shared_data))
    store = RunStore(tmp_path / "home")
    config = dataclasses.replace(small_config(), data=DataConfig(dataset="cremad", preprocessing="lab", root=str(shared_data / "cremad")))
    store.create(config.to_dict(), run_id="cremad")
    rc, out, err = _main(capsys, "samples", "--run", "cremad", "--out", tmp_path / "out", "--n", "2", "--home", tmp_path / "home")
    assert rc == 0, err
    written = [Path(p) for p in out.splitlines()]
    assert len(written) == 2 and all(p.parent == tmp_path / "out" for p in written)
    assert {p.name.split("_")[0] for p in written} <= {"ANG", "DIS", "FEA", "HAP", "NEU", "SAD"}
    info = decode.probe(written[0])
    assert info["has_audio"] and info["has_video"] and info["format"].startswith("mov")


def test_real_processes(trained_run, tmp_path, shared_data):
    """The real entry point, three at once: samples, a visual-only answer, a refused file."""
    home, run_id = trained_run
    (tmp_path / "notes.mp4").write_text("not a video\n" * 10)
    base = [sys.executable, "-m", "dgl_engine"]
    commands = {
        "samples": base + ["samples", "--run", run_id, "--out", str(tmp_path / "clips"), "--n", "3", "--home", str(home)],
        "no_audio": base + ["predict", "--run", run_id, "--method", "dgl", "--home", str(home), "--json",
                            str(shared_data / "clips" / "no_audio_part_0.mp4")],
        "notes": base + ["predict", "--run", run_id, "--method", "dgl", "--home", str(home), str(tmp_path / "notes.mp4")],
    }
    procs = {k: subprocess.Popen(c, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, c in commands.items()}
    done = {k: (p.wait(timeout=300), *p.communicate()) for k, p in procs.items()}

    rc, out, err = done["samples"]
    assert rc == 0, err
    written = [Path(line) for line in out.splitlines()]
    assert len(written) == 3 and all(p.is_file() and p.suffix == ".mp4" for p in written)
    assert len({p.name.rsplit("_", 1)[0] for p in written}) == 3  # classes in turn
    d = _check(*done["no_audio"], as_json=True)
    assert d["used"] == ["visual"] and d["fused"] is None
    rc, out, err = done["notes"]
    _check(rc, out, err, as_json=False)
    assert rc == 2 and err == "error: notes.mp4: not a media file PyAV can read (invalid data)\n"
