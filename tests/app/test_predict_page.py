"""The Predict page under AppTest (files go in through AppTest's file_uploader / audio_input /
camera_input ``set_value``, streamlit >= 1.5x), and its charts as pure functions."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from app import predict_charts as charts
from tests.conftest import small_config
from tests.predict.conftest import bad_files, train_run

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "predict.py")
MIME = {".mp4": "video/mp4", ".webm": "video/webm", ".avi": "video/x-msvideo", ".mpg": "video/mpeg",
        ".flv": "video/x-flv", ".wav": "audio/wav", ".png": "image/png", ".txt": "text/plain"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A store with one quickly trained run (joint, DGL, audio-only; accuracy irrelevant here)."""
    home = tmp_path_factory.mktemp("predict-page")
    config = small_config(methods=("audio-only", "joint", "dgl"), samples_per_class=30, epochs=1,
                          evals_per_epoch=1, diagnostics_every=1000)
    train_run(home, config, "page-run")
    return home


@pytest.fixture
def page(home, monkeypatch):
    monkeypatch.setenv("DGL_LAB_HOME", str(home))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _upload(at: AppTest, path: Path, index: int = 0, data: bytes | None = None) -> AppTest:
    data = path.read_bytes() if data is None else data
    at.file_uploader[index].set_value((path.name, data, MIME.get(path.suffix, "application/octet-stream")))
    at.run()
    assert not at.exception, at.exception
    return at


def _answers(at: AppTest) -> list[str]:
    """The headline of each model's answer, e.g. '**disk-low-up (63% sure, from sound and picture together)**'."""
    return [m.value for m in at.markdown if m.value.startswith("**")]


def _png(colour=(200, 40, 40)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 200, 40)).save(buf, format="JPEG")
    return buf.getvalue()


def _wav(seconds=1.0, rate=16000) -> bytes:
    import wave

    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 600 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return buf.getvalue()


# ----------------------------------------------------------------------------- page


def test_no_trained_models_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("DGL_LAB_HOME", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert "No trained models yet" in at.info[0].value


def test_lists_the_run_and_defaults_to_joint_and_dgl(page):
    assert page.selectbox[0].value == "page-run"
    assert page.multiselect[0].value == ["joint", "dgl"]
    assert page.file_uploader[0].allowed_type  # the supported extensions
    assert "Upload a clip" in page.info[0].value


def test_every_real_clip_gets_an_answer_or_a_message(page, shared_data):
    clips = sorted((shared_data / "clips").iterdir()) + sorted((shared_data / "cremad" / "VideoFlash").glob("*.flv"))
    for path in clips:
        _upload(page, path)
        errors = [e.value for e in page.error]
        assert all("\n" not in e for e in errors), errors
        answers = _answers(page)
        assert len(answers) == 2 or errors, (path.name, errors)  # joint and DGL both answer
        assert len(page.get("plotly_chart")) >= 2, path.name
        warnings = [w.value for w in page.warning]
        if path.name == "no_audio_part_0.mp4":
            assert all("from the picture alone" in a for a in answers), answers
            assert sum(w.startswith("no sound: answered from visual alone") for w in warnings) == 1, warnings  # once, not per model
            assert not page.get("audio")
        else:
            assert all("from sound and picture together" in a for a in answers), (path.name, answers)
            assert page.get("audio"), path.name  # the sound as the model hears it
        if path.suffix in (".mp4", ".webm", ".flv", ".avi", ".mpg"):
            assert page.get("video"), path.name  # FLV / AVI / MPEG transcoded to MP4 for the browser


def test_bad_uploads_show_one_line_and_the_page_stays_usable(page, tmp_path, shared_data):
    for path, words in bad_files(tmp_path, shared_data).items():
        if path.suffix == ".txt" or path.stat().st_size > 2**20:
            continue  # the uploader itself refuses other types; the size limit is checked below
        _upload(page, path)
        assert len(page.error) == 1 and words in page.error[0].value and "\n" not in page.error[0].value, path.name
        assert not _answers(page)
    _upload(page, shared_data / "clips" / "example2.mp4")
    assert not page.error and len(_answers(page)) == 2


def test_upload_over_the_size_limit(page, shared_data, monkeypatch):
    clip = shared_data / "clips" / "example2.mp4"
    _upload(page, clip, data=clip.read_bytes() + bytes(51 * 2**20))  # 51 MB > the page's 50 MB
    errors = [e.value for e in page.error]
    assert errors and "over the 50 MB limit" in errors[0], errors


def test_try_a_sample(page):
    page.button[0].click()
    page.run()
    assert not page.exception and not page.error
    caption = next(c.value for c in page.caption if c.value.startswith("Sample clip"))
    assert caption.endswith("(the name is its true class)") and ".mp4" in caption
    assert len(_answers(page)) == 2 and page.get("video")
    page.button[0].click()
    page.run()
    second = next(c.value for c in page.caption if c.value.startswith("Sample clip"))
    assert second != caption  # the next sample, another class


def test_compare_three_models_one_of_which_cannot_answer(page):
    page.multiselect[0].select("audio-only")
    page.run()
    _upload(page, Path("shape.png"), data=_png())
    answers = _answers(page)
    assert len(answers) == 2 and all("from the picture alone" in a for a in answers)
    assert len(page.error) == 1 and "audio-only model reads audio only" in page.error[0].value
    assert len(page.get("image")) == 2  # the picture, and the frames the model saw


def test_sound_plus_picture(page):
    page.radio[0].set_value("Sound + picture")
    page.run()
    page.file_uploader[0].set_value(("voice.wav", _wav(), "audio/wav"))
    page.file_uploader[1].set_value(("face.png", _png(), "image/png"))
    page.run()
    assert not page.exception and not page.error
    assert all("from sound and picture together" in a for a in _answers(page)) and len(_answers(page)) == 2
    assert len(page.get("plotly_chart")) == 4  # spectrogram, two answers, the comparison


def test_record_with_microphone_and_camera(page):
    page.radio[0].set_value("Record")
    page.run()
    page.audio_input[0].set_value(("recording.wav", _wav(), "audio/wav"))
    page.run()
    assert all("from the sound alone" in a for a in _answers(page)) and len(_answers(page)) == 2
    page.camera_input[0].set_value(("shot.jpg", _jpeg(), "image/jpeg"))
    page.run()
    assert not page.exception and not page.error
    assert all("from sound and picture together" in a for a in _answers(page))


# ----------------------------------------------------------------------------- charts

PREDICTION = {
    "classes": ["a", "b", "c"], "method": "dgl",
    "fused": {"label": "a", "probs": [0.7, 0.2, 0.1]},
    "audio": {"label": "a", "probs": [0.5, 0.3, 0.2]},
    "visual": {"label": "c", "probs": [0.2, 0.3, 0.5]},
}


def test_probs_figure():
    fig = charts.probs_figure(PREDICTION)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["fused", "audio alone (zero mode)", "visual alone (zero mode)"]
    assert list(fig.data[0].x) == pytest.approx([70, 20, 10]) and list(fig.data[0].y) == ["a", "b", "c"]
    visual_only = {**PREDICTION, "fused": None, "audio": None}
    assert [t.name for t in charts.probs_figure(visual_only).data] == ["visual alone (zero mode)"]


def test_compare_figure_falls_back_to_a_models_own_answer():
    fig = charts.compare_figure({"joint": PREDICTION, "audio-only": {**PREDICTION, "fused": None, "visual": None}})
    assert [t.name for t in fig.data] == ["joint", "audio-only (audio alone (zero mode))"]
    assert list(fig.data[1].y) == pytest.approx([50, 30, 20])


def test_spectrogram_figure_and_frames_strip():
    fig = charts.spectrogram_figure(np.random.rand(1, 40, 63), 8000, 128)
    assert fig.data[0].z.shape == (40, 63) and fig.data[0].x[-1] == pytest.approx(62 * 128 / 8000)
    strip = charts.frames_strip(np.random.rand(3, 3, 32, 32))
    assert strip.shape == (128, 3 * 128, 3) and strip.dtype == np.uint8
    assert charts.frames_strip(np.ones((1, 3, 224, 224))).shape == (224, 224, 3)


def test_a_real_clip_is_out_of_distribution_for_a_synthetic_model_and_its_own_samples_are_not(page, shared_data):
    _upload(page, shared_data / "cremad" / "VideoFlash" / "1001_DFA_ANG_XX.flv")
    flagged = [w.value for w in page.warning if "Out of distribution" in w.value]
    assert flagged and all("threshold" in w for w in flagged)  # the threshold is stated
    for k in range(4):  # the model's own test clips, exported and decoded again like any upload
        page.button(key="predict_sample_button").click().run()
        assert not page.exception and len(_answers(page)) == 2
        assert not [w.value for w in page.warning if "Out of distribution" in w.value], k
        assert "like the training data" in " ".join(c.value for c in page.caption)
