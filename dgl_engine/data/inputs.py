"""A decoded clip -> model inputs: the one way, for training data and for prediction alike.

``clip_to_inputs`` is what ``data/preprocess.py`` runs on every dataset clip before caching and
what ``predict.py`` runs on an upload, so both go through the same feature code; the
training-set ``Normalization`` is applied afterwards (in bulk for a dataset, per clip for a
prediction), because its statistics are only known once the training split is.
"""

from __future__ import annotations

import torch

from dgl_engine.data.decode import DecodedClip, Source, decode_clip
from dgl_engine.data.features import AudioFeatures, VisualFeatures, audio_features, fit_length, visual_features
from dgl_engine.data.frames import squash


def clip_to_inputs(
    clip: DecodedClip, audio_spec: AudioFeatures, visual_spec: VisualFeatures, *, stored: bool = False
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """-> (audio (1, F, T) log spectrogram or None, visual (frames, 3, size, size) in [0, 1]
    or None): None where the clip has no samples / no frames. Not normalised: the caller
    applies the training set's ``Normalization``. ``stored``: the visual as the feature cache
    keeps it (``visual_spec.shape``: whole frames for the "full" geometry) instead of the
    model's input (squashed from them, exactly as the dataset's splits are)."""
    audio = visual = None
    if clip.waveform is not None and clip.waveform.numel() > 0:
        if clip.sample_rate != audio_spec.sample_rate:
            raise ValueError(
                f"{clip.source}: decoded at {clip.sample_rate} Hz but the features expect "
                f"{audio_spec.sample_rate} Hz; decode at audio_spec.sample_rate (load_inputs does)"
            )
        audio = audio_features(clip.waveform, audio_spec)
    if clip.frames is not None and clip.frames.shape[0] > 0:
        visual = visual_features(clip.frames, visual_spec)
        if not stored:
            visual = squash(visual, visual_spec)
    return audio, visual


def heard_waveform(clip: DecodedClip, audio_spec: AudioFeatures) -> torch.Tensor | None:
    """(num_samples,) the samples the spectrogram of ``clip_to_inputs`` is computed from (the
    clip's waveform centre-cropped, tiled or padded as the features do), for playing back
    what the model heard; None where the clip has no samples."""
    if clip.waveform is None or clip.waveform.numel() == 0:
        return None
    return fit_length(clip.waveform, audio_spec.num_samples, audio_spec.pad_mode, audio_spec.crop)


def load_inputs(
    source: Source, audio_spec: AudioFeatures, visual_spec: VisualFeatures, **limits
) -> tuple[torch.Tensor | None, torch.Tensor | None, DecodedClip]:
    """Decode at the specs' sample rate and fps, then ``clip_to_inputs``: -> (audio, visual,
    clip). `limits`: max_frames, max_seconds, max_bytes, name, max_side for ``decode_clip``.
    The whole clip is decoded (the features choose their crop / frames over all of it, as for
    training data); a clip shorter than frames / fps gets repeated frames."""
    limits.setdefault("max_side", visual_spec.decode_max_side)  # as the dataset's clips were decoded
    clip = decode_clip(source, audio_spec.sample_rate, visual_spec.fps, **limits)
    audio, visual = clip_to_inputs(clip, audio_spec, visual_spec)
    return audio, visual, clip
