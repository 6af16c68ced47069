"""Events the trainer emits, as plain dataclasses. Observers (tqdm in the CLI, a thread-safe
buffer in the app, the run store, a list in tests) receive them; ``to_dict`` is the form they
take in metrics.jsonl and in engine snapshots (with a "type" key)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Event:
    type = "event"

    def to_dict(self) -> dict:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class PhaseEvent(Event):
    """A stage of the run starts: 'data', 'train', 'test', 'save'."""

    type = "phase"
    phase: str
    message: str = ""
    done: int = 0  # progress within the phase (e.g. clips cached), when it has one
    total: int = 0


@dataclass(frozen=True)
class StepEvent(Event):
    """One optimisation step of one method."""

    type = "step"
    method: str
    step: int  # 1-based, shared by all methods (lockstep)
    epoch: float  # fractional epoch at the end of the step
    losses: dict  # named loss terms, e.g. {"total", "fused", "audio", "visual"}
    lr: float
    grad_norm: dict  # {"audio": .., "visual": ..}: L2 norm each encoder received, before clipping
    samples_per_s: float


@dataclass(frozen=True)
class DiagnosticsEvent(Event):
    """Gradient diagnostics (DESIGN.md) on the current batch, before clipping: per encoder, the
    norm of the gradient from the fused loss, from its own unimodal loss, their cosine, and
    the norm the method actually applied."""

    type = "diagnostics"
    method: str
    step: int
    epoch: float
    encoders: dict  # {"audio": {"fused", "unimodal", "cosine", "applied"}, "visual": {...}}


@dataclass(frozen=True)
class EvalEvent(Event):
    """Validation metrics of one method at one evaluation point."""

    type = "eval"
    method: str
    step: int
    epoch: float
    split: str
    metrics: dict  # acc, acc_audio, acc_visual (zero mode), acc_*_slice, acc_*_head (own heads), imbalance_ratio, loss


@dataclass(frozen=True)
class TestEvent(Event):
    """Final test-split metrics of one method, with confusion matrices and linear probes."""

    type = "test"
    method: str
    metrics: dict
    confusion: dict = field(default_factory=dict)  # {"fused"|"audio"|"visual"|"<m>_head": C x C}


@dataclass(frozen=True)
class ProgressEvent(Event):
    type = "progress"
    step: int
    total_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None


Observer = Callable[[Event], None]
