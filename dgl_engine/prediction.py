"""What a model says about one clip (``Prediction``), as the Predict page, the CLI's ``predict``
and its ``--json`` show it. ``predict.py`` makes them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from dgl_engine.data.decode import DecodedClip


@dataclass(frozen=True, eq=False)  # eq=False: holds tensors
class Prediction:
    """What a model says about one clip, and the inputs it saw (for display)."""

    classes: tuple[str, ...]
    fused: dict | None  # {"label": str, "probs": [float per class]}; None: no fused answer
    audio: dict | None  # zero-mode answer from sound alone; None: not used
    visual: dict | None  # zero-mode answer from the picture alone; None: not used
    used: tuple[str, ...]  # modalities the answer read
    warnings: tuple[str, ...]
    run_id: str
    method: str
    source: str  # file name(s) the inputs came from
    spectrogram: torch.Tensor | None  # (1, F, T) log spectrogram the model saw (before normalisation)
    frames: torch.Tensor | None  # (T, 3, S, S) in [0, 1], the frames the model saw
    waveform: torch.Tensor | None  # (L,) the samples behind the spectrogram (cropped / padded)
    sample_rate: int
    clip: DecodedClip | None = None  # the decoded upload, for display
    picture: DecodedClip | None = None  # the decoded second file (the image), for display
    # {modality: {"distance", "threshold", "out_of_distribution"}}: how far the input's features
    # fall from the training data's (ood.py), for each modality read; {} for models without it.
    ood: dict = dataclasses.field(default_factory=dict)
    shapley: dict | None = None  # each modality's Shapley contribution to the answer's probability
    # {modality: answer} from the method's own unimodal heads (head mode: G-Blend, MLB, DI-MML);
    # {} for methods without heads.
    heads: dict = dataclasses.field(default_factory=dict)

    @property
    def answer(self) -> tuple[str, str]:
        """(label, where it comes from: "fused" | "audio" | "visual")."""
        for key in ("fused", *self.used):
            if getattr(self, key) is not None:
                return getattr(self, key)["label"], key
        raise AssertionError("a prediction always has an answer")

    def top(self, key: str, k: int = 3) -> list[tuple[str, float]]:
        """The k most likely classes of the fused / audio / visual answer."""
        probs = getattr(self, key)["probs"]
        order = sorted(range(len(probs)), key=lambda i: -probs[i])[:k]
        return [(self.classes[i], probs[i]) for i in order]

    def top_head(self, modality: str, k: int = 3) -> list[tuple[str, float]]:
        """The k most likely classes of the method's own ``modality`` head (head mode)."""
        probs = self.heads[modality]["probs"]
        order = sorted(range(len(probs)), key=lambda i: -probs[i])[:k]
        return [(self.classes[i], probs[i]) for i in order]

    def to_dict(self) -> dict:
        """JSON-ready: the CLI's --json object."""
        label, origin = self.answer
        return {
            "classes": list(self.classes),
            "fused": self.fused,
            "audio": self.audio,
            "visual": self.visual,
            "used": list(self.used),
            "warnings": list(self.warnings),
            "answer": {"label": label, "from": origin},
            "run_id": self.run_id,
            "method": self.method,
            "source": self.source,
            "ood": self.ood,
            "shapley": self.shapley,
            **{f"{m}_head": a for m, a in self.heads.items()},  # head mode, only for methods with heads
        }

    def summary(self) -> str:
        """Readable lines for the CLI."""
        label, origin = self.answer
        p = getattr(self, origin)["probs"][self.classes.index(label)]
        how = "fused" if origin == "fused" else f"from {origin} alone"
        lines = [f"{self.source}: {label} ({p * 100:.1f}%, {how}) - {self.method} model of run {self.run_id}"]
        for key in ("fused", "audio", "visual"):
            if getattr(self, key) is None:
                continue
            note = "" if key == "fused" or origin == key and not self.fused else "  (zero mode: other modality set to 0)"
            tops = "  ".join(f"{c} {q * 100:5.1f}%" for c, q in self.top(key))
            lines.append(f"  {key:<7} {tops}{note}")
        for m in self.heads:
            tops = "  ".join(f"{c} {q * 100:5.1f}%" for c, q in self.top_head(m))
            lines.append(f"  {m:<7} {tops}  (head mode: the method's own {m} classifier)")
        for m, o in self.ood.items():
            if o["out_of_distribution"]:
                lines.append(f"  out of distribution for its {m}: its features lie {o['distance']:.2f} from the training "
                             f"data's, beyond this model's threshold {o['threshold']:.2f}: do not trust the {m} answer")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)
