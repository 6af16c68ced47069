"""Shared by the media tests: where the real sample files are, and small synthetic signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
# The shared data sits next to the checkout (../shared/data) or, on some machines, inside it.
DATA = next((p for p in (REPO / "shared" / "data", REPO.parent / "shared" / "data") if p.is_dir()), None)
needs_data = pytest.mark.skipif(DATA is None, reason="real test media (../shared/data) not present")


def data_path(*parts: str) -> Path:
    return DATA.joinpath(*parts) if DATA is not None else Path("/nonexistent").joinpath(*parts)


def real_clips() -> list[Path]:
    if DATA is None:
        return []
    return sorted((DATA / "clips").glob("*")) + sorted((DATA / "cremad" / "VideoFlash").glob("*.flv"))


def assert_clean_message(exc: pytest.ExceptionInfo, name: str, *words: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{name}: "), msg
    for word in words:
        assert word in msg, msg


def dominant_hz(wave: torch.Tensor, rate: int) -> float:
    spec = np.abs(np.fft.rfft(wave.numpy() * np.hanning(wave.shape[0])))
    return float(spec.argmax() * rate / wave.shape[0])


def sine(hz: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def blocky_frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """(t, h, w, 3) uint8 of random 4x4-pixel colour blocks: content a codec can keep."""
    blocks = np.random.default_rng(seed).integers(0, 256, (t, h // 4, w // 4, 3), dtype=np.uint8)
    return blocks.repeat(4, axis=1).repeat(4, axis=2)
