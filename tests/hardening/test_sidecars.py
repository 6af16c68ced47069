"""Edited model sidecars (models/<method>.json) are checked before use: one line naming the field.

Before, 7 of 9 edited sidecars raised uncaught errors (one tried to allocate terabytes) and one
gave NaN probabilities. Each edit here is loaded through ``load_predictor`` and through the CLI.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from dgl_engine.cli import main
from dgl_engine.predict import load_predictor, predict_file
from dgl_engine.store import RunStore, StoreError
from tests.hardening.corpus import _tone, raw_wav


def _set(path: str, value):
    def edit(d):
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value
    return edit


def _replace(value):
    return lambda d: (d.clear(), d.update({"__whole__": value}))


EDITS = {  # name: (edit of the sidecar dict, words the one-line error holds)
    "terabyte classes": (_set("model.num_classes", 10**12), "model.num_classes"),
    "classes not a list": (_set("classes", "dog"), "classes must be a list"),
    "duplicate classes": (_set("classes", ["a", "a", "b", "c"]), "distinct"),
    "classes disagree with num_classes": (_set("classes", ["a", "b", "c"]), "classes lists 3"),
    "classes disagree with the checkpoint": (lambda d: (d.update(classes=list("abcdefg")), d["model"].update(num_classes=7)), "rows"),
    "unknown encoder": (_set("model.encoder", "gpt"), "model.encoder must be one of tiny, resnet18"),
    "fusion of other tensors": (_set("model.fusion", "sum"), "does not match its sidecar"),
    "model not an object": (_set("model", [1, 2]), "model must be an object"),
    "megahertz audio": (_set("audio_features.sample_rate", 10**9), "audio_features.sample_rate"),
    "sample rate as text": (_set("audio_features.sample_rate", "16000"), "audio_features.sample_rate must be a whole number"),
    "hour-long clip": (_set("audio_features.clip_seconds", 3600.0), "audio_features.clip_seconds"),
    "giant fft": (_set("audio_features.n_fft", 2**30), "audio_features.n_fft"),
    "zero hop": (_set("audio_features.hop_length", 0), "audio_features.hop_length"),
    "spectrogram of a billion bins": (lambda d: d["audio_features"].update(n_fft=8192, hop_length=1, kind="logstft"), "spectrogram"),
    "unknown feature kind": (_set("audio_features.kind", "mfcc"), "audio_features.kind"),
    "audio features not an object": (_set("audio_features", []), "audio_features must be an object"),
    "unknown feature field": (_set("audio_features.colour", "red"), None),  # ignored: still loads
    "a million frames": (_set("visual_features.frames", 10**6), "visual_features.frames"),
    "huge frames": (_set("visual_features.size", 100_000), "visual_features.size"),
    "megahertz video": (_set("visual_features.fps", 1e6), "visual_features.fps"),
    "NaN mean": (_set("visual_features.mean", [0.5, float("nan"), 0.5]), "visual_features.mean[1]"),
    "zero audio std": (_set("normalization.audio_std", 0.0), "normalization.audio_std"),
    "infinite visual std": (_set("normalization.visual_std", [1.0, float("inf"), 1.0]), "normalization.visual_std[1]"),
    "std as text": (_set("normalization.visual_mean", "grey"), "normalization.visual_mean must be 3 numbers"),
    "normalization missing": (lambda d: d.pop("normalization"), "normalization must be an object"),
    "unknown modality": (_set("modalities", ["audio", "smell"]), "modalities"),
    "another method's sidecar": (_set("method", "joint"), "method is 'joint'"),
    "not an object": (lambda d: "a list instead", "the sidecar must be a JSON object"),
}


@pytest.fixture
def store(model_home, tmp_path) -> RunStore:
    shutil.copytree(model_home / "hostile", tmp_path / "hostile")
    return RunStore(tmp_path)


def _edit(store: RunStore, edit) -> None:
    path = store.model_path("hostile", "dgl").with_suffix(".json")
    sidecar = json.loads(path.read_text())
    result = edit(sidecar)
    path.write_text(json.dumps(result if isinstance(result, str) else sidecar))  # NaN is written as JSON's NaN


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edited_sidecar_gets_one_line_naming_the_field(store, name, tmp_path, capsys):
    edit, words = EDITS[name]
    _edit(store, edit)
    if words is None:
        assert load_predictor(store, "hostile", "dgl").classes
        return
    with pytest.raises(StoreError) as exc:
        load_predictor(store, "hostile", "dgl")
    message = str(exc.value)
    assert "\n" not in message and message.startswith("run hostile: the dgl model") and words in message, message
    raw_wav(tmp_path / "x.wav", _tone(16000, 16000), 16000)
    assert main(["predict", "--home", str(store.home), "--run", "hostile", "--method", "dgl", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_nan_weights_are_refused(store):
    state = torch.load(store.model_path("hostile", "dgl"), weights_only=True)
    key = next(k for k in state if k.startswith("fusion_head.") and k.endswith("weight"))
    state[key][0, 0] = float("nan")
    torch.save(state, store.model_path("hostile", "dgl"))
    with pytest.raises(StoreError, match=f"the checkpoint's {key} holds NaN"):
        load_predictor(store, "hostile", "dgl")


def test_sidecar_and_checkpoint_size_limits(store, monkeypatch):
    from dgl_engine import limits

    monkeypatch.setattr(limits, "MAX_SIDECAR_BYTES", 100)
    with pytest.raises(StoreError, match="dgl.json is over the"):
        load_predictor(store, "hostile", "dgl")


def test_the_untouched_sidecar_predicts_finite_probabilities(store, tmp_path):
    raw_wav(tmp_path / "x.wav", _tone(16000, 16000), 16000)
    p = predict_file(load_predictor(store, "hostile", "dgl"), tmp_path / "x.wav")
    assert all(math.isfinite(x) for x in p.audio["probs"])


def test_deeply_nested_sidecar_is_one_line(store):
    path = store.model_path("hostile", "dgl").with_suffix(".json")
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(StoreError, match="not valid JSON|must be a JSON object"):
        load_predictor(store, "hostile", "dgl")
