"""The built-in synthetic audio-visual dataset: generated from a seed, no download.

Each class pairs an audio signature with a visual one:
- audio: a one-octave log-frequency chirp in a class-specific band, upward or downward, at a
  random onset, among two distractor tone pips and white noise (1 s at 8 kHz, turned into a
  log-mel spectrogram by the same feature code real audio uses);
- visual: a class-specific shape (disk, square, triangle, ...) of random size, position and
  colour on a cluttered background with a gradient and pixel noise (32x32 RGB frames).

Each modality has a *difficulty* (noise, clutter and contrast) and a *reliability* (how often
its cue is present and matches the label). The default makes audio fast to learn but missing
on 20% of clips and vision always present but slower: the regime in which a jointly trained
model suppresses vision (see ../shared/SYNTHETIC.md for the measurements behind it).
Randomness comes only from seeded ``torch.Generator``s, one per split.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

import torch

from dgl_engine.config import ModalitySettings, SyntheticSettings
from dgl_engine.data.dataset import AVData, Split, normalized_data
from dgl_engine.data.features import AudioFeatures, VisualFeatures, audio_features

SAMPLE_RATE = 8000
CLIP_SECONDS = 1.0
FRAME_SIZE = 32
SHAPES = ("disk", "square", "triangle", "plus", "ring", "cross", "diamond", "frame")
SPLITS = ("train", "val", "test")

# Colours that carry the class in the `balanced` regime (one per shape).
CLASS_COLOURS = torch.tensor(
    [[0.9, 0.1, 0.1], [0.1, 0.7, 0.1], [0.1, 0.2, 0.9], [0.9, 0.8, 0.1],
     [0.8, 0.1, 0.8], [0.1, 0.8, 0.8], [1.0, 0.5, 0.0], [0.5, 0.5, 0.5]]
)

REGIMES: dict[str, SyntheticSettings] = {
    # Audio easy but missing on 20% of clips, vision informative but slower (as on CREMA-D).
    "default": SyntheticSettings(),
    "audio-dominant": SyntheticSettings(),
    # The mirror image: vision easy but missing on 20% of clips, audio noisy and slower.
    "visual-dominant": SyntheticSettings(
        audio=ModalitySettings(difficulty=0.8, reliability=1.0),
        visual=ModalitySettings(difficulty=0.1, reliability=0.8),
    ),
    # The honest control: both modalities easy (the shape's colour gives the class away);
    # neither dominates for long, so the joint model's suppression should mostly vanish.
    "balanced": SyntheticSettings(
        visual=ModalitySettings(difficulty=0.5, reliability=0.8),
        visual_colour_cue=True,
    ),
}

AUDIO_SPEC = AudioFeatures(sample_rate=SAMPLE_RATE, clip_seconds=CLIP_SECONDS)
VISUAL_SPEC = VisualFeatures(frames=1, fps=1.0, size=FRAME_SIZE)


def class_names(num_classes: int) -> tuple[str, ...]:
    """Readable names: '<shape>-<band>-<up|down>', e.g. 'disk-low-up'."""
    bands = _band_names(num_classes)
    n_bands = len(bands)
    return tuple(f"{SHAPES[k]}-{bands[k % n_bands]}-{'up' if k < n_bands else 'down'}" for k in range(num_classes))


def _band_names(num_classes: int) -> list[str]:
    n = math.ceil(num_classes / 2)
    return {1: ["mid"], 2: ["low", "high"], 3: ["low", "mid", "high"]}.get(
        n, [f"band{i}" for i in range(n)]
    )


def _cue_labels(labels: torch.Tensor, m: ModalitySettings, num_classes: int, g: torch.Generator) -> torch.Tensor:
    """The class whose cue each sample shows: its label, another class (swap) or -1 (drop)."""
    unreliable = torch.rand(labels.shape, generator=g) >= m.reliability
    if m.unreliable == "swap":
        other = (labels + torch.randint(1, num_classes, labels.shape, generator=g)) % num_classes
        return torch.where(unreliable, other, labels)
    return torch.where(unreliable, torch.full_like(labels, -1), labels)


def _add_tone(signal: torch.Tensor, onset, dur, max_dur: float, phase, amp=1.0) -> None:
    """Add a sin^2-enveloped tone to signal (N, L) in place; onset, dur (N, 1) seconds;
    phase(tau (N, W) seconds) -> (N, W). Computed on a window of max_dur only (speed)."""
    n, length = signal.shape
    width = int(max_dur * SAMPLE_RATE) + 1
    tau = torch.arange(width, dtype=torch.float32).div(SAMPLE_RATE).expand(n, width)
    inside = tau <= dur
    tone = amp * torch.sin(phase(tau)) * torch.sin(math.pi * (tau / dur).clamp(max=1)) ** 2 * inside
    start = (onset * SAMPLE_RATE).long()
    index = (start + torch.arange(width)).clamp(max=length - 1)
    signal.scatter_add_(1, index, tone * (start + torch.arange(width) < length))


def make_audio(cues: torch.Tensor, m: ModalitySettings, num_classes: int, g: torch.Generator) -> torch.Tensor:
    """Waveforms (N, L) at 8 kHz in [-1, 1] for cue classes (N,) (-1 = no cue)."""
    n, length = cues.shape[0], int(SAMPLE_RATE * CLIP_SECONDS)
    n_bands = math.ceil(num_classes / 2)
    centres = torch.logspace(math.log10(350), math.log10(1800), n_bands) if n_bands > 1 else torch.tensor([800.0])
    k = cues.clamp(min=0)
    jitter = 2 ** ((torch.rand(n, generator=g) * 4 - 2) / 12)  # +-2 semitones
    centre = centres[k % n_bands] * jitter
    up = k < n_bands
    f0 = torch.where(up, centre / math.sqrt(2), centre * math.sqrt(2)).unsqueeze(1)
    f1 = torch.where(up, centre * math.sqrt(2), centre / math.sqrt(2)).unsqueeze(1)
    dur = (0.25 + 0.25 * torch.rand(n, 1, generator=g))
    onset = torch.rand(n, 1, generator=g) * (CLIP_SECONDS - dur)
    log_r = torch.log(f1 / f0)
    # Exponential sweep from f0 to f1 over dur: phase = 2 pi f0 d / ln r * (r^(tau/d) - 1).
    signal = torch.zeros(n, length)
    present = cues >= 0
    _add_tone(signal, onset, dur, 0.5, lambda tau: 2 * math.pi * f0 * dur / log_r * (torch.exp(log_r * tau / dur) - 1))
    signal *= present.float().unsqueeze(1)  # drop mode: no chirp, distractors and noise remain
    for _ in range(2):  # distractor pips carry no class information
        f = torch.exp(math.log(200) + torch.rand(n, 1, generator=g) * math.log(3200 / 200))
        d = 0.08 + 0.15 * torch.rand(n, 1, generator=g)
        on = torch.rand(n, 1, generator=g) * (CLIP_SECONDS - d)
        amp = 0.3 + 0.7 * torch.rand(n, 1, generator=g)
        _add_tone(signal, on, d, 0.23, lambda tau, f=f: 2 * math.pi * f * tau, amp)
    # SNR relative to the chirp's level (rms of a unit sin^2-enveloped tone, ~0.433), so the
    # noise level does not tell whether the cue is present. Difficulty 0.5 -> U(-6, +6) dB.
    low = 6 - 24 * m.difficulty
    snr_db = low + 12 * torch.rand(n, 1, generator=g)
    noise_std = 0.433 / 10 ** (snr_db / 20)
    wave = signal + noise_std * torch.randn(n, length, generator=g)
    return 0.9 * wave / wave.abs().amax(dim=1, keepdim=True).clamp(min=1e-6)


def _shape_mask(shape: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Soft-free binary masks (N, H, W) for shape ids (N,); dx, dy (N, H, W) from the centre."""
    ax, ay = dx.abs(), dy.abs()
    dist = torch.sqrt(dx**2 + dy**2)
    box = torch.maximum(ax, ay)
    masks = torch.stack(
        [
            dist <= r,  # disk
            box <= 0.8 * r,  # square
            (dy <= 0.7 * r) & (dy >= -r) & (ax <= (dy + r) * 0.55),  # triangle
            ((ax <= 0.3 * r) & (ay <= r)) | ((ay <= 0.3 * r) & (ax <= r)),  # plus
            (dist <= r) & (dist >= 0.55 * r),  # ring
            ((ax - ay).abs() <= 0.3 * r) & (box <= 0.85 * r),  # cross
            ax + ay <= r,  # diamond
            (box <= 0.85 * r) & (box >= 0.5 * r),  # frame
        ],
        dim=1,
    )  # (N, S, H, W)
    return masks[torch.arange(shape.shape[0]), shape.clamp(min=0)]


def make_frames(
    cues: torch.Tensor, m: ModalitySettings, colour_cue: bool, frames: int, g: torch.Generator
) -> torch.Tensor:
    """RGB frames (N, T, 3, 32, 32) in [0, 1] for cue classes (N,) (-1 = no shape)."""
    n, s = cues.shape[0], FRAME_SIZE
    yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32), indexing="ij")
    bg = torch.rand(n, 3, 1, 1, generator=g)
    slope = (torch.rand(n, 1, 1, 1, generator=g) - 0.5)
    img = (bg * (1 + slope * (xx / s - 0.5))).clamp(0, 1).expand(n, 3, s, s).clone()
    for _ in range(round(4 * m.difficulty)):  # clutter bars
        x0 = torch.randint(0, s, (n, 1, 1), generator=g)
        y0 = torch.randint(0, s, (n, 1, 1), generator=g)
        horizontal = torch.rand(n, 1, 1, generator=g) < 0.5
        w = torch.where(horizontal, torch.full_like(x0, 14), torch.full_like(x0, 3))
        h = torch.where(horizontal, torch.full_like(y0, 3), torch.full_like(y0, 14))
        bar = ((xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)).unsqueeze(1)
        img = torch.where(bar, torch.rand(n, 3, 1, 1, generator=g), img)
    r = (6 + 3 * torch.rand(n, 1, 1, generator=g))
    cx = 9 + (s - 18) * torch.rand(n, 1, 1, generator=g)
    cy = 9 + (s - 18) * torch.rand(n, 1, 1, generator=g)
    velocity = (torch.rand(n, 2, 1, 1, generator=g) - 0.5) * 2  # px per frame when frames > 1
    if colour_cue:
        colour = (CLASS_COLOURS[cues.clamp(min=0)] + 0.1 * torch.randn(n, 3, generator=g)).clamp(0, 1)
    else:
        colour = torch.rand(n, 3, generator=g)
    colour = colour.view(n, 3, 1, 1)
    contrast = (1 - 0.6 * m.difficulty + 0.6 * m.difficulty * torch.rand(n, 1, 1, 1, generator=g))
    present = (cues >= 0).view(n, 1, 1, 1)
    out = []
    for f in range(frames):
        ox = (cx + velocity[:, 0] * f).clamp(r, s - 1 - r)
        oy = (cy + velocity[:, 1] * f).clamp(r, s - 1 - r)
        mask = _shape_mask(cues, xx - ox, yy - oy, r).unsqueeze(1) & present  # (N, 1, H, W)
        frame = torch.where(mask, img * (1 - contrast) + colour * contrast, img)
        frame = frame + 0.2 * m.difficulty * torch.randn(n, 3, s, s, generator=g)
        out.append(frame.clamp(0, 1))
    return torch.stack(out, dim=1)


def split_sizes(settings: SyntheticSettings) -> dict[str, int]:
    """Samples per class in each split."""
    n = settings.samples_per_class
    train = max(1, round(n * settings.split[0]))
    val = max(1, round(n * settings.split[1]))
    return {"train": train, "val": val, "test": max(1, n - train - val)}


def generate_raw(settings: SyntheticSettings, seed: int, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One split as media: waveforms (N, 8000) in [-1, 1], frames (N, T, 3, 32, 32) in [0, 1],
    labels (N,). Each split has its own generator, so changing one split's size leaves the
    others' samples unchanged."""
    g = torch.Generator().manual_seed(seed * 1000 + SPLITS.index(split) + 1)
    c = settings.num_classes
    labels = torch.arange(c).repeat_interleave(split_sizes(settings)[split])
    labels = labels[torch.randperm(labels.numel(), generator=g)]
    audio_cues = _cue_labels(labels, settings.audio, c, g)
    visual_cues = _cue_labels(labels, settings.visual, c, g)
    waves = make_audio(audio_cues, settings.audio, c, g)
    frames = make_frames(visual_cues, settings.visual, settings.visual_colour_cue, settings.frames, g)
    return waves, frames, labels


@lru_cache(maxsize=4)
def load_synthetic(settings: SyntheticSettings, seed: int) -> AVData:
    """The dataset as features, normalised with training statistics (cached per settings+seed)."""
    raw = {}
    for split in SPLITS:
        waves, frames, labels = generate_raw(settings, seed, split)
        raw[split] = Split(audio_features(waves, AUDIO_SPEC), frames, labels)
    # T frames span the 1 s clip, so exported videos last as long as their sound.
    visual_spec = dataclasses.replace(VISUAL_SPEC, frames=settings.frames, fps=settings.frames / CLIP_SECONDS)
    return normalized_data(
        "synthetic", class_names(settings.num_classes), raw, AUDIO_SPEC, visual_spec,
        info={"generated_from_seed": seed},
    )
