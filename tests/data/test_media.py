"""dgl_engine.data.media against real third-party files (../shared/data) and its own writers."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dgl_engine import compat  # noqa: F401
import av
from PIL import Image

from dgl_engine.data import media
from dgl_engine.data.features import AudioFeatures, VisualFeatures
from dgl_engine.data.media import MediaError, clip_to_inputs, decode_clip, load_inputs, probe

REPO = Path(__file__).resolve().parents[2]
# The shared data sits next to the checkout (../shared/data) or, on some machines, inside it.
DATA = next((p for p in (REPO / "shared" / "data", REPO.parent / "shared" / "data") if p.is_dir()), None)
needs_data = pytest.mark.skipif(DATA is None, reason="real test media (../shared/data) not present")


def _data(*parts: str) -> Path:
    return DATA.joinpath(*parts) if DATA is not None else Path("/nonexistent").joinpath(*parts)


def _real_clips() -> list[Path]:
    if DATA is None:
        return []
    return sorted((DATA / "clips").glob("*")) + sorted((DATA / "cremad" / "VideoFlash").glob("*.flv"))


def _assert_clean_message(exc: pytest.ExceptionInfo, name: str, *words: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{name}: "), msg
    for word in words:
        assert word in msg, msg


def _dominant_hz(wave: torch.Tensor, rate: int) -> float:
    spec = np.abs(np.fft.rfft(wave.numpy() * np.hanning(wave.shape[0])))
    return float(spec.argmax() * rate / wave.shape[0])


def _sine(hz: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def _blocky_frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """(t, h, w, 3) uint8 of random 4x4-pixel colour blocks: content a codec can keep."""
    blocks = np.random.default_rng(seed).integers(0, 256, (t, h // 4, w // 4, 3), dtype=np.uint8)
    return blocks.repeat(4, axis=1).repeat(4, axis=2)


# ----------------------------------------------------------------------------- real files


@needs_data
@pytest.mark.parametrize("path", _real_clips(), ids=lambda p: p.name)
def test_every_real_clip_decodes(path: Path):
    info = probe(path)
    clip = decode_clip(path, sample_rate=16000, fps=2.0)
    assert clip.source == path.name
    assert info["duration"] and abs(clip.duration - info["duration"]) < 0.15 * info["duration"] + 0.1
    assert clip.frames is not None and clip.frames.dtype == torch.uint8 and clip.frames.shape[-1] == 3
    assert min(clip.frames.shape[1:3]) <= 256  # downscaled early
    assert abs(clip.frames.shape[0] - clip.duration * 2.0) <= 1.5
    assert clip.frames.float().std() > 5  # real pictures, not blank frames
    if info["has_audio"]:
        w = clip.waveform
        assert w is not None and w.dtype == torch.float32 and w.dim() == 1
        assert abs(w.shape[0] / 16000 - info["duration"]) < 0.15 * info["duration"] + 0.1
        assert 0.001 < w.abs().max() <= 1.0
    else:
        assert clip.waveform is None


@needs_data
def test_multistream_uses_the_default_streams_and_warns():
    path = _data("clips", "nasa_13013.mp4")
    info = probe(path)
    # Two video (480x270 @ 30000/1001 is the default) and two AAC streams (16 kHz is the default).
    assert info["video"]["width"] == 480 and info["audio"]["sample_rate"] == 16000
    clip = decode_clip(path, sample_rate=8000, fps=1.0, max_seconds=3.0)
    assert any("2 audio streams: used the default one" in w for w in clip.warnings)
    assert any("2 video streams: used the default one" in w for w in clip.warnings)
    assert clip.waveform.shape == (3 * 8000,) and clip.frames.shape[0] == 3
    assert clip.frames.shape[1:3] == (256, 455)  # 480x270 -> shorter side 256


@needs_data
def test_clip_without_audio_is_visual_only():
    clip = decode_clip(_data("clips", "no_audio_part_0.mp4"), 16000, fps=10.0)
    assert clip.waveform is None and "no audio stream: visual only" in clip.warnings
    assert clip.frames.shape[0] in (10, 11) and clip.frames.shape[1:3] == (256, 340)


@needs_data
def test_cremad_flv_vp6_with_mp3():
    clip = decode_clip(_data("cremad", "VideoFlash", "1001_DFA_NEU_XX.flv"), 22050, fps=5.0)
    assert 1.5 < clip.waveform.shape[0] / 22050 < 2.6 and clip.sample_rate == 22050
    assert clip.frames.shape[0] == pytest.approx(clip.duration * 5, abs=1.5)
    assert clip.frames.shape[1:] == (256, 341, 3)  # 480x360 -> shorter side 256
    assert clip.warnings == ()


@needs_data
@pytest.mark.parametrize("rate", [8000, 22050])
@pytest.mark.parametrize(
    "rel", ["cremad/AudioMP3/1002_DFA_ANG_XX.mp3", "cremad/AudioWAV_resampled/1001_DFA_HAP_XX.wav",
            "fsdd-test/recordings/0_george_0.wav"])
def test_audio_files(rel: str, rate: int):
    path = _data(*rel.split("/"))
    clip = decode_clip(path, sample_rate=rate, fps=1.0)
    info = probe(path)
    assert clip.frames is None and clip.warnings == () and info["kind"] == "audio"
    assert clip.waveform.shape[0] == pytest.approx(info["duration"] * rate, abs=0.03 * rate)
    assert 0.01 < clip.waveform.abs().max() <= 1.0


@needs_data
def test_wav_decodes_to_the_exact_samples():
    path = _data("fsdd-test", "recordings", "0_george_0.wav")
    raw = np.frombuffer(path.read_bytes()[44:], dtype="<i2").astype(np.float32) / 32768
    clip = decode_clip(path, 8000, 1.0)  # already 8 kHz mono: no resampling
    assert clip.waveform.shape[0] == raw.shape[0]
    assert np.abs(clip.waveform.numpy() - raw).max() < 1e-6


@needs_data
def test_limits_and_uploads_from_memory():
    path = _data("clips", "example2.mp4")
    clip = decode_clip(path, 16000, fps=4.0, max_frames=3, max_seconds=1.0)
    assert clip.frames.shape[0] == 3 and clip.waveform.shape == (16000,)
    data = path.read_bytes()
    for src in (data, io.BytesIO(data)):
        up = decode_clip(src, 16000, fps=4.0, name="upload.mp4")
        assert up.source == "upload.mp4" and up.frames.shape[0] == 8
        assert up.waveform.shape[0] == pytest.approx(2.01 * 16000, abs=400)
    with pytest.raises(MediaError) as exc:
        decode_clip(io.BytesIO(data), 16000, 4.0, name="big.mp4", max_bytes=100_000)
    _assert_clean_message(exc, "big.mp4", "over the")


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_give_one_line_errors(tmp_path: Path):
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("shopping list\n- milk\n- eggs\n" * 20)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "anim.gif").write_bytes(b"GIF89a" + bytes(100))
    (tmp_path / "photo.png").write_text("not really a png")
    cases = [
        ("clip.mp4", ("empty file",)),
        ("notes.mp4", ("not a media file",)),
        ("notes.txt", ("unsupported file type '.txt'",)),
        ("anim.gif", ("unsupported file type '.gif'",)),
        ("photo.png", ("not an image",)),
        ("missing.mp4", ("file not found",)),
    ]
    for name, words in cases:
        with pytest.raises(MediaError) as exc:
            decode_clip(tmp_path / name, 16000, 1.0)
        _assert_clean_message(exc, name, *words)
        with pytest.raises(MediaError):
            probe(tmp_path / name)
    with pytest.raises(MediaError) as exc:
        decode_clip(b"\x00" * 10, 16000, 1.0, name="upload")  # no extension
    _assert_clean_message(exc, "upload", "unsupported file type (no extension)")


@needs_data
def test_size_limit(tmp_path: Path):
    path = _data("clips", "example2.mp4")
    with pytest.raises(MediaError) as exc:
        decode_clip(path, 16000, 1.0, max_bytes=10_000)
    _assert_clean_message(exc, "example2.mp4", "file is 304 KB, over the 10 KB limit")
    assert media.DEFAULT_MAX_BYTES == 200 * 2**20


@needs_data
@pytest.mark.parametrize(
    "rel, partial",
    [("clips/example2.mp4", False),  # moov atom at the end: nothing to read
     ("clips/big_buck_bunny_432_433.webm", False),  # the first keyframe is cut
     ("cremad/VideoFlash/1001_DFA_ANG_XX.flv", True),
     ("cremad/AudioMP3/1002_DFA_ANG_XX.mp3", True)])
def test_truncated_files(tmp_path: Path, rel: str, partial: bool):
    src = _data(*rel.split("/"))
    cut = tmp_path / src.name
    data = src.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.3)])
    if partial:  # keeps what could be decoded and says so
        clip = decode_clip(cut, 16000, 5.0)
        full = decode_clip(src, 16000, 5.0)
        assert 0.1 < clip.duration < 0.6 * full.duration
        assert any(w.startswith("truncated or corrupt stream: kept the first") for w in clip.warnings)
    else:
        with pytest.raises(MediaError) as exc:
            decode_clip(cut, 16000, 5.0)
        _assert_clean_message(exc, src.name, "truncated or corrupt")


@needs_data
def test_unsupported_codec(tmp_path: Path):
    data = _data("clips", "big_buck_bunny_432_433.webm").read_bytes()
    # Rename the Matroska codec ids: FFmpeg no longer knows the codecs of these streams.
    (tmp_path / "novideo.webm").write_bytes(data.replace(b"V_VP8", b"V_QQ8"))
    (tmp_path / "nothing.webm").write_bytes(
        data.replace(b"V_VP8", b"V_QQ8").replace(b"A_VORBIS", b"A_QQRBIS"))
    clip = decode_clip(tmp_path / "novideo.webm", 16000, 1.0)
    assert clip.frames is None and "unsupported video codec: audio only" in clip.warnings
    assert clip.waveform.shape[0] == pytest.approx(16000, abs=200)
    with pytest.raises(MediaError) as exc:
        decode_clip(tmp_path / "nothing.webm", 16000, 1.0)
    _assert_clean_message(exc, "nothing.webm", "unsupported codec in the audio and video streams")


# ----------------------------------------------------------------------------- images


def test_images(tmp_path: Path):
    small = _blocky_frames(1, 48, 64)[0]
    media.write_png(tmp_path / "small.png", small)
    clip = decode_clip(tmp_path / "small.png", 16000, 1.0)
    assert clip.waveform is None and clip.frames.shape == (1, 48, 64, 3)
    assert torch.equal(clip.frames[0], torch.from_numpy(small))  # PNG is lossless
    assert probe(tmp_path / "small.png")["video"] == {
        "codec": "png", "width": 64, "height": 48, "fps": None}

    big = np.zeros((600, 800, 3), np.uint8)
    big[:300, :400] = (255, 0, 0)  # red top-left quadrant
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(big).save(tmp_path / "photo.JPG", quality=95, exif=exif)
    frames = decode_clip(tmp_path / "photo.JPG", 16000, 1.0).frames
    assert frames.shape == (1, 341, 256, 3)  # upright (portrait), shorter side 256
    red = frames[0, ..., 0].float()
    assert red[:100, -100:].mean() > 200 and red[-100:, :100].mean() < 50
    assert probe(tmp_path / "photo.JPG")["video"]["width"] == 600


# ----------------------------------------------------------------------------- writers


def test_write_mp4_round_trip(tmp_path: Path):
    fps, rate = 6.0, 16000
    frames = _blocky_frames(12, 24, 32)
    wave = _sine(440, 2.0, rate)
    path = tmp_path / "sample.mp4"
    media.write_mp4(path, torch.from_numpy(frames), fps, torch.from_numpy(wave), rate)
    info = probe(path)
    assert info["codecs"] == ["h264", "aac"] and info["video"]["fps"] == 6.0
    assert (info["video"]["width"], info["video"]["height"]) == (128, 96)  # enlarged x4 to >= 128
    clip = decode_clip(path, rate, fps)
    assert clip.warnings == () and clip.frames.shape == (12, 96, 128, 3)
    back = clip.frames.numpy().astype(float).reshape(12, 24, 4, 32, 4, 3).mean(axis=(2, 4))
    assert np.abs(back - frames).mean() < 6
    assert abs(clip.waveform.shape[0] - wave.shape[0]) <= 0.05 * rate
    assert _dominant_hz(clip.waveform, rate) == pytest.approx(440, abs=2)
    n = min(clip.waveform.shape[0], wave.shape[0])
    assert np.corrcoef(clip.waveform.numpy()[:n], wave[:n])[0, 1] > 0.99  # no time shift
    assert clip.duration == pytest.approx(2.0, abs=0.05)


def test_write_mp4_odd_sizes_and_rates(tmp_path: Path):
    frames = np.random.default_rng(1).integers(0, 256, (3, 301, 199, 3), dtype=np.uint8)
    # 11 kHz: AAC has no such rate, so it is encoded at 11025 Hz and resampled back on decode.
    media.write_mp4(tmp_path / "odd.mp4", frames, 29.97, _sine(300, 0.1, 11000), 11000)
    info = probe(tmp_path / "odd.mp4")
    assert (info["video"]["width"], info["video"]["height"]) == (200, 302)  # padded to even
    assert info["video"]["fps"] == pytest.approx(29.97, abs=0.01)
    clip = decode_clip(tmp_path / "odd.mp4", 11000, 29.97, max_side=None)
    assert clip.frames.shape == (3, 302, 200, 3) and abs(clip.waveform.shape[0] - 1100) < 50


def test_frames_are_sampled_at_or_before_each_time(tmp_path: Path):
    # Frame i is a flat grey of brightness 20 * i, written at 10 fps.
    frames = np.repeat((np.arange(10, dtype=np.uint8) * 20)[:, None, None, None], 3, axis=3)
    frames = np.broadcast_to(frames, (10, 64, 64, 3)).copy()
    media.write_mp4(tmp_path / "ramp.mp4", frames, 10.0)

    def level(clip):
        return (clip.frames.float().mean(dim=(1, 2, 3)) / 20).round().long().tolist()

    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 5.0)) == [0, 2, 4, 6, 8]
    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 20.0)) == [i // 2 for i in range(20)]
    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 0.5)) == [0]  # shorter than 1/fps: one frame
    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 10.0, max_seconds=0.5)) == [0, 1, 2, 3, 4]


def test_rotated_video_is_turned_upright(tmp_path: Path):
    frames = np.zeros((2, 64, 96, 3), np.uint8)
    frames[:, :32, :48, 0] = 255  # red top-left quadrant
    media.write_mp4(tmp_path / "land.mp4", frames, 10.0)
    data = bytearray((tmp_path / "land.mp4").read_bytes())
    # Set the track matrix the way phones mark portrait video (display rotated 90 deg clockwise).
    tkhd = data.find(b"tkhd")
    matrix = tkhd + 4 + 4 + (28 if data[tkhd + 4] == 1 else 20) + 8 + 8
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    (tmp_path / "portrait.mp4").write_bytes(bytes(data))
    frame = decode_clip(tmp_path / "portrait.mp4", 8000, 10.0).frames[0].float()
    assert frame.shape == (192, 128, 3)  # enlarged x2 by write_mp4, then turned
    assert frame[:96, 64:, 0].mean() > 200 and frame[:96, :64, 0].mean() < 50  # red is top-right


@pytest.mark.parametrize("available", [("mpeg4", "libopus"), ("mpeg4", "mp2")])
def test_write_mp4_fallback_encoders(tmp_path: Path, monkeypatch, available):
    hidden = {"libx264", "h264", "aac", "libopus"} - set(available)
    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - hidden)
    media.write_mp4(tmp_path / "fb.mp4", _blocky_frames(4, 32, 32), 4.0, _sine(440, 1.0, 16000), 16000)
    # MP4 tags MP2 as "MPEG-1 audio", which FFmpeg hands to its mp3 decoder (it decodes layer II too).
    expected = {"libopus": ("opus",), "mp2": ("mp2", "mp3float")}[available[1]]
    codecs = probe(tmp_path / "fb.mp4")["codecs"]
    assert codecs[0] == "mpeg4" and codecs[1] in expected
    clip = decode_clip(tmp_path / "fb.mp4", 16000, 4.0)
    assert clip.frames.shape[0] == 4 and _dominant_hz(clip.waveform, 16000) == pytest.approx(440, abs=3)
    assert abs(clip.waveform.shape[0] - 16000) <= 800


def test_write_wav_round_trip(tmp_path: Path):
    wave = _sine(1000, 0.5, 8000, amp=0.9)
    wave[10] = 1.5  # clipped on write
    media.write_wav(tmp_path / "tone.wav", torch.from_numpy(wave), 8000)
    clip = decode_clip(tmp_path / "tone.wav", 8000, 1.0)
    assert clip.waveform.shape == wave.shape and clip.frames is None
    assert np.abs(clip.waveform.numpy() - np.clip(wave, -1, 1)).max() < 1e-4
    up = decode_clip(tmp_path / "tone.wav", 22050, 1.0)  # resampled on decode
    assert up.waveform.shape[0] == pytest.approx(11025, abs=5)
    assert _dominant_hz(up.waveform, 22050) == pytest.approx(1000, abs=3)


# ----------------------------------------------------------------------------- model inputs


@needs_data
def test_clip_to_inputs_shapes():
    flv = _data("cremad", "VideoFlash", "1001_DFA_HAP_XX.flv")
    lab_a, lab_v = AudioFeatures(), VisualFeatures()
    audio, visual, clip = load_inputs(flv, lab_a, lab_v)
    assert audio.shape == lab_a.shape == (1, 40, 63) and torch.isfinite(audio).all()
    assert visual.shape == lab_v.shape == (1, 3, 32, 32) and 0 <= visual.min() and visual.max() <= 1

    paper_a = AudioFeatures(sample_rate=22050, clip_seconds=3, kind="logstft", n_fft=512,
                            hop_length=353, pad_mode="tile")
    paper_v = VisualFeatures(frames=3, fps=1.0, size=224)
    audio, visual, clip = load_inputs(flv, paper_a, paper_v)
    assert audio.shape == (1, 257, 188) and visual.shape == (3, 3, 224, 224)
    assert clip.sample_rate == 22050 and clip.frames.shape[0] == 2  # ~2 s at 1 fps, repeated to 3

    with pytest.raises(ValueError, match="decoded at 22050 Hz"):
        clip_to_inputs(clip, lab_a, lab_v)
    audio, visual, _ = load_inputs(_data("clips", "no_audio_part_0.mp4"), lab_a, lab_v)
    assert audio is None and visual.shape == (1, 3, 32, 32)
    audio, visual, _ = load_inputs(_data("cremad", "AudioMP3", "1002_DFA_SAD_XX.mp3"), lab_a, lab_v)
    assert audio.shape == (1, 40, 63) and visual is None
