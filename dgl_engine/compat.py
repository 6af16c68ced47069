"""Make PyPI's torchvision and torchaudio importable on a CPU-only torch.

PyPI ships torchvision 0.28 and torchaudio 2.11 built against CUDA torch. On the CPU
build of torch their compiled extensions fail to load, and both packages fail at import:
torchvision because ``_meta_registrations`` registers a fake kernel for
``torchvision::nms``, an operator only its extension defines; torchaudio because its
extension loader re-raises the ``OSError``. We use neither extension (ResNet-18 and the
spectrogram transforms are pure torch), so:

- torchvision: when ``_C`` cannot load, define ``torchvision::nms``/``qnms`` ourselves with
  a pure-torch CPU kernel, so the import succeeds and ``torch.ops.torchvision.nms`` works;
- torchaudio: when its library cannot load, its loader reports "not available" instead of
  raising, which torchaudio already handles (pure-torch fallbacks).

Everything here is a no-op where the compiled extensions load. Import this module before
torchvision or torchaudio (``dgl_engine/__init__.py`` does).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

# What the shim did, for tests and for `python -m dgl_engine info`.
STATUS: dict[str, str] = {}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _try_load(library: Path) -> bool:
    try:
        torch.ops.load_library(str(library))
        return True
    except (OSError, RuntimeError):
        return False


def _nms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression; boxes (N, 4) as x1, y1, x2, y2 -> kept indices (K,)."""
    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    suppressed = torch.zeros(dets.shape[0], dtype=torch.bool, device=dets.device)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


_LIBRARIES: list = []  # keep torch.library.Library objects alive


def _patch_torchvision() -> None:
    root = _package_dir("torchvision")
    if root is None or "torchvision" in sys.modules:
        STATUS["torchvision"] = "absent" if root is None else "already imported"
        return
    ext = next(iter(root.glob("_C*.so")), None) or next(iter(root.glob("_C*.pyd")), None)
    if ext is not None and _try_load(ext):
        STATUS["torchvision"] = "native extension"
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms_cpu, "CPU")
    _LIBRARIES.append(lib)
    STATUS["torchvision"] = "pure-torch nms (compiled extension unavailable)"


def _patch_torchaudio() -> None:
    root = _package_dir("torchaudio")
    if root is None or "torchaudio" in sys.modules:
        STATUS["torchaudio"] = "absent" if root is None else "already imported"
        return
    ext = next(iter((root / "lib").glob("_torchaudio*.so")), None)
    if ext is None or _try_load(ext):
        STATUS["torchaudio"] = "native extension"
        return
    # Load torchaudio's own loader module ahead of the package and make it report a
    # library that fails to load as absent; torchaudio/__init__ then finds it in sys.modules.
    name = "torchaudio._extension.utils"
    spec = importlib.util.spec_from_file_location(name, root / "_extension" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    original = utils._load_lib

    def _load_lib(lib: str) -> bool:
        try:
            return original(lib)
        except OSError:
            return False

    utils._load_lib = _load_lib
    sys.modules[name] = utils
    STATUS["torchaudio"] = "pure-torch (compiled extension unavailable)"


_patch_torchvision()
_patch_torchaudio()
