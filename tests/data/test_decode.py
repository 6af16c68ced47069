"""dgl_engine.data.decode against real third-party files (../shared/data) and files made to be bad."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dgl_engine.data import decode
from dgl_engine.data.decode import MediaError, decode_clip, probe
from dgl_engine.data.encode import write_mp4, write_png
from tests.data.media_helpers import (
    assert_clean_message, blocky_frames, data_path, needs_data, real_clips,
)

# ----------------------------------------------------------------------------- real files


@needs_data
@pytest.mark.parametrize("path", real_clips(), ids=lambda p: p.name)
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
    path = data_path("clips", "nasa_13013.mp4")
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
    clip = decode_clip(data_path("clips", "no_audio_part_0.mp4"), 16000, fps=10.0)
    assert clip.waveform is None and "no audio stream: visual only" in clip.warnings
    assert clip.frames.shape[0] in (10, 11) and clip.frames.shape[1:3] == (256, 340)


@needs_data
def test_cremad_flv_vp6_with_mp3():
    clip = decode_clip(data_path("cremad", "VideoFlash", "1001_DFA_NEU_XX.flv"), 22050, fps=5.0)
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
    path = data_path(*rel.split("/"))
    clip = decode_clip(path, sample_rate=rate, fps=1.0)
    info = probe(path)
    assert clip.frames is None and clip.warnings == () and info["kind"] == "audio"
    assert clip.waveform.shape[0] == pytest.approx(info["duration"] * rate, abs=0.03 * rate)
    assert 0.01 < clip.waveform.abs().max() <= 1.0


@needs_data
def test_wav_decodes_to_the_exact_samples():
    path = data_path("fsdd-test", "recordings", "0_george_0.wav")
    raw = np.frombuffer(path.read_bytes()[44:], dtype="<i2").astype(np.float32) / 32768
    clip = decode_clip(path, 8000, 1.0)  # already 8 kHz mono: no resampling
    assert clip.waveform.shape[0] == raw.shape[0]
    assert np.abs(clip.waveform.numpy() - raw).max() < 1e-6


@needs_data
def test_limits_and_uploads_from_memory():
    path = data_path("clips", "example2.mp4")
    clip = decode_clip(path, 16000, fps=4.0, max_frames=3, max_seconds=1.0)
    assert clip.frames.shape[0] == 3 and clip.waveform.shape == (16000,)
    data = path.read_bytes()
    for src in (data, io.BytesIO(data)):
        up = decode_clip(src, 16000, fps=4.0, name="upload.mp4")
        assert up.source == "upload.mp4" and up.frames.shape[0] == 8
        assert up.waveform.shape[0] == pytest.approx(2.01 * 16000, abs=400)
    with pytest.raises(MediaError) as exc:
        decode_clip(io.BytesIO(data), 16000, 4.0, name="big.mp4", max_bytes=100_000)
    assert_clean_message(exc, "big.mp4", "over the")


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
        assert_clean_message(exc, name, *words)
        with pytest.raises(MediaError):
            probe(tmp_path / name)
    with pytest.raises(MediaError) as exc:
        decode_clip(b"\x00" * 10, 16000, 1.0, name="upload")  # no extension
    assert_clean_message(exc, "upload", "unsupported file type (no extension)")


@needs_data
def test_size_limit(tmp_path: Path):
    path = data_path("clips", "example2.mp4")
    with pytest.raises(MediaError) as exc:
        decode_clip(path, 16000, 1.0, max_bytes=10_000)
    assert_clean_message(exc, "example2.mp4", "file is 304 KB, over the 10 KB limit")
    assert decode.DEFAULT_MAX_BYTES == 200 * 2**20


@needs_data
@pytest.mark.parametrize(
    "rel, partial",
    [("clips/example2.mp4", False),  # moov atom at the end: nothing to read
     ("clips/big_buck_bunny_432_433.webm", False),  # the first keyframe is cut
     ("cremad/VideoFlash/1001_DFA_ANG_XX.flv", True),
     ("cremad/AudioMP3/1002_DFA_ANG_XX.mp3", True)])
def test_truncated_files(tmp_path: Path, rel: str, partial: bool):
    src = data_path(*rel.split("/"))
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
        assert_clean_message(exc, src.name, "truncated or corrupt")


@needs_data
def test_unsupported_codec(tmp_path: Path):
    data = data_path("clips", "big_buck_bunny_432_433.webm").read_bytes()
    # Rename the Matroska codec ids: FFmpeg no longer knows the codecs of these streams.
    (tmp_path / "novideo.webm").write_bytes(data.replace(b"V_VP8", b"V_QQ8"))
    (tmp_path / "nothing.webm").write_bytes(
        data.replace(b"V_VP8", b"V_QQ8").replace(b"A_VORBIS", b"A_QQRBIS"))
    clip = decode_clip(tmp_path / "novideo.webm", 16000, 1.0)
    assert clip.frames is None and "unsupported video codec: audio only" in clip.warnings
    assert clip.waveform.shape[0] == pytest.approx(16000, abs=200)
    with pytest.raises(MediaError) as exc:
        decode_clip(tmp_path / "nothing.webm", 16000, 1.0)
    assert_clean_message(exc, "nothing.webm", "unsupported codec in the audio and video streams")


# ----------------------------------------------------------------------------- images


def test_images(tmp_path: Path):
    small = blocky_frames(1, 48, 64)[0]
    write_png(tmp_path / "small.png", small)
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


# ----------------------------------------------------------------------------- frame timing and rotation


def test_frames_are_sampled_at_or_before_each_time(tmp_path: Path):
    # Frame i is a flat grey of brightness 20 * i, written at 10 fps.
    frames = np.repeat((np.arange(10, dtype=np.uint8) * 20)[:, None, None, None], 3, axis=3)
    frames = np.broadcast_to(frames, (10, 64, 64, 3)).copy()
    write_mp4(tmp_path / "ramp.mp4", frames, 10.0)

    def level(clip):
        return (clip.frames.float().mean(dim=(1, 2, 3)) / 20).round().long().tolist()

    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 5.0)) == [0, 2, 4, 6, 8]
    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 20.0)) == [i // 2 for i in range(20)]
    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 0.5)) == [0]  # shorter than 1/fps: one frame
    assert level(decode_clip(tmp_path / "ramp.mp4", 8000, 10.0, max_seconds=0.5)) == [0, 1, 2, 3, 4]


def test_rotated_video_is_turned_upright(tmp_path: Path):
    frames = np.zeros((2, 64, 96, 3), np.uint8)
    frames[:, :32, :48, 0] = 255  # red top-left quadrant
    write_mp4(tmp_path / "land.mp4", frames, 10.0)
    data = bytearray((tmp_path / "land.mp4").read_bytes())
    # Set the track matrix the way phones mark portrait video (display rotated 90 deg clockwise).
    tkhd = data.find(b"tkhd")
    matrix = tkhd + 4 + 4 + (28 if data[tkhd + 4] == 1 else 20) + 8 + 8
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    (tmp_path / "portrait.mp4").write_bytes(bytes(data))
    frame = decode_clip(tmp_path / "portrait.mp4", 8000, 10.0).frames[0].float()
    assert frame.shape == (192, 128, 3)  # enlarged x2 by write_mp4, then turned
    assert frame[:96, 64:, 0].mean() > 200 and frame[:96, :64, 0].mean() < 50  # red is top-right
