"""dgl_engine.predict: a trained model on media files, the same way its training data was made."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from dgl_engine import predict
from dgl_engine.data import decode, encode
from dgl_engine.data.decode import MediaError
from dgl_engine.data.synthetic import AUDIO_SPEC, VISUAL_SPEC, class_names, load_synthetic
from dgl_engine.predict import PredictError, load_predictor, predict_file, predict_many
from dgl_engine.samples import run_config, write_samples
from dgl_engine.store import RunStore, StoreError

from tests.predict.conftest import bad_files


@pytest.fixture(scope="module")
def store(trained_run) -> RunStore:
    return RunStore(trained_run[0])


@pytest.fixture(scope="module")
def dgl(store, trained_run):
    return load_predictor(store, trained_run[1], "dgl")


@pytest.fixture(scope="module")
def samples(store, trained_run, tmp_path_factory):
    """12 test clips of the synthetic run written as .mp4 (two per class)."""
    return write_samples(store, trained_run[1], tmp_path_factory.mktemp("samples"), n=12)


def _sums_to_one(answer: dict | None) -> None:
    if answer is not None:
        assert sum(answer["probs"]) == pytest.approx(1.0, abs=1e-9)
        assert all(0 <= p <= 1 for p in answer["probs"])


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


# ----------------------------------------------------------------------------- the model


def test_dgl_model_is_accurate_enough_for_the_round_trip(store, trained_run):
    results = store.read(trained_run[1])["results"]
    assert results["dgl"]["acc"] > 0.8, results


def test_load_predictor_rebuilds_the_trained_model(store, trained_run, dgl):
    """Eval mode, specs and training statistics from the sidecar, and the same test accuracy
    as the run recorded (so BatchNorm statistics and every weight came back)."""
    assert not dgl.model.training and dgl.multimodal and dgl.unimodal_path
    assert dgl.classes == class_names(6)
    assert dgl.audio_spec == AUDIO_SPEC and dgl.visual_spec == VISUAL_SPEC
    config = run_config(store, trained_run[1])
    data = load_synthetic(config.data.synthetic, config.seed)
    assert dgl.normalization == data.normalization
    with torch.no_grad():
        logits = dgl.model(data.test.audio, data.test.visual)
    acc = float((logits.argmax(1) == data.test.labels).float().mean())
    assert acc == pytest.approx(store.read(trained_run[1])["results"]["dgl"]["acc"], abs=1e-6)


def test_checkpoints_load_with_weights_only(store, trained_run, monkeypatch):
    seen = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("weights_only")) or real(*a, **k))
    load_predictor(store, trained_run[1], "joint")
    assert seen == [True]


def test_unknown_run_and_method_are_one_line_errors(store, trained_run):
    with pytest.raises(StoreError) as exc:
        load_predictor(store, "no-such-run", "dgl")
    assert "no run 'no-such-run'" in _one_line(exc)
    with pytest.raises(StoreError) as exc:
        load_predictor(store, trained_run[1], "ogm-ge")
    assert _one_line(exc).endswith("trained: dgl, joint")
    with pytest.raises(StoreError):
        load_predictor(store, trained_run[1], "../etc")


def test_damaged_checkpoint_is_a_one_line_error(tmp_path, store, trained_run):
    import shutil

    copy, run_id = RunStore(tmp_path), trained_run[1]  # the same id in another home: run.json names its folder
    shutil.copytree(store.run_dir(run_id), copy.run_dir(run_id))
    copy.model_path(run_id, "dgl").write_bytes(b"not a checkpoint")
    with pytest.raises(StoreError) as exc:
        load_predictor(copy, run_id, "dgl")
    assert "cannot be loaded" in _one_line(exc)


# ----------------------------------------------------------------------------- round trip


def test_sample_clips_round_trip(dgl, samples, store, trained_run):
    """Clips written by `samples` are predicted as their class, and as the in-memory features of
    the same test samples are, up to codec loss (AAC sound, H.264 picture)."""
    config = run_config(store, trained_run[1])
    data = load_synthetic(config.data.synthetic, config.seed)
    correct = same = 0
    diffs = []
    for path in samples:
        cls, index = re.fullmatch(r"(.+)_(\d+)\.mp4", path.name).groups()
        index = int(index)
        assert data.classes[int(data.test.labels[index])] == cls  # named after its true class
        p = predict_file(dgl, path)
        assert p.used == ("audio", "visual") and p.warnings == ()
        for answer in (p.fused, p.audio, p.visual):
            _sums_to_one(answer)
        with torch.no_grad():
            memory = torch.softmax(dgl.model(data.test.audio[index : index + 1], data.test.visual[index : index + 1]), 1)[0]
        correct += p.fused["label"] == cls
        same += p.fused["label"] == data.classes[int(memory.argmax())]
        diffs.append(float((torch.tensor(p.fused["probs"]) - memory.double()).abs().max()))
    assert correct >= 8, f"{correct}/12 sample clips predicted as their class"
    assert same >= 11, f"file and in-memory predictions agree on {same}/12 clips"
    assert np.median(diffs) < 0.1 and max(diffs) < 0.3, diffs


def test_per_modality_answers_are_zero_mode(dgl, samples):
    """audio = softmax(f(h_a, 0)), visual = softmax(f(0, h_v)) from the inputs the model saw."""
    p = predict_file(dgl, samples[0])
    norm, model = dgl.normalization, dgl.model
    with torch.no_grad():
        h_a = model.encode("audio", norm.audio(p.spectrogram)[None])
        h_v = model.encode("visual", norm.visual(p.frames)[None])
        fused = torch.softmax(model.fusion_head(h_a, h_v), 1)[0]
        audio = torch.softmax(model.fusion_head(h_a, torch.zeros_like(h_v)), 1)[0]
        visual = torch.softmax(model.fusion_head(torch.zeros_like(h_a), h_v), 1)[0]
    for got, want in ((p.fused, fused), (p.audio, audio), (p.visual, visual)):
        assert got["probs"] == pytest.approx(want.tolist(), abs=1e-5)
    assert p.spectrogram.shape == AUDIO_SPEC.shape and p.frames.shape == VISUAL_SPEC.shape
    assert p.waveform.shape == (AUDIO_SPEC.num_samples,)


def test_prediction_inputs_are_clip_to_inputs(dgl, samples, tmp_path):
    """The model sees exactly what clip_to_inputs (the training data's path) makes of the
    decoded clip, normalised with the stored statistics; an image replaces the frames."""
    from dgl_engine.data.inputs import clip_to_inputs, heard_waveform

    clip = predict.decode(dgl, samples[0])
    audio, visual = clip_to_inputs(clip, dgl.audio_spec, dgl.visual_spec)
    p = predict.predict_clip(dgl, clip)
    assert torch.equal(p.spectrogram, audio) and torch.equal(p.frames, visual)
    assert torch.equal(p.waveform, heard_waveform(clip, dgl.audio_spec))
    norm, model = dgl.normalization, dgl.model
    with torch.no_grad():
        logits = model.fusion_head(model.encode("audio", norm.audio(audio)[None]), model.encode("visual", norm.visual(visual)[None]))
    assert p.fused["probs"] == torch.softmax(logits.double().flatten(), 0).tolist()

    encode.write_png(tmp_path / "grey.png", np.full((40, 40, 3), 90, np.uint8))
    image = predict.decode(dgl, tmp_path / "grey.png")
    both = predict.predict_clip(dgl, clip, image)
    assert torch.equal(both.spectrogram, audio)
    assert torch.equal(both.frames, clip_to_inputs(image, dgl.audio_spec, dgl.visual_spec)[1])


def test_bytes_and_paths_give_the_same_answer(dgl, samples):
    from_path = predict_file(dgl, samples[1])
    from_bytes = predict_file(dgl, samples[1].read_bytes(), name=samples[1].name)
    assert from_bytes.fused == from_path.fused and from_bytes.source == samples[1].name


def test_to_dict_is_the_cli_json_object(dgl, samples):
    d = json.loads(json.dumps(predict_file(dgl, samples[0]).to_dict()))
    assert {"classes", "fused", "audio", "visual", "used", "warnings"} <= set(d)
    assert d["fused"]["label"] in d["classes"] and len(d["fused"]["probs"]) == len(d["classes"])
    assert d["used"] == ["audio", "visual"] and d["answer"]["from"] == "fused"


# ----------------------------------------------------------------------------- one modality


def test_clip_without_audio_is_visual_only(dgl, shared_data):
    p = predict_file(dgl, shared_data / "clips" / "no_audio_part_0.mp4")
    assert p.fused is None and p.audio is None and p.visual is not None
    assert p.used == ("visual",) and p.answer == (p.visual["label"], "visual")
    _sums_to_one(p.visual)
    assert "no audio stream: visual only" in p.warnings
    assert any(w.startswith("no sound: answered from visual alone") for w in p.warnings)


def test_image_alone_and_audio_with_image(dgl, samples, tmp_path):
    clip = decode.decode_clip(samples[0], 8000, 1.0)
    encode.write_png(tmp_path / "shape.png", clip.frames[0].numpy())
    encode.write_wav(tmp_path / "chirp.wav", clip.waveform, 8000)
    image = predict_file(dgl, tmp_path / "shape.png")
    assert image.used == ("visual",) and image.fused is None and any("no sound" in w for w in image.warnings)
    sound = predict_file(dgl, tmp_path / "chirp.wav")
    assert sound.used == ("audio",) and sound.fused is None and any("no picture" in w for w in sound.warnings)
    both = predict_file(dgl, tmp_path / "chirp.wav", image=tmp_path / "shape.png")
    whole = predict_file(dgl, samples[0])
    assert both.used == ("audio", "visual") and both.warnings == () and both.source == "chirp.wav + shape.png"
    assert both.fused["probs"] == pytest.approx(whole.fused["probs"], abs=0.05)  # AAC vs WAV, same picture
    assert sound.audio["probs"] == pytest.approx(both.audio["probs"], abs=1e-9)


def test_unimodal_models_answer_with_their_modality(unimodal_run, samples, tmp_path):
    store = RunStore(unimodal_run[0])
    audio_only = load_predictor(store, unimodal_run[1], "audio-only")
    visual_only = load_predictor(store, unimodal_run[1], "visual-only")
    a = predict_file(audio_only, samples[0])
    assert a.used == ("audio",) and a.fused is None and a.visual is None and a.warnings == ()
    assert a.answer[1] == "audio" and a.frames is None
    _sums_to_one(a.audio)
    v = predict_file(visual_only, samples[0])
    assert v.used == ("visual",) and v.audio is None and v.spectrogram is None
    encode.write_png(tmp_path / "x.png", np.full((40, 40, 3), 128, np.uint8))
    with pytest.raises(PredictError) as exc:
        predict_file(audio_only, tmp_path / "x.png")
    assert _one_line(exc) == "x.png: the audio-only model reads audio only, and this file has no sound (no audio stream)"
    encode.write_wav(tmp_path / "x.wav", np.zeros(4000, np.float32), 8000)
    with pytest.raises(PredictError) as exc:
        predict_file(visual_only, tmp_path / "x.wav")
    assert "visual-only model reads visual only" in _one_line(exc)


def test_predict_many_decodes_once_and_reports_each_model(unimodal_run, dgl, tmp_path, monkeypatch):
    store = RunStore(unimodal_run[0])
    predictors = [load_predictor(store, unimodal_run[1], m) for m in ("audio-only", "visual-only")] + [dgl]
    encode.write_png(tmp_path / "x.png", np.full((40, 40, 3), 200, np.uint8))
    calls = []
    real = decode.decode_clip
    monkeypatch.setattr(predict, "decode_clip", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = predict_many(predictors, (tmp_path / "x.png").read_bytes(), name="x.png")
    assert len(calls) == 1
    assert isinstance(out["audio-only"], PredictError)
    assert out["visual-only"].used == ("visual",) and out["dgl"].used == ("visual",)


def test_fusion_without_unimodal_path_needs_both(dgl, shared_data, monkeypatch):
    monkeypatch.setattr(type(dgl), "unimodal_path", property(lambda self: False))
    with pytest.raises(PredictError) as exc:
        predict_file(dgl, shared_data / "clips" / "no_audio_part_0.mp4")
    assert "cannot answer from one modality" in _one_line(exc)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_are_one_line_errors_and_write_nothing(dgl, store, trained_run, tmp_path, shared_data):
    bad = bad_files(tmp_path, shared_data)
    before = sorted(p for p in store.home.rglob("*")), sorted(tmp_path.iterdir())
    for path, words in bad.items():
        with pytest.raises((MediaError, PredictError)) as exc:
            predict_file(dgl, path)
        msg = _one_line(exc)
        assert msg.startswith(path.name + ":") and words in msg, msg
        if path.stat().st_size < 2**20:  # the same from memory, as the app passes it
            with pytest.raises((MediaError, PredictError)):
                predict_file(dgl, path.read_bytes(), name=path.name)
    assert (sorted(p for p in store.home.rglob("*")), sorted(tmp_path.iterdir())) == before
    with pytest.raises(MediaError) as exc:
        predict_file(dgl, (tmp_path / "cut.mp4").read_bytes(), name="cut.mp4", max_bytes=1000)
    assert "over the 1000 bytes limit" in _one_line(exc)


def test_stream_without_frames_is_a_clear_error(dgl, tmp_path):
    """A video container whose only stream holds no frame (shorter than one frame)."""
    import av

    with av.open(str(tmp_path / "zero.mp4"), "w", format="mp4") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    with pytest.raises(MediaError) as exc:
        predict_file(dgl, tmp_path / "zero.mp4")
    assert _one_line(exc).startswith("zero.mp4: ")


def test_one_torch_thread_inside_and_restored(dgl, samples, monkeypatch):
    seen = []
    real = predict.predict_clip

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(predict, "predict_clip", spy)
    before = torch.get_num_threads()
    predict_file(dgl, samples[0])
    assert seen == [1] and torch.get_num_threads() == before


def test_playable_video(shared_data, samples, tmp_path):
    flv = shared_data / "cremad" / "VideoFlash" / "1001_DFA_ANG_XX.flv"
    out = encode.playable_video(flv.read_bytes(), name=flv.name)
    assert out[4:8] == b"ftyp"
    (tmp_path / "v.mp4").write_bytes(out)
    info = decode.probe(tmp_path / "v.mp4")
    assert info["codecs"][0] in ("h264", "mpeg4") and info["has_audio"]
    assert encode.playable_video(samples[0]) == samples[0].read_bytes()  # MP4: shown as it is
    assert encode.playable_video(b"RIFF", name="a.wav") is None


def test_multi_frame_samples_give_back_every_frame(tmp_path):
    """With several frames per clip, a written sample decoded at the model's frame rate gives
    the model the same frames as the in-memory sample (up to codec loss)."""
    import dataclasses

    from dgl_engine.data.features import visual_features
    from dgl_engine.data.synthetic import generate_raw
    from dgl_engine.samples import synthetic_samples
    from tests.conftest import small_config

    config = small_config(samples_per_class=12)
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, synthetic=dataclasses.replace(config.data.synthetic, frames=3)))
    (sample,) = synthetic_samples(config, 1)
    encode.write_mp4(tmp_path / "s.mp4", sample.frames, sample.fps, sample.waveform, sample.sample_rate)
    spec = dataclasses.replace(VISUAL_SPEC, frames=3)
    clip = decode.decode_clip(tmp_path / "s.mp4", 8000, spec.fps)
    seen = visual_features(clip.frames, spec)  # (3, 3, 32, 32)
    _, frames, _ = generate_raw(config.data.synthetic, config.seed, "test")
    assert seen.shape == (3, 3, 32, 32)
    assert (seen - frames[sample.index]).abs().mean() < 0.08
    assert clip.waveform.shape[0] == 8000
