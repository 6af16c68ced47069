"""Preprocessing presets, one clip's model inputs, and the normalised ``AVData`` of a dataset.

Preprocessing presets (``DataConfig.preprocessing``):
- ``paper``: the official CREMA-D pipeline of the OGM-GE/DGL code: audio at 22,050 Hz tiled to
  3 s, log-magnitude STFT (n_fft 512, hop 353) -> (1, 257, 188); one frame per clip at 1 fps,
  224 px, ImageNet mean/std. As in the official code, the trainer augments training frames
  batch by batch (random resized crop, horizontal flip: ``dgl_engine/augment.py``); the
  features cached here are not augmented.
- ``paper-exact``: ``paper`` as the official loader does it line by line (the ``paper``
  protocol's): the first 3 s of long clips (clipped to [-1, 1]), the clip's first frame, and the
  whole frame kept (224 x 299), squashed to 224 x 224 for evaluation and random-resized-cropped
  from the whole frame in training (``data/frames.py``, ``data/official.py``).
- ``lab``: small enough to train the ``tiny`` encoder on a CPU in minutes: 16 kHz, 3 s,
  64-band log-mel (n_fft 512, hop 256, up to 8 kHz) -> (1, 64, 188); two frames at 1 fps,
  64 px; mean/std of the training split.

Every clip becomes inputs through ``decode.decode_clip`` and ``inputs.clip_to_inputs``, the code
prediction uses, so an uploaded clip is processed exactly as the training data was.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from dgl_engine import limits
from dgl_engine.errors import ConfigError
from dgl_engine.data.catalog import Sample
from dgl_engine.data.dataset import AVData, Normalization, Split
from dgl_engine.data.decode import SUPPORTED_IMAGE, DecodedClip, MediaError, decode_clip
from dgl_engine.data.features import IMAGENET_MEAN, IMAGENET_STD, AudioFeatures, VisualFeatures
from dgl_engine.data.inputs import clip_to_inputs

PREPROCESSING: dict[str, tuple[AudioFeatures, VisualFeatures]] = {
    "paper": (
        AudioFeatures(sample_rate=22050, clip_seconds=3.0, kind="logstft", n_fft=512, hop_length=353,
                      f_min=0.0, f_max=11025.0, pad_mode="tile"),
        VisualFeatures(frames=1, fps=1.0, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ),
    "paper-exact": (
        AudioFeatures(sample_rate=22050, clip_seconds=3.0, kind="logstft", n_fft=512, hop_length=353,
                      f_min=0.0, f_max=11025.0, pad_mode="tile", crop="start"),
        # 299 = CREMA-D's 480x360 at 224 rows: see data/frames.py
        VisualFeatures(frames=1, fps=1.0, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, frame="first",
                       geometry="full", width=299),
    ),
    "lab": (
        AudioFeatures(sample_rate=16000, clip_seconds=3.0, kind="logmel", n_fft=512, hop_length=256,
                      n_mels=64, f_min=50.0, f_max=8000.0, pad_mode="tile"),
        VisualFeatures(frames=2, fps=1.0, size=64),
    ),
}

# Where a dataset's pictures are smaller than the preset's (MNIST digits are 28 px, one image):
# the lab preset keeps them small rather than upscaling and repeating them.
DATASET_VISUAL = {("avmnist", "lab"): VisualFeatures(frames=1, fps=1.0, size=28)}


def feature_specs(preset: str, dataset: str = "") -> tuple[AudioFeatures, VisualFeatures]:
    """The (audio, visual) feature specs of a preprocessing preset for a dataset."""
    if preset not in PREPROCESSING:
        raise ConfigError(f"unknown preprocessing preset {preset!r}; valid: {', '.join(PREPROCESSING)}")
    audio, visual = PREPROCESSING[preset]
    return audio, DATASET_VISUAL.get((dataset, preset), visual)


# ----------------------------------------------------------------------------- one clip


def _frames_folder(folder: Path, sample_rate: int, fps: float, max_side: int = 256) -> DecodedClip:
    """A folder of extracted frames (the official code's Image-01-FPS/<clip>/*.jpg), in name
    order, as a clip sampled at `fps` (the folder's own rate is in its name; 1 fps here); at
    most ``limits.MAX_KEPT_FRAMES`` of them, as for a video."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUPPORTED_IMAGE)[: limits.MAX_KEPT_FRAMES]
    if not files:
        raise MediaError(f"{folder.name}: no frames (*.jpg, *.png) in the folder")
    frames = [decode_clip(p, sample_rate, fps, max_side=max_side).frames[0] for p in files]
    shapes = {tuple(f.shape) for f in frames}
    if len(shapes) > 1:
        raise MediaError(f"{folder.name}: frames of different sizes {sorted(shapes)}")
    return DecodedClip(None, sample_rate, torch.stack(frames), fps, len(frames) / fps, folder.name)


def _window(clip: DecodedClip, start: float, end: float) -> DecodedClip:
    """The part of a clip between `start` and `end` seconds (at least one frame)."""
    waveform, frames = clip.waveform, clip.frames
    if waveform is not None:
        waveform = waveform[int(start * clip.sample_rate): max(int(end * clip.sample_rate), int(start * clip.sample_rate) + 1)]
    if frames is not None:
        first = min(int(math.floor(start * clip.fps)), frames.shape[0] - 1)
        last = max(first + 1, int(math.ceil(end * clip.fps)))
        frames = frames[first:last]
    return dataclasses.replace(clip, waveform=waveform, frames=frames, duration=end - start)


def decode_sample(sample: Sample, sample_rate: int, fps: float, max_side: int = 256) -> DecodedClip:
    """A sample's sound and pictures as one DecodedClip (its own files, its event window),
    frames' shorter side shrunk to at most ``max_side``. Raises MediaError (one line naming the
    file) when either modality is missing."""
    visual = Path(sample.visual) if sample.visual else None
    if sample.image is not None:  # AV-MNIST: a row of an MNIST idx file
        from dgl_engine.data.avmnist import mnist_image

        clip = DecodedClip(None, sample_rate, mnist_image(sample.visual, sample.image), fps, 1 / fps,
                           f"{Path(sample.audio or sample.clip).name} + MNIST #{sample.image}")
    elif visual is not None and visual.is_dir():
        clip = _frames_folder(visual, sample_rate, fps, max_side)
    elif visual is not None:
        clip = decode_clip(visual, sample_rate, fps, max_side=max_side)
    else:
        clip = DecodedClip(None, sample_rate, None, fps, 0.0, Path(sample.audio or sample.clip).name)
    if sample.audio:
        sound = decode_clip(sample.audio, sample_rate, fps)
        clip = dataclasses.replace(clip, waveform=sound.waveform, warnings=clip.warnings + sound.warnings)
    if sample.window is not None:
        clip = _window(clip, *sample.window)
    if clip.waveform is None or clip.waveform.numel() == 0:
        raise MediaError(f"{clip.source}: no audio (an audio-visual clip needs both)")
    if clip.frames is None or clip.frames.shape[0] == 0:
        raise MediaError(f"{clip.source}: no picture (an audio-visual clip needs both)")
    return clip


def sample_inputs(sample: Sample, audio_spec: AudioFeatures, visual_spec: VisualFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (audio (1, F, T) log spectrogram, visual ``visual_spec.shape`` in [0, 1]): what the
    cache stores (whole frames for the "full" geometry)."""
    clip = decode_sample(sample, audio_spec.sample_rate, visual_spec.fps, visual_spec.decode_max_side)
    audio, visual = clip_to_inputs(clip, audio_spec, visual_spec, stored=True)
    return audio, visual


# ----------------------------------------------------------------------------- the dataset


def build_avdata(name: str, classes, raw: dict[str, Split], audio_spec: AudioFeatures,
                 visual_spec: VisualFeatures, info: dict) -> AVData:
    """Normalise raw splits (log spectrograms, frames in [0, 1]) in place and wrap them.

    Audio: the training split's mean/std, except for the official log-STFT, which the official
    code feeds as is. Visual: the spec's mean/std when it has them (ImageNet for ``paper``),
    otherwise the training split's. The Normalization stored with each model is exactly the one
    applied here, so prediction repeats it.
    """
    train = raw["train"]
    norm = Normalization.fit(
        train.audio, train.visual,
        audio_stats=(0.0, 1.0) if audio_spec.kind == "logstft" else None,
        visual_stats=(visual_spec.mean, visual_spec.std) if visual_spec.mean is not None and visual_spec.std is not None
        else None,
    )
    # In place: the paper preset's frames take gigabytes. Once per distinct split: "val" may be
    # the test split itself (no validation clips), which must not be normalised twice.
    splits: dict[str, Split] = {}
    for key, split in raw.items():
        same = next((k for k in splits if raw[k] is split), None)
        splits[key] = splits[same] if same is not None else norm.apply(split, in_place=True)
    return AVData(name=name, classes=tuple(classes), train=splits["train"], val=splits["val"], test=splits["test"],
                  audio_spec=audio_spec, visual_spec=visual_spec, normalization=norm, info=dict(info))
